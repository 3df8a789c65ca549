//! One experiment in the app, with the pacing that keeps frames short.

use std::sync::Arc;

use web_time::Instant;

use crate::data::DataSplits;
use crate::experiment::{Experiment, ExperimentConfig, Progress};
use crate::train::choose_engine;
use crate::train::gpu::{BackendChoice, BackendPreference, GpuContext};

/// Work per frame: a 60 Hz frame has 16.7 ms; leave the rest to drawing.
const FRAME_BUDGET_S: f64 = 0.008;

pub struct Session {
    pub experiment: Experiment,
    pub choice: BackendChoice,
    pub paused: bool,
    /// Pause again when this many rounds are finished ("step one round").
    pub pause_at_rounds: Option<usize>,
    pub last_progress: Progress,
    /// Measured seconds per training step (smoothed).
    step_cost_s: f64,
    pub samples_per_s: f64,
    /// Derived views (textures, the slider's evaluation), rebuilt only when their key changes.
    pub cache: ViewCache,
}

#[derive(Default)]
pub struct ViewCache {
    pub textures: std::collections::HashMap<String, egui::TextureHandle>,
    pub slider: Option<SliderResult>,
}

/// The selected network pruned to the slider's density, evaluated on the test set.
#[derive(Clone, Debug)]
pub struct SliderResult {
    pub key: (usize, crate::experiment::RunKind, u32),
    pub density: f64,
    /// Accuracy in [0, 1], or AUC for binary imbalanced data.
    pub metric: f64,
    pub elapsed_ms: f64,
}

impl Session {
    pub fn start(
        config: ExperimentConfig,
        data: Arc<DataSplits>,
        preference: BackendPreference,
        gpu: Result<Arc<GpuContext>, String>,
    ) -> Result<Self, String> {
        let (engine, choice) = choose_engine(preference, gpu, data.clone());
        let mut experiment = Experiment::new(config, data, engine).map_err(|e| e.to_string())?;
        let last_progress = experiment.advance(0);
        Ok(Self {
            experiment,
            choice,
            paused: false,
            pause_at_rounds: None,
            last_progress,
            step_cost_s: 1e-3,
            samples_per_s: 0.0,
            cache: ViewCache::default(),
        })
    }

    /// One frame's slice of work; true while there is more to do.
    pub fn tick(&mut self) -> bool {
        if self.experiment.is_done() {
            return false;
        }
        if self.paused {
            return false;
        }
        let steps = (FRAME_BUDGET_S / self.step_cost_s).clamp(1.0, 20_000.0) as usize;
        let started = Instant::now();
        let progress = self.experiment.advance(steps);
        let elapsed = started.elapsed().as_secs_f64();
        if progress.steps_done > 0 && !progress.waiting {
            let cost = elapsed / progress.steps_done as f64;
            self.step_cost_s = 0.7 * self.step_cost_s + 0.3 * cost;
            let batch = self.experiment.config().batch_size as f64;
            self.samples_per_s = 0.8 * self.samples_per_s + 0.2 * (batch / cost);
        } else if progress.waiting && progress.steps_done > 0 {
            // A GPU engine: the call only recorded work, so ask for more next frame.
            self.step_cost_s = (self.step_cost_s * 0.8).max(1e-6);
        }
        self.last_progress = progress;
        if let Some(target) = self.pause_at_rounds
            && self.experiment.record().rounds.len() >= target
        {
            self.paused = true;
            self.pause_at_rounds = None;
        }
        !self.experiment.is_done()
    }
}

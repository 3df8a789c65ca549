//! One experiment in the app, with the pacing that keeps frames short.

use std::sync::Arc;

use web_time::Instant;

use crate::data::DataSplits;
use crate::experiment::{Experiment, ExperimentConfig, Progress};
use crate::train::choose_engine;
use crate::train::gpu::{BackendChoice, BackendPreference, GpuContext};

/// Work per frame: a 60 Hz frame has 16.7 ms; leave the rest to drawing.
const FRAME_BUDGET_S: f64 = 0.008;
/// Where drawing itself is slow (a software rasteriser paints a frame in 100+ ms), training
/// may take a quarter of the measured frame interval, up to this much.
const MAX_FRAME_BUDGET_S: f64 = 0.030;

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
    steps_total: usize,
    /// Wall time spent running (paused time excluded), and the previous running tick.
    active_s: f64,
    last_tick: Option<Instant>,
    /// Derived views (textures, the slider's evaluation), rebuilt only when their key changes.
    pub cache: ViewCache,
}

#[derive(Default)]
pub struct ViewCache {
    pub textures: std::collections::HashMap<String, egui::TextureHandle>,
    pub slider: Option<SliderResult>,
    /// The slider's evaluation in progress (a few hundred test rows per frame).
    pub slider_job: Option<SliderJob>,
}

/// The pruned network being evaluated for the slider, chunk by chunk across frames.
pub struct SliderJob {
    pub key: (usize, crate::experiment::RunKind, u32),
    pub pruned: crate::model::Network,
    pub density: f64,
    pub partial: crate::train::cpu::Partial,
    pub buffers: crate::train::cpu::EvalBuffers,
    /// Compute time so far (pruning and the chunks evaluated), not the frames between.
    pub spent_ms: f64,
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
        let experiment = Experiment::new(config, data, engine).map_err(|e| e.to_string())?;
        Ok(Self::with_experiment(experiment, choice))
    }

    /// A saved record picked up again (see [`Experiment::resume`]).
    pub fn resume(
        record: crate::experiment::ExperimentRecord,
        data: Arc<DataSplits>,
        preference: BackendPreference,
        gpu: Result<Arc<GpuContext>, String>,
    ) -> Result<Self, String> {
        let (engine, choice) = choose_engine(preference, gpu, data.clone());
        let experiment = Experiment::resume(record, data, engine)?;
        Ok(Self::with_experiment(experiment, choice))
    }

    fn with_experiment(mut experiment: Experiment, choice: BackendChoice) -> Self {
        let last_progress = experiment.advance(0);
        Self {
            experiment,
            choice,
            paused: false,
            pause_at_rounds: None,
            last_progress,
            step_cost_s: 1e-3,
            samples_per_s: 0.0,
            steps_total: 0,
            active_s: 0.0,
            last_tick: None,
            cache: ViewCache::default(),
        }
    }

    /// One frame's slice of work; true while there is more to do. `frame_interval_ms` is the
    /// measured time between frames, if known; `spent_s` what this frame already used.
    pub fn tick(&mut self, frame_interval_ms: Option<f32>, spent_s: f64) -> bool {
        if self.experiment.is_done() {
            return false;
        }
        if self.paused {
            self.last_tick = None;
            return false;
        }
        let now = Instant::now();
        if let Some(previous) = self.last_tick {
            self.active_s += now.duration_since(previous).as_secs_f64();
        }
        self.last_tick = Some(now);
        let budget = frame_interval_ms.map_or(FRAME_BUDGET_S, |ms| {
            (f64::from(ms) / 1000.0 * 0.25).clamp(FRAME_BUDGET_S, MAX_FRAME_BUDGET_S)
        });
        // At least one step whenever the frame has time left: a step cost measured too high
        // (a frame that also finished a round) must not stop training for good.
        let steps = if spent_s >= budget {
            0
        } else {
            ((budget - spent_s) / self.step_cost_s).clamp(1.0, 20_000.0) as usize
        };
        let started = Instant::now();
        let progress = self.experiment.advance(steps);
        let elapsed = started.elapsed().as_secs_f64();
        // Steps are timed in calls that did nothing else. The CPU engine "waits" only while an
        // evaluation spans frames (its steps are done, the time includes evaluating): skipped.
        let cpu = self.experiment.record().engine.kind == "cpu";
        if progress.steps_done > 0 && !progress.waiting {
            let cost = elapsed / progress.steps_done as f64;
            self.step_cost_s = 0.7 * self.step_cost_s + 0.3 * cost;
        } else if progress.waiting && progress.steps_done > 0 && !cpu {
            // A GPU engine: the call only recorded work, so ask for more next frame.
            self.step_cost_s = (self.step_cost_s * 0.8).max(1e-6);
        }
        // Throughput over the whole run so far: right for engines that answer later too.
        self.steps_total += progress.steps_done;
        if self.active_s > 0.0 {
            self.samples_per_s =
                (self.steps_total * self.experiment.config().batch_size) as f64 / self.active_s;
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

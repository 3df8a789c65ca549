//! The late-rewinding sweep (Frankle et al. 2019/2020): where should the surviving weights
//! go back to? For each rewind iteration k, the dense network is trained, pruned one-shot to
//! the chosen density by magnitude, and the survivors reset to θ_k (k = 0: θ₀, the original
//! ticket) and retrained; beside them the same mask with fresh random weights. Each k is one
//! IMP experiment of the base config (one-shot, `reset=rewind:k`), so every point is also
//! what `lottery-lab run` gives for it; the dense run they share is the same for every k
//! (same seed), trained again each time.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::EngineMaker;
use crate::data::DataSplits;
use crate::experiment::{
    ConfigError, Controls, Experiment, ExperimentConfig, ExperimentError, ResetMode, RunKind,
    Schedule, Status,
};

pub const REWIND_FORMAT: &str = "lottery-lab-rewind/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewindConfig {
    /// The network, data, training recipe, pruning rates and seed.
    pub base: ExperimentConfig,
    /// The rewind iterations k, ascending (0 = reset to θ₀).
    pub rewind_at: Vec<usize>,
    /// The density the dense network is pruned to, one-shot.
    pub density: f64,
}

impl RewindConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, message: String| Err(ConfigError { field, message });
        if self.rewind_at.is_empty() {
            return bad("rewind-at", "give at least one iteration (0 = θ₀)".into());
        }
        if !self.rewind_at.windows(2).all(|w| w[0] < w[1]) {
            return bad(
                "rewind-at",
                format!(
                    "{:?}: the iterations must be ascending, each once",
                    self.rewind_at
                ),
            );
        }
        for k in 0..self.rewind_at.len() {
            self.experiment(k).validate()?;
        }
        Ok(())
    }

    /// The IMP experiment of the `index`-th rewind point.
    pub fn experiment(&self, index: usize) -> ExperimentConfig {
        let k = self.rewind_at[index];
        ExperimentConfig {
            schedule: Schedule::OneShot {
                density: self.density,
            },
            reset: if k == 0 {
                ResetMode::Init
            } else {
                ResetMode::Rewind { iteration: k }
            },
            // Fresh weights do not depend on k: one re-init control, beside the first point.
            controls: Controls {
                reinit: index == 0,
                ..Controls::NONE
            },
            keep_weights: false,
            ..self.base.clone()
        }
    }
}

/// One rewind point: test accuracy (and AUC for binary data) at the early-stop iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewindPoint {
    pub rewind_at: usize,
    pub density: f64,
    pub dense_accuracy: Option<f32>,
    pub ticket_accuracy: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_auc: Option<f32>,
    /// The same mask with fresh random weights (beside the first point only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reinit_accuracy: Option<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewindRecord {
    pub format: String,
    pub config: RewindConfig,
    pub points: Vec<RewindPoint>,
    pub status: Status,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl RewindRecord {
    /// A saved sweep's file, checked: its format, its config, one point per rewind iteration
    /// at most, accuracies in [0, 1].
    pub fn parse(text: &str) -> Result<Self, String> {
        let record: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if record.format != REWIND_FORMAT {
            return Err(format!(
                "format {:?}: this app reads {REWIND_FORMAT}",
                record.format
            ));
        }
        record
            .config
            .validate()
            .map_err(|e| format!("its config: {e}"))?;
        if record.points.len() > record.config.rewind_at.len() {
            return Err(format!(
                "{} points for {} rewind iterations",
                record.points.len(),
                record.config.rewind_at.len()
            ));
        }
        for p in &record.points {
            let accuracies = [p.dense_accuracy, p.ticket_accuracy, p.reinit_accuracy];
            if accuracies
                .iter()
                .flatten()
                .any(|a| !(0.0..=1.0).contains(a))
            {
                return Err(format!("θ_{}: an accuracy outside [0, 1]", p.rewind_at));
            }
        }
        Ok(record)
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "rewind_at,density,dense_accuracy,ticket_accuracy,ticket_auc,reinit_accuracy\n",
        );
        let cell = |v: Option<f32>| v.map_or(String::new(), |v| v.to_string());
        for p in &self.points {
            out += &format!(
                "{},{:.6},{},{},{},{}\n",
                p.rewind_at,
                p.density,
                cell(p.dense_accuracy),
                cell(p.ticket_accuracy),
                cell(p.ticket_auc),
                cell(p.reinit_accuracy)
            );
        }
        out
    }
}

/// Where a sweep stands: the point in training and that experiment's own progress.
#[derive(Clone, Debug, PartialEq)]
pub struct RewindProgress {
    pub points_done: usize,
    pub points: usize,
    /// Within the point in training, in [0, 1].
    pub point_fraction: f64,
    pub steps_done: usize,
    pub waiting: bool,
    pub finished: bool,
}

impl RewindProgress {
    pub fn fraction(&self) -> f64 {
        if self.finished {
            1.0
        } else {
            (self.points_done as f64 + self.point_fraction) / self.points.max(1) as f64
        }
    }
}

pub struct RewindSweep {
    config: RewindConfig,
    data: Arc<DataSplits>,
    make_engine: EngineMaker,
    pending: VecDeque<usize>,
    current: Option<Experiment>,
    /// How far the point in training has come, in [0, 1].
    current_fraction: f64,
    record: RewindRecord,
}

impl RewindSweep {
    pub fn new(
        config: RewindConfig,
        data: Arc<DataSplits>,
        make_engine: EngineMaker,
    ) -> Result<Self, ExperimentError> {
        config.validate()?;
        Ok(Self {
            pending: (0..config.rewind_at.len()).collect(),
            record: RewindRecord {
                format: REWIND_FORMAT.into(),
                config: config.clone(),
                points: Vec::new(),
                status: Status::Running,
                notes: Vec::new(),
            },
            config,
            data,
            make_engine,
            current: None,
            current_fraction: 0.0,
        })
    }

    /// A saved sweep, shown as it was: nothing left to train (one saved while running is
    /// marked stopped).
    pub fn reopened(mut record: RewindRecord, data: Arc<DataSplits>) -> Self {
        if record.status == Status::Running {
            record.status = Status::Stopped {
                reason: "saved before it finished".into(),
            };
        }
        Self {
            config: record.config.clone(),
            data: data.clone(),
            make_engine: Box::new(|data| Box::new(crate::train::CpuEngine::new(data))),
            pending: VecDeque::new(),
            current: None,
            current_fraction: 0.0,
            record,
        }
    }

    pub fn record(&self) -> &RewindRecord {
        &self.record
    }

    pub fn is_done(&self) -> bool {
        self.record.status != Status::Running
    }

    /// Do at most `step_budget` training steps of the point in training (then the next).
    pub fn advance(&mut self, step_budget: usize) -> RewindProgress {
        let mut budget = step_budget;
        let mut steps_done = 0;
        let mut waiting = false;
        while !self.is_done() {
            let experiment = match &mut self.current {
                Some(experiment) => experiment,
                None => match self.pending.pop_front() {
                    None => {
                        self.record.status = Status::Finished;
                        break;
                    }
                    Some(index) => {
                        let config = self.config.experiment(index);
                        let engine = (self.make_engine)(self.data.clone());
                        match Experiment::new(config, self.data.clone(), engine) {
                            Ok(experiment) => self.current.insert(experiment),
                            Err(e) => {
                                self.record.status = Status::Stopped {
                                    reason: e.to_string(),
                                };
                                break;
                            }
                        }
                    }
                },
            };
            let progress = experiment.advance(budget);
            self.current_fraction = progress.fraction();
            steps_done += progress.steps_done;
            budget = budget.saturating_sub(progress.steps_done);
            if progress.waiting {
                waiting = true;
                break;
            }
            if !experiment.is_done() {
                if budget == 0 || progress.steps_done == 0 {
                    break;
                }
                continue;
            }
            let finished = self.current.take().expect("in training");
            let record = finished.record();
            self.record.notes.extend(record.notes.iter().cloned());
            if let Status::Stopped { reason } = &record.status {
                self.record.status = Status::Stopped {
                    reason: format!(
                        "rewind to θ_{}: {reason}",
                        self.config.rewind_at[self.record.points.len()]
                    ),
                };
                break;
            }
            let dense = record.rounds.first().and_then(|r| r.run(RunKind::Ticket));
            let round = record.rounds.get(1);
            let ticket = round.and_then(|r| r.run(RunKind::Ticket));
            let reinit = round.and_then(|r| r.run(RunKind::Reinit));
            self.record.points.push(RewindPoint {
                rewind_at: self.config.rewind_at[self.record.points.len()],
                density: ticket.map_or(self.config.density, |t| t.density),
                dense_accuracy: dense.and_then(|r| r.accuracy()),
                ticket_accuracy: ticket.and_then(|r| r.accuracy()),
                ticket_auc: ticket.and_then(|r| r.early_stop.as_ref()?.test_auc),
                reinit_accuracy: reinit.and_then(|r| r.accuracy()),
            });
            if budget == 0 {
                break;
            }
        }
        RewindProgress {
            points_done: self.record.points.len(),
            points: self.config.rewind_at.len(),
            point_fraction: if self.current.is_some() {
                self.current_fraction
            } else {
                0.0
            },
            steps_done,
            waiting,
            finished: self.is_done(),
        }
    }

    /// Run to the end (the CLI and tests); blocks, so native only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_to_end(&mut self, mut on_progress: impl FnMut(&RewindProgress)) {
        while !self.is_done() {
            let progress = self.advance(self.config.base.eval_every.max(1));
            on_progress(&progress);
            if progress.waiting {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RewindConfig {
        RewindConfig {
            base: (crate::experiment::presets::find("tiny")
                .expect("listed")
                .config)(),
            rewind_at: vec![0, 20],
            density: 0.2,
        }
    }

    #[test]
    fn each_point_is_a_one_shot_experiment_rewound_to_its_k() {
        let c = config();
        assert_eq!(c.experiment(0).reset, ResetMode::Init);
        assert_eq!(c.experiment(1).reset, ResetMode::Rewind { iteration: 20 });
        assert_eq!(c.experiment(1).schedule, Schedule::OneShot { density: 0.2 });
        assert!(c.experiment(0).controls.reinit && !c.experiment(1).controls.reinit);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_sweeps_say_which_field() {
        let field = |edit: &dyn Fn(&mut RewindConfig)| {
            let mut c = config();
            edit(&mut c);
            c.validate().err().map(|e| e.field)
        };
        assert_eq!(field(&|c| c.rewind_at.clear()), Some("rewind-at"));
        assert_eq!(field(&|c| c.rewind_at = vec![20, 0]), Some("rewind-at"));
        // Past the end of training: the experiment's own check (its `rewind` field).
        assert_eq!(field(&|c| c.rewind_at = vec![0, 10_000]), Some("rewind"));
        assert_eq!(field(&|c| c.density = 1.5), Some("density"));
    }
}

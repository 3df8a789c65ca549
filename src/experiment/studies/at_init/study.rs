//! The study's state machine: the IMP points read from the experiment at the start, then one
//! experiment per (method, density) in turn, each on its own engine, advanced a bounded
//! number of steps per call.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{AT_INIT_FORMAT, AtInitConfig, AtInitPoint, AtInitRecord, imp_round_near};
use crate::data::DataSplits;
use crate::experiment::studies::EngineMaker;
use crate::experiment::{
    ConfigError, Experiment, ExperimentError, ExperimentRecord, RunKind, Status,
};
use crate::prune::PruneMethod;

/// Where the study stands.
#[derive(Clone, Debug, PartialEq)]
pub struct AtInitProgress {
    pub points_done: usize,
    pub points: usize,
    /// The point in training, and how far it has come in [0, 1].
    pub training: Option<(PruneMethod, f64)>,
    pub point_fraction: f64,
    pub steps_done: usize,
    pub waiting: bool,
    pub finished: bool,
}

impl AtInitProgress {
    pub fn fraction(&self) -> f64 {
        if self.finished {
            1.0
        } else {
            (self.points_done as f64 + self.point_fraction) / self.points.max(1) as f64
        }
    }
}

pub struct AtInitStudy {
    config: AtInitConfig,
    data: Arc<DataSplits>,
    make_engine: EngineMaker,
    /// (method, density) still to train.
    pending: VecDeque<(PruneMethod, f64)>,
    current: Option<(PruneMethod, f64, Experiment)>,
    current_fraction: f64,
    method_points_done: usize,
    record: AtInitRecord,
}

impl AtInitStudy {
    /// The study of the finished experiment `imp` (its tickets are read, not retrained).
    pub fn new(
        config: AtInitConfig,
        data: Arc<DataSplits>,
        imp: &ExperimentRecord,
        make_engine: EngineMaker,
    ) -> Result<Self, ExperimentError> {
        config.validate()?;
        if imp.status != Status::Finished {
            return Err(ConfigError {
                field: "experiment",
                message: "the IMP experiment has to finish first".into(),
            }
            .into());
        }
        if imp.config.dataset != config.base.dataset || imp.config.seed != config.base.seed {
            return Err(ConfigError {
                field: "experiment",
                message: "the study's config is not this experiment's (data or seed differ)".into(),
            }
            .into());
        }
        let mut notes = Vec::new();
        let mut points = Vec::new();
        for &density in &config.densities {
            let Some((round, _)) = imp_round_near(imp, density) else {
                continue;
            };
            let runs = &imp.rounds.iter().find(|r| r.round == round).expect("found");
            let ticket = runs.run(RunKind::Ticket).expect("found with a ticket");
            let shuffled = runs.run(RunKind::RandomPrune);
            points.push(AtInitPoint {
                method: PruneMethod::Magnitude,
                density: ticket.density,
                round: Some(round),
                accuracy: ticket.accuracy(),
                shuffled_accuracy: shuffled.and_then(|r| r.accuracy()),
                auc: ticket.auc(),
                shuffled_auc: shuffled.and_then(|r| r.auc()),
                layer_density: ticket.layer_density.clone(),
                untrainable: ticket.stopped.clone(),
            });
        }
        let config_imp = &imp.config;
        if points.is_empty() {
            notes.push(if config_imp.method != PruneMethod::Magnitude {
                format!(
                    "the experiment chose its masks by {}, not IMP: no IMP ticket to compare \
                     (run one with method magnitude)",
                    config_imp.method.label()
                )
            } else {
                "no IMP round of the experiment lies near these densities: no ticket to compare"
                    .into()
            });
        } else if points.len() < config.densities.len() {
            notes.push(format!(
                "the IMP ticket is shown at {} of the {} densities (the experiment's rounds \
                 reach {:.1}%)",
                points.len(),
                config.densities.len(),
                imp.rounds.last().map_or(100.0, |r| r.density() * 100.0)
            ));
        }
        if !points.is_empty() && points.iter().all(|p| p.shuffled_accuracy.is_none()) {
            notes.push(
                "the experiment ran without its random-pruning control (the ticket's shuffle)"
                    .into(),
            );
        }
        if config_imp.reset != crate::experiment::ResetMode::Init {
            notes.push(format!(
                "the IMP ticket was reset with {}; the methods train from θ₀",
                config_imp.reset.label()
            ));
        }
        let pending = config
            .methods
            .iter()
            .flat_map(|&m| config.densities.iter().map(move |&d| (m, d)))
            .collect();
        let dense = imp
            .rounds
            .first()
            .filter(|r| r.round == 0)
            .and_then(|r| r.run(RunKind::Ticket));
        let record = AtInitRecord {
            format: AT_INIT_FORMAT.into(),
            config: config.clone(),
            dense_accuracy: dense.and_then(|r| r.accuracy()),
            by_auc: imp.data.positive_class.is_some(),
            dense_auc: dense.and_then(|r| r.auc()),
            points,
            status: Status::Running,
            notes,
        };
        Ok(Self {
            config,
            data,
            make_engine,
            pending,
            current: None,
            current_fraction: 0.0,
            method_points_done: 0,
            record,
        })
    }

    /// A saved study, shown as it was: nothing left to train (one saved while running is
    /// marked stopped).
    pub fn reopened(mut record: AtInitRecord, data: Arc<DataSplits>) -> Self {
        if record.status == Status::Running {
            record.status = Status::Stopped {
                reason: "saved before it finished".into(),
            };
        }
        let done = record
            .points
            .iter()
            .filter(|p| p.method != PruneMethod::Magnitude)
            .count();
        Self {
            config: record.config.clone(),
            data,
            make_engine: Box::new(|data| Box::new(crate::train::CpuEngine::new(data))),
            pending: VecDeque::new(),
            current: None,
            current_fraction: 0.0,
            method_points_done: done,
            record,
        }
    }

    pub fn record(&self) -> &AtInitRecord {
        &self.record
    }

    pub fn is_done(&self) -> bool {
        self.record.status != Status::Running
    }

    /// Do at most `step_budget` training steps of the point in training (then the next).
    pub fn advance(&mut self, step_budget: usize) -> AtInitProgress {
        let mut budget = step_budget;
        let mut steps_done = 0;
        let mut waiting = false;
        while !self.is_done() {
            if self.current.is_none() {
                let Some((method, density)) = self.pending.pop_front() else {
                    self.record.status = Status::Finished;
                    break;
                };
                let config = self.config.experiment(method, density);
                let engine = (self.make_engine)(self.data.clone());
                let made = Experiment::new(config, self.data.clone(), engine)
                    .and_then(|e| e.without_dense_run().map_err(ExperimentError::from));
                match made {
                    Ok(experiment) => self.current = Some((method, density, experiment)),
                    Err(e) => {
                        self.stop(method, density, &e.to_string());
                        break;
                    }
                }
            }
            let (_, _, experiment) = self.current.as_mut().expect("just made");
            let progress = experiment.advance(budget);
            self.current_fraction = point_fraction(&progress);
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
            let (method, density, finished) = self.current.take().expect("in training");
            self.method_points_done += 1;
            let record = finished.record();
            if let Status::Stopped { reason } = &record.status {
                self.stop(method, density, reason);
                break;
            }
            let round = record.rounds.iter().find(|r| r.round == 1);
            let mask = round.and_then(|r| r.run(RunKind::Ticket));
            let shuffled = round.and_then(|r| r.run(RunKind::RandomPrune));
            self.record.points.push(AtInitPoint {
                method,
                density: mask.map_or(density, |m| m.density),
                round: None,
                accuracy: mask.and_then(|m| m.accuracy()),
                shuffled_accuracy: shuffled.and_then(|r| r.accuracy()),
                auc: mask.and_then(|m| m.auc()),
                shuffled_auc: shuffled.and_then(|r| r.auc()),
                layer_density: mask.map_or_else(Vec::new, |m| m.layer_density.clone()),
                untrainable: mask.and_then(|m| m.stopped.clone()),
            });
            self.record.notes.extend(
                record
                    .notes
                    .iter()
                    .map(|n| format!("{} at {:.2}%: {n}", method.label(), density * 100.0)),
            );
            if budget == 0 {
                break;
            }
        }
        AtInitProgress {
            points_done: self.method_points_done,
            points: self.config.method_points(),
            training: self
                .current
                .as_ref()
                .map(|(m, _, _)| (*m, self.current_fraction)),
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

    fn stop(&mut self, method: PruneMethod, density: f64, reason: &str) {
        self.record.status = Status::Stopped {
            reason: format!("{} at {:.2}%: {reason}", method.label(), density * 100.0),
        };
    }

    /// Run to the end (the CLI and tests); blocks, so native only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_to_end(&mut self, mut on_progress: impl FnMut(&AtInitProgress)) {
        while !self.is_done() {
            let progress = self.advance(self.config.base.eval_every.max(1));
            on_progress(&progress);
            if progress.waiting {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

/// How far a point's experiment (one round: the mask, then its shuffle) has come.
fn point_fraction(progress: &crate::experiment::Progress) -> f64 {
    if progress.finished {
        return 1.0;
    }
    let runs = progress.runs_in_round.max(1) as f64;
    let in_run = progress.iteration as f64 / progress.iterations.max(1) as f64;
    ((progress.runs_done as f64 + in_run) / runs).min(1.0)
}

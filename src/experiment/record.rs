//! What an experiment leaves behind: plain data, independent of the engine that made it.
//! Views draw from it; the CLI prints and saves it.

use serde::{Deserialize, Serialize};

use super::ExperimentConfig;
use crate::model::{Mask, MlpSpec, Network};
use crate::train::{EngineInfo, EvalPoint};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// Iterative magnitude pruning with the configured reset (round 0: the dense network).
    Ticket,
    /// The ticket's mask with fresh random weights.
    Reinit,
    /// A random mask with the ticket's per-layer density and starting weights.
    RandomPrune,
    /// The dense trained network pruned straight to this density, then reset.
    OneShot,
}

impl RunKind {
    pub const ALL: [RunKind; 4] = [
        RunKind::Ticket,
        RunKind::Reinit,
        RunKind::RandomPrune,
        RunKind::OneShot,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RunKind::Ticket => "ticket",
            RunKind::Reinit => "random re-init",
            RunKind::RandomPrune => "random pruning",
            RunKind::OneShot => "one-shot",
        }
    }
}

/// The minimum of the validation loss along training, and the test figures there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub iteration: usize,
    pub val_loss: f32,
    pub test_accuracy: f32,
    pub test_auc: Option<f32>,
}

impl EarlyStop {
    pub fn from_curve(curve: &[EvalPoint]) -> Option<Self> {
        curve
            .iter()
            .filter(|p| p.val_loss.is_finite())
            .min_by(|a, b| {
                a.val_loss
                    .total_cmp(&b.val_loss)
                    .then(a.iteration.cmp(&b.iteration))
            })
            .map(|p| EarlyStop {
                iteration: p.iteration,
                val_loss: p.val_loss,
                test_accuracy: p.test_accuracy,
                test_auc: p.test_auc,
            })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub kind: RunKind,
    /// Fraction of weights kept, overall and per layer.
    pub density: f64,
    pub layer_density: Vec<f64>,
    pub collapsed_layers: Vec<usize>,
    pub curve: Vec<EvalPoint>,
    pub early_stop: Option<EarlyStop>,
    pub mask: Mask,
    /// Weights at the end of training (present when the config keeps weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<Network>,
    /// Why the run stopped early, e.g. a non-finite loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl RunRecord {
    pub fn final_point(&self) -> Option<&EvalPoint> {
        self.curve.last()
    }

    /// Test accuracy at the early-stop iteration (the paper's headline figure).
    pub fn accuracy(&self) -> Option<f32> {
        self.early_stop.as_ref().map(|e| e.test_accuracy)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    pub round: usize,
    pub runs: Vec<RunRecord>,
}

impl RoundRecord {
    pub fn run(&self, kind: RunKind) -> Option<&RunRecord> {
        self.runs.iter().find(|r| r.kind == kind)
    }

    pub fn density(&self) -> f64 {
        self.run(RunKind::Ticket).map_or(1.0, |r| r.density)
    }

    /// The run of `kind`, or the ticket where this round has no such run (round 0, or a
    /// control that was not trained): what the views show for a selected run kind.
    pub fn shown_run(&self, kind: RunKind) -> Option<&RunRecord> {
        self.run(kind).or_else(|| self.run(RunKind::Ticket))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Status {
    Running,
    Finished,
    Stopped { reason: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub name: String,
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub classes: usize,
    pub shape: crate::data::DataShape,
    pub positive_class: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRecord {
    pub format: String,
    pub config: ExperimentConfig,
    pub spec: MlpSpec,
    pub data: DataSummary,
    pub engine: EngineInfo,
    /// theta_0 (present when the config keeps weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_init: Option<Network>,
    pub rounds: Vec<RoundRecord>,
    pub status: Status,
    /// Notices for the user along the way (an engine switch, a collapsed layer, ...).
    #[serde(default)]
    pub notes: Vec<String>,
}

pub const RECORD_FORMAT: &str = "lottery-lab-record/1";

impl ExperimentRecord {
    /// Drop the weights (theta_0 and trained), keeping masks and curves: a small file.
    pub fn without_weights(&self) -> Self {
        let mut record = self.clone();
        record.theta_init = None;
        for round in &mut record.rounds {
            for run in &mut round.runs {
                run.trained = None;
            }
        }
        record
    }

    /// One row per round and run: the CSV export.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "round,run,density,early_stop_iteration,early_stop_test_accuracy,early_stop_test_auc,final_test_accuracy,final_val_loss,layer_densities,stopped\n",
        );
        for round in &self.rounds {
            for run in &round.runs {
                let early = run.early_stop.as_ref();
                let last = run.final_point();
                let fmt_opt = |v: Option<f32>| v.map(|v| format!("{v:.5}")).unwrap_or_default();
                out += &format!(
                    "{},{},{:.6},{},{},{},{},{},{},{}\n",
                    round.round,
                    run.kind.label(),
                    run.density,
                    early.map(|e| e.iteration.to_string()).unwrap_or_default(),
                    fmt_opt(early.map(|e| e.test_accuracy)),
                    fmt_opt(early.and_then(|e| e.test_auc)),
                    fmt_opt(last.map(|p| p.test_accuracy)),
                    fmt_opt(last.map(|p| p.val_loss)),
                    run.layer_density
                        .iter()
                        .map(|d| format!("{d:.6}"))
                        .collect::<Vec<_>>()
                        .join(";"),
                    run.stopped
                        .as_deref()
                        .unwrap_or("")
                        .replace([',', '\n'], " "),
                );
            }
        }
        out
    }
}

//! What an experiment leaves behind: plain data, independent of the engine that made it.
//! Views draw from it; the CLI prints and saves it.

use serde::{Deserialize, Serialize};

use super::ExperimentConfig;
use crate::model::{Mask, NetSpec, Network};
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
    /// The early-bird ticket: the mask drawn early in the dense run, trained from θ₀.
    EarlyBird,
    /// Beside structured or N:M pruning: the dense trained network's unstructured magnitude
    /// mask at the ticket's per-layer densities, from the ticket's start.
    Unstructured,
    /// In round 1: the dense trained network's 2:4 mask, from the ticket's start.
    TwoFour,
    /// A dense network with narrower hidden layers and the ticket's number of weights,
    /// freshly initialised.
    SmallDense,
}

impl RunKind {
    pub const ALL: [RunKind; 8] = [
        RunKind::Ticket,
        RunKind::Reinit,
        RunKind::RandomPrune,
        RunKind::OneShot,
        RunKind::EarlyBird,
        RunKind::Unstructured,
        RunKind::TwoFour,
        RunKind::SmallDense,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RunKind::Ticket => "ticket",
            RunKind::Reinit => "random re-init",
            RunKind::RandomPrune => "random pruning",
            RunKind::OneShot => "one-shot",
            RunKind::EarlyBird => "early-bird ticket",
            RunKind::Unstructured => "unstructured",
            RunKind::TwoFour => "2:4",
            RunKind::SmallDense => "small dense net",
        }
    }

    /// Its name on screen and in tables: the main run of a method at initialisation is that
    /// method's mask (say "SNIP"), not a ticket.
    pub fn name(self, method: crate::prune::PruneMethod) -> &'static str {
        match self {
            RunKind::Ticket if method.at_init() => method.label(),
            other => other.label(),
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
    /// This run without its trained weights (copying everything else, never the weights).
    pub fn without_weights(&self) -> RunRecord {
        RunRecord {
            kind: self.kind,
            density: self.density,
            layer_density: self.layer_density.clone(),
            collapsed_layers: self.collapsed_layers.clone(),
            curve: self.curve.clone(),
            early_stop: self.early_stop.clone(),
            mask: self.mask.clone(),
            trained: None,
            stopped: self.stopped.clone(),
        }
    }

    pub fn final_point(&self) -> Option<&EvalPoint> {
        self.curve.last()
    }

    /// Test accuracy at the early-stop iteration (the paper's headline figure).
    pub fn accuracy(&self) -> Option<f32> {
        self.early_stop.as_ref().map(|e| e.test_accuracy)
    }

    /// Test ROC AUC at the early-stop iteration (binary imbalanced data only).
    pub fn auc(&self) -> Option<f32> {
        self.early_stop.as_ref()?.test_auc
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

impl DataSummary {
    pub fn of(data: &crate::data::DataSplits) -> Self {
        Self {
            name: data.name.clone(),
            train: data.train.len(),
            val: data.val.len(),
            test: data.test.len(),
            classes: data.n_classes,
            shape: data.shape.clone(),
            positive_class: data.positive_class,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRecord {
    pub format: String,
    pub config: ExperimentConfig,
    pub spec: NetSpec,
    pub data: DataSummary,
    pub engine: EngineInfo,
    /// theta_0 (present when the config keeps weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_init: Option<Network>,
    /// theta_k for late rewinding, once the dense run reached iteration k (kept weights only):
    /// what a saved experiment needs to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_rewind: Option<Network>,
    pub rounds: Vec<RoundRecord>,
    pub status: Status,
    /// Notices for the user along the way (an engine switch, a collapsed layer, ...).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The early-bird search of the dense run, when the config asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_bird: Option<crate::prune::EarlyBirdTrace>,
}

pub const RECORD_FORMAT: &str = "lottery-lab-record/1";

/// Weights a record's network may have (a hand-edited spec must not make the app allocate
/// gigabytes before it notices).
pub const MAX_RECORD_WEIGHTS: usize = 50_000_000;

/// What is wrong in a record, and where (`rounds[3].runs[1].mask`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct RecordError {
    pub place: String,
    pub message: String,
}

impl RecordError {
    /// From a problem written `place: what`.
    pub(crate) fn from_text(text: String) -> Self {
        match text.split_once(": ") {
            Some((place, message)) => Self {
                place: place.into(),
                message: message.into(),
            },
            None => Self {
                place: String::new(),
                message: text,
            },
        }
    }
}

impl ExperimentRecord {
    /// Everything but the rounds (without copying them: they hold the weights).
    /// The record's head: everything but its rounds and its weights (θ₀, θ_k).
    pub fn head_without_weights(&self) -> Self {
        Self {
            format: self.format.clone(),
            config: self.config.clone(),
            spec: self.spec.clone(),
            data: self.data.clone(),
            engine: self.engine.clone(),
            theta_init: None,
            theta_rewind: None,
            rounds: Vec::new(),
            status: self.status.clone(),
            notes: self.notes.clone(),
            early_bird: self.early_bird.clone(),
        }
    }

    /// Drop the weights (theta_0 and trained), keeping masks and curves: a small file.
    pub fn without_weights(&self) -> Self {
        let mut record = self.clone();
        record.theta_init = None;
        record.theta_rewind = None;
        for round in &mut record.rounds {
            for run in &mut round.runs {
                run.trained = None;
            }
        }
        record
    }

    /// Everything a file could get wrong that serde does not catch: the format, the config,
    /// and every mask and weight matrix against the network's shape. The first problem is
    /// named with its place (`rounds[3].runs[1].mask`).
    pub fn check(&self) -> Result<(), RecordError> {
        self.first_problem().map_err(RecordError::from_text)
    }

    /// [`ExperimentRecord::check`]'s work, each problem written `place: what`.
    fn first_problem(&self) -> Result<(), String> {
        if self.format != RECORD_FORMAT {
            return Err(format!(
                "format: '{}' is not a Lottery Lab record ({RECORD_FORMAT})",
                self.format
            ));
        }
        self.config.validate().map_err(|e| format!("config.{e}"))?;
        if self.spec.output != self.data.classes {
            return Err(format!(
                "spec: the network {} does not match the data's {} classes",
                self.spec.label(),
                self.data.classes
            ));
        }
        check_spec(&self.spec, &self.config)?;
        let check_net = |net: &Network, place: &str| check_network(net, &self.spec, place);
        if let Some(net) = &self.theta_init {
            check_net(net, "theta_init")?;
        }
        if let Some(net) = &self.theta_rewind {
            check_net(net, "theta_rewind")?;
        }
        if self.rounds.len() > self.config.rounds() + 1 {
            return Err(format!(
                "rounds: {} rounds, but the config has only {}",
                self.rounds.len(),
                self.config.rounds() + 1
            ));
        }
        for (i, round) in self.rounds.iter().enumerate() {
            if round.round != i {
                return Err(format!(
                    "rounds[{i}].round: {} where {i} was expected",
                    round.round
                ));
            }
            if round.run(RunKind::Ticket).is_none() {
                return Err(format!("rounds[{i}]: no ticket run"));
            }
            for (j, run) in round.runs.iter().enumerate() {
                let place = format!("rounds[{i}].runs[{j}]");
                check_mask(
                    &run.mask,
                    run.density,
                    &run.layer_density,
                    &self.spec,
                    &place,
                )?;
                if let Some(net) = &run.trained {
                    check_net(net, &format!("{place}.trained"))?;
                }
                // A figure too large for f32 reads as infinite and would write back as null:
                // refused here, so an accepted file writes back as itself (found by fuzzing).
                let infinite = run.curve.iter().any(|p| {
                    [
                        p.train_loss,
                        Some(p.val_loss),
                        Some(p.test_loss),
                        p.test_auc,
                    ]
                    .into_iter()
                    .flatten()
                    .any(f32::is_infinite)
                        || p.val_accuracy.is_infinite()
                        || p.test_accuracy.is_infinite()
                });
                if infinite {
                    return Err(format!(
                        "{place}.curve: a figure is out of range (infinite)"
                    ));
                }
                if run.curve.len() > self.config.iterations / self.config.eval_every + 2 {
                    return Err(format!(
                        "{place}.curve: more points than the config evaluates"
                    ));
                }
            }
        }
        Ok(())
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
/// A file's network: the config's layers, within what this app handles.
pub(crate) fn check_spec(spec: &NetSpec, config: &ExperimentConfig) -> Result<(), String> {
    if spec.hidden != config.hidden || spec.input == 0 {
        return Err(format!(
            "spec: the network {} does not match the config's hidden layers {:?}",
            spec.label(),
            config.hidden
        ));
    }
    if spec.input > 100_000 || spec.output > 1_000 {
        return Err("spec: the network is larger than this app handles".into());
    }
    spec.check().map_err(|e| format!("spec: {e}"))?;
    if spec.weight_count() > MAX_RECORD_WEIGHTS {
        return Err(format!(
            "spec: the network has {} weights; this app handles at most {MAX_RECORD_WEIGHTS}",
            spec.weight_count()
        ));
    }
    Ok(())
}

/// `net` has `spec`'s weight and bias shapes (a file's network, before anything trains it);
/// the problem written `place: what`.
pub(crate) fn check_network(net: &Network, spec: &NetSpec, place: &str) -> Result<(), String> {
    let shapes = spec.layer_shapes();
    let got: Vec<(usize, usize)> = net.layers.iter().map(|l| l.weight.dim()).collect();
    let biases_ok = net
        .layers
        .iter()
        .zip(&shapes)
        .all(|(l, &(_, out))| l.bias.len() == out);
    if got != shapes || !biases_ok || net.spec != *spec {
        return Err(format!(
            "{place}: weight shapes {got:?} do not match the network {}",
            spec.label()
        ));
    }
    Ok(())
}

/// `mask` has `spec`'s weight shapes and `density` is its share kept.
pub(crate) fn check_mask(
    mask: &Mask,
    density: f64,
    layer_density: &[f64],
    spec: &NetSpec,
    place: &str,
) -> Result<(), String> {
    let shapes = spec.layer_shapes();
    let mask_shapes: Vec<(usize, usize)> = mask.layers.iter().map(|l| l.dim()).collect();
    if mask_shapes != shapes {
        return Err(format!(
            "{place}.mask: shapes {mask_shapes:?} do not match the network {}",
            spec.label()
        ));
    }
    if (density - mask.density()).abs() > 1e-9 || layer_density.len() != shapes.len() {
        return Err(format!(
            "{place}.density: {density} does not match its mask ({})",
            mask.density()
        ));
    }
    Ok(())
}

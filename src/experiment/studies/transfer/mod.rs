//! Ticket transfer (after Morcos et al. 2019, on our own small task pairs): is a ticket found
//! on task A a ticket on a related task B? The ticket of A (its mask and starting weights:
//! found by IMP on A here, taken from the finished experiment, or brought in a ticket file) is
//! trained on B beside
//!
//! - B's own ticket at the same round (IMP on B) and B's random pruning (a random mask at the
//!   same per-layer density, B's IMP control), with the dense network on B for reference;
//! - A's mask with fresh weights ("the mask without its initial values"; across seeds: on
//!   seed B's θ₀, the paper's "tickets are not transferable across seeds").
//!
//! Every network is trained the config's iterations and scored by its test accuracy at the
//! end, on B. The two IMP experiments are ordinary `Experiment`s (the same as `lottery-lab run`
//! on those data), each with an engine from an [`super::EngineMaker`]; the two A-mask subjects
//! train on one engine through the studies' trainer.

mod study;

use serde::{Deserialize, Serialize};

pub use study::TransferStudy;

use crate::data::tasks::TransferTask;
use crate::experiment::io::TicketFile;
use crate::experiment::{
    ConfigError, Controls, ExperimentConfig, ExperimentError, ExperimentRecord, Schedule, Status,
};

pub const TRANSFER_FORMAT: &str = "lottery-lab-transfer/1";
/// Training steps one evaluation chunk counts for in a step budget.
const CHUNK_COST: usize = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferConfig {
    /// The network, training recipe, pruning rates and seed; its data is task A's origin.
    pub base: ExperimentConfig,
    pub task: TransferTask,
    /// The IMP round whose tickets are compared (its density).
    pub round: usize,
}

impl TransferConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=30).contains(&self.round) {
            return Err(ConfigError {
                field: "round",
                message: format!("{}: a pruned round, 1 to 30", self.round),
            });
        }
        self.imp(self.base.seed).validate()
    }

    /// The IMP experiment on either task: the base config to `round`, random pruning beside.
    pub fn imp(&self, seed: u64) -> ExperimentConfig {
        ExperimentConfig {
            schedule: Schedule::Iterative { rounds: self.round },
            controls: Controls {
                random_prune: true,
                ..Controls::NONE
            },
            keep_weights: true,
            seed,
            ..self.base.clone()
        }
    }

    /// The seed of task B's experiment.
    pub fn target_seed(&self) -> u64 {
        match self.task {
            TransferTask::OtherSeed => self.base.seed + 1,
            _ => self.base.seed,
        }
    }
}

/// One network trained on task B.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferSubject {
    TargetDense,
    TargetTicket,
    TargetRandomPrune,
    /// A's mask and A's starting weights.
    Transferred,
    /// A's mask with fresh weights (across seeds: seed B's θ₀).
    MaskFreshWeights,
}

impl TransferSubject {
    pub const ALL: [TransferSubject; 5] = [
        TransferSubject::TargetDense,
        TransferSubject::TargetTicket,
        TransferSubject::TargetRandomPrune,
        TransferSubject::Transferred,
        TransferSubject::MaskFreshWeights,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TransferSubject::TargetDense => "dense on B",
            TransferSubject::TargetTicket => "B's own ticket",
            TransferSubject::TargetRandomPrune => "random mask on B",
            TransferSubject::Transferred => "A's ticket",
            TransferSubject::MaskFreshWeights => "A's mask, fresh weights",
        }
    }
}

/// A network's score on task B after training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferResult {
    pub subject: TransferSubject,
    pub density: f64,
    /// Test accuracy on B at the end of training.
    pub test_accuracy: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_auc: Option<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferRecord {
    /// [`TRANSFER_FORMAT`].
    pub format: String,
    pub config: TransferConfig,
    /// The tasks' names ("MNIST digits (digits 0-4)").
    pub source: String,
    pub target: String,
    /// Where A's ticket came from, in words (found here, the experiment, a file).
    pub ticket_from: String,
    /// A's ticket: density, and its test accuracy on A (when known).
    pub ticket_density: f64,
    pub ticket_accuracy_on_a: Option<f32>,
    pub results: Vec<TransferResult>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl TransferRecord {
    pub fn result(&self, subject: TransferSubject) -> Option<&TransferResult> {
        self.results.iter().find(|r| r.subject == subject)
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::from("task,round,subject,density,test_accuracy,test_auc\n");
        for r in &self.results {
            out.push_str(&format!(
                "{},{},{},{:.6},{:.6},{}\n",
                self.config.task.key(),
                self.config.round,
                r.subject.label(),
                r.density,
                r.test_accuracy,
                r.test_auc.map_or(String::new(), |a| format!("{a:.6}"))
            ));
        }
        out
    }

    /// A saved study's file, checked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let record: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if record.format != TRANSFER_FORMAT {
            return Err(format!(
                "format {:?}: this app reads {TRANSFER_FORMAT}",
                record.format
            ));
        }
        if let Some(r) = record
            .results
            .iter()
            .find(|r| !(0.0..=1.0).contains(&r.test_accuracy))
        {
            return Err(format!(
                "{}: accuracy {} is not in [0, 1]",
                r.subject.label(),
                r.test_accuracy
            ));
        }
        Ok(record)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Task(String),
    #[error("the experiment: {0}")]
    Experiment(#[from] ExperimentError),
    #[error("the ticket's network ({theirs}) is not task B's ({ours})")]
    OtherNetwork { theirs: String, ours: String },
    #[error("the ticket: {0}")]
    Ticket(String),
}

/// Where a study stands.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferProgress {
    pub iterations_done: usize,
    pub iterations: usize,
    /// Training steps done during this call.
    pub steps_done: usize,
    pub doing: String,
    pub waiting: bool,
    pub finished: bool,
}

impl TransferProgress {
    pub fn fraction(&self) -> f64 {
        if self.finished {
            1.0
        } else {
            (self.iterations_done as f64 / self.iterations.max(1) as f64).min(1.0)
        }
    }
}

impl<'a> Source<'a> {
    /// A's ticket from the finished experiment `record` when A is its data and `round` one
    /// of its iterative rounds (the ticket IMP on A would find again); else IMP on A.
    pub fn for_experiment(record: &'a ExperimentRecord, task: TransferTask, round: usize) -> Self {
        let a_is_its_data = task.source_is_the_data();
        let iterative = matches!(record.config.schedule, Schedule::Iterative { .. });
        if a_is_its_data && iterative && round < record.rounds.len() {
            Source::Experiment(record)
        } else {
            Source::FindIt
        }
    }
}

/// Where A's ticket comes from.
pub enum Source<'a> {
    /// IMP on A, run by the study.
    FindIt,
    /// A finished experiment on A's data (the page's, when A is its data).
    Experiment(&'a ExperimentRecord),
    /// A ticket file ("bring a ticket from home").
    File(Box<TicketFile>),
}

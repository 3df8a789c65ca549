//! What leaves the app as a file and comes back: the record as JSON (config embedded) and
//! CSV, and the ticket itself (a mask and the initial weights it trains from).
//!
//! Reading is strict: a file is parsed and checked completely before anything uses it, and the
//! first problem is reported with its line and column (syntax) or its field (content).

use serde::{Deserialize, Serialize};

use super::{ExperimentConfig, ExperimentRecord, ResetMode, RunKind};
use crate::model::{Mask, NetSpec, Network};
use crate::rng;

/// Larger files are refused before parsing (a LeNet record with every weight is ~60 MB).
pub const MAX_FILE_BYTES: usize = 400 << 20;

pub const TICKET_FORMAT: &str = "lottery-lab-ticket/1";

/// A winning ticket, self-contained: train `theta_init ⊙ mask` (or from `theta_rewind`) with
/// the config's optimiser to reproduce the round's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketFile {
    pub format: String,
    pub config: ExperimentConfig,
    pub spec: NetSpec,
    pub round: usize,
    /// How its mask was chosen, in words (the method, its granularity, the round).
    #[serde(default)]
    pub chosen_by: String,
    pub density: f64,
    pub layer_density: Vec<f64>,
    /// Test accuracy of the ticket at its early-stop iteration.
    pub test_accuracy: Option<f32>,
    pub mask: Mask,
    pub theta_init: Network,
    /// Where the ticket restarts from under late rewinding (theta_k), when that is the reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_rewind: Option<Network>,
}

/// The ticket of `round`. theta_0 comes from the record or, when it kept no weights, from the
/// config's seed (the same draw the experiment made).
pub fn ticket(record: &ExperimentRecord, round: usize) -> Result<TicketFile, FileError> {
    let run = record
        .rounds
        .get(round)
        .and_then(|r| r.run(RunKind::Ticket))
        .ok_or(FileError::NoTicket { round })?;
    let theta_init = record.theta_init.clone().unwrap_or_else(|| {
        Network::init(
            &record.spec,
            record.config.init,
            &mut rng::rng(record.config.seed, "init"),
        )
    });
    let theta_rewind = match record.config.reset {
        ResetMode::Rewind { iteration } if iteration > 0 => record.theta_rewind.clone(),
        _ => None,
    };
    Ok(TicketFile {
        format: TICKET_FORMAT.into(),
        config: record.config.clone(),
        spec: record.spec.clone(),
        round,
        chosen_by: chosen_by(&record.config, round),
        density: run.density,
        layer_density: run.layer_density.clone(),
        test_accuracy: run.accuracy(),
        mask: run.mask.clone(),
        theta_init,
        theta_rewind,
    })
}

/// How round `round`'s mask was chosen under `config`, in a sentence for the ticket file.
pub fn chosen_by(config: &ExperimentConfig, round: usize) -> String {
    let method = config.method;
    match config.granularity {
        crate::prune::Granularity::NOfM { n, m } => format!(
            "{n}:{m} sparsity: the {n} largest of every {m} consecutive inputs of each unit of the trained dense network (round {round})"
        ),
        crate::prune::Granularity::Neurons => format!(
            "structured pruning, round {round}: each hidden layer's units (neurons, filters) with the smallest L1 norm of incoming weights removed with the rows that read them, {:.0}% of the remaining units per round",
            config.pruning.rate * 100.0
        ),
        _ if method.at_init() => format!(
            "{} at initialisation (round {round}): {}",
            method.label(),
            method.explanation()
        ),
        _ => format!(
            "iterative magnitude pruning, round {round} ({:?} scope): {}",
            config.pruning.scope,
            method.explanation()
        ),
    }
}

/// Why a file could not be read (or a ticket not made).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file is {mb} MB; results files up to {} MB are read", MAX_FILE_BYTES >> 20)]
    TooLarge { mb: usize },
    /// Not JSON, or not a record's fields (serde says where: line and column).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("this is a ticket file (masks and θ₀), not a results file")]
    Ticket,
    #[error("this is a results file, not a ticket file (export a ticket from a round)")]
    NotTicket,
    #[error(
        "format: '{found}' is not a Lottery Lab results file ({})",
        super::RECORD_FORMAT
    )]
    Format { found: String },
    #[error("format: missing; this is not a Lottery Lab results file")]
    NoFormat,
    #[error(transparent)]
    Record(#[from] super::RecordError),
    #[error("round {round} has no ticket yet")]
    NoTicket { round: usize },
}

/// Parse and check a results file. Nothing is returned unless all of it is sound.
pub fn parse_record(text: &str) -> Result<ExperimentRecord, FileError> {
    match file_format(text)?.as_str() {
        super::RECORD_FORMAT => {}
        TICKET_FORMAT => return Err(FileError::Ticket),
        other => return Err(unknown_format(other)),
    }
    // Parse again from the text (not the value) so that errors carry line and column.
    let record: ExperimentRecord = serde_json::from_str(text)?;
    record.check()?;
    Ok(record)
}

/// Parse and check a ticket file: its network, mask and weights fit each other and its
/// config before anything trains it.
pub fn parse_ticket(text: &str) -> Result<TicketFile, FileError> {
    match file_format(text)?.as_str() {
        TICKET_FORMAT => {}
        super::RECORD_FORMAT => return Err(FileError::NotTicket),
        other => return Err(unknown_format(other)),
    }
    let ticket: TicketFile = serde_json::from_str(text)?;
    ticket.check()?;
    Ok(ticket)
}

/// A file's `format` field, read before the rest (a large file is refused unread).
fn file_format(text: &str) -> Result<String, FileError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            mb: text.len() >> 20,
        });
    }
    let value: serde_json::Value = serde_json::from_str(text)?;
    value
        .get("format")
        .and_then(|f| f.as_str())
        .map(str::to_string)
        .ok_or(FileError::NoFormat)
}

fn unknown_format(found: &str) -> FileError {
    FileError::Format {
        found: found.chars().take(40).collect(),
    }
}

impl TicketFile {
    /// What [`parse_ticket`] checks after parsing, the first problem with its place.
    pub fn check(&self) -> Result<(), super::RecordError> {
        self.first_problem().map_err(super::RecordError::from_text)
    }

    fn first_problem(&self) -> Result<(), String> {
        use super::record::{check_mask, check_network, check_spec};
        self.config.validate().map_err(|e| format!("config.{e}"))?;
        check_spec(&self.spec, &self.config)?;
        if self.round > self.config.rounds() {
            return Err(format!(
                "round: {} where the config has {} rounds",
                self.round,
                self.config.rounds()
            ));
        }
        check_mask(
            &self.mask,
            self.density,
            &self.layer_density,
            &self.spec,
            "ticket",
        )?;
        check_network(&self.theta_init, &self.spec, "theta_init")?;
        if let Some(net) = &self.theta_rewind {
            check_network(net, &self.spec, "theta_rewind")?;
        }
        let finite = |net: &Network| {
            net.layers
                .iter()
                .all(|l| l.weight.iter().chain(&l.bias).all(|v| v.is_finite()))
        };
        if !finite(&self.theta_init) {
            return Err("theta_init: a weight is not a finite number".into());
        }
        if !self.theta_rewind.as_ref().is_none_or(finite) {
            return Err("theta_rewind: a weight is not a finite number".into());
        }
        if self
            .test_accuracy
            .is_some_and(|a| !(0.0..=1.0).contains(&a))
        {
            return Err("test_accuracy: outside [0, 1]".into());
        }
        Ok(())
    }
}

/// A file name for an export: `lottery-lab-<preset>-seed<seed>[-suffix].<ext>`, file-system safe.
pub fn file_name(preset: &str, seed: u64, suffix: &str, ext: &str) -> String {
    let safe: String = preset
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let suffix = if suffix.is_empty() {
        String::new()
    } else {
        format!("-{suffix}")
    };
    format!("lottery-lab-{safe}-seed{seed}{suffix}.{ext}")
}

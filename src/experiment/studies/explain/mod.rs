//! Explanations (the lecture's "sparser models are easier to explain"): for chosen test
//! examples, the attributions of the dense network and of an IMP round's ticket (and its
//! random-pruning control) side by side, measured rather than asserted:
//!
//! - integrated gradients from a blank input (completeness checked: they sum to the logit's
//!   change) and gradient × input, per input feature;
//! - each network's live input→output paths and live inputs ([`connectivity`]);
//! - how concentrated an explanation is (the share of |attribution| in its top 5% features);
//! - how stable it is: top-5% agreement with the attributions of the same example under small
//!   input noise, and (over seeds, [`cross_seed_agreement`]) with the same network kind of
//!   another seed.
//!
//! The networks are the experiment's trained weights (its record keeps them); nothing is
//! trained. Work is counted in grid rows (one forward and backward pass of one input), a
//! chunk per call, so the page spreads it over frames.

mod study;

use serde::{Deserialize, Serialize};

pub use study::ExplainStudy;

use super::{Spread, Subject};
use crate::experiment::{ConfigError, Status};
use crate::model::Shape;
use crate::model::attribution::{Attribution, Connectivity, top_k_agreement, top_k_for};

pub const EXPLAIN_FORMAT: &str = "lottery-lab-explain/1";
/// Noisy copies of each example for the neighbourhood agreement.
pub const DEFAULT_NEIGHBOURS: usize = 4;
/// Their noise: N(0, σ²) added to every feature (digits' pixels are in [0, 1]).
pub const DEFAULT_NOISE: f32 = 0.1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainConfig {
    /// The IMP round whose ticket is explained beside the dense network (0: the dense only).
    pub round: usize,
    /// Test examples (indices into the test split).
    pub examples: Vec<usize>,
    pub neighbours: usize,
    pub noise: f32,
}

impl ExplainConfig {
    pub fn new(round: usize, examples: Vec<usize>) -> Self {
        Self {
            round,
            examples,
            neighbours: DEFAULT_NEIGHBOURS,
            noise: DEFAULT_NOISE,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, message: String| Err(ConfigError { field, message });
        if self.examples.is_empty() {
            return bad("examples", "give at least one test example".into());
        }
        if self.examples.len() > 200 {
            return bad(
                "examples",
                format!("{} examples: at most 200", self.examples.len()),
            );
        }
        if self.neighbours > 16 {
            return bad(
                "neighbours",
                format!("{}: at most 16 noisy copies", self.neighbours),
            );
        }
        if !(self.noise.is_finite() && (0.0..=10.0).contains(&self.noise)) {
            return bad(
                "noise",
                format!("{}: a standard deviation from 0 to 10", self.noise),
            );
        }
        Ok(())
    }
}

/// Test examples as written in the CLI: indices and ranges, comma-separated ("0-9,15").
pub fn parse_examples(text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("{t:?} is not an example index (0, 1, ...)"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(format!("{part}: a range goes up"));
                }
                if b - a >= 200 {
                    return Err(format!("{part}: at most 200 examples"));
                }
                out.extend(a..=b);
            }
            None => out.push(number(part)?),
        }
    }
    if out.is_empty() {
        return Err("give at least one example index".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// One example explained by one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainedExample {
    /// Its index in the test split, and its label (the attributed class).
    pub index: usize,
    pub label: u8,
    /// The class the network predicts for it.
    pub predicted: usize,
    pub integrated: Attribution,
    pub gradient_input: Attribution,
    /// Top-5% agreement of its integrated gradients with those of each noisy copy.
    pub neighbour_agreement: Vec<f64>,
}

impl ExplainedExample {
    /// The share of Σ|integrated gradients| in the top 5% features.
    pub fn top_share(&self) -> f64 {
        self.integrated
            .top_share(top_k_for(self.integrated.values.len()))
    }

    /// The mean of [`ExplainedExample::neighbour_agreement`] (1 without noisy copies).
    pub fn mean_neighbour_agreement(&self) -> f64 {
        if self.neighbour_agreement.is_empty() {
            return 1.0;
        }
        self.neighbour_agreement.iter().sum::<f64>() / self.neighbour_agreement.len() as f64
    }
}

/// One network's explanations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainedNetwork {
    pub subject: Subject,
    pub density: f64,
    pub connectivity: Connectivity,
    pub examples: Vec<ExplainedExample>,
}

impl ExplainedNetwork {
    pub fn example(&self, index: usize) -> Option<&ExplainedExample> {
        self.examples.iter().find(|e| e.index == index)
    }

    /// A figure of each explained example, over the examples.
    pub fn spread(&self, figure: impl Fn(&ExplainedExample) -> f64) -> Option<Spread> {
        Spread::of(&self.examples.iter().map(figure).collect::<Vec<_>>())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainRecord {
    /// [`EXPLAIN_FORMAT`].
    pub format: String,
    pub config: ExplainConfig,
    /// The experiment's config (network, data, seed) whose networks are explained.
    pub experiment: crate::experiment::ExperimentConfig,
    /// The input's shape (28×28×1 for digits: attributions draw as images).
    pub input: Shape,
    pub networks: Vec<ExplainedNetwork>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ExplainRecord {
    /// A saved study's file, checked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let record: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        record.check()?;
        Ok(record)
    }

    pub fn network(&self, subject: Subject) -> Option<&ExplainedNetwork> {
        self.networks.iter().find(|n| n.subject == subject)
    }

    /// One line per network and example: the figures, not the attribution maps.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "network,density,paths,live_inputs,inputs,example,label,predicted,logit,baseline_logit,ig_sum,ig_intervals,completeness_error,top5_share,neighbour_agreement\n",
        );
        for net in &self.networks {
            for e in &net.examples {
                let sum: f64 = e.integrated.values.iter().map(|&v| f64::from(v)).sum();
                out.push_str(&format!(
                    "{},{:.6},{},{},{},{},{},{},{:.6},{:.6},{:.6},{},{:.6},{:.6},{:.6}\n",
                    net.subject.label(),
                    net.density,
                    net.connectivity.paths,
                    net.connectivity.live_inputs,
                    net.connectivity.inputs,
                    e.index,
                    e.label,
                    e.predicted,
                    e.integrated.output,
                    e.integrated.baseline_output,
                    sum,
                    e.integrated.intervals,
                    e.integrated.completeness_error(),
                    e.top_share(),
                    e.mean_neighbour_agreement(),
                ));
            }
        }
        out
    }

    /// For files: the format, and every attribution the size of the input.
    pub fn check(&self) -> Result<(), String> {
        if self.format != EXPLAIN_FORMAT {
            return Err(format!(
                "format {:?}: this app reads {EXPLAIN_FORMAT}",
                self.format
            ));
        }
        let n = self.input.len();
        for net in &self.networks {
            for e in &net.examples {
                if e.integrated.values.len() != n || e.gradient_input.values.len() != n {
                    return Err(format!(
                        "{} example {}: attributions of {} features, the input has {n}",
                        net.subject.label(),
                        e.index,
                        e.integrated.values.len()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Top-5% agreement of the same network kind's integrated gradients between seeds, per
/// example and pair of seeds (the records of one study config, one per seed).
pub fn cross_seed_agreement(records: &[ExplainRecord], subject: Subject) -> Option<Spread> {
    let mut values = Vec::new();
    for (i, a) in records.iter().enumerate() {
        for b in &records[i + 1..] {
            let (Some(na), Some(nb)) = (a.network(subject), b.network(subject)) else {
                continue;
            };
            for ea in &na.examples {
                if let Some(eb) = nb.example(ea.index) {
                    let k = top_k_for(ea.integrated.values.len());
                    values.push(top_k_agreement(&ea.integrated, &eb.integrated, k));
                }
            }
        }
    }
    Spread::of(&values)
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error("round {round}: the experiment has {rounds} rounds (0 = dense)")]
    NoSuchRound { round: usize, rounds: usize },
    #[error(
        "the {0} network's trained weights are not in the record (the run was saved without weights): nothing to explain"
    )]
    NoWeights(&'static str),
    #[error("test example {index}: the test split has {len} examples")]
    NoSuchExample { index: usize, len: usize },
}

/// Where an explanation study stands.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainProgress {
    pub tasks_done: usize,
    pub tasks: usize,
    pub doing: String,
    pub finished: bool,
}

impl ExplainProgress {
    pub fn fraction(&self) -> f64 {
        if self.finished {
            1.0
        } else {
            self.tasks_done as f64 / self.tasks.max(1) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_examples;

    #[test]
    fn examples_are_indices_and_ranges() {
        assert_eq!(parse_examples("0-3, 7,2").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_examples("5").unwrap(), vec![5]);
        for bad in ["", "a", "3-1", "0-1000", "-2"] {
            assert!(parse_examples(bad).is_err(), "{bad:?}");
        }
    }
}

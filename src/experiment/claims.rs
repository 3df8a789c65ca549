//! What a preset's text tells the hall, as checks on its own runs: each claim reads the records
//! of the preset run over several seeds and says, with the figures of each seed, whether it
//! holds. `lottery-lab check-presets` runs them at full length; the science tests run the same
//! checks on shortened runs where the claim's quantifier allows it ("at every density from 32%
//! down" holds or fails on whatever rounds a run has).

use super::{ExperimentRecord, RoundRecord, RunKind};

/// One sentence of a preset's explanation and the check of it.
pub struct Claim {
    /// The claim as the text makes it.
    pub says: &'static str,
    pub check: fn(&[ExperimentRecord]) -> Verdict,
}

/// Whether a claim held, and the figures it was decided on (per seed).
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub holds: bool,
    pub figures: String,
}

impl Verdict {
    /// A claim that must hold for every seed: `per_seed` gives each seed's verdict.
    fn every_seed(
        records: &[ExperimentRecord],
        per_seed: impl Fn(&ExperimentRecord) -> Option<(bool, String)>,
    ) -> Self {
        let mut holds = !records.is_empty();
        let mut figures = Vec::new();
        for record in records {
            let seed = record.config.seed;
            match per_seed(record) {
                Some((ok, text)) => {
                    holds &= ok;
                    figures.push(format!("seed {seed}: {text}"));
                }
                None => {
                    holds = false;
                    figures.push(format!("seed {seed}: the run has no such figure"));
                }
            }
        }
        Verdict {
            holds,
            figures: figures.join("; "),
        }
    }
}

/// Accuracies are counts of test samples: figures that print equal are equal (f32 percentages
/// differ in their last bits).
const SAME: f64 = 1e-3;

/// `x` at most `limit`, up to float noise.
fn at_most(x: f64, limit: f64) -> bool {
    x <= limit + SAME
}

/// Test accuracy at early stop of `kind` in `round`, in percent.
fn percent(round: &RoundRecord, kind: RunKind) -> Option<f64> {
    round.run(kind)?.accuracy().map(|a| f64::from(a) * 100.0)
}

/// The rounds after the dense one whose ticket keeps at most `density`.
fn rounds_at_most(record: &ExperimentRecord, density: f64) -> Vec<&RoundRecord> {
    record
        .rounds
        .iter()
        .filter(|r| r.round > 0 && r.density() <= density + 1e-9)
        .collect()
}

/// `a` beats `b` in every round at or below `density`; the figures list the gaps.
fn beats_at_every_density(
    record: &ExperimentRecord,
    density: f64,
    a: RunKind,
    b: RunKind,
) -> Option<(bool, String)> {
    let rounds = rounds_at_most(record, density);
    if rounds.is_empty() {
        return None;
    }
    let mut ok = true;
    let mut gaps = Vec::new();
    for round in rounds {
        let gap = percent(round, a)? - percent(round, b)?;
        ok &= gap > SAME;
        gaps.push(format!("{:.1}%: {gap:+.2}", round.density() * 100.0));
    }
    Some((ok, gaps.join(", ")))
}

/// The largest |`a` − `b`| over the rounds after the dense one, in points.
fn largest_gap(record: &ExperimentRecord, a: RunKind, b: RunKind) -> Option<f64> {
    let gaps: Option<Vec<f64>> = record
        .rounds
        .iter()
        .filter(|r| r.round > 0)
        .map(|r| Some((percent(r, a)? - percent(r, b)?).abs()))
        .collect();
    gaps?.into_iter().reduce(f64::max)
}

pub const STRUCTURED: &[Claim] = &[
    Claim {
        says: "the unstructured ticket beats the structured one at every density from 32% down",
        check: |records| {
            Verdict::every_seed(records, |r| {
                beats_at_every_density(r, 0.32, RunKind::Unstructured, RunKind::Ticket)
            })
        },
    },
    Claim {
        says: "the structured ticket and the fresh small network are within 1.2 points of each other",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let gap = largest_gap(r, RunKind::Ticket, RunKind::Reinit)?;
                Some((at_most(gap, 1.2), format!("largest gap {gap:.2} points")))
            })
        },
    },
    Claim {
        says: "the 2:4 ticket stays within 0.7 points of the dense network",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let dense = percent(r.rounds.first()?, RunKind::Ticket)?;
                let two_four = percent(r.rounds.get(1)?, RunKind::TwoFour)?;
                Some((
                    at_most((dense - two_four).abs(), 0.7),
                    format!("2:4 {two_four:.2}% against dense {dense:.2}%"),
                ))
            })
        },
    },
];

pub const EARLY_BIRD: &[Claim] = &[
    Claim {
        says: "the detector fires within the first ninth of the dense run",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let found = r.early_bird.as_ref()?.found_at?;
                let total = r.config.iterations;
                Some((found * 9 <= total, format!("iteration {found} of {total}")))
            })
        },
    },
    Claim {
        says: "the early-bird ticket is within 0.3 points of the ticket found after full training",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let round = r.rounds.get(1)?;
                let (early, full) = (
                    percent(round, RunKind::EarlyBird)?,
                    percent(round, RunKind::Ticket)?,
                );
                Some((
                    at_most((early - full).abs(), 0.3),
                    format!("early-bird {early:.2}%, full {full:.2}%"),
                ))
            })
        },
    },
];

pub const CONV_DIGITS: &[Claim] = &[Claim {
    says: "at 41% of the weights and below the ticket beats random re-initialisation",
    check: |records| {
        Verdict::every_seed(records, |r| {
            beats_at_every_density(r, 0.415, RunKind::Ticket, RunKind::Reinit)
        })
    },
}];

pub const LENET_MNIST: &[Claim] = &[Claim {
    says: "from about 21% of the weights down the ticket beats random re-initialisation",
    check: |records| {
        Verdict::every_seed(records, |r| {
            beats_at_every_density(r, 0.215, RunKind::Ticket, RunKind::Reinit)
        })
    },
}];

pub const DIGITS_QUICK: &[Claim] = &[Claim {
    says: "far below 20% the ticket stays above random re-initialisation and random pruning",
    check: |records| {
        let reinit = Verdict::every_seed(records, |r| {
            beats_at_every_density(r, 0.2, RunKind::Ticket, RunKind::Reinit)
        });
        let random = Verdict::every_seed(records, |r| {
            beats_at_every_density(r, 0.2, RunKind::Ticket, RunKind::RandomPrune)
        });
        Verdict {
            holds: reinit.holds && random.holds,
            figures: format!(
                "ticket − re-init {}; ticket − random pruning {}",
                reinit.figures, random.figures
            ),
        }
    },
}];

pub const MNIST1D: &[Claim] = &[
    Claim {
        says: "the dense network reaches about 66%",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let dense = percent(r.rounds.first()?, RunKind::Ticket)?;
                Some((
                    at_most((dense - 66.0).abs(), 3.0),
                    format!("dense {dense:.2}%"),
                ))
            })
        },
    },
    Claim {
        says: "at 10% of the weights and below the tickets beat random pruning",
        check: |records| {
            Verdict::every_seed(records, |r| {
                beats_at_every_density(r, 0.1, RunKind::Ticket, RunKind::RandomPrune)
            })
        },
    },
];

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::experiment::{Experiment, presets};
    use crate::train::CpuEngine;

    fn tiny(seed: u64) -> ExperimentRecord {
        let mut config = (presets::find("tiny").unwrap().config)();
        config.seed = seed;
        let data = Arc::new(config.dataset.load(seed, None).unwrap());
        let engine = Box::new(CpuEngine::new(data.clone()));
        let mut experiment = Experiment::new(config, data, engine).unwrap();
        experiment.run_to_end(|_, _| {});
        experiment.record().clone()
    }

    #[test]
    fn a_claim_reads_every_seeds_rounds_and_holds_only_if_each_seed_does() {
        let records = vec![tiny(1), tiny(2)];
        // By hand: below 20% the ticket above both controls, in each seed.
        let by_hand = records.iter().all(|r| {
            r.rounds
                .iter()
                .filter(|round| round.round > 0 && round.density() <= 0.2)
                .all(|round| {
                    let acc = |k| round.run(k).unwrap().accuracy().unwrap();
                    acc(RunKind::Ticket) > acc(RunKind::Reinit)
                        && acc(RunKind::Ticket) > acc(RunKind::RandomPrune)
                })
        });
        let verdict = (DIGITS_QUICK[0].check)(&records);
        assert_eq!(verdict.holds, by_hand, "{}", verdict.figures);
        assert!(
            verdict.figures.contains("seed 1: 16.2%"),
            "{}",
            verdict.figures
        );
        assert!(
            verdict.figures.contains("seed 2: 16.2%"),
            "{}",
            verdict.figures
        );
        // A seed whose ticket lost makes the claim fail, whatever the others show.
        let mut lost = records.clone();
        let last = lost[1].rounds.last_mut().unwrap();
        for run in &mut last.runs {
            if run.kind == RunKind::Ticket {
                run.early_stop.as_mut().unwrap().test_accuracy = 0.0;
            }
        }
        assert!(!(DIGITS_QUICK[0].check)(&lost).holds);
        // A claim about runs the preset did not make does not hold.
        assert!(!(STRUCTURED[0].check)(&records).holds);
    }

    #[test]
    fn figures_that_print_equal_compare_equal() {
        // Seed 3 of the structured preset: 92.60% and 93.80%, a gap of 1.20 points, stored as
        // f32 fractions of the test set.
        let (a, b) = (f64::from(0.926f32) * 100.0, f64::from(0.938f32) * 100.0);
        assert!((b - a) > 1.2, "the f32 noise this guards against");
        assert!(at_most(b - a, 1.2));
        assert!(!at_most(b - a, 1.15));
    }

    #[test]
    fn a_claim_with_no_runs_or_no_figure_does_not_hold() {
        for claim in STRUCTURED.iter().chain(EARLY_BIRD) {
            assert!(!(claim.check)(&[]).holds, "{}", claim.says);
        }
    }
}

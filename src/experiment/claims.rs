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

/// ROC AUC at early stop of `kind` in `round` (the fraud preset's figure).
fn auc(round: &RoundRecord, kind: RunKind) -> Option<f64> {
    round
        .run(kind)?
        .early_stop
        .as_ref()?
        .test_auc
        .map(f64::from)
}

/// `a` beats `b` in every round at or below `density`; the figures list the gaps.
fn beats_at_every_density(
    record: &ExperimentRecord,
    density: f64,
    a: RunKind,
    b: RunKind,
) -> Option<(bool, String)> {
    beats_by(record, density, a, b, percent, SAME, 2)
}

/// [`beats_at_every_density`] on any figure: `a`'s `figure` above `b`'s by more than
/// `noise`, gaps printed with `decimals`.
fn beats_by(
    record: &ExperimentRecord,
    density: f64,
    a: RunKind,
    b: RunKind,
    figure: fn(&RoundRecord, RunKind) -> Option<f64>,
    noise: f64,
    decimals: usize,
) -> Option<(bool, String)> {
    let rounds = rounds_at_most(record, density);
    if rounds.is_empty() {
        return None;
    }
    let mut ok = true;
    let mut gaps = Vec::new();
    for round in rounds {
        let gap = figure(round, a)? - figure(round, b)?;
        ok &= gap > noise;
        gaps.push(format!(
            "{:.1}%: {gap:+.decimals$}",
            round.density() * 100.0
        ));
    }
    Some((ok, gaps.join(", ")))
}

/// Both of two verdicts, their figures side by side.
fn both(a: (&str, Verdict), b: (&str, Verdict)) -> Verdict {
    Verdict {
        holds: a.1.holds && b.1.holds,
        figures: format!("{} {}; {} {}", a.0, a.1.figures, b.0, b.1.figures),
    }
}

/// The ticket's figure in the dense round, and in the first round at or below `density`.
fn dense_and_at(record: &ExperimentRecord, kind: RunKind, density: f64) -> Option<(f64, f64)> {
    let dense = percent(record.rounds.first()?, RunKind::Ticket)?;
    let at = percent(*rounds_at_most(record, density).first()?, kind)?;
    Some((dense, at))
}

/// The density of the first round whose `kind` is more than `points` below the dense
/// network, or `None` when it never is.
fn falls_off_at(record: &ExperimentRecord, kind: RunKind, points: f64) -> Option<Option<f64>> {
    let dense = percent(record.rounds.first()?, RunKind::Ticket)?;
    for round in record.rounds.iter().filter(|r| r.round > 0) {
        if percent(round, kind)? < dense - points - SAME {
            return Some(Some(round.density()));
        }
    }
    Some(None)
}

/// The check that `a` beats `b` in every round at or below `density`, in every seed.
macro_rules! beats_below {
    ($density:expr, $a:expr, $b:expr) => {
        |records| Verdict::every_seed(records, |r| beats_at_every_density(r, $density, $a, $b))
    };
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
        check: beats_below!(0.32, RunKind::Unstructured, RunKind::Ticket),
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
    says: "from 33% of the weights down the ticket beats random re-initialisation",
    check: beats_below!(0.332, RunKind::Ticket, RunKind::Reinit),
}];

pub const LENET_MNIST: &[Claim] = &[
    Claim {
        says: "from about 21% of the weights down the ticket beats random re-initialisation",
        check: beats_below!(0.215, RunKind::Ticket, RunKind::Reinit),
    },
    Claim {
        says: "at 3.6% the ticket is within a point of the dense network",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let (dense, ticket) = dense_and_at(r, RunKind::Ticket, 0.037)?;
                Some((
                    at_most(dense - ticket, 1.0),
                    format!("dense {dense:.2}%, ticket {ticket:.2}%"),
                ))
            })
        },
    },
];

/// The ticket above both random controls at every round at or below `density`.
fn ticket_beats_both_controls(records: &[ExperimentRecord], density: f64) -> Verdict {
    both(
        (
            "ticket − re-init",
            Verdict::every_seed(records, |r| {
                beats_at_every_density(r, density, RunKind::Ticket, RunKind::Reinit)
            }),
        ),
        (
            "ticket − random pruning",
            Verdict::every_seed(records, |r| {
                beats_at_every_density(r, density, RunKind::Ticket, RunKind::RandomPrune)
            }),
        ),
    )
}

pub const DIGITS_QUICK: &[Claim] = &[Claim {
    says: "far below 20% the ticket stays above random re-initialisation and random pruning",
    check: |records| ticket_beats_both_controls(records, 0.2),
}];

pub const MNIST1D: &[Claim] = &[
    Claim {
        says: "from 23% of the weights down the ticket beats random re-initialisation and random pruning",
        check: |records| ticket_beats_both_controls(records, 0.23),
    },
    Claim {
        says: "pruned and reset, the ticket gets better first: its best round is at least 3 points above the dense network",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let dense = percent(r.rounds.first()?, RunKind::Ticket)?;
                let (best, density) = r
                    .rounds
                    .iter()
                    .filter(|round| round.round > 0)
                    .filter_map(|round| Some((percent(round, RunKind::Ticket)?, round.density())))
                    .max_by(|a, b| a.0.total_cmp(&b.0))?;
                Some((
                    best - dense >= 3.0 - SAME,
                    format!(
                        "dense {dense:.2}%, best ticket {best:.2}% at {:.1}%",
                        density * 100.0
                    ),
                ))
            })
        },
    },
];

pub const FIND_THE_CLIFF: &[Claim] = &[
    Claim {
        says: "the ticket beats random pruning at every density from 64% down",
        check: beats_below!(0.65, RunKind::Ticket, RunKind::RandomPrune),
    },
    Claim {
        says: "the ticket falls 5 points below the dense network at least twice as sparse as random pruning",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let ticket = falls_off_at(r, RunKind::Ticket, 5.0)?;
                let random = falls_off_at(r, RunKind::RandomPrune, 5.0)?;
                let shown = |d: Option<f64>| {
                    d.map_or("never".to_string(), |d| format!("at {:.1}%", d * 100.0))
                };
                // A ticket that never falls off is as late as it can be.
                let ok = match (ticket, random) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(t), Some(r)) => t * 2.0 <= r + 1e-9,
                };
                Some((
                    ok,
                    format!("ticket {}, random pruning {}", shown(ticket), shown(random)),
                ))
            })
        },
    },
];

pub const SPIRAL: &[Claim] = &[
    Claim {
        says: "every network keeps the boundary (97% or more) down to 21.8% of the weights",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let mut worst: Option<(f64, RunKind, f64)> = None;
                for round in r.rounds.iter().filter(|round| round.density() >= 0.215) {
                    for run in &round.runs {
                        let acc = percent(round, run.kind)?;
                        if worst.is_none_or(|w| acc < w.0) {
                            worst = Some((acc, run.kind, round.density()));
                        }
                    }
                }
                let (acc, kind, density) = worst?;
                Some((
                    acc >= 97.0 - SAME,
                    format!(
                        "lowest {acc:.2}% ({} at {:.1}%)",
                        kind.label(),
                        density * 100.0
                    ),
                ))
            })
        },
    },
    Claim {
        says: "at 9.3% of the weights and below every one of them has lost it (under 85%)",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let rounds = rounds_at_most(r, 0.094);
                let best = rounds
                    .iter()
                    .flat_map(|round| round.runs.iter().map(|run| percent(round, run.kind)))
                    .collect::<Option<Vec<f64>>>()?
                    .into_iter()
                    .reduce(f64::max)?;
                Some((best < 85.0, format!("highest {best:.2}%")))
            })
        },
    },
];

pub const FRAUD: &[Claim] = &[
    Claim {
        says: "from 22% of the weights down the ticket ranks frauds better than random pruning (ROC AUC)",
        check: |records| {
            Verdict::every_seed(records, |r| {
                beats_by(r, 0.22, RunKind::Ticket, RunKind::RandomPrune, auc, 0.0, 4)
            })
        },
    },
    Claim {
        says: "at 21.6% of the weights the ticket's AUC is at most 0.03 below the dense network's",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let dense = auc(r.rounds.first()?, RunKind::Ticket)?;
                let at = auc(*rounds_at_most(r, 0.22).first()?, RunKind::Ticket)?;
                Some((
                    at >= dense - 0.03,
                    format!("dense {dense:.4}, ticket {at:.4}"),
                ))
            })
        },
    },
];

pub const WHY_RESET: &[Claim] = &[
    Claim {
        says: "the ticket beats the re-initialised mask at every density",
        check: beats_below!(1.0, RunKind::Ticket, RunKind::Reinit),
    },
    Claim {
        says: "at 2.9% the ticket is within 1.5 points of the dense network, the re-initialised mask more than 3 below",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let (dense, ticket) = dense_and_at(r, RunKind::Ticket, 0.03)?;
                let (_, reinit) = dense_and_at(r, RunKind::Reinit, 0.03)?;
                Some((
                    at_most(dense - ticket, 1.5) && dense - reinit > 3.0 + SAME,
                    format!("dense {dense:.2}%, ticket {ticket:.2}%, re-init {reinit:.2}%"),
                ))
            })
        },
    },
];

pub const ONE_SHOT_VS_ITERATIVE: &[Claim] = &[
    Claim {
        says: "from 12% of the weights down the iterative ticket beats the one-shot ticket",
        check: beats_below!(0.12, RunKind::Ticket, RunKind::OneShot),
    },
    Claim {
        says: "one-shot tickets work too: at 11.9% within 0.5 points of the dense network",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let (dense, one_shot) = dense_and_at(r, RunKind::OneShot, 0.12)?;
                Some((
                    at_most(dense - one_shot, 0.5),
                    format!("dense {dense:.2}%, one-shot {one_shot:.2}%"),
                ))
            })
        },
    },
];

pub const MNIST1D_CNN: &[Claim] = &[
    Claim {
        says: "the dense CNN reaches at least 85%, far above the MLP",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let dense = percent(r.rounds.first()?, RunKind::Ticket)?;
                Some((dense >= 85.0 - SAME, format!("dense {dense:.2}%")))
            })
        },
    },
    Claim {
        says: "from 48% of the weights down the ticket beats random re-initialisation and random pruning",
        check: |records| ticket_beats_both_controls(records, 0.48),
    },
];

pub const PRUNING_BEFORE_TRAINING: &[Claim] = &[
    Claim {
        says: "from 8.3% of the weights down the one-shot ticket (found by training) beats SNIP",
        check: beats_below!(0.084, RunKind::OneShot, RunKind::Ticket),
    },
    Claim {
        says: "SNIP's mask is worth its per-layer densities: shuffled within them it stays within 1.5 points, from 8.3% down",
        check: |records| {
            Verdict::every_seed(records, |r| {
                let rounds = rounds_at_most(r, 0.084);
                let mut largest: Option<f64> = None;
                for round in rounds {
                    let gap = (percent(round, RunKind::Ticket)?
                        - percent(round, RunKind::RandomPrune)?)
                    .abs();
                    largest = Some(largest.map_or(gap, |l| l.max(gap)));
                }
                let largest = largest?;
                Some((
                    at_most(largest, 1.5),
                    format!("largest gap {largest:.2} points"),
                ))
            })
        },
    },
];

/// The density of the first round whose main run had an empty layer.
fn collapses_at(record: &ExperimentRecord) -> Option<f64> {
    record
        .rounds
        .iter()
        .find(|round| {
            round
                .run(RunKind::Ticket)
                .is_some_and(|run| !run.collapsed_layers.is_empty())
        })
        .map(RoundRecord::density)
}

pub const LAYER_COLLAPSE: &[Claim] = &[Claim {
    says: "SNIP empties a whole layer by 0.024% of the weights, before the last round",
    check: |records| {
        Verdict::every_seed(records, |r| {
            let density = collapses_at(r)?;
            Some((
                density >= 0.000_24 - 1e-6,
                format!("first empty layer at {:.3}%", density * 100.0),
            ))
        })
    },
}];

pub const SEARCH_VS_SHRINK: &[Claim] = &[
    Claim {
        says: "the ticket beats the small dense net of its size at every density",
        check: beats_below!(1.0, RunKind::Ticket, RunKind::SmallDense),
    },
    Claim {
        says: "from 8.3% of the weights down even the ticket's mask with fresh weights beats the small dense net",
        check: beats_below!(0.084, RunKind::Reinit, RunKind::SmallDense),
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
        for claim in presets::ALL.iter().flat_map(|p| p.claims) {
            assert!(!(claim.check)(&[]).holds, "{}", claim.says);
        }
    }
}

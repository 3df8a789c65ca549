//! One experiment over several seeds: each seed's run is its own experiment (its own split,
//! θ₀ and data order: they share nothing but the config), and each round's figure is
//! summarised over them, the band the accuracy plot draws and the CLI's `--seeds` table.

use super::studies::Spread;
use super::{ExperimentConfig, ExperimentRecord, RunKind, RunRecord};

/// The most seeds an experiment runs over.
pub const MAX_SEEDS: usize = 10;

/// The config of the `index`-th seed (0: the config itself).
pub fn seed_config(config: &ExperimentConfig, index: usize) -> ExperimentConfig {
    ExperimentConfig {
        seed: config.seed + index as u64,
        ..config.clone()
    }
}

/// The figure every view reports for a run: test accuracy (%) at early stop, or ROC AUC for
/// binary imbalanced data.
pub fn run_metric(record: &ExperimentRecord, run: &RunRecord) -> Option<f64> {
    let early = run.early_stop.as_ref()?;
    if record.data.positive_class.is_some() {
        early.test_auc.map(f64::from)
    } else {
        Some(f64::from(early.test_accuracy) * 100.0)
    }
}

/// One round of one run kind over the seeds that have it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundSpread {
    pub round: usize,
    /// The mean density (the seeds' rounds keep the same weight counts).
    pub density: f64,
    pub metric: Spread,
}

/// Each round's [`run_metric`] of `kind` over `records` (the dense round counts for every
/// kind), for the rounds at least one seed has finished.
pub fn spread_by_round(records: &[&ExperimentRecord], kind: RunKind) -> Vec<RoundSpread> {
    let rounds = records.iter().map(|r| r.rounds.len()).max().unwrap_or(0);
    (0..rounds)
        .filter_map(|round| {
            let mut values = Vec::new();
            let mut densities = Vec::new();
            for record in records {
                let Some(r) = record.rounds.get(round) else {
                    continue;
                };
                let run = r
                    .run(kind)
                    .or_else(|| (round == 0).then(|| r.run(RunKind::Ticket)).flatten());
                if let Some((run, value)) =
                    run.and_then(|run| Some((run, run_metric(record, run)?)))
                {
                    values.push(value);
                    densities.push(run.density);
                }
            }
            Some(RoundSpread {
                round,
                density: densities.iter().sum::<f64>() / densities.len().max(1) as f64,
                metric: Spread::of(&values)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_seed_is_the_config_with_the_next_seed() {
        let config = ExperimentConfig::lenet_mnist();
        assert_eq!(seed_config(&config, 0), config);
        assert_eq!(seed_config(&config, 2).seed, config.seed + 2);
        assert_eq!(
            ExperimentConfig {
                seed: config.seed,
                ..seed_config(&config, 3)
            },
            config
        );
    }
}

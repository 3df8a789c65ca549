//! `lottery-lab check-presets`: every preset run over several seeds at full length, and each
//! claim its text makes printed with the measured figures and PASS or FAIL.

use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use lottery_lab::data::{DatasetConfig, mnist};
use lottery_lab::experiment::{Experiment, ExperimentRecord, presets};
use lottery_lab::train::CpuEngine;

#[derive(Parser)]
pub struct CheckArgs {
    /// Seeds 1..=N.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Only these presets (by id; repeat the flag); all presets with claims otherwise.
    #[arg(long)]
    preset: Vec<String>,
    /// Read the records from this folder (`<preset>-<seed>.json`, as `lottery-lab run --preset
    /// ID --seed N --out` writes them) instead of running the presets.
    #[arg(long)]
    from: Option<std::path::PathBuf>,
}

pub fn run(args: CheckArgs) -> Result<bool> {
    if args.seeds == 0 {
        bail!("--seeds: at least one seed");
    }
    for id in &args.preset {
        if presets::find(id).is_none() {
            bail!("--preset {id}: no such preset (see `lottery-lab presets`)");
        }
    }
    let digits = mnist::decode(mnist::BUNDLED).context("reading the bundled digits")?;
    let mut all_hold = true;
    for preset in presets::ALL {
        if !args.preset.is_empty() && !args.preset.iter().any(|id| id == preset.id) {
            continue;
        }
        if preset.claims.is_empty() {
            println!("--    {}: no checked claim yet", preset.id);
            continue;
        }
        let mut records: Vec<ExperimentRecord> = Vec::new();
        for seed in 1..=args.seeds {
            if let Some(folder) = &args.from {
                let path = folder.join(format!("{}-{seed}.json", preset.id));
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let record = lottery_lab::experiment::io::parse_record(&text)
                    .with_context(|| format!("reading {}", path.display()))?;
                if record.config.seed != seed || !preset.is_its_run(&record.config) {
                    bail!(
                        "{}: not the preset's run for seed {seed} (its config differs)",
                        path.display()
                    );
                }
                records.push(record);
                continue;
            }
            let mut config = (preset.config)();
            config.seed = seed;
            config.keep_weights = false;
            let digits = matches!(config.dataset, DatasetConfig::Mnist).then_some(&digits);
            let data = Arc::new(config.dataset.load(seed, digits)?);
            // The CPU engine: the same figures on every machine that runs the check.
            let engine = Box::new(CpuEngine::new(data.clone()));
            let started = std::time::Instant::now();
            let mut experiment = Experiment::new(config, data, engine)?;
            experiment.run_to_end(|_, _| {});
            eprintln!(
                "      {} seed {seed}: {:.0} s",
                preset.id,
                started.elapsed().as_secs_f64()
            );
            records.push(experiment.record().clone());
        }
        for claim in preset.claims {
            let verdict = (claim.check)(&records);
            all_hold &= verdict.holds;
            println!(
                "{} {}: {}\n      {}",
                if verdict.holds { "PASS " } else { "FAIL " },
                preset.id,
                claim.says,
                verdict.figures
            );
        }
    }
    Ok(all_hold)
}

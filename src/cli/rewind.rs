//! `lottery-lab rewind-sweep`: the ticket's accuracy against the rewind iteration k at one
//! density (one-shot magnitude pruning of the dense network), beside random re-init; a table,
//! and JSON + CSV with `--out`.

use anyhow::{Result, bail};
use lottery_lab::experiment::studies::{
    RewindConfig, RewindPoint, RewindRecord, RewindSweep, Spread,
};
use lottery_lab::train::choose_engine;
use lottery_lab::train::gpu::BackendPreference;

use super::flags::BadFlags;

#[derive(clap::Args)]
pub struct RewindArgs {
    /// The network, data and training recipe: a preset or link and the run's field flags.
    #[command(flatten)]
    pub base: super::RunArgs,
    /// The rewind iterations k, comma-separated, ascending (0 = reset to θ₀).
    #[arg(long, value_delimiter = ',', default_value = "0,10,100,400")]
    pub rewind_at: Vec<usize>,
    /// The density the dense network is pruned to, one-shot (fraction kept).
    #[arg(long, default_value_t = 0.05)]
    pub density: f64,
    /// Run over this many seeds (from the config's seed on) and summarise them: mean ± s.d.
    /// (range); with `--out`, one file per seed.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
}

pub fn run(args: RewindArgs) -> Result<()> {
    super::over_seeds(
        &args.base,
        args.seeds,
        |base| run_seed(&args, base),
        print_summary,
    )
}

fn run_seed(args: &RewindArgs, base: &super::RunArgs) -> Result<RewindRecord> {
    let (config, data, preference) = super::config_and_data(base)?;
    let sweep_config = RewindConfig {
        base: config,
        rewind_at: args.rewind_at.clone(),
        density: args.density,
    };
    sweep_config
        .validate()
        .map_err(|e| BadFlags(format!("--{}: {}", flag_of(e.field), e.message)))?;
    // One device for the sweep: each point's experiment gets its own engine on it.
    let gpu = super::native_gpu(preference);
    let (_, choice) = choose_engine(preference, gpu.clone(), data.clone());
    if preference == BackendPreference::Gpu && !choice.use_gpu {
        bail!("--backend gpu: {}", choice.reason);
    }
    println!("engine: {}", choice.reason);
    let make_engine = Box::new(move |data| choose_engine(preference, gpu.clone(), data).0);
    let mut sweep = RewindSweep::new(sweep_config, data, make_engine)?;
    println!(
        "late rewinding, seed {}: pruned one-shot to {:.1}% by magnitude, survivors reset to θ_k for k = {}, then retrained; random re-init beside k = {}",
        sweep.record().config.base.seed,
        args.density * 100.0,
        args.rewind_at
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        args.rewind_at[0]
    );
    super::with_progress_bar(base.quiet, |tick| {
        sweep.run_to_end(|p| {
            let doing = format!("point {}/{}", (p.points_done + 1).min(p.points), p.points);
            tick(p.fraction(), &doing);
        });
    });
    let record = sweep.record();
    print_table(record);
    super::study_result(
        record,
        &record.to_csv(),
        &record.notes,
        &record.status,
        "sweep",
        base.out.as_deref(),
    )
}

/// A config field's flag on this command: a rewind point past training is `--rewind-at`'s.
fn flag_of(field: &str) -> &str {
    match field {
        "rewind" => "rewind-at",
        other => other,
    }
}

fn print_table(record: &RewindRecord) {
    let percent = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{:.2}%", v * 100.0));
    println!(
        "{:>8} {:>8} {:>10} {:>14} {:>16}",
        "rewind k", "density", "dense", "ticket (θ_k)", "random re-init"
    );
    for p in &record.points {
        println!(
            "{:>8} {:>7.1}% {:>10} {:>14} {:>16}",
            p.rewind_at,
            p.density * 100.0,
            percent(p.dense_accuracy),
            percent(p.ticket_accuracy),
            percent(p.reinit_accuracy)
        );
    }
    println!("test accuracy at the early-stop iteration (minimum validation loss) of each run");
}

/// Each rewind point's accuracies over the seeds.
fn print_summary(records: &[RewindRecord]) {
    println!(
        "\nover {} seeds: test accuracy (%), mean ± s.d. (range)",
        records.len()
    );
    println!(
        "{:>8} {:>28} {:>28} {:>28}",
        "rewind k", "ticket (θ_k)", "random re-init", "dense"
    );
    for (i, point) in records[0].points.iter().enumerate() {
        let over = |get: &dyn Fn(&RewindPoint) -> Option<f32>| {
            let values: Vec<f64> = records
                .iter()
                .filter_map(|r| get(r.points.get(i)?))
                .map(|v| f64::from(v) * 100.0)
                .collect();
            Spread::of(&values).map_or("-".into(), |s| s.label(2))
        };
        println!(
            "{:>8} {:>28} {:>28} {:>28}",
            point.rewind_at,
            over(&|p| p.ticket_accuracy),
            over(&|p| p.reinit_accuracy),
            over(&|p| p.dense_accuracy)
        );
    }
}

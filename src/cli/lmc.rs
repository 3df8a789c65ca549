//! `lottery-lab lmc`: linear mode connectivity (Frankle et al. 2020) headless: the dense
//! network's error barrier at each branch point, and with `--round` the same for that IMP
//! round's ticket and its random controls; a table, and JSON + CSV with `--out`.

use anyhow::Result;
use lottery_lab::experiment::studies::lmc::{DEFAULT_POINTS, STABLE_BARRIER};
use lottery_lab::experiment::studies::{LmcConfig, LmcPath, LmcRecord, LmcStudy, Spread};

use super::flags::BadFlags;

#[derive(clap::Args)]
pub struct LmcArgs {
    /// The network, data and training recipe: a preset or link and the run's field flags.
    #[command(flatten)]
    pub base: super::RunArgs,
    /// Iterations at which the two copies branch off (θ_k), comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub branch_at: Vec<usize>,
    /// Points along the line between the two copies, ends included.
    #[arg(long, default_value_t = DEFAULT_POINTS)]
    pub points: usize,
    /// Also measure this IMP round's ticket, random pruning and random re-init: the IMP
    /// experiment runs first, to this round, with both controls.
    #[arg(long)]
    pub round: Option<usize>,
    /// Run over this many seeds (from the config's seed on) and summarise them: mean ± s.d.
    /// (range); with `--out`, one file per seed (`lmc-seed2.json`).
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
}

pub fn run(args: LmcArgs) -> Result<()> {
    super::over_seeds(
        &args.base,
        args.seeds,
        |base| run_seed(&args, base),
        print_summary,
    )
}

/// The study for one seed's `base`, its table printed (and saved with `--out`).
fn run_seed(args: &LmcArgs, base: &super::RunArgs) -> Result<LmcRecord> {
    let (config, data, preference) = super::config_and_data(base)?;
    let study_config = LmcConfig {
        base: config.clone(),
        branch_at: args.branch_at.clone(),
        points: args.points,
        round: args.round,
    };
    study_config
        .validate()
        .map_err(|e| BadFlags(format!("--{}: {}", e.field, e.message)))?;
    let imp = match args.round {
        None => None,
        Some(round) => Some(super::imp_to_round(
            &config,
            round,
            &data,
            preference,
            args.base.quiet,
            true,
        )?),
    };
    let engine = super::engine_for(preference, &data)?;
    let mut study = LmcStudy::new(study_config, data, engine, imp.as_ref())?;
    println!(
        "linear mode connectivity, seed {}: two copies from θ_k (k = {}) with different data orders, {} iterations in all; test error at {} points between them",
        config.seed,
        join(&args.branch_at),
        config.iterations,
        args.points
    );
    super::with_progress_bar(base.quiet, |tick| {
        study.run_to_end(|p| tick(p.fraction(), &p.doing));
    });
    let record = study.record();
    print_table(record);
    super::study_result(
        record,
        &record.to_csv(),
        &record.notes,
        &record.status,
        "study",
        base.out.as_deref(),
    )
}

/// Each network's barrier and end error over the seeds.
fn print_summary(records: &[LmcRecord]) {
    println!(
        "\nover {} seeds: mean ± s.d. (range), in points of test error",
        records.len()
    );
    println!(
        "{:>16} {:>6} {:>28} {:>28}",
        "network", "k", "barrier", "error at the ends"
    );
    for path in &records[0].paths {
        let same: Vec<&LmcPath> = records
            .iter()
            .filter_map(|r| r.path(path.subject, path.branch_at))
            .collect();
        let barriers: Vec<f64> = same
            .iter()
            .map(|p| f64::from(p.barrier()) * 100.0)
            .collect();
        let ends: Vec<f64> = same
            .iter()
            .map(|p| {
                let (a, b) = (p.test_error[0], p.test_error[p.test_error.len() - 1]);
                f64::from(a + b) * 50.0
            })
            .collect();
        let label = |v: &[f64]| Spread::of(v).map_or("-".into(), |s| s.label(2));
        println!(
            "{:>16} {:>6} {:>28} {:>28}",
            path.subject.label(),
            path.branch_at,
            label(&barriers),
            label(&ends)
        );
    }
}

fn print_table(record: &LmcRecord) {
    println!(
        "{:>16} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9}  stable?",
        "network", "density", "k", "error A", "error B", "max", "barrier"
    );
    for path in &record.paths {
        let errors = &path.test_error;
        let top = errors.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        println!(
            "{:>16} {:>7.1}% {:>6} {:>8.2}% {:>8.2}% {:>8.2}% {:>8.2}  {}",
            path.subject.label(),
            path.density * 100.0,
            path.branch_at,
            errors.first().copied().unwrap_or(f32::NAN) * 100.0,
            errors.last().copied().unwrap_or(f32::NAN) * 100.0,
            top * 100.0,
            path.barrier() * 100.0,
            if path.is_stable() {
                "stable"
            } else {
                "unstable"
            }
        );
    }
    println!(
        "barrier = the highest test error on the line between the copies minus the mean of its ends, in points; stable: at most {} (the paper's threshold)",
        STABLE_BARRIER * 100.0
    );
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

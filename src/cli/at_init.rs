//! `lottery-lab prune-at-init`: SNIP, GraSP, SynFlow, magnitude at init and random masks,
//! each trained from θ₀ at a few densities beside its layer shuffle, against IMP's ticket at
//! the same density (found first, to the round reaching the sparsest); a table, the finding in
//! this run's figures, JSON + CSV with `--out`, and over `--seeds` the mean ± s.d. (range).

use anyhow::Result;
use lottery_lab::experiment::studies::at_init::{parse_methods, parse_percentages};
use lottery_lab::experiment::studies::{
    AtInitConfig, AtInitPoint, AtInitRecord, AtInitStudy, Spread,
};
use lottery_lab::prune::{Granularity, PruneMethod};
use lottery_lab::train::choose_engine;

use super::flags::BadFlags;

#[derive(clap::Args)]
pub struct AtInitArgs {
    /// The network, data and training recipe: a preset or link and the run's field flags
    /// (its method must be magnitude: IMP finds the tickets the methods are held against).
    #[command(flatten)]
    pub base: super::RunArgs,
    /// The densities, in percent of the weights kept, comma-separated; each is moved to the
    /// IMP round's density near it (within a factor 1.25).
    #[arg(long, default_value = "21,7,3.6,1.2")]
    pub densities: String,
    /// The methods at initialisation, comma-separated (snip, grasp, synflow, init-magnitude,
    /// random), or all.
    #[arg(long, default_value = "all")]
    pub methods: String,
    /// Run over this many seeds (from the config's seed on); one file per seed with `--out`.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
}

pub fn run(args: AtInitArgs) -> Result<()> {
    let densities =
        parse_percentages(&args.densities).map_err(|e| BadFlags(format!("--densities: {e}")))?;
    let methods = parse_methods(&args.methods).map_err(|e| BadFlags(format!("--methods: {e}")))?;
    super::over_seeds(
        &args.base,
        args.seeds,
        |base| run_seed(&densities, &methods, base),
        print_summary,
    )
}

fn run_seed(
    densities: &[f64],
    methods: &[PruneMethod],
    base: &super::RunArgs,
) -> Result<AtInitRecord> {
    let (config, data, preference) = super::config_and_data(base)?;
    if config.method != PruneMethod::Magnitude || config.granularity != Granularity::Weights {
        return Err(BadFlags(format!(
            "--method {}: the study holds the methods against IMP's tickets, so the experiment \
             prunes by magnitude, weight by weight (--method magnitude --granularity weights)",
            config.method.key()
        ))
        .into());
    }
    // Validated before IMP trains: a bad flag costs nothing.
    AtInitConfig {
        base: config.clone(),
        densities: densities.to_vec(),
        methods: methods.to_vec(),
    }
    .validate()
    .map_err(|e| BadFlags(format!("--{}: {}", e.field, e.message)))?;
    let sparsest = densities.last().copied().unwrap_or(0.5);
    let rounds = config
        .pruning
        .rounds_for_density(&config.spec(&data), sparsest)
        .ceil()
        .max(1.0) as usize;
    let imp = super::imp_to_round(&config, rounds, &data, preference, base.quiet, false)?;
    let study_config = AtInitConfig::for_record(&imp, densities, methods.to_vec());
    let gpu = super::native_gpu(preference);
    let make_engine = Box::new(move |data| choose_engine(preference, gpu.clone(), data).0);
    let mut study = AtInitStudy::new(study_config, data, &imp, make_engine)?;
    println!(
        "pruning at initialisation, seed {}: {} at {}, each mask from θ₀ beside its layer shuffle, \
         against IMP's ticket (the same density, reset to θ₀); {} iterations each",
        config.seed,
        methods
            .iter()
            .map(|m| m.label())
            .collect::<Vec<_>>()
            .join(", "),
        study
            .record()
            .config
            .densities
            .iter()
            .map(|d| format!("{:.2}%", d * 100.0))
            .collect::<Vec<_>>()
            .join(", "),
        config.iterations
    );
    super::with_progress_bar(base.quiet, |tick| {
        study.run_to_end(|p| {
            let doing = match p.training {
                Some((method, _)) => format!(
                    "{} (point {}/{})",
                    method.label(),
                    (p.points_done + 1).min(p.points),
                    p.points
                ),
                None => format!("point {}/{}", p.points_done, p.points),
            };
            tick(p.fraction(), &doing);
        });
    });
    let record = study.record();
    print_table(record);
    if let Some(finding) = record.finding() {
        println!("{finding}");
    }
    super::study_result(
        record,
        &record.to_csv(),
        &record.notes,
        &record.status,
        "study",
        base.out.as_deref(),
    )
}

/// Each row one mask: the IMP ticket first, then the methods.
fn rows(record: &AtInitRecord) -> Vec<PruneMethod> {
    std::iter::once(PruneMethod::Magnitude)
        .chain(record.config.methods.iter().copied())
        .collect()
}

fn row_label(method: PruneMethod) -> &'static str {
    if method == PruneMethod::Magnitude {
        "IMP ticket"
    } else {
        method.label()
    }
}

fn print_table(record: &AtInitRecord) {
    if let Some(dense) = record.dense_score() {
        println!("dense network: {}", record.score_label(Some(dense)));
    }
    println!(
        "{:<18} {:>8} {:>10} {:>10} {:>13}",
        "mask",
        "density",
        if record.by_auc { "AUC" } else { "accuracy" },
        "shuffled",
        "shuffle cost"
    );
    for method in rows(record) {
        for p in record.points_of(method) {
            let round = p.round.map_or(String::new(), |r| format!(" (round {r})"));
            println!(
                "{:<18} {:>7.2}% {:>10} {:>10} {:>13}{}",
                row_label(method),
                p.density * 100.0,
                record.score_label(record.score(p)),
                record.score_label(record.shuffled_score(p)),
                record
                    .shuffle_cost(p)
                    .map_or("-".into(), |c| record.difference_label(c)),
                p.untrainable
                    .as_ref()
                    .map_or(round.clone(), |why| format!("{round} {why}")),
            );
        }
    }
    println!(
        "{} at the early-stop iteration; shuffled: the same count per layer at random \
         positions, from the same start",
        record.metric_name()
    );
}

/// Each mask's accuracy and shuffle cost per density, over the seeds.
fn print_summary(records: &[AtInitRecord]) {
    let first = &records[0];
    let (figure, unit, decimals) = if first.by_auc {
        ("AUC", "AUC", 3)
    } else {
        ("accuracy", "points", 2)
    };
    println!(
        "\nover {} seeds: {} and shuffle cost ({unit}), mean ± s.d. (range)",
        records.len(),
        first.metric_name()
    );
    println!(
        "{:<18} {:>8} {:>28} {:>28}",
        "mask", "density", figure, "shuffle cost"
    );
    for method in rows(first) {
        // Points are matched by their place: the seeds' densities differ a little (each
        // seed's IMP rounds), and the mean density is shown.
        for i in 0..first.points_of(method).count() {
            let points: Vec<(&AtInitRecord, &AtInitPoint)> = records
                .iter()
                .filter_map(|r| Some((r, r.points_of(method).nth(i)?)))
                .collect();
            let spread =
                |values: Vec<f64>| Spread::of(&values).map_or("-".into(), |s| s.label(decimals));
            let density = points.iter().map(|(_, p)| p.density).sum::<f64>() / points.len() as f64;
            println!(
                "{:<18} {:>7.2}% {:>28} {:>28}",
                row_label(method),
                density * 100.0,
                spread(points.iter().filter_map(|(r, p)| r.score(p)).collect()),
                spread(
                    points
                        .iter()
                        .filter_map(|(r, p)| r.shuffle_cost(p))
                        .collect()
                ),
            );
        }
    }
}

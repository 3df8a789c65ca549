//! `lottery-lab explain`: the dense network's and an IMP round's ticket's explanations of test
//! examples (integrated gradients, gradient × input), their live paths, how concentrated and
//! how stable they are; over seeds, how much two seeds' explanations agree. A table, and
//! JSON + CSV with `--out`.

use anyhow::Result;
use lottery_lab::experiment::studies::explain::{
    DEFAULT_NEIGHBOURS, DEFAULT_NOISE, cross_seed_agreement, parse_examples,
};
use lottery_lab::experiment::studies::{
    ExplainConfig, ExplainRecord, ExplainStudy, ExplainedNetwork, Spread,
};
use lottery_lab::model::attribution::top_k_for;

use super::flags::BadFlags;

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The network, data and training recipe: a preset or link and the run's field flags.
    #[command(flatten)]
    pub base: super::RunArgs,
    /// The IMP round whose ticket is explained beside the dense network: the experiment runs
    /// first, to this round, with random pruning beside it (0: the dense network only).
    #[arg(long, default_value_t = 5)]
    pub round: usize,
    /// Test examples to explain: indices and ranges ("0-9,15").
    #[arg(long, default_value = "0-9")]
    pub examples: String,
    /// Noisy copies of each example, for the stability figure.
    #[arg(long, default_value_t = DEFAULT_NEIGHBOURS)]
    pub neighbours: usize,
    /// The copies' noise: N(0, σ²) on every feature.
    #[arg(long, default_value_t = DEFAULT_NOISE)]
    pub input_noise: f32,
    /// Run over this many seeds (from the config's seed on): mean ± s.d. (range) of each
    /// figure, and how much two seeds' explanations agree; one file per seed with `--out`.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
}

pub fn run(args: ExplainArgs) -> Result<()> {
    let examples =
        parse_examples(&args.examples).map_err(|e| BadFlags(format!("--examples: {e}")))?;
    super::over_seeds(
        &args.base,
        args.seeds,
        |base| run_seed(&args, &examples, base),
        print_summary,
    )
}

fn run_seed(
    args: &ExplainArgs,
    examples: &[usize],
    base: &super::RunArgs,
) -> Result<ExplainRecord> {
    let (mut config, data, preference) = super::config_and_data(base)?;
    config.keep_weights = true;
    let study_config = ExplainConfig {
        round: args.round,
        examples: examples.to_vec(),
        neighbours: args.neighbours,
        noise: args.input_noise,
    };
    study_config
        .validate()
        .map_err(|e| BadFlags(format!("--{}: {}", e.field, e.message)))?;
    let imp = super::imp_to_round(&config, args.round, &data, preference, base.quiet, true)?;
    let mut study = ExplainStudy::new(study_config, data, &imp)?;
    println!(
        "explanations, seed {}: integrated gradients from a blank input and gradient × input of {} test examples, {} noisy copies each (σ = {})",
        config.seed,
        examples.len(),
        args.neighbours,
        args.input_noise
    );
    let started = std::time::Instant::now();
    super::with_progress_bar(base.quiet, |tick| {
        study.run_to_end(|p| tick(p.fraction(), &p.doing));
    });
    let record = study.record();
    print_table(record);
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    super::study_result(
        record,
        &record.to_csv(),
        &record.notes,
        &record.status,
        "study",
        base.out.as_deref(),
    )
}

/// Mean ± s.d. (range) over the examples, or "-".
fn over_examples(
    net: &ExplainedNetwork,
    figure: impl Fn(&lottery_lab::experiment::studies::ExplainedExample) -> f64,
) -> String {
    net.spread(figure).map_or("-".into(), |s| s.label(3))
}

fn print_table(record: &ExplainRecord) {
    let k = top_k_for(record.input.len());
    println!(
        "{:>16} {:>8} {:>12} {:>11} {:>10} {:>9} {:>26} {:>26}",
        "network",
        "density",
        "live paths",
        "live inputs",
        "correct",
        "IG error",
        "top-5% share",
        "agreement under noise"
    );
    for net in &record.networks {
        let correct = net
            .examples
            .iter()
            .filter(|e| e.predicted == usize::from(e.label))
            .count();
        let worst = net
            .examples
            .iter()
            .map(|e| e.integrated.completeness_error())
            .fold(0.0f32, f32::max);
        println!(
            "{:>16} {:>7.1}% {:>12.3e} {:>5} / {:<4} {:>5} / {:<3} {:>8.3}% {:>26} {:>26}",
            net.subject.label(),
            net.density * 100.0,
            net.connectivity.paths,
            net.connectivity.live_inputs,
            net.connectivity.inputs,
            correct,
            net.examples.len(),
            worst * 100.0,
            over_examples(net, |e| e.top_share()),
            over_examples(net, |e| e.mean_neighbour_agreement()),
        );
    }
    println!(
        "IG error: the largest |Σ attributions − (F(x) − F(blank))| / |F(x) − F(blank)|; top-5% share: of Σ|IG| in the {k} most attributed features; agreement: the share of those {k} features that stay the top {k} under noise"
    );
}

/// Each network's figures over the seeds, and the agreement between seeds.
fn print_summary(records: &[ExplainRecord]) {
    println!(
        "\nover {} seeds: mean ± s.d. (range) of the per-seed means",
        records.len()
    );
    println!(
        "{:>16} {:>26} {:>26} {:>26} {:>26}",
        "network", "live inputs", "top-5% share", "agreement under noise", "agreement across seeds"
    );
    for net in &records[0].networks {
        let same: Vec<&ExplainedNetwork> = records
            .iter()
            .filter_map(|r| r.network(net.subject))
            .collect();
        let of = |figure: &dyn Fn(&ExplainedNetwork) -> f64, decimals| {
            Spread::of(&same.iter().map(|n| figure(n)).collect::<Vec<_>>())
                .map_or("-".into(), |s| s.label(decimals))
        };
        let mean = |f: fn(&lottery_lab::experiment::studies::ExplainedExample) -> f64| {
            move |n: &ExplainedNetwork| n.spread(f).map_or(f64::NAN, |s| s.mean)
        };
        println!(
            "{:>16} {:>26} {:>26} {:>26} {:>26}",
            net.subject.label(),
            of(&|n| n.connectivity.live_inputs as f64, 1),
            of(&mean(|e| e.top_share()), 3),
            of(&mean(|e| e.mean_neighbour_agreement()), 3),
            cross_seed_agreement(records, net.subject).map_or("-".into(), |s| s.label(3)),
        );
    }
    println!(
        "agreement across seeds: for each pair of seeds and each example, the share of the top-5% features the two share"
    );
}

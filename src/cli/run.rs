//! `lottery-lab run`: an experiment headless, a table row per round as it finishes, JSON +
//! CSV with `--out`; over `--seeds`, each seed's table and then each round over the seeds.

use anyhow::{Result, bail};
use lottery_lab::experiment::{ExperimentRecord, RoundRecord, RunKind, Status};
use lottery_lab::prune::{Granularity, Shrunk};

use super::{
    RunArgs, config_and_data, engine_for, experiment_with_parallel_runs, progress_bar,
    save_json_and_csv,
};

/// `lottery-lab run`: the experiment's fields, and the seeds to run it over.
#[derive(clap::Args)]
pub struct RunCommand {
    #[command(flatten)]
    pub base: RunArgs,
    /// Run over this many seeds (from the config's seed on, each its own split, θ₀ and data
    /// order): each seed's table, then each round's figure as mean ± s.d. (range); with
    /// `--out`, one file per seed (`results-seed2.json`).
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
}

pub fn run(args: &RunArgs) -> Result<ExperimentRecord> {
    let (config, data, preference) = config_and_data(args)?;
    let engine = engine_for(preference, &data)?;
    let mut experiment =
        experiment_with_parallel_runs(config.clone(), data, engine, args.parallel_runs)?;

    let spec = experiment.spec().clone();
    println!(
        "{} on {} ({} train / {} val / {} test), {} weights, {} lr {}, batch {}, {} iterations per run, {}, {:?} pruning {}% per round (output {}%{}), seed {}",
        spec.label(),
        experiment.data().name,
        experiment.data().train.len(),
        experiment.data().val.len(),
        experiment.data().test.len(),
        spec.weight_count(),
        config.optimizer.name(),
        config.optimizer.lr(),
        config.batch_size,
        config.iterations,
        config.reset.label(),
        config.pruning.scope,
        config.pruning.rate * 100.0,
        config.pruning.output_rate * 100.0,
        config
            .pruning
            .conv_rate
            .map_or(String::new(), |r| format!(", conv {}%", r * 100.0)),
        config.seed,
    );
    if config.method.at_init() {
        println!(
            "method: {}, chosen at θ₀ each round: {}",
            config.method.label(),
            config.method.explanation()
        );
    }
    let metric = if experiment.data().positive_class.is_some() {
        "AUC"
    } else {
        "acc"
    };
    // The early-bird ticket has its own line after the table.
    let mut columns = config.run_kinds();
    columns.retain(|&kind| kind != RunKind::EarlyBird);
    // The smaller dense network a run trains: structured pruning's ticket, or the small
    // dense control.
    let shown_network = if config.granularity == Granularity::Neurons {
        Some((RunKind::Ticket, "network"))
    } else {
        config
            .controls
            .small_dense
            .then_some((RunKind::SmallDense, "small dense net"))
    };
    let mut header = header(&columns, metric, config.method);
    if let Some((_, name)) = shown_network {
        header += &format!("  {name}");
    }
    println!("{header}");

    let bar = progress_bar(args.quiet);
    let mut printed = 0;
    experiment.run_to_end(|progress, record| {
        bar.set_position((progress.fraction() * 1000.0) as u64);
        bar.set_message(format!(
            "round {}/{} {} it {}/{}",
            progress.round,
            progress.rounds,
            progress.run.map_or("", |k| k.name(record.config.method)),
            progress.iteration,
            progress.iterations
        ));
        while printed < record.rounds.len() {
            let round = &record.rounds[printed];
            let mut line = row(round, &columns, metric, record.config.method);
            if let Some(run) = shown_network.and_then(|(kind, _)| round.run(kind)) {
                line += &format!("  {}", Shrunk::of(&record.spec, &run.mask).spec.label());
            }
            bar.suspend(|| println!("{line}"));
            printed += 1;
        }
    });
    bar.finish_and_clear();
    let record = experiment.record();
    if let Some(trace) = &record.early_bird {
        let early = record
            .rounds
            .get(1)
            .and_then(|r| r.run(RunKind::EarlyBird))
            .and_then(|r| r.accuracy());
        match (trace.found_at, early) {
            (Some(at), Some(acc)) => println!(
                "early-bird ticket at {:.1}%: found at iteration {at} of {} (ε = {}), trained from θ₀: {:.2}%",
                trace.density * 100.0,
                config.iterations,
                trace.epsilon,
                acc * 100.0
            ),
            (Some(at), None) => println!("early-bird ticket found at iteration {at}"),
            (None, _) => println!(
                "early-bird search at {:.1}%: the masks never settled within ε = {} over {} epochs",
                trace.density * 100.0,
                trace.epsilon,
                trace.points.len()
            ),
        }
    }
    for note in &record.notes {
        println!("note: {note}");
    }
    if let Some(out) = &args.out {
        save(record, out)?;
    }
    match &record.status {
        Status::Finished => Ok(record.without_weights()),
        Status::Stopped { reason } => bail!("the experiment stopped: {reason}"),
        Status::Running => bail!("the experiment did not finish"),
    }
}

/// Each round's figure over the seeds' runs: a column per run kind, mean ± s.d. (range).
pub fn print_seeds_summary(records: &[ExperimentRecord]) {
    use lottery_lab::experiment::seeds::spread_by_round;
    let refs: Vec<&ExperimentRecord> = records.iter().collect();
    let method = records[0].config.method;
    let columns: Vec<_> = RunKind::ALL
        .into_iter()
        .map(|kind| (kind, spread_by_round(&refs, kind)))
        .filter(|(kind, rounds)| *kind == RunKind::Ticket || rounds.len() > 1)
        .collect();
    let metric = if records[0].data.positive_class.is_some() {
        "ROC AUC"
    } else {
        "test accuracy (%) at early stop"
    };
    println!(
        "\nover {} seeds: {metric}, mean ± s.d. (range)",
        records.len()
    );
    let mut header = format!("{:>6} {:>8}", "round", "density");
    for (kind, _) in &columns {
        header += &format!(" {:>30}", kind.name(method));
    }
    println!("{header}");
    for first in &columns[0].1 {
        let mut line = format!("{:>6} {:>7.2}%", first.round, first.density * 100.0);
        for (_, rounds) in &columns {
            let cell = rounds
                .iter()
                .find(|r| r.round == first.round)
                .map_or("-".into(), |r| r.metric.label(2));
            line += &format!(" {cell:>30}");
        }
        println!("{line}");
    }
}

fn header(columns: &[RunKind], metric: &str, method: lottery_lab::prune::PruneMethod) -> String {
    let mut line = format!("{:>5} {:>9}", "round", "density");
    for kind in columns {
        line += &format!(" {:>16}", format!("{} {metric}", kind.name(method)));
    }
    line += &format!(" {:>12}", format!("{} stop", RunKind::Ticket.name(method)));
    line
}

fn row(
    round: &RoundRecord,
    columns: &[RunKind],
    metric: &str,
    method: lottery_lab::prune::PruneMethod,
) -> String {
    let percent = round.density() * 100.0;
    // Below 1% (pruning at initialisation goes to 0.01%) the digits that matter are further on.
    let digits = if percent < 1.0 { 3 } else { 1 };
    let mut line = format!("{:>5} {:>8.digits$}%", round.round, percent);
    let ticket = round.run(RunKind::Ticket);
    for &kind in columns {
        // Round 0 is the dense network, which every control shares; at round 1 one-shot and
        // iterative pruning are the same run.
        let same_as_ticket =
            round.round == 0 || (round.round == 1 && kind == RunKind::OneShot && !method.at_init());
        let run = round
            .run(kind)
            .or(if same_as_ticket { ticket } else { None });
        let cell = match run {
            Some(r) if !r.collapsed_layers.is_empty() => "collapsed".to_string(),
            Some(r) if r.stopped.is_some() => "stopped".to_string(),
            Some(r) => {
                let early = r.early_stop.as_ref();
                let cell = if metric == "AUC" {
                    early
                        .and_then(|e| e.test_auc)
                        .map(|auc| format!("{auc:.4}"))
                } else {
                    early.map(|e| format!("{:.2}%", e.test_accuracy * 100.0))
                };
                let cell = cell.unwrap_or_else(|| "-".into());
                // A run at a density of its own (the 2:4 ticket's 50%) says so.
                if (r.density - round.density()).abs() > 0.005 {
                    format!("{cell} @{:.0}%", r.density * 100.0)
                } else {
                    cell
                }
            }
            None => "-".into(),
        };
        line += &format!(" {cell:>16}");
    }
    let stop = ticket
        .and_then(|t| t.early_stop.as_ref())
        .map_or("-".into(), |e| e.iteration.to_string());
    line += &format!(" {stop:>12}");
    line
}

fn save(record: &ExperimentRecord, out: &std::path::Path) -> Result<()> {
    save_json_and_csv(
        &serde_json::to_string_pretty(record)?,
        &record.to_csv(),
        out,
    )
}

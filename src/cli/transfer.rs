//! `lottery-lab transfer`: does a ticket found on task A work on task B? A's ticket (found by
//! IMP on A, or `--ticket FILE`) trained on B beside B's own ticket, a random mask and A's
//! mask with fresh weights; a table, JSON + CSV with `--out`, and over `--seeds` the mean ±
//! s.d. (range) of each.

use anyhow::{Context as _, Result};
use lottery_lab::data::tasks::TransferTask;
use lottery_lab::experiment::io::TicketFile;
use lottery_lab::experiment::studies::{
    Source, Spread, TransferConfig, TransferRecord, TransferStudy, TransferSubject,
};
use lottery_lab::train::choose_engine;

use super::flags::BadFlags;

#[derive(clap::Args)]
pub struct TransferArgs {
    /// The network, data and training recipe: a preset or link and the run's field flags.
    #[command(flatten)]
    pub base: super::RunArgs,
    /// The task pair: digits-0-4-to-5-9, inverted-digits, shifted-digits, noisier, other-seed.
    #[arg(long, default_value = "digits-0-4-to-5-9")]
    pub task: String,
    /// The IMP round whose tickets are compared (its density).
    #[arg(long, default_value_t = 8)]
    pub round: usize,
    /// Bring A's ticket in a ticket file (File → Export the ticket) instead of finding it:
    /// its network must be task B's; its config is the base of the study.
    #[arg(long)]
    pub ticket: Option<std::path::PathBuf>,
    /// Run over this many seeds (from the config's seed on); one file per seed with `--out`.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
}

pub fn run(args: TransferArgs) -> Result<()> {
    let task = TransferTask::from_key(&args.task).ok_or_else(|| {
        BadFlags(format!(
            "--task {}: one of {}",
            args.task,
            TransferTask::ALL.map(|t| t.key()).join(", ")
        ))
    })?;
    let ticket = match &args.ticket {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let ticket: TicketFile = lottery_lab::experiment::io::parse_ticket(&text)
                .map_err(|e| BadFlags(format!("--ticket {}: {e}", path.display())))?;
            if args.seeds > 1 {
                return Err(BadFlags("--ticket is one ticket: it takes no --seeds".into()).into());
            }
            Some(ticket)
        }
    };
    super::over_seeds(
        &args.base,
        args.seeds,
        |base| run_seed(&args, task, ticket.clone(), base),
        print_summary,
    )
}

fn run_seed(
    args: &TransferArgs,
    task: TransferTask,
    ticket: Option<TicketFile>,
    base: &super::RunArgs,
) -> Result<TransferRecord> {
    let (mut config, data, preference) = super::config_and_data(base)?;
    if let Some(t) = &ticket {
        config = t.config.clone();
    }
    let round = ticket.as_ref().map_or(args.round, |t| t.round);
    let study_config = TransferConfig {
        base: config.clone(),
        task,
        round,
    };
    study_config
        .validate()
        .map_err(|e| BadFlags(format!("--{}: {}", e.field, e.message)))?;
    let gpu = super::native_gpu(preference);
    let make_engine = Box::new(move |data| choose_engine(preference, gpu.clone(), data).0);
    let source = match ticket {
        Some(t) => Source::File(Box::new(t)),
        None => Source::FindIt,
    };
    let mut study = TransferStudy::new(study_config, data, source, make_engine)?;
    println!(
        "ticket transfer, seed {}: {} (ours), round {round}; every network trained {} iterations, test accuracy on B at the end",
        config.seed,
        task.label(),
        config.iterations
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

fn print_table(record: &TransferRecord) {
    println!(
        "A: {}; B: {}; A's ticket: {} ({:.1}% of the weights{})",
        record.source,
        record.target,
        record.ticket_from,
        record.ticket_density * 100.0,
        record
            .ticket_accuracy_on_a
            .map_or(String::new(), |a| format!(", {:.2}% on A", a * 100.0))
    );
    println!(
        "{:>26} {:>8} {:>14}",
        "network on B", "density", "test accuracy"
    );
    for r in &record.results {
        println!(
            "{:>26} {:>7.1}% {:>13.2}%",
            r.subject.label(),
            r.density * 100.0,
            r.test_accuracy * 100.0
        );
    }
}

fn print_summary(records: &[TransferRecord]) {
    println!(
        "\nover {} seeds: test accuracy on B, mean ± s.d. (range)",
        records.len()
    );
    for subject in TransferSubject::ALL {
        let values: Vec<f64> = records
            .iter()
            .filter_map(|r| r.result(subject))
            .map(|r| f64::from(r.test_accuracy) * 100.0)
            .collect();
        if let Some(s) = Spread::of(&values) {
            println!("{:>26} {:>28}", subject.label(), s.label(2));
        }
    }
}

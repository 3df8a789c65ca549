//! The headless command line: the same experiments as the app, printed as tables.

mod at_init;
mod bench;
mod check_presets;
mod explain;
mod flags;
mod lmc;
mod rewind;
mod run;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use lottery_lab::data::{DataSplits, DatasetConfig, mnist};
use lottery_lab::experiment::link::LinkState;
use lottery_lab::experiment::{
    Experiment, ExperimentConfig, ExperimentRecord, Schedule, Status, presets,
};
use lottery_lab::train::gpu::{BackendPreference, GpuContext};
use lottery_lab::train::{Engine, choose_engine};

#[derive(Parser)]
#[command(
    name = "lottery-lab",
    version,
    about = "Watch the Lottery Ticket Hypothesis happen"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Open the window with this link's experiment (a shared URL, or just its `#…` part).
    #[arg(long)]
    link: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run an experiment headless and print a table per round.
    Run(Box<run::RunCommand>),
    /// List the presets with their explanations.
    Presets,
    /// Training throughput of the CPU engine (LeNet-300-100, batch 60).
    Bench(bench::BenchArgs),
    /// Run every preset over seeds at full length and check the claims its text makes.
    CheckPresets(check_presets::CheckArgs),
    /// Linear mode connectivity: train two copies from θ_k with different data orders and
    /// measure the test error on the line between them (the error barrier).
    Lmc(Box<lmc::LmcArgs>),
    /// Late rewinding: the ticket's accuracy against the iteration k its survivors are reset
    /// to, at one density, beside random re-init.
    RewindSweep(Box<rewind::RewindArgs>),
    /// Explanations: integrated gradients and gradient × input of test examples for the dense
    /// network and an IMP round's ticket; their live paths, concentration and stability.
    Explain(Box<explain::ExplainArgs>),
    /// Ticket transfer: a ticket found on task A trained on task B, beside B's own ticket, a
    /// random mask and A's mask with fresh weights.
    Transfer(Box<transfer::TransferArgs>),
    /// Pruning at initialisation: SNIP, GraSP, SynFlow, magnitude at init and random masks
    /// trained from θ₀ beside their layer shuffles, against IMP's ticket at each density.
    PruneAtInit(Box<at_init::AtInitArgs>),
}

#[derive(Parser, Clone)]
pub struct RunArgs {
    /// Start from this preset (see `lottery-lab presets`).
    #[arg(long, default_value = "lenet-mnist")]
    preset: String,
    /// Start from a shared link's experiment instead (a URL or its `#…` part); the other
    /// options still override its fields.
    #[arg(long, conflicts_with = "preset")]
    link: Option<String>,
    /// Train on a CSV of numeric feature columns and a label column (named label, class,
    /// target or y, else the last) instead of the preset's data.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The experiment's fields (the same as a link's; see the README's field table).
    #[command(flatten)]
    fields: flags::FieldFlags,
    /// Write the record (config included) as JSON here, and as CSV beside it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Train this many of a round's runs at once, each in its own thread (the CPU engine;
    /// the page does the same in Web Workers). The record is the same as with 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=lottery_lab::train::worker::MAX_PARALLEL_RUNS as u64))]
    parallel_runs: u64,
}

/// Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" on every start
/// without a private runtime directory (a container, a CI job, `ssh` without a session):
/// give the process one of its own, so that a user sees only our lines.
fn private_runtime_dir() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let usable = std::env::var_os("XDG_RUNTIME_DIR")
            .and_then(|dir| std::fs::metadata(dir).ok())
            .is_some_and(|m| m.is_dir() && m.mode() & 0o077 == 0);
        if usable {
            return;
        }
        let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
        let dir = std::env::temp_dir().join(format!("lottery-lab-runtime-{uid}"));
        let ready = std::fs::create_dir_all(&dir).is_ok()
            && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok();
        if ready {
            // SAFETY: the first thing `main` does, before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir) };
        }
    }
}

/// The native GPU device, unless the CPU engine was asked for.
pub fn native_gpu(preference: BackendPreference) -> Result<Arc<GpuContext>, String> {
    if preference == BackendPreference::Cpu {
        return Err("not requested".into());
    }
    GpuContext::new_native()
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

pub fn main() -> ExitCode {
    private_runtime_dir();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(args)) => {
            over_seeds(&args.base, args.seeds, run::run, run::print_seeds_summary)
        }
        Some(Command::Presets) => {
            for p in presets::ALL {
                let link = LinkState::from_preset(p.id).expect("listed").to_fragment();
                println!(
                    "{:<12} {}\n{}\n  link: #{link}\n",
                    p.id,
                    p.title,
                    textwrap(p.explanation, 88)
                );
            }
            Ok(())
        }
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Lmc(args)) => lmc::run(*args),
        Some(Command::RewindSweep(args)) => rewind::run(*args),
        Some(Command::Explain(args)) => explain::run(*args),
        Some(Command::Transfer(args)) => transfer::run(*args),
        Some(Command::PruneAtInit(args)) => at_init::run(*args),
        Some(Command::CheckPresets(args)) => match check_presets::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => Err(anyhow::anyhow!(
                "a preset's claim does not hold (FAIL above)"
            )),
            Err(e) => Err(e),
        },
        None => open_window(cli.link),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // Like clap's own parse errors: 2 for what the command line got wrong.
            if e.downcast_ref::<flags::BadFlags>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The app in a native window (eframe with wgpu).
fn open_window(link: Option<String>) -> Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title("Lottery Lab"),
        ..Default::default()
    };
    eframe::run_native(
        "Lottery Lab",
        options,
        Box::new(move |cc| {
            let mut app = lottery_lab::app::LabApp::from_creation_context(cc);
            // The window paints while a thread trains (the page: a Web Worker).
            app.platform = Box::new(lottery_lab::platform::NativePlatform::training_in_threads());
            if let Some(link) = &link {
                app.apply_link(link);
            }
            // The experiment of the last session comes back (not when a link was given).
            if let Some(dir) = eframe::storage_dir("Lottery Lab") {
                let store = lottery_lab::platform::DirStore {
                    dir: dir.join("experiment"),
                };
                app.restore(&store, link.as_deref());
                app.store = Some(Box::new(store));
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

fn textwrap(text: &str, width: usize) -> String {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + word.len() + 1 > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The preset's (or the link's) experiment with the flags applied; any flag that cannot be
/// taken stops the run with its reason.
fn build_config(args: &RunArgs) -> Result<LinkState> {
    let base = match &args.link {
        Some(link) => {
            let fragment = link.split_once('#').map_or(link.as_str(), |(_, f)| f);
            let (state, problems) = LinkState::parse(fragment, &args.preset);
            for problem in problems {
                eprintln!("warning: link: {problem}");
            }
            state
        }
        None => LinkState::from_preset(&args.preset).ok_or_else(|| {
            let ids: Vec<_> = presets::ALL.iter().map(|p| p.id).collect();
            flags::BadFlags(format!(
                "unknown preset '{}': choose one of {}",
                args.preset,
                ids.join(", ")
            ))
        })?,
    };
    // The CLI keeps the trained weights only when asked (`--weights`): files get large.
    let mut pairs = vec![("weights".to_string(), "0".to_string())];
    pairs.extend(args.fields.pairs.iter().cloned());
    let (state, problems) = base.with_fields(&pairs);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(flags::describe).collect();
        return Err(flags::BadFlags(lines.join("\n")).into());
    }
    Ok(state)
}

/// The run's config with its data loaded (the preset's, a link's, or a CSV's).
fn config_and_data(
    args: &RunArgs,
) -> Result<(ExperimentConfig, Arc<DataSplits>, BackendPreference)> {
    let state = build_config(args)?;
    let mut config = state.config;
    let imported = match &args.csv {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_name()
                .map_or("data.csv".into(), |n| n.to_string_lossy().into_owned());
            let data = lottery_lab::data::csv::parse(&name, &text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            config.dataset = DatasetConfig::Imported {
                name: data.name.clone(),
                fingerprint: data.fingerprint.clone(),
            };
            Some(data)
        }
    };
    let digits = match config.dataset {
        DatasetConfig::Mnist => {
            Some(mnist::decode(mnist::BUNDLED).context("reading the bundled digits")?)
        }
        _ => None,
    };
    let data = Arc::new(config.dataset.load_with(
        config.seed,
        digits.as_ref(),
        imported.as_ref(),
    )?);
    Ok((config, data, state.backend))
}

/// The seeds a study runs over: `count` of them from the config's own (`--seeds`, 1-10), each
/// its own `RunArgs` (the seed is a field: data split, θ₀ and data order follow it).
fn seed_runs(args: &RunArgs, count: usize) -> Result<Vec<RunArgs>> {
    if !(1..=10).contains(&count) {
        return Err(flags::BadFlags(format!("--seeds: 1 to 10 seeds, not {count}")).into());
    }
    let first = build_config(args)?.config.seed;
    Ok((0..count as u64)
        .map(|i| {
            let mut run = args.clone();
            run.fields
                .pairs
                .push(("seed".into(), (first + i).to_string()));
            if count > 1
                && let Some(out) = &run.out
            {
                // One file per seed: `lmc.json` → `lmc-seed3.json`.
                let stem = out
                    .file_stem()
                    .map_or("out".into(), |s| s.to_string_lossy().into_owned());
                run.out = Some(out.with_file_name(format!("{stem}-seed{}.json", first + i)));
            }
            run
        })
        .collect())
}

/// A study once per seed (`seed_runs`), then, for more than one, `summary` of their records.
fn over_seeds<R>(
    args: &RunArgs,
    seeds: usize,
    mut run_seed: impl FnMut(&RunArgs) -> Result<R>,
    summary: impl FnOnce(&[R]),
) -> Result<()> {
    let mut records = Vec::new();
    for run in seed_runs(args, seeds)? {
        records.push(run_seed(&run)?);
    }
    if records.len() > 1 {
        summary(&records);
    }
    Ok(())
}

/// The engine `preference` asks for (a GPU one refused is an error), said on stdout.
fn engine_for(preference: BackendPreference, data: &Arc<DataSplits>) -> Result<Box<dyn Engine>> {
    let (engine, choice) = choose_engine(preference, native_gpu(preference), data.clone());
    if preference == BackendPreference::Gpu && !choice.use_gpu {
        bail!("--backend gpu: {}", choice.reason);
    }
    println!("engine: {}", choice.reason);
    Ok(engine)
}

/// A new experiment on `engine` that trains `parallel_runs` of a round's runs at once, each
/// in its own thread, when that engine is the CPU one (this thread then only hands out work).
fn experiment_with_parallel_runs(
    config: ExperimentConfig,
    data: Arc<DataSplits>,
    engine: Box<dyn Engine>,
    parallel_runs: u64,
) -> Result<Experiment> {
    if parallel_runs <= 1 || engine.info().kind != "cpu" {
        return Ok(Experiment::new(config, data, engine)?);
    }
    let workers = lottery_lab::train::worker::thread::workers();
    let mut lanes: Vec<Box<dyn Engine>> = (0..parallel_runs)
        .map(|_| Box::new(workers.engine(data.clone())) as Box<dyn Engine>)
        .collect();
    let first = lanes.remove(0);
    Ok(Experiment::new(config, data, first)?.with_lanes(lanes))
}

/// The IMP experiment of `config` to `round`, with random pruning beside it (and random
/// re-init with `reinit`).
pub fn imp_to_round(
    config: &ExperimentConfig,
    round: usize,
    data: &Arc<DataSplits>,
    preference: BackendPreference,
    quiet: bool,
    reinit: bool,
) -> Result<ExperimentRecord> {
    let mut imp = config.clone();
    imp.schedule = Schedule::Iterative { rounds: round };
    imp.controls.reinit = reinit;
    imp.controls.random_prune = true;
    println!(
        "IMP first, to round {round} (ticket, random pruning{})",
        if reinit { ", random re-init" } else { "" }
    );
    let engine = engine_for(preference, data)?;
    let mut experiment = Experiment::new(imp, data.clone(), engine)?;
    let bar = progress_bar(quiet);
    experiment.run_to_end(|progress, _| {
        bar.set_position((progress.fraction() * 1000.0) as u64);
        bar.set_message(format!("IMP round {}/{}", progress.round, progress.rounds));
    });
    bar.finish_and_clear();
    let record = experiment.record().clone();
    if let Status::Stopped { reason } = &record.status {
        bail!("the IMP experiment stopped: {reason}");
    }
    Ok(record)
}

/// Show a progress bar while `run` runs a study to its end, calling back with its fraction
/// done and what it is doing.
fn with_progress_bar(quiet: bool, run: impl FnOnce(&mut dyn FnMut(f64, &str))) {
    let bar = progress_bar(quiet);
    run(&mut |fraction, doing| {
        bar.set_position((fraction * 1000.0) as u64);
        bar.set_message(doing.to_string());
    });
    bar.finish_and_clear();
}

/// A progress bar in thousandths (hidden with `--quiet`).
fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(1000).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {msg} [{elapsed_precise}<{eta_precise}]",
            )
            .expect("valid template"),
        )
    }
}

/// A study's end, after its table: its notes printed, its record saved with `--out` (JSON
/// and CSV), and the record back only if it finished (`what`: "study", "sweep").
fn study_result<R: serde::Serialize + Clone>(
    record: &R,
    csv: &str,
    notes: &[String],
    status: &Status,
    what: &str,
    out: Option<&std::path::Path>,
) -> Result<R> {
    for note in notes {
        println!("note: {note}");
    }
    if let Some(out) = out {
        save_json_and_csv(&serde_json::to_string_pretty(record)?, csv, out)?;
    }
    match status {
        Status::Finished => Ok(record.clone()),
        Status::Stopped { reason } => bail!("the {what} stopped: {reason}"),
        Status::Running => bail!("the {what} did not finish"),
    }
}

/// `json` at `out` and `csv` beside it (`out` with the extension `.csv`), said on stdout.
fn save_json_and_csv(json: &str, csv: &str, out: &std::path::Path) -> Result<()> {
    std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
    let csv_path = out.with_extension("csv");
    std::fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))?;
    println!("wrote {} and {}", out.display(), csv_path.display());
    Ok(())
}

//! The headless command line: the same experiments as the app, printed as tables.

mod bench;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use lottery_lab::data::{DatasetConfig, mnist};
use lottery_lab::experiment::link::LinkState;
use lottery_lab::experiment::{
    Controls, Experiment, ExperimentConfig, ExperimentRecord, ResetMode, RoundRecord, RunKind,
    Schedule, Status, presets,
};
use lottery_lab::model::LayerSpec;
use lottery_lab::prune::Scope;
use lottery_lab::train::choose_engine;
use lottery_lab::train::gpu::{BackendPreference, GpuContext};

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
    Run(Box<RunArgs>),
    /// List the presets with their explanations.
    Presets,
    /// Training throughput of the CPU engine (LeNet-300-100, batch 60).
    Bench(bench::BenchArgs),
}

#[derive(Parser)]
struct RunArgs {
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
    /// Pruning rounds (iterative schedule).
    #[arg(long)]
    rounds: Option<usize>,
    /// Prune straight to this density (fraction kept, e.g. 0.1) in one round instead.
    #[arg(long, conflicts_with = "rounds")]
    one_shot_density: Option<f64>,
    /// Fraction of the remaining weights pruned per round (hidden layers), e.g. 0.2.
    #[arg(long)]
    rate: Option<f64>,
    /// The same for the output layer.
    #[arg(long)]
    output_rate: Option<f64>,
    /// The same for conv layers (default: --rate).
    #[arg(long)]
    conv_rate: Option<f64>,
    #[arg(long, value_enum)]
    scope: Option<ScopeArg>,
    /// init | rewind:K | reinit | fine-tune
    #[arg(long, value_parser = parse_reset)]
    reset: Option<ResetMode>,
    #[arg(long)]
    seed: Option<u64>,
    /// Training iterations per run.
    #[arg(long)]
    iterations: Option<usize>,
    #[arg(long)]
    eval_every: Option<usize>,
    #[arg(long)]
    lr: Option<f32>,
    #[arg(long)]
    batch: Option<usize>,
    /// Hidden layers: dense widths (300,100) and conv / pooling layers
    /// (conv8k3,pool2,64: 8 channels, kernel 3; s<stride>, p<padding> may follow).
    #[arg(long, value_parser = parse_hidden)]
    hidden: Option<Vec<LayerSpec>>,
    /// Controls to run beside the ticket: any of reinit,random,one-shot, or none.
    #[arg(long, value_delimiter = ',')]
    controls: Option<Vec<ControlArg>>,
    /// Write the record (config included) as JSON here, and as CSV beside it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep theta_0 and every run's trained weights in the JSON (large files).
    #[arg(long)]
    weights: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Which engine trains: auto picks the GPU only when it is a hardware one.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Auto,
    Gpu,
    Cpu,
}

impl BackendArg {
    fn preference(self) -> BackendPreference {
        match self {
            BackendArg::Auto => BackendPreference::Auto,
            BackendArg::Gpu => BackendPreference::Gpu,
            BackendArg::Cpu => BackendPreference::Cpu,
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

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    Layerwise,
    Global,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum ControlArg {
    Reinit,
    Random,
    OneShot,
    None,
}

fn parse_reset(text: &str) -> Result<ResetMode, String> {
    match text {
        "init" => Ok(ResetMode::Init),
        "reinit" => Ok(ResetMode::Reinit),
        "fine-tune" | "finetune" => Ok(ResetMode::FineTune),
        _ => match text.strip_prefix("rewind:").map(str::parse::<usize>) {
            Some(Ok(iteration)) => Ok(ResetMode::Rewind { iteration }),
            _ => Err(format!(
                "'{text}' is not one of init, rewind:K (K an iteration), reinit, fine-tune"
            )),
        },
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(args)) => run(*args),
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
        None => open_window(cli.link),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
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
            if let Some(link) = &link {
                app.apply_link(link);
            }
            // The experiment of the last session comes back (not when a link was given).
            if let Some(dir) = eframe::storage_dir("Lottery Lab") {
                let store = lottery_lab::app::saved::DirStore {
                    dir: dir.join("experiment"),
                };
                app.restore(|key| store.read(key), link.as_deref());
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

fn build_config(args: &RunArgs) -> Result<ExperimentConfig> {
    let Some(preset) = presets::find(&args.preset) else {
        let ids: Vec<_> = presets::ALL.iter().map(|p| p.id).collect();
        bail!(
            "unknown preset '{}': choose one of {}",
            args.preset,
            ids.join(", ")
        );
    };
    let mut c = (preset.config)();
    if let Some(link) = &args.link {
        let fragment = link.split_once('#').map_or(link.as_str(), |(_, f)| f);
        let (state, problems) = LinkState::parse(fragment, &args.preset);
        for problem in problems {
            eprintln!("warning: link: {problem}");
        }
        c = state.config;
    }
    if let Some(rounds) = args.rounds {
        c.schedule = Schedule::Iterative { rounds };
    }
    if let Some(density) = args.one_shot_density {
        c.schedule = Schedule::OneShot { density };
    }
    if let Some(rate) = args.rate {
        c.pruning.rate = rate;
    }
    if let Some(rate) = args.output_rate {
        c.pruning.output_rate = rate;
    }
    if let Some(rate) = args.conv_rate {
        c.pruning.conv_rate = Some(rate);
    }
    if let Some(scope) = args.scope {
        c.pruning.scope = match scope {
            ScopeArg::Layerwise => Scope::Layerwise,
            ScopeArg::Global => Scope::Global,
        };
    }
    if let Some(reset) = args.reset {
        c.reset = reset;
    }
    if let Some(seed) = args.seed {
        c.seed = seed;
    }
    if let Some(iterations) = args.iterations {
        c.iterations = iterations;
    }
    if let Some(eval_every) = args.eval_every {
        c.eval_every = eval_every;
    }
    if let Some(lr) = args.lr {
        c.optimizer = c.optimizer.with_lr(lr);
    }
    if let Some(batch) = args.batch {
        c.batch_size = batch;
    }
    if let Some(hidden) = &args.hidden {
        c.hidden.clone_from(hidden);
    }
    if let Some(controls) = &args.controls {
        c.controls = if controls.contains(&ControlArg::None) {
            Controls::NONE
        } else {
            Controls {
                reinit: controls.contains(&ControlArg::Reinit),
                random_prune: controls.contains(&ControlArg::Random),
                one_shot: controls.contains(&ControlArg::OneShot),
            }
        };
    }
    c.keep_weights = args.weights;
    c.validate()
        .context("the flags give an invalid experiment")?;
    Ok(c)
}

fn run(args: RunArgs) -> Result<()> {
    let mut config = build_config(&args)?;
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
    let preference = args.backend.preference();
    let (engine, choice) = choose_engine(preference, native_gpu(preference), data.clone());
    if preference == BackendPreference::Gpu && !choice.use_gpu {
        bail!("--backend gpu: {}", choice.reason);
    }
    println!("engine: {}", choice.reason);
    let mut experiment = Experiment::new(config.clone(), data, engine)?;

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
    let metric = if experiment.data().positive_class.is_some() {
        "AUC"
    } else {
        "acc"
    };
    let columns = table_columns(&config.controls);
    println!("{}", header(&columns, metric));

    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(1000).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {msg} [{elapsed_precise}<{eta_precise}]",
            )
            .expect("valid template"),
        )
    };
    let mut printed = 0;
    experiment.run_to_end(|progress, record| {
        bar.set_position((progress.fraction() * 1000.0) as u64);
        bar.set_message(format!(
            "round {}/{} {} it {}/{}",
            progress.round,
            progress.rounds,
            progress.run.map_or("", |k| k.label()),
            progress.iteration,
            progress.iterations
        ));
        while printed < record.rounds.len() {
            bar.suspend(|| println!("{}", row(&record.rounds[printed], &columns, metric)));
            printed += 1;
        }
    });
    bar.finish_and_clear();
    let record = experiment.record();
    for note in &record.notes {
        println!("note: {note}");
    }
    if let Some(out) = &args.out {
        save(record, out)?;
    }
    match &record.status {
        Status::Finished => Ok(()),
        Status::Stopped { reason } => bail!("the experiment stopped: {reason}"),
        Status::Running => bail!("the experiment did not finish"),
    }
}

fn table_columns(controls: &Controls) -> Vec<RunKind> {
    let mut columns = vec![RunKind::Ticket];
    if controls.reinit {
        columns.push(RunKind::Reinit);
    }
    if controls.random_prune {
        columns.push(RunKind::RandomPrune);
    }
    if controls.one_shot {
        columns.push(RunKind::OneShot);
    }
    columns
}

fn header(columns: &[RunKind], metric: &str) -> String {
    let mut line = format!("{:>5} {:>9}", "round", "density");
    for kind in columns {
        line += &format!(" {:>16}", format!("{} {metric}", kind.label()));
    }
    line += &format!(" {:>12}", "ticket stop");
    line
}

fn row(round: &RoundRecord, columns: &[RunKind], metric: &str) -> String {
    let mut line = format!("{:>5} {:>8.1}%", round.round, round.density() * 100.0);
    let ticket = round.run(RunKind::Ticket);
    for &kind in columns {
        // Round 0 is the dense network, which every control shares; at round 1 one-shot and
        // iterative pruning are the same run.
        let same_as_ticket = round.round == 0 || (round.round == 1 && kind == RunKind::OneShot);
        let run = round
            .run(kind)
            .or(if same_as_ticket { ticket } else { None });
        let cell = match run {
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
                cell.unwrap_or_else(|| "-".into())
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
    let json = serde_json::to_string_pretty(record)?;
    std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
    let csv_path = out.with_extension("csv");
    std::fs::write(&csv_path, record.to_csv())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    println!("wrote {} and {}", out.display(), csv_path.display());
    Ok(())
}

fn parse_hidden(text: &str) -> Result<Vec<LayerSpec>, String> {
    lottery_lab::model::parse_layers(text)
}

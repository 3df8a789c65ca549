//! Every field of an experiment that a link carries, declared once: its link key, its flag
//! on `lottery-lab run`, what it accepts, what it means, how it is written and read, and what
//! a failed check puts back. The link ([`super::link`]), the CLI's flags, the notices and the
//! README's field table all come from [`FIELDS`], so they cannot drift apart; a new field is
//! one entry here (plus its place in [`ExperimentConfig`] and, if it has one, its widget).
//!
//! Some fields only mean something together (the dataset with its noise and samples, the
//! optimizer with its learning rate and betas, the reset with its rewind iteration): those
//! are read into [`Pending`] and combined once every pair is read (`link::finish`).

use super::link::LinkState;
use super::{Controls, ExperimentConfig, ResetMode, Schedule};
use crate::data::{DatasetConfig, toy2d::Toy2d};
use crate::model::Init;
use crate::prune::{Granularity, PruneMethod, Scope};
use crate::train::Optimizer;
use crate::train::gpu::BackendPreference;

/// How `lottery-lab run` takes a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// Not on the command line (it names something only a browser has, or `--preset`,
    /// `--csv` stand for it).
    None,
    /// `--name VALUE`.
    Value(&'static str),
    /// `--name` alone sets it (`--name=0` clears it).
    Switch(&'static str),
}

impl Flag {
    pub fn name(self) -> Option<&'static str> {
        match self {
            Flag::None => None,
            Flag::Value(name) | Flag::Switch(name) => Some(name),
        }
    }
}

/// One field. See the module's documentation.
pub struct Field {
    /// Its key in a link: `lr=0.0012`.
    pub key: &'static str,
    pub flag: Flag,
    /// What it accepts, in the words a notice uses: "'abc' is not a number".
    pub values: &'static str,
    /// What it means (the README's table and `--help`).
    pub help: &'static str,
    /// The names [`ExperimentConfig::validate`] reports this field's problems under.
    pub checks: &'static [&'static str],
    /// Its value in a link, or `None` when the config does not use it (the noise of a
    /// dataset that has none).
    pub write: fn(&LinkState) -> Option<String>,
    /// Take a value; `None` when it cannot be read (the notice then says [`Field::values`]).
    pub read: fn(&mut Draft, &str) -> Option<()>,
    /// Put back what `base` has, after a check under one of [`Field::checks`] failed.
    pub revert: fn(&mut LinkState, &LinkState),
}

/// A link being read: the state so far, and the fields combined at the end.
pub struct Draft {
    pub state: LinkState,
    pub pending: Pending,
}

/// Fields that are combined after all pairs are read (they depend on each other).
#[derive(Default)]
pub struct Pending {
    pub data: Option<String>,
    pub file: Option<String>,
    pub fingerprint: Option<String>,
    pub noise: Option<f32>,
    pub samples: Option<usize>,
    pub opt: Option<String>,
    pub lr: Option<f32>,
    pub momentum: Option<f32>,
    pub beta1: Option<f32>,
    pub beta2: Option<f32>,
    pub eps: Option<f32>,
    pub reset: Option<String>,
    pub rewind: Option<usize>,
}

/// The field with this link key.
pub fn find(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

/// The field whose problems [`ExperimentConfig::validate`] reports under `check`.
pub fn for_check(check: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.checks.contains(&check))
}

/// The dataset names a link and the CLI take: `mnist`, `mnist1d`, `fraud`, `csv` and the
/// 2-D shapes.
pub fn data_names() -> Vec<&'static str> {
    let mut names = vec!["mnist", "mnist1d", "fraud", "csv"];
    names.extend(Toy2d::ALL.iter().map(|s| s.name()));
    names
}

/// The dataset's name in a link.
pub fn data_name(dataset: &DatasetConfig) -> &'static str {
    match dataset {
        DatasetConfig::Mnist => "mnist",
        DatasetConfig::Mnist1d => "mnist1d",
        DatasetConfig::Toy2d { shape, .. } => shape.name(),
        DatasetConfig::Fraud { .. } => "fraud",
        DatasetConfig::Imported { .. } => "csv",
    }
}

/// The README's table of fields (a test holds the README to it).
pub fn markdown_table() -> String {
    let mut out =
        String::from("| link | `lottery-lab run` | values | meaning |\n|---|---|---|---|\n");
    for f in FIELDS {
        let flag = f
            .flag
            .name()
            .map_or("—".into(), |name| format!("`--{name}`"));
        out += &format!("| `{}` | {flag} | {} | {} |\n", f.key, f.values, f.help);
    }
    out
}

fn num<T: std::fmt::Display + std::fmt::LowerExp>(v: T) -> String {
    super::link::num(v)
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Option<T> {
    // Rust's float parser takes "inf" and "NaN"; validation rejects them later by field.
    if s.is_empty() || s.len() > 40 {
        return None;
    }
    s.parse().ok()
}

fn parse_flag(s: &str) -> Option<bool> {
    match s {
        "1" | "true" | "yes" | "on" | "" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn adam_part(state: &LinkState, part: fn(f32, f32, f32) -> f32) -> Option<String> {
    match state.config.optimizer {
        Optimizer::Adam {
            beta1, beta2, eps, ..
        } => Some(num(part(beta1, beta2, eps))),
        Optimizer::Sgd { .. } => None,
    }
}

fn revert_optimizer(s: &mut LinkState, base: &LinkState) {
    s.config.optimizer = base.config.optimizer;
}

fn revert_dataset(s: &mut LinkState, base: &LinkState) {
    s.config.dataset = base.config.dataset.clone();
}

fn revert_schedule(s: &mut LinkState, base: &LinkState) {
    s.config.schedule = base.config.schedule;
}

fn revert_pruning(s: &mut LinkState, base: &LinkState) {
    s.config.pruning = base.config.pruning.clone();
}

fn revert_reset(s: &mut LinkState, base: &LinkState) {
    s.config.reset = base.config.reset;
}

/// The config of the preset a link names (what a field left out of the link falls back to).
fn preset_of(s: &LinkState) -> Option<ExperimentConfig> {
    super::presets::find(&s.preset).map(|p| (p.config)())
}

fn config(d: &mut Draft) -> &mut ExperimentConfig {
    &mut d.state.config
}

/// In the order a link writes them.
pub static FIELDS: &[Field] = &[
    Field {
        key: "preset",
        flag: Flag::None,
        values: "a preset's id (`lottery-lab presets`)",
        help: "the preset the rest of the fields start from (`--preset`)",
        checks: &[],
        write: |s| Some(s.preset.clone()),
        // Read before every other field: it chooses the base they apply to.
        read: |_, _| Some(()),
        revert: |_, _| {},
    },
    Field {
        key: "data",
        flag: Flag::Value("data"),
        values: "mnist, mnist1d, fraud, csv or a 2-D shape (circle, xor, gaussians, spiral, moons)",
        help: "the dataset (`csv` names an imported file by `file` and `fp`; `--csv PATH` on the CLI)",
        checks: &["dataset"],
        write: |s| Some(data_name(&s.config.dataset).into()),
        read: |d, v| {
            let v = v.to_ascii_lowercase();
            data_names()
                .contains(&v.as_str())
                .then(|| d.pending.data = Some(v))
        },
        revert: revert_dataset,
    },
    Field {
        key: "noise",
        flag: Flag::Value("noise"),
        values: "a number from 0 to 1",
        help: "label noise of a 2-D set",
        checks: &[],
        write: |s| match &s.config.dataset {
            DatasetConfig::Toy2d { noise, .. } => Some(num(noise)),
            _ => None,
        },
        read: |d, v| parse_num(v).map(|n| d.pending.noise = Some(n)),
        revert: revert_dataset,
    },
    Field {
        key: "samples",
        flag: Flag::Value("samples"),
        values: "a whole number",
        help: "how many samples a 2-D set or the fraud set has",
        checks: &[],
        write: |s| match &s.config.dataset {
            DatasetConfig::Toy2d { samples, .. } | DatasetConfig::Fraud { samples } => {
                Some(samples.to_string())
            }
            _ => None,
        },
        read: |d, v| parse_num(v).map(|n| d.pending.samples = Some(n)),
        revert: revert_dataset,
    },
    Field {
        key: "file",
        flag: Flag::None,
        values: "a file name",
        help: "the imported CSV's file name",
        checks: &[],
        write: |s| match &s.config.dataset {
            DatasetConfig::Imported { name, .. } => Some(name.clone()),
            _ => None,
        },
        read: |d, v| {
            d.pending.file = Some(v.to_string());
            Some(())
        },
        revert: revert_dataset,
    },
    Field {
        key: "fp",
        flag: Flag::None,
        values: "16 hex digits",
        help: "the imported CSV's fingerprint (a hash of its bytes)",
        checks: &[],
        write: |s| match &s.config.dataset {
            DatasetConfig::Imported { fingerprint, .. } => Some(fingerprint.clone()),
            _ => None,
        },
        read: |d, v| {
            d.pending.fingerprint = Some(v.to_ascii_lowercase());
            Some(())
        },
        revert: revert_dataset,
    },
    Field {
        key: "hidden",
        flag: Flag::Value("hidden"),
        values: "a list of layers like 300,100 or conv8k3,pool2,64",
        help: "the hidden layers: dense widths, `conv<channels>k<kernel>[s<stride>][p<padding>]`, `pool<size>`, `flatten`",
        checks: &["hidden"],
        write: |s| Some(crate::model::layers_text(&s.config.hidden)),
        read: |d, v| {
            let tokens: Vec<&str> = v.split(',').take(super::MAX_LAYERS + 1).collect();
            config(d).hidden = crate::model::parse_layers(&tokens.join(",")).ok()?;
            Some(())
        },
        revert: |s, base| s.config.hidden = base.config.hidden.clone(),
    },
    Field {
        key: "init",
        flag: Flag::Value("init"),
        values: "glorot or kaiming",
        help: "how θ₀ is drawn (normal, scaled by the fan)",
        checks: &[],
        write: |s| {
            Some(
                match s.config.init {
                    Init::GlorotNormal => "glorot",
                    Init::KaimingNormal => "kaiming",
                }
                .into(),
            )
        },
        read: |d, v| {
            config(d).init = match v {
                "glorot" => Init::GlorotNormal,
                "kaiming" => Init::KaimingNormal,
                _ => return None,
            };
            Some(())
        },
        revert: |s, base| s.config.init = base.config.init,
    },
    Field {
        key: "opt",
        flag: Flag::Value("optimizer"),
        values: "adam or sgd",
        help: "the optimizer",
        checks: &[],
        write: |s| {
            Some(
                match s.config.optimizer {
                    Optimizer::Adam { .. } => "adam",
                    Optimizer::Sgd { .. } => "sgd",
                }
                .into(),
            )
        },
        read: |d, v| matches!(v, "adam" | "sgd").then(|| d.pending.opt = Some(v.into())),
        revert: revert_optimizer,
    },
    Field {
        key: "lr",
        flag: Flag::Value("lr"),
        values: "a number",
        help: "the learning rate",
        checks: &["lr"],
        write: |s| Some(num(s.config.optimizer.lr())),
        read: |d, v| parse_num(v).map(|n| d.pending.lr = Some(n)),
        revert: revert_optimizer,
    },
    Field {
        key: "momentum",
        flag: Flag::Value("momentum"),
        values: "a number",
        help: "SGD's momentum, in [0, 1)",
        checks: &["momentum"],
        write: |s| match s.config.optimizer {
            Optimizer::Sgd { momentum, .. } => Some(num(momentum)),
            Optimizer::Adam { .. } => None,
        },
        read: |d, v| parse_num(v).map(|n| d.pending.momentum = Some(n)),
        revert: revert_optimizer,
    },
    Field {
        key: "beta1",
        flag: Flag::Value("beta1"),
        values: "a number",
        help: "Adam's β₁, in [0, 1)",
        checks: &["betas"],
        write: |s| adam_part(s, |b1, _, _| b1),
        read: |d, v| parse_num(v).map(|n| d.pending.beta1 = Some(n)),
        revert: revert_optimizer,
    },
    Field {
        key: "beta2",
        flag: Flag::Value("beta2"),
        values: "a number",
        help: "Adam's β₂, in [0, 1)",
        checks: &[],
        write: |s| adam_part(s, |_, b2, _| b2),
        read: |d, v| parse_num(v).map(|n| d.pending.beta2 = Some(n)),
        revert: revert_optimizer,
    },
    Field {
        key: "eps",
        flag: Flag::Value("eps"),
        values: "a number",
        help: "Adam's ε",
        checks: &["eps"],
        write: |s| adam_part(s, |_, _, eps| eps),
        read: |d, v| parse_num(v).map(|n| d.pending.eps = Some(n)),
        revert: revert_optimizer,
    },
    Field {
        key: "batch",
        flag: Flag::Value("batch"),
        values: "a whole number",
        help: "samples per training step, 1 to 4096",
        checks: &["batch"],
        write: |s| Some(s.config.batch_size.to_string()),
        read: |d, v| parse_num(v).map(|n| config(d).batch_size = n),
        revert: |s, base| s.config.batch_size = base.config.batch_size,
    },
    Field {
        key: "iters",
        flag: Flag::Value("iterations"),
        values: "a whole number",
        help: "training iterations per run (every round retrains this long)",
        checks: &["iterations"],
        write: |s| Some(s.config.iterations.to_string()),
        read: |d, v| parse_num(v).map(|n| config(d).iterations = n),
        revert: |s, base| s.config.iterations = base.config.iterations,
    },
    Field {
        key: "eval",
        flag: Flag::Value("eval-every"),
        values: "a whole number",
        help: "evaluate on validation and test every this many iterations",
        checks: &["eval-every"],
        write: |s| Some(s.config.eval_every.to_string()),
        read: |d, v| parse_num(v).map(|n| config(d).eval_every = n),
        revert: |s, base| s.config.eval_every = base.config.eval_every,
    },
    Field {
        key: "method",
        flag: Flag::Value("method"),
        values: "magnitude, init-magnitude, random, snip, grasp or synflow",
        help: "how each round's weights are chosen: by magnitude after training (IMP, the ticket) or by a score at initialisation, all layers ranked together",
        checks: &["method"],
        // Left out when it is IMP's, so links made before methods existed read the same.
        write: |s| {
            s.config
                .method
                .at_init()
                .then(|| s.config.method.key().into())
        },
        read: |d, v| {
            let v = v.to_ascii_lowercase();
            config(d).method = PruneMethod::from_key(&v)?;
            Some(())
        },
        revert: |s, base| s.config.method = base.config.method,
    },
    Field {
        key: "granularity",
        flag: Flag::Value("granularity"),
        values: "weights, neurons or N:M like 2:4",
        help: "how pruned weights are grouped: any weight; whole neurons and filters (structured, by L1 norm; the smaller network is trained dense); or N of every M consecutive inputs (2:4: one round from the trained network; `reset=finetune` for NVIDIA's recipe)",
        checks: &["granularity"],
        // Left out when unstructured, so links made before it existed read the same.
        write: |s| {
            (s.config.granularity != Granularity::Weights).then(|| s.config.granularity.key())
        },
        read: |d, v| {
            config(d).granularity = Granularity::from_key(&v.to_ascii_lowercase())?;
            Some(())
        },
        revert: |s, base| s.config.granularity = base.config.granularity,
    },
    Field {
        key: "early_bird",
        flag: Flag::Value("early-bird"),
        values: "a density like 0.1, or off",
        help: "search the dense run for an early-bird ticket at this density: its magnitude mask after every epoch, found once within ε = 0.1 of the previous five, then trained from θ₀ beside round 1",
        checks: &["early_bird"],
        // "off" is written when the preset has a search on, or the link would turn it back on.
        write: |s| match s.config.early_bird {
            Some(density) => Some(num(density)),
            None => preset_of(s)
                .is_some_and(|c| c.early_bird.is_some())
                .then(|| "off".into()),
        },
        read: |d, v| {
            config(d).early_bird = match v {
                "off" | "0" => None,
                v => Some(parse_num(v)?),
            };
            Some(())
        },
        revert: |s, base| s.config.early_bird = base.config.early_bird,
    },
    Field {
        key: "scope",
        flag: Flag::Value("scope"),
        values: "layerwise or global",
        help: "rank weights within each layer, or across the hidden layers together",
        checks: &[],
        write: |s| {
            Some(
                match s.config.pruning.scope {
                    Scope::Layerwise => "layerwise",
                    Scope::Global => "global",
                }
                .into(),
            )
        },
        read: |d, v| {
            config(d).pruning.scope = match v {
                "layerwise" => Scope::Layerwise,
                "global" => Scope::Global,
                _ => return None,
            };
            Some(())
        },
        revert: revert_pruning,
    },
    Field {
        key: "rate",
        flag: Flag::Value("rate"),
        values: "a number",
        help: "fraction of the remaining weights pruned per round (dense hidden layers), e.g. 0.2",
        checks: &["rate"],
        write: |s| Some(num(s.config.pruning.rate)),
        read: |d, v| parse_num(v).map(|n| config(d).pruning.rate = n),
        revert: revert_pruning,
    },
    Field {
        key: "out_rate",
        flag: Flag::Value("output-rate"),
        values: "a number",
        help: "the same for the output layer (the paper: half the rate)",
        checks: &[],
        write: |s| Some(num(s.config.pruning.output_rate)),
        read: |d, v| parse_num(v).map(|n| config(d).pruning.output_rate = n),
        revert: revert_pruning,
    },
    Field {
        key: "conv_rate",
        flag: Flag::Value("conv-rate"),
        values: "a number, or same (as rate)",
        help: "the same for conv layers (default: `rate`; the paper: 10-15%)",
        checks: &[],
        // "same" is written when the preset has a rate of its own, or the link would bring it back.
        write: |s| match s.config.pruning.conv_rate {
            Some(rate) => Some(num(rate)),
            None => preset_of(s)
                .is_some_and(|c| c.pruning.conv_rate.is_some())
                .then(|| "same".into()),
        },
        read: |d, v| {
            config(d).pruning.conv_rate = match v {
                "same" => None,
                v => Some(parse_num(v)?),
            };
            Some(())
        },
        revert: revert_pruning,
    },
    Field {
        key: "rounds",
        flag: Flag::Value("rounds"),
        values: "a whole number",
        help: "pruning rounds of the iterative schedule, at most 40",
        checks: &["rounds"],
        write: |s| match s.config.schedule {
            Schedule::Iterative { rounds } => Some(rounds.to_string()),
            Schedule::OneShot { .. } => None,
        },
        read: |d, v| parse_num(v).map(|rounds| config(d).schedule = Schedule::Iterative { rounds }),
        revert: revert_schedule,
    },
    Field {
        key: "oneshot",
        flag: Flag::Value("one-shot-density"),
        values: "a density like 0.05",
        help: "instead of rounds: prune straight to this fraction kept, in one round",
        checks: &["density"],
        write: |s| match s.config.schedule {
            Schedule::OneShot { density } => Some(num(density)),
            Schedule::Iterative { .. } => None,
        },
        read: |d, v| parse_num(v).map(|density| config(d).schedule = Schedule::OneShot { density }),
        revert: revert_schedule,
    },
    Field {
        key: "reset",
        flag: Flag::Value("reset"),
        values: "init, rewind, rewind:K, reinit or finetune",
        help: "where the survivors start the next round: θ₀ (the ticket), θ_K (late rewinding), fresh weights, or trained values",
        checks: &[],
        write: |s| {
            Some(
                match s.config.reset {
                    ResetMode::Init => "init",
                    ResetMode::Reinit => "reinit",
                    ResetMode::FineTune => "finetune",
                    ResetMode::Rewind { .. } => "rewind",
                }
                .into(),
            )
        },
        read: |d, v| {
            // `rewind:K` is the CLI's way of giving both at once.
            if let Some(k) = v.strip_prefix("rewind:") {
                d.pending.rewind = Some(parse_num(k)?);
                d.pending.reset = Some("rewind".into());
                return Some(());
            }
            let v = if v == "fine-tune" { "finetune" } else { v };
            matches!(v, "init" | "reinit" | "finetune" | "rewind")
                .then(|| d.pending.reset = Some(v.into()))
        },
        revert: revert_reset,
    },
    Field {
        key: "rewind",
        flag: Flag::Value("rewind"),
        values: "a whole number",
        help: "the iteration K that `reset=rewind` goes back to",
        checks: &["rewind"],
        write: |s| match s.config.reset {
            ResetMode::Rewind { iteration } => Some(iteration.to_string()),
            _ => None,
        },
        read: |d, v| parse_num(v).map(|k| d.pending.rewind = Some(k)),
        revert: revert_reset,
    },
    Field {
        key: "controls",
        flag: Flag::Value("controls"),
        values: "a list of reinit, random, oneshot, unstructured, 2:4, small-dense (or none)",
        help: "the controls trained beside the ticket each round (unstructured: beside structured or N:M pruning, the unstructured mask at the same per-layer densities; 2:4: in round 1, the trained network's 2:4 mask; small-dense: a dense net with narrower layers and the ticket's number of weights, freshly initialised)",
        checks: &[],
        write: |s| {
            let c = s.config.controls;
            let names: Vec<&str> = [
                (c.reinit, "reinit"),
                (c.random_prune, "random"),
                (c.one_shot, "oneshot"),
                (c.unstructured, "unstructured"),
                (c.two_four, "2:4"),
                (c.small_dense, "small-dense"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            Some(if names.is_empty() {
                "none".into()
            } else {
                names.join(",")
            })
        },
        read: |d, v| {
            let mut controls = Controls::NONE;
            for name in v.split(',').take(8) {
                match name.trim() {
                    "reinit" => controls.reinit = true,
                    "random" => controls.random_prune = true,
                    "oneshot" | "one-shot" => controls.one_shot = true,
                    "unstructured" => controls.unstructured = true,
                    "2:4" | "two-four" => controls.two_four = true,
                    "small-dense" | "smalldense" => controls.small_dense = true,
                    "none" | "" => {}
                    _ => return None,
                }
            }
            config(d).controls = controls;
            Some(())
        },
        revert: |s, base| s.config.controls = base.config.controls,
    },
    Field {
        key: "seed",
        flag: Flag::Value("seed"),
        values: "a whole number",
        help: "seeds θ₀, the data's split and order, and every random control",
        checks: &[],
        write: |s| Some(s.config.seed.to_string()),
        read: |d, v| parse_num(v).map(|n| config(d).seed = n),
        revert: |s, base| s.config.seed = base.config.seed,
    },
    Field {
        key: "weights",
        flag: Flag::Switch("weights"),
        values: "0 or 1",
        help: "keep θ₀ and every run's trained weights in the results (the heatmaps need them; files get large; the CLI's default is 0)",
        checks: &[],
        write: |s| Some(if s.config.keep_weights { "1" } else { "0" }.into()),
        read: |d, v| parse_flag(v).map(|on| config(d).keep_weights = on),
        revert: |s, base| s.config.keep_weights = base.config.keep_weights,
    },
    Field {
        key: "backend",
        flag: Flag::Value("backend"),
        values: "auto, gpu or cpu",
        help: "which engine trains: auto picks the GPU only when it is a hardware one",
        checks: &[],
        write: |s| {
            Some(
                match s.backend {
                    BackendPreference::Auto => "auto",
                    BackendPreference::Gpu => "gpu",
                    BackendPreference::Cpu => "cpu",
                }
                .into(),
            )
        },
        read: |d, v| {
            d.state.backend = match v {
                "auto" => BackendPreference::Auto,
                "gpu" => BackendPreference::Gpu,
                "cpu" => BackendPreference::Cpu,
                _ => return None,
            };
            Some(())
        },
        revert: |s, base| s.backend = base.backend,
    },
    Field {
        key: "lecture",
        flag: Flag::None,
        values: "0 or 1",
        help: "the lecture view: setup hidden, only the run's controls and plots",
        checks: &[],
        write: |s| s.lecture.then(|| "1".into()),
        read: |d, v| parse_flag(v).map(|on| d.state.lecture = on),
        revert: |s, base| s.lecture = base.lecture,
    },
    Field {
        key: "seeds",
        flag: Flag::None,
        values: "1 to 10",
        help: "run the experiment over this many seeds (from its seed on; each its own split, θ₀ and data order): the accuracy plot shows their mean and range (the CLI: `lottery-lab run --seeds N`)",
        checks: &[],
        write: |s| (s.seeds > 1).then(|| s.seeds.to_string()),
        read: |d, v| {
            let n: usize = parse_num(v)?;
            (1..=super::seeds::MAX_SEEDS)
                .contains(&n)
                .then(|| d.state.seeds = n)
        },
        revert: |s, base| s.seeds = base.seeds,
    },
    Field {
        key: "study",
        flag: Flag::None,
        values: super::studies::request::STUDY_VALUES,
        help: "a study the page runs once the experiment has finished (the CLI's study commands take it as flags: `lottery-lab lmc --round 10 --branch-at 0,100`)",
        checks: &[],
        // "none" is written when the preset starts a study, or the link would start it again.
        write: |s| match &s.study {
            Some(study) => Some(study.token()),
            None => super::presets::find(&s.preset)
                .is_some_and(|p| p.study.is_some())
                .then(|| "none".into()),
        },
        read: |d, v| {
            d.state.study = match v {
                "none" => None,
                v => Some(super::studies::StudyRequest::parse(v)?),
            };
            Some(())
        },
        revert: |s, base| s.study = base.study.clone(),
    },
];

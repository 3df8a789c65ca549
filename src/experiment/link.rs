//! An experiment as a link: the whole config, its seed and the view flags in the URL fragment,
//! `#preset=lenet-mnist&data=mnist&hidden=300,100&lr=0.0012&…&seed=1`.
//!
//! Every field is written out (not only the ones that differ from the preset), so a link keeps
//! reproducing its experiment even if a preset's recipe changes later. Reading is forgiving:
//! a malformed, out-of-range or unknown field falls back to the preset's value on its own and
//! is named in a notice; nothing in a fragment can panic or hang the parser (fuzzed below).

use super::{Controls, ExperimentConfig, ResetMode, Schedule, presets};
use crate::data::{DatasetConfig, toy2d::Toy2d};
use crate::model::Init;
use crate::prune::Scope;
use crate::train::Optimizer;
use crate::train::gpu::BackendPreference;

/// What a link carries.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkState {
    /// The preset the config started from (its explanation is shown beside the setup).
    pub preset: String,
    pub config: ExperimentConfig,
    pub backend: BackendPreference,
    /// Lecture view: setup panel hidden, only run controls and plots.
    pub lecture: bool,
}

/// Longer fragments are cut here: a config needs a few hundred characters.
pub const MAX_FRAGMENT: usize = 4_096;

impl LinkState {
    pub fn from_preset(id: &str) -> Option<Self> {
        presets::find(id).map(|p| Self {
            preset: p.id.into(),
            config: (p.config)(),
            backend: BackendPreference::Auto,
            lecture: false,
        })
    }

    /// The fragment, without the leading `#`.
    pub fn to_fragment(&self) -> String {
        let c = &self.config;
        let mut fields: Vec<(&str, String)> = vec![("preset", self.preset.clone())];
        match &c.dataset {
            DatasetConfig::Mnist => fields.push(("data", "mnist".into())),
            DatasetConfig::Mnist1d => fields.push(("data", "mnist1d".into())),
            DatasetConfig::Toy2d {
                shape,
                noise,
                samples,
            } => {
                fields.push(("data", shape.name().into()));
                fields.push(("noise", num(noise)));
                fields.push(("samples", samples.to_string()));
            }
            DatasetConfig::Fraud { samples } => {
                fields.push(("data", "fraud".into()));
                fields.push(("samples", samples.to_string()));
            }
            DatasetConfig::Imported { name, fingerprint } => {
                fields.push(("data", "csv".into()));
                fields.push(("file", name.clone()));
                fields.push(("fp", fingerprint.clone()));
            }
        }
        fields.push(("hidden", crate::model::layers_text(&c.hidden)));
        fields.push((
            "init",
            match c.init {
                Init::GlorotNormal => "glorot",
                Init::KaimingNormal => "kaiming",
            }
            .into(),
        ));
        match c.optimizer {
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                fields.push(("opt", "adam".into()));
                fields.push(("lr", num(lr)));
                fields.push(("beta1", num(beta1)));
                fields.push(("beta2", num(beta2)));
                fields.push(("eps", num(eps)));
            }
            Optimizer::Sgd { lr, momentum } => {
                fields.push(("opt", "sgd".into()));
                fields.push(("lr", lr.to_string()));
                fields.push(("momentum", num(momentum)));
            }
        }
        fields.push(("batch", c.batch_size.to_string()));
        fields.push(("iters", c.iterations.to_string()));
        fields.push(("eval", c.eval_every.to_string()));
        fields.push((
            "scope",
            match c.pruning.scope {
                Scope::Layerwise => "layerwise",
                Scope::Global => "global",
            }
            .into(),
        ));
        fields.push(("rate", num(c.pruning.rate)));
        fields.push(("out_rate", num(c.pruning.output_rate)));
        if let Some(rate) = c.pruning.conv_rate {
            fields.push(("conv_rate", num(rate)));
        }
        match c.schedule {
            Schedule::Iterative { rounds } => fields.push(("rounds", rounds.to_string())),
            Schedule::OneShot { density } => fields.push(("oneshot", num(density))),
        }
        match c.reset {
            ResetMode::Init => fields.push(("reset", "init".into())),
            ResetMode::Reinit => fields.push(("reset", "reinit".into())),
            ResetMode::FineTune => fields.push(("reset", "finetune".into())),
            ResetMode::Rewind { iteration } => {
                fields.push(("reset", "rewind".into()));
                fields.push(("rewind", iteration.to_string()));
            }
        }
        let mut controls = Vec::new();
        if c.controls.reinit {
            controls.push("reinit");
        }
        if c.controls.random_prune {
            controls.push("random");
        }
        if c.controls.one_shot {
            controls.push("oneshot");
        }
        if controls.is_empty() {
            controls.push("none");
        }
        fields.push(("controls", controls.join(",")));
        fields.push(("seed", c.seed.to_string()));
        fields.push(("weights", if c.keep_weights { "1" } else { "0" }.into()));
        fields.push((
            "backend",
            match self.backend {
                BackendPreference::Auto => "auto",
                BackendPreference::Gpu => "gpu",
                BackendPreference::Cpu => "cpu",
            }
            .into(),
        ));
        if self.lecture {
            fields.push(("lecture", "1".into()));
        }
        fields
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Read a fragment (with or without the leading `#`). Never fails: what cannot be read
    /// keeps the preset's (or the default preset's) value, and each such field is named in
    /// the returned notices.
    pub fn parse(fragment: &str, default_preset: &str) -> (Self, Vec<String>) {
        let mut notices = Vec::new();
        let mut fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        if fragment.len() > MAX_FRAGMENT {
            let mut end = MAX_FRAGMENT;
            while !fragment.is_char_boundary(end) {
                end -= 1;
            }
            fragment = &fragment[..end];
            notices.push(format!(
                "the link is longer than {MAX_FRAGMENT} characters: the rest was ignored"
            ));
        }
        let pairs: Vec<(String, String)> = fragment
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(p), String::new()),
            })
            .collect();

        let fallback = || LinkState::from_preset(default_preset).expect("the default preset");
        let preset_value = pairs.iter().rev().find(|(k, _)| k == "preset");
        let base = match preset_value {
            None => fallback(),
            Some((_, id)) => LinkState::from_preset(id.trim()).unwrap_or_else(|| {
                notices.push(format!(
                    "preset: unknown preset '{}', using '{default_preset}'",
                    shorten(id)
                ));
                fallback()
            }),
        };
        let mut state = base.clone();
        let mut fields = Fields::default();
        for (key, value) in &pairs {
            if let Err(why) = state.apply(key, value.trim(), &mut fields) {
                notices.push(why);
            }
        }
        state.finish(&fields, &base.config, &mut notices);
        (state, notices)
    }

    /// One `key=value`; an error names the field and says what was kept.
    fn apply(&mut self, key: &str, value: &str, fields: &mut Fields) -> Result<(), String> {
        let c = &mut self.config;
        let bad = |what: &str| {
            format!(
                "{key}: '{}' is not {what}; kept the preset's value",
                shorten(value)
            )
        };
        match key {
            "preset" => {}
            "data" => fields.data = Some(value.to_ascii_lowercase()),
            "file" => fields.file = Some(value.to_string()),
            "fp" => fields.fingerprint = Some(value.to_ascii_lowercase()),
            "noise" => fields.noise = Some(parse_num::<f32>(value).ok_or_else(|| bad("a number"))?),
            "samples" => {
                fields.samples =
                    Some(parse_num::<usize>(value).ok_or_else(|| bad("a whole number"))?)
            }
            "hidden" => {
                let tokens: Vec<&str> = value.split(',').take(super::MAX_LAYERS + 1).collect();
                c.hidden = crate::model::parse_layers(&tokens.join(","))
                    .map_err(|_| bad("a list of layers like 300,100 or conv8k3,pool2,64"))?;
            }
            "init" => {
                c.init = match value {
                    "glorot" => Init::GlorotNormal,
                    "kaiming" => Init::KaimingNormal,
                    _ => return Err(bad("glorot or kaiming")),
                }
            }
            "opt" => {
                fields.opt = Some(match value {
                    "adam" | "sgd" => value.to_string(),
                    _ => return Err(bad("adam or sgd")),
                })
            }
            "lr" => fields.lr = Some(parse_num(value).ok_or_else(|| bad("a number"))?),
            "momentum" => fields.momentum = Some(parse_num(value).ok_or_else(|| bad("a number"))?),
            "beta1" => fields.beta1 = Some(parse_num(value).ok_or_else(|| bad("a number"))?),
            "beta2" => fields.beta2 = Some(parse_num(value).ok_or_else(|| bad("a number"))?),
            "eps" => fields.eps = Some(parse_num(value).ok_or_else(|| bad("a number"))?),
            "batch" => c.batch_size = parse_num(value).ok_or_else(|| bad("a whole number"))?,
            "iters" => c.iterations = parse_num(value).ok_or_else(|| bad("a whole number"))?,
            "eval" => c.eval_every = parse_num(value).ok_or_else(|| bad("a whole number"))?,
            "scope" => {
                c.pruning.scope = match value {
                    "layerwise" => Scope::Layerwise,
                    "global" => Scope::Global,
                    _ => return Err(bad("layerwise or global")),
                }
            }
            "rate" => c.pruning.rate = parse_num(value).ok_or_else(|| bad("a number"))?,
            "conv_rate" => {
                c.pruning.conv_rate = Some(parse_num(value).ok_or_else(|| bad("a number"))?)
            }
            "out_rate" => {
                c.pruning.output_rate = parse_num(value).ok_or_else(|| bad("a number"))?
            }
            "rounds" => {
                c.schedule = Schedule::Iterative {
                    rounds: parse_num(value).ok_or_else(|| bad("a whole number"))?,
                }
            }
            "oneshot" => {
                c.schedule = Schedule::OneShot {
                    density: parse_num(value).ok_or_else(|| bad("a density like 0.05"))?,
                }
            }
            "reset" => {
                fields.reset = Some(match value {
                    "init" | "reinit" | "finetune" | "rewind" => value.to_string(),
                    _ => return Err(bad("init, rewind, reinit or finetune")),
                })
            }
            "rewind" => {
                fields.rewind = Some(parse_num(value).ok_or_else(|| bad("a whole number"))?)
            }
            "controls" => {
                let mut controls = Controls::NONE;
                for name in value.split(',').take(8) {
                    match name.trim() {
                        "reinit" => controls.reinit = true,
                        "random" => controls.random_prune = true,
                        "oneshot" => controls.one_shot = true,
                        "none" | "" => {}
                        _ => return Err(bad("a list of reinit, random, oneshot (or none)")),
                    }
                }
                c.controls = controls;
            }
            "seed" => c.seed = parse_num(value).ok_or_else(|| bad("a whole number"))?,
            "weights" => c.keep_weights = parse_flag(value).ok_or_else(|| bad("0 or 1"))?,
            "backend" => {
                self.backend = match value {
                    "auto" => BackendPreference::Auto,
                    "gpu" => BackendPreference::Gpu,
                    "cpu" => BackendPreference::Cpu,
                    _ => return Err(bad("auto, gpu or cpu")),
                }
            }
            "lecture" => self.lecture = parse_flag(value).ok_or_else(|| bad("0 or 1"))?,
            _ => return Err(format!("unknown field '{}' ignored", shorten(key))),
        }
        Ok(())
    }

    /// Combine the fields that depend on each other, then validate; every field the config
    /// rejects goes back to the preset's value, named in a notice.
    fn finish(&mut self, fields: &Fields, base: &ExperimentConfig, notices: &mut Vec<String>) {
        let c = &mut self.config;
        if let Some(data) = &fields.data {
            let toy_defaults = match &base.dataset {
                DatasetConfig::Toy2d { noise, samples, .. } => (*noise, *samples),
                _ => (0.1, 1_000),
            };
            let fraud_samples = match &base.dataset {
                DatasetConfig::Fraud { samples } => *samples,
                _ => 20_000,
            };
            c.dataset = match data.as_str() {
                "mnist" => DatasetConfig::Mnist,
                "mnist1d" => DatasetConfig::Mnist1d,
                "csv" => DatasetConfig::Imported {
                    name: fields.file.clone().unwrap_or_default(),
                    fingerprint: fields.fingerprint.clone().unwrap_or_default(),
                },
                "fraud" => DatasetConfig::Fraud {
                    samples: fields.samples.unwrap_or(fraud_samples),
                },
                other => match Toy2d::from_name(other) {
                    Some(shape) => DatasetConfig::Toy2d {
                        shape,
                        noise: fields.noise.unwrap_or(toy_defaults.0),
                        samples: fields.samples.unwrap_or(toy_defaults.1),
                    },
                    None => {
                        notices.push(format!(
                            "data: unknown dataset '{}' (mnist, mnist1d, fraud, circle, xor, \
                             gaussians, spiral, moons); kept the preset's",
                            shorten(other)
                        ));
                        base.dataset.clone()
                    }
                },
            };
        }
        let opt = fields.opt.as_deref().unwrap_or(match base.optimizer {
            Optimizer::Adam { .. } => "adam",
            Optimizer::Sgd { .. } => "sgd",
        });
        let lr = fields.lr.unwrap_or(base.optimizer.lr());
        c.optimizer = match (opt, base.optimizer) {
            ("sgd", Optimizer::Sgd { momentum, .. }) => Optimizer::Sgd {
                lr,
                momentum: fields.momentum.unwrap_or(momentum),
            },
            ("sgd", _) => Optimizer::Sgd {
                lr,
                momentum: fields.momentum.unwrap_or(0.9),
            },
            (_, base_opt) => {
                let Optimizer::Adam {
                    beta1, beta2, eps, ..
                } = (match base_opt {
                    Optimizer::Adam { .. } => base_opt,
                    Optimizer::Sgd { .. } => Optimizer::adam(lr),
                })
                else {
                    unreachable!("matched above")
                };
                Optimizer::Adam {
                    lr,
                    beta1: fields.beta1.unwrap_or(beta1),
                    beta2: fields.beta2.unwrap_or(beta2),
                    eps: fields.eps.unwrap_or(eps),
                }
            }
        };
        let rewind_default = match base.reset {
            ResetMode::Rewind { iteration } => iteration,
            _ => 0,
        };
        match fields.reset.as_deref() {
            Some("init") => c.reset = ResetMode::Init,
            Some("reinit") => c.reset = ResetMode::Reinit,
            Some("finetune") => c.reset = ResetMode::FineTune,
            Some("rewind") => {
                c.reset = ResetMode::Rewind {
                    iteration: fields.rewind.unwrap_or(rewind_default),
                }
            }
            _ => {
                if let (ResetMode::Rewind { .. }, Some(k)) = (c.reset, fields.rewind) {
                    c.reset = ResetMode::Rewind { iteration: k };
                }
            }
        }

        // Each rejected field goes back to the preset's value; one field per pass, and there
        // are fewer fields than passes, so this ends.
        for _ in 0..16 {
            let Err(e) = c.validate() else {
                return;
            };
            notices.push(format!("{}; kept the preset's value", e));
            match e.field {
                "dataset" => c.dataset = base.dataset.clone(),
                "hidden" => c.hidden = base.hidden.clone(),
                "lr" | "momentum" | "betas" | "eps" => c.optimizer = base.optimizer,
                "batch" => c.batch_size = base.batch_size,
                "iterations" => c.iterations = base.iterations,
                "eval-every" => c.eval_every = base.eval_every,
                "rate" => c.pruning = base.pruning.clone(),
                "rounds" | "density" => c.schedule = base.schedule,
                "rewind" => c.reset = base.reset,
                _ => break,
            }
        }
        if c.validate().is_err() {
            notices.push("the link's config could not be repaired; using the preset".into());
            *c = base.clone();
        }
    }
}

/// Fields that are combined after all pairs are read (they depend on each other).
#[derive(Default)]
struct Fields {
    data: Option<String>,
    file: Option<String>,
    fingerprint: Option<String>,
    noise: Option<f32>,
    samples: Option<usize>,
    opt: Option<String>,
    lr: Option<f32>,
    momentum: Option<f32>,
    beta1: Option<f32>,
    beta2: Option<f32>,
    eps: Option<f32>,
    reset: Option<String>,
    rewind: Option<usize>,
}

/// A number as the shortest text that reads back exactly, in exponent form when plain
/// decimals would be long (`1e-30`, not thirty zeros).
fn num<T: std::fmt::Display + std::fmt::LowerExp>(v: T) -> String {
    let plain = v.to_string();
    if plain.len() <= 12 {
        plain
    } else {
        format!("{v:e}")
    }
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

/// At most 40 characters of user input go into a notice.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// Percent-encode everything but unreserved characters and the `,` of lists.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

/// Percent-decode; a malformed escape stays as written, invalid UTF-8 is replaced.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng as _, SeedableRng as _};

    #[test]
    fn every_preset_round_trips_through_its_link() {
        for preset in presets::ALL {
            for lecture in [false, true] {
                let state = LinkState {
                    lecture,
                    backend: BackendPreference::Cpu,
                    ..LinkState::from_preset(preset.id).unwrap()
                };
                let fragment = state.to_fragment();
                let (back, notices) = LinkState::parse(&format!("#{fragment}"), "tiny");
                assert!(notices.is_empty(), "{}: {notices:?}", preset.id);
                assert_eq!(back, state, "{}: {fragment}", preset.id);
            }
        }
    }

    #[test]
    fn edited_fields_round_trip_too() {
        let mut state = LinkState::from_preset("tiny").unwrap();
        state.config.optimizer = Optimizer::Sgd {
            lr: 1e-30,
            momentum: 0.5,
        };
        state.config.reset = ResetMode::Rewind { iteration: 30 };
        state.config.schedule = Schedule::OneShot { density: 0.037 };
        state.config.controls = Controls::NONE;
        state.config.dataset = DatasetConfig::Fraud { samples: 3_000 };
        state.config.seed = u64::MAX;
        state.config.keep_weights = false;
        state.config.pruning.scope = Scope::Global;
        let (back, notices) = LinkState::parse(&state.to_fragment(), "digits-quick");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, state); // Imported data is named by file and fingerprint (its rows are not in the link).
        state.config.dataset = DatasetConfig::Imported {
            name: "my data & more.csv".into(),
            fingerprint: "0123456789abcdef".into(),
        };
        let (back, notices) = LinkState::parse(&state.to_fragment(), "digits-quick");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, state);
        let (_, notices) = LinkState::parse("data=csv&file=x.csv&fp=nothex", "tiny");
        assert!(
            notices.iter().any(|n| n.starts_with("dataset")),
            "{notices:?}"
        );
    }

    #[test]
    fn bad_fields_fall_back_one_by_one_and_are_named() {
        let (state, notices) = LinkState::parse(
            "#preset=spiral&lr=abc&hidden=64,0&batch=60&colour=blue&rounds=500&seed=7&rate=1.5",
            "tiny",
        );
        let preset = LinkState::from_preset("spiral").unwrap().config;
        assert_eq!(state.preset, "spiral");
        assert_eq!(state.config.optimizer, preset.optimizer, "lr kept");
        assert_eq!(state.config.hidden, preset.hidden, "hidden kept");
        assert_eq!(state.config.schedule, preset.schedule, "rounds kept");
        assert_eq!(state.config.pruning, preset.pruning, "rate kept");
        assert_eq!(state.config.batch_size, 60, "good fields are taken");
        assert_eq!(state.config.seed, 7);
        let all = notices.join("\n");
        for field in ["lr", "hidden", "colour", "rounds", "rate"] {
            assert!(all.contains(field), "{field} not named in {all}");
        }
        assert!(!all.contains("seed"), "{all}");
    }

    #[test]
    fn nan_learning_rate_and_unknown_preset_are_refused() {
        let (state, notices) = LinkState::parse("preset=nope&lr=NaN&data=mars", "tiny");
        assert_eq!(state.config, LinkState::from_preset("tiny").unwrap().config);
        let all = notices.join("\n");
        assert!(
            all.contains("preset") && all.contains("lr") && all.contains("data"),
            "{all}"
        );
    }

    #[test]
    fn fuzzed_fragments_never_panic_and_always_give_a_valid_config() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let seeds: Vec<String> = presets::ALL
            .iter()
            .map(|p| LinkState::from_preset(p.id).unwrap().to_fragment())
            .collect();
        let alphabet: Vec<char> = "=&,%#.-+0123456789abcdefxyzADMNé😀 \u{0}e"
            .chars()
            .collect();
        let started = std::time::Instant::now();
        for case in 0..5_000 {
            let fragment: String = if case % 2 == 0 {
                // Mutate a real link: flip, insert and delete characters.
                let mut chars: Vec<char> = seeds[case % seeds.len()].chars().collect();
                for _ in 0..rng.random_range(1..12) {
                    let at = rng.random_range(0..=chars.len());
                    match rng.random_range(0..3) {
                        0 if at < chars.len() => {
                            chars[at] = alphabet[rng.random_range(0..alphabet.len())]
                        }
                        1 => chars.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                        _ if at < chars.len() => {
                            chars.remove(at);
                        }
                        _ => {}
                    }
                }
                chars.into_iter().collect()
            } else {
                // Random text from the link alphabet, sometimes very long.
                let len = if case % 101 == 1 {
                    20_000
                } else {
                    rng.random_range(0..200)
                };
                (0..len)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect()
            };
            let (state, _) = LinkState::parse(&fragment, "digits-quick");
            state
                .config
                .validate()
                .unwrap_or_else(|e| panic!("{fragment:?} gave an invalid config: {e}"));
            // What was read writes back and reads again to the same thing.
            let (again, notices) = LinkState::parse(&state.to_fragment(), "digits-quick");
            assert_eq!(again, state, "{fragment:?}");
            assert!(notices.is_empty(), "{notices:?}");
        }
        // Not a timed test of speed: a bound that only a hang or a blow-up would cross.
        assert!(started.elapsed().as_secs() < 60);
    }

    #[test]
    fn percent_coding_round_trips_and_tolerates_garbage() {
        for s in ["", "a b&c=d%", "é😀", "%%41%4"] {
            assert_eq!(decode(&encode(s)), s);
        }
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%zz%41"), "%zzA");
        assert_eq!(decode("%ff"), "\u{fffd}");
    }
}

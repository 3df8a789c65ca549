//! An experiment as a link: the whole config, its seed and the view flags in the URL fragment,
//! `#preset=lenet-mnist&data=mnist&hidden=300,100&lr=0.0012&…&seed=1`.
//!
//! Every field is written out (not only the ones that differ from the preset), so a link keeps
//! reproducing its experiment even if a preset's recipe changes later. Reading is forgiving:
//! a malformed, out-of-range or unknown field falls back to the preset's value on its own and
//! is named in a notice; nothing in a fragment can panic or hang the parser (fuzzed below).

use super::fields::{self, Draft, Pending};
use super::{ExperimentConfig, ResetMode, presets};
use crate::data::{DatasetConfig, toy2d::Toy2d};
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
    /// A study to run once the experiment has finished.
    pub study: Option<super::studies::StudyRequest>,
    /// How many seeds the experiment runs over (from its own on; 1 = just it).
    pub seeds: usize,
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
            study: p.study.and_then(super::studies::StudyRequest::parse),
            seeds: 1,
        })
    }

    /// The fragment, without the leading `#`: every field of [`fields::FIELDS`] that the
    /// config uses, in the table's order.
    pub fn to_fragment(&self) -> String {
        fields::FIELDS
            .iter()
            .filter_map(|f| (f.write)(self).map(|v| format!("{}={}", f.key, encode(&v))))
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
        let (state, problems) = base.with_fields(&pairs);
        notices.extend(problems.iter().map(Problem::to_string));
        (state, notices)
    }

    /// This state with `pairs` (link keys and values) applied on top, and what could not be
    /// taken. Each field that cannot be read or that fails its check keeps this state's value
    /// on its own; the others are all taken.
    pub fn with_fields(&self, pairs: &[(String, String)]) -> (Self, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut draft = Draft {
            state: self.clone(),
            pending: Pending::default(),
        };
        for (key, value) in pairs {
            let value = value.trim();
            match fields::find(key) {
                None => problems.push(Problem::Unknown { key: shorten(key) }),
                Some(field) => {
                    if (field.read)(&mut draft, value).is_none() {
                        problems.push(Problem::Unreadable {
                            key: field.key,
                            value: shorten(value),
                            values: field.values,
                        });
                    }
                }
            }
        }
        let Draft { mut state, pending } = draft;
        finish(&mut state.config, &pending, &self.config);
        // Each field whose check fails goes back to this state's value; one field per pass,
        // and there are fewer fields than passes, so this ends.
        for _ in 0..fields::FIELDS.len() {
            let Err(e) = state.config.validate() else {
                break;
            };
            let field = fields::for_check(e.field);
            problems.push(Problem::Invalid(e));
            match field {
                Some(field) => (field.revert)(&mut state, self),
                None => break,
            }
        }
        if state.config.validate().is_err() {
            problems.push(Problem::Unrepairable);
            state.config = self.config.clone();
        }
        (state, problems)
    }
}

/// A field of a link (or a CLI flag) that was not taken.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    Unknown {
        key: String,
    },
    Unreadable {
        key: &'static str,
        value: String,
        values: &'static str,
    },
    /// Read, but the config's check refused it.
    Invalid(super::ConfigError),
    Unrepairable,
}

/// As a link's notice says it.
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unknown { key } => write!(f, "unknown field '{key}' ignored"),
            Problem::Unreadable { key, value, values } => {
                write!(
                    f,
                    "{key}: '{value}' is not {values}; kept the preset's value"
                )
            }
            Problem::Invalid(e) => write!(f, "{e}; kept the preset's value"),
            Problem::Unrepairable => {
                write!(
                    f,
                    "the link's config could not be repaired; using the preset"
                )
            }
        }
    }
}

/// Combine the fields that depend on each other.
fn finish(c: &mut ExperimentConfig, fields: &Pending, base: &ExperimentConfig) {
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
            // `data_names` lists what the data field accepts: the rest are 2-D shapes.
            other => match Toy2d::from_name(other) {
                Some(shape) => DatasetConfig::Toy2d {
                    shape,
                    noise: fields.noise.unwrap_or(toy_defaults.0),
                    samples: fields.samples.unwrap_or(toy_defaults.1),
                },
                None => base.dataset.clone(),
            },
        };
    } else {
        // Noise and samples alone edit the preset's dataset.
        match &mut c.dataset {
            DatasetConfig::Toy2d { noise, samples, .. } => {
                *noise = fields.noise.unwrap_or(*noise);
                *samples = fields.samples.unwrap_or(*samples);
            }
            DatasetConfig::Fraud { samples } => *samples = fields.samples.unwrap_or(*samples),
            _ => {}
        }
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
            let (beta1, beta2, eps) = match base_opt {
                Optimizer::Adam {
                    beta1, beta2, eps, ..
                } => (beta1, beta2, eps),
                Optimizer::Sgd { .. } => match Optimizer::adam(lr) {
                    Optimizer::Adam {
                        beta1, beta2, eps, ..
                    } => (beta1, beta2, eps),
                    Optimizer::Sgd { .. } => unreachable!("Optimizer::adam is Adam"),
                },
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
}

/// A number as the shortest text that reads back exactly, in exponent form when plain
/// decimals would be long (`1e-30`, not thirty zeros).
pub(super) fn num<T: std::fmt::Display + std::fmt::LowerExp>(v: T) -> String {
    let plain = v.to_string();
    if plain.len() <= 12 {
        plain
    } else {
        format!("{v:e}")
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
    use crate::experiment::{Controls, Schedule};
    use crate::prune::Scope;
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

    /// Two states that between them write every field of the table.
    fn specimens() -> Vec<LinkState> {
        let mut toy = LinkState::from_preset("tiny").unwrap();
        toy.config.optimizer = Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.5,
        };
        toy.config.schedule = Schedule::OneShot { density: 0.2 };
        toy.config.reset = ResetMode::Rewind { iteration: 20 };
        toy.config.pruning.conv_rate = Some(0.15);
        toy.lecture = true;
        toy.config.granularity = crate::prune::Granularity::TWO_FOUR;
        toy.config.early_bird = Some(0.2);
        toy.seeds = 3;
        toy.study = Some(crate::experiment::studies::StudyRequest::Stability {
            round: 2,
            branch_at: vec![0, 20],
        });
        let mut csv = LinkState::from_preset("spiral").unwrap();
        csv.config.dataset = DatasetConfig::Imported {
            name: "my data.csv".into(),
            fingerprint: "0123456789abcdef".into(),
        };
        csv.backend = BackendPreference::Cpu;
        csv.config.method = crate::prune::PruneMethod::Synflow;
        // Structured, with the unstructured control beside it.
        let mut units = LinkState::from_preset("tiny").unwrap();
        units.config.granularity = crate::prune::Granularity::Neurons;
        units.config.controls.unstructured = true;
        vec![toy, csv, units]
    }

    fn pairs(state: &LinkState) -> Vec<(String, String)> {
        state
            .to_fragment()
            .split('&')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (decode(k), decode(v))
            })
            .collect()
    }

    #[test]
    fn a_bad_value_in_any_field_keeps_every_other_field_of_the_link() {
        for field in fields::FIELDS.iter().filter(|f| f.key != "preset") {
            let state = specimens()
                .into_iter()
                .find(|s| (field.write)(s).is_some())
                .unwrap_or_else(|| panic!("no specimen writes {}", field.key));
            // Text no field reads; a file name is any text, so a too-long one (refused by
            // the dataset's check instead).
            let bad = if field.key == "file" {
                "a".repeat(100)
            } else {
                "x!y".to_string()
            };
            let mut edited = pairs(&state);
            for (k, v) in &mut edited {
                if k == field.key {
                    *v = bad.clone();
                }
            }
            let (back, problems) = state.with_fields(&edited);
            assert_eq!(problems.len(), 1, "{}: {problems:?}", field.key);
            match &problems[0] {
                Problem::Unreadable { key, .. } => assert_eq!(*key, field.key),
                Problem::Invalid(e) => assert!(
                    fields::for_check(e.field)
                        .is_some_and(|f| std::ptr::fn_addr_eq(f.revert, field.revert)),
                    "{}: {e}",
                    field.key
                ),
                other => panic!("{}: {other:?}", field.key),
            }
            // The bad field keeps its value, and so does every other field.
            for other in fields::FIELDS {
                assert_eq!(
                    (other.write)(&back),
                    (other.write)(&state),
                    "{} changed when {} was bad",
                    other.key,
                    field.key
                );
            }
        }
    }

    #[test]
    fn the_readme_lists_every_field_as_the_table_declares_it() {
        let readme = include_str!("../../README.md");
        let table = fields::markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's field table differs from src/experiment/fields.rs; it should read:\n{table}"
        );
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

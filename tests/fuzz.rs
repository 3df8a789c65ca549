//! Property tests (proptest) of everything that reads input from outside: the link parser, the
//! CSV reader, the results and ticket file readers and config validation. Each property says
//! what must hold for every input, not only that nothing panics: a link is repaired into a
//! valid config that writes itself back unchanged, an accepted file is sound by checks made
//! here independently of the reader's own, every refusal names its field or place.
//!
//! CI runs a seeded few thousand cases of each; `cargo xtask fuzz` runs 100,000 each in a
//! release build (`FUZZ_CASES`, `FUZZ_SEED`) and prints the counts.

use std::sync::Arc;

use lottery_lab::data::csv;
use lottery_lab::experiment::fields::{self, FIELDS};
use lottery_lab::experiment::io::{self, TicketFile};
use lottery_lab::experiment::link::LinkState;
use lottery_lab::experiment::{Experiment, ExperimentConfig, ExperimentRecord, presets};
use lottery_lab::train::CpuEngine;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Cases per property: `FUZZ_CASES`, or `ci` (what CI runs).
fn cases(ci: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci)
}

/// A seeded runner (`FUZZ_SEED`, default 1): the same cases on every machine.
fn runner(cases: u32) -> TestRunner {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4_096,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Runs `property` over `strategy` and prints how many cases were accepted and refused.
fn fuzz<S: Strategy>(
    name: &str,
    ci_cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let accepted = std::sync::atomic::AtomicU32::new(0);
    let total = cases(ci_cases);
    let result = runner(total).run(&strategy, |input| {
        if property(input)? {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let accepted = accepted.into_inner();
    println!(
        "fuzz {name}: {total} cases, 0 panics, {accepted} accepted, {} refused with a message",
        total - accepted
    );
}

/// Byte edits of a text: (where, what: 0 replace, 1 insert, 2 delete, 3 cut, with which).
fn edits(alphabet: &'static [u8]) -> impl Strategy<Value = Vec<(Index, u8, u8)>> {
    prop::collection::vec((any::<Index>(), 0u8..4, select(alphabet)), 1..10)
}

fn apply(text: &str, edits: &[(Index, u8, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for (at, op, with) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = at.index(bytes.len());
        match op {
            0 => bytes[i] = *with,
            1 => bytes.insert(i, *with),
            2 => {
                bytes.remove(i);
            }
            _ => bytes.truncate(i),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What a notice may begin with: a link key, a check's field, or the parser's own words.
fn names_its_field(notice: &str) -> bool {
    let head = notice.split([':', ' ']).next().unwrap_or("");
    FIELDS
        .iter()
        .any(|f| f.key == head || f.checks.contains(&head))
        || ["preset", "study", "seeds", "backend", "lecture", "dataset"].contains(&head)
        || notice.starts_with("unknown field '")
        || notice.starts_with("the link")
}

#[test]
fn links_repair_into_a_valid_config_that_writes_itself_back() {
    let fragments: Vec<String> = presets::ALL
        .iter()
        .map(|p| LinkState::from_preset(p.id).unwrap().to_fragment())
        .collect();
    let keys: Vec<&'static str> = FIELDS.iter().map(|f| f.key).collect();
    let value = prop_oneof![
        "[-0-9.e+]{0,12}",
        "[a-z0-9:,%-]{0,16}",
        any::<f64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        ".{0,8}",
    ];
    let pairs = prop::collection::vec((select(keys), value), 0..12).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    });
    let mutated = (
        select(fragments),
        edits(b"=&,%#.-+0123456789abcxyzADM:e \x00"),
    )
        .prop_map(|(fragment, edits)| apply(&fragment, &edits));
    let strategy = prop_oneof![pairs, mutated, ".{0,200}", "[=&a-z0-9.%]{4000,4200}"];
    fuzz("link", 3_000, strategy, |fragment| {
        let (state, notices) = LinkState::parse(&fragment, "digits-quick");
        prop_assert!(
            state.config.validate().is_ok(),
            "{fragment:?} → invalid config"
        );
        for notice in &notices {
            prop_assert!(names_its_field(notice), "{fragment:?}: notice {notice:?}");
        }
        // What the page puts back in the address bar reads as the same state, silently.
        let written = state.to_fragment();
        let (again, more) = LinkState::parse(&written, "digits-quick");
        prop_assert!(more.is_empty(), "{written:?} → {more:?}");
        prop_assert_eq!(&again, &state, "{:?} did not write itself back", written);
        Ok(notices.is_empty())
    });
}

#[test]
fn csv_files_are_read_whole_or_refused_with_their_line() {
    // Files large enough to split (40 rows and more), so that edits can leave them readable.
    let rows = |row: &dyn Fn(usize) -> String| (0..48).map(row).collect::<String>();
    let good = format!(
        "label,a,b\n{}",
        rows(&|i| format!("{},{}.5,{}e-1\n", i % 2, i, 48 - i))
    );
    let quoted = format!(
        "\"class\",\"x, y\",z\r\n{}",
        rows(&|i| format!("{},{i},-{i}\r\n", ["yes", "no"][i % 2]))
    );
    let text = prop_oneof![
        (
            select(vec![good, quoted]),
            edits(b"0123456789.,-e\n\r\"a ;")
        )
            .prop_map(|(text, edits)| apply(&text, &edits)),
        "[0-9.,e\\-\n\" a]{0,300}",
    ];
    fuzz("csv", 3_000, text, |text| {
        match csv::parse("fuzzed.csv", &text) {
            Err(e) => {
                let message = e.to_string();
                prop_assert!(
                    // A line, or what the whole file lacks (rows, a second class).
                    message.starts_with("line ")
                        || message.starts_with("the file")
                        || message.contains("rows")
                        || message.contains("class"),
                    "{text:?}: {message}"
                );
                Ok(false)
            }
            Ok(data) => {
                // Sound by our own count: every row a label in range and finite features.
                let all = &data.all;
                prop_assert!(!all.is_empty() && all.input_dim() > 0);
                prop_assert!(all.features.iter().all(|v| v.is_finite()));
                prop_assert!(
                    all.labels
                        .iter()
                        .all(|&l| usize::from(l) < data.class_names.len())
                );
                let splits = data.splits(3);
                let rows = splits.train.len() + splits.val.len() + splits.test.len();
                prop_assert_eq!(rows, all.len());
                Ok(true)
            }
        }
    });
}

/// The tiny preset to round 2 as its results file.
fn tiny_record() -> ExperimentRecord {
    let mut config = (presets::find("tiny").unwrap().config)();
    config.schedule = lottery_lab::experiment::Schedule::Iterative { rounds: 2 };
    config.iterations = 40;
    config.eval_every = 20;
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    let mut experiment = Experiment::new(config, data.clone(), Box::new(CpuEngine::new(data)))
        .expect("the tiny preset starts");
    experiment.run_to_end(|_, _| {});
    experiment.record().clone()
}

const JSON_BYTES: &[u8] = b"0123456789,:{}[]\"-e.x tfn";

#[test]
fn results_files_are_accepted_only_when_sound() {
    let file = serde_json::to_string(&tiny_record()).unwrap();
    let strategy = edits(JSON_BYTES).prop_map(move |edits| apply(&file, &edits));
    fuzz("results file", 1_500, strategy, |text| {
        let Ok(record) = io::parse_record(&text) else {
            let message = io::parse_record(&text).unwrap_err().to_string();
            prop_assert!(!message.is_empty());
            return Ok(false);
        };
        // Checked here on our own, not by the reader's check: shapes, densities, rounds.
        prop_assert!(record.config.validate().is_ok());
        let shapes = record.spec.layer_shapes();
        prop_assert!(record.rounds.len() <= record.config.rounds() + 1);
        for round in &record.rounds {
            for run in &round.runs {
                let got: Vec<_> = run.mask.layers.iter().map(|l| l.dim()).collect();
                prop_assert_eq!(&got, &shapes);
                prop_assert!((run.density - run.mask.density()).abs() < 1e-9);
            }
        }
        // It writes back to a file that reads as itself.
        let again = io::parse_record(&serde_json::to_string(&record).unwrap()).ok();
        prop_assert_eq!(again.as_ref(), Some(&record));
        Ok(true)
    });
}

#[test]
fn ticket_files_are_accepted_only_when_their_parts_fit() {
    let ticket = io::ticket(&tiny_record(), 1).unwrap();
    let file = serde_json::to_string(&ticket).unwrap();
    // A results file is not a ticket, and says so.
    let results = serde_json::to_string(&tiny_record()).unwrap();
    assert!(matches!(
        io::parse_ticket(&results),
        Err(io::FileError::NotTicket)
    ));
    let strategy = edits(JSON_BYTES).prop_map(move |edits| apply(&file, &edits));
    fuzz("ticket file", 1_500, strategy, |text| {
        let ticket: TicketFile = match io::parse_ticket(&text) {
            Ok(t) => t,
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                return Ok(false);
            }
        };
        let shapes = ticket.spec.layer_shapes();
        let mask: Vec<_> = ticket.mask.layers.iter().map(|l| l.dim()).collect();
        let weights: Vec<_> = ticket
            .theta_init
            .layers
            .iter()
            .map(|l| l.weight.dim())
            .collect();
        prop_assert_eq!(&mask, &shapes);
        prop_assert_eq!(&weights, &shapes);
        prop_assert!((ticket.density - ticket.mask.density()).abs() < 1e-9);
        Ok(true)
    });
}

/// A number as a config field may hold it: edge values, huge ones, small fractions.
fn number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        (0u64..10).prop_map(serde_json::Value::from),
        any::<u32>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        (-2.0f64..2.0).prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |v| v.is_finite())
            .prop_map(serde_json::Value::from),
    ]
}

/// (the config's key, a value of the shape it takes, with figures anywhere).
fn config_edit() -> impl Strategy<Value = (&'static str, serde_json::Value)> {
    use serde_json::json;
    let tokens = vec![
        "0",
        "1",
        "300",
        "4096",
        "4097",
        "conv8k3p1",
        "conv0k3",
        "conv8k3s5p1",
        "conv1d4k5",
        "pool2",
        "pool0",
        "flatten",
    ];
    let whole = prop_oneof![(0u64..10), any::<u32>().prop_map(u64::from), any::<u64>()];
    prop_oneof![
        prop::collection::vec(select(tokens), 0..10).prop_map(|t| ("hidden", json!(t))),
        (
            select(vec!["batch_size", "iterations", "eval_every", "seed"]),
            whole.clone()
        )
            .prop_map(|(k, v)| (k, json!(v))),
        prop_oneof![number(), Just(json!(null))].prop_map(|v| ("early_bird", v)),
        (number(), number(), number(), number()).prop_map(|(lr, b1, b2, eps)| {
            (
                "optimizer",
                json!({"kind": "adam", "lr": lr, "beta1": b1, "beta2": b2, "eps": eps}),
            )
        }),
        (number(), number())
            .prop_map(|(lr, m)| ("optimizer", json!({"kind": "sgd", "lr": lr, "momentum": m}))),
        (number(), number(), prop_oneof![number(), Just(json!(null))]).prop_map(|(r, o, c)| {
            let scope = "layerwise";
            (
                "pruning",
                json!({"scope": scope, "rate": r, "output_rate": o, "conv_rate": c}),
            )
        }),
        whole
            .clone()
            .prop_map(|n| ("schedule", json!({"kind": "iterative", "rounds": n}))),
        number().prop_map(|d| ("schedule", json!({"kind": "one-shot", "density": d}))),
        whole.prop_map(|k| ("reset", json!({"kind": "rewind", "iteration": k}))),
        (0u64..9, 0u64..9)
            .prop_map(|(n, m)| ("granularity", json!({"kind": "n-of-m", "n": n, "m": m}))),
        select(vec![
            "snip",
            "grasp",
            "synflow",
            "random",
            "magnitude",
            "init-magnitude"
        ])
        .prop_map(|m| ("method", json!(m))),
    ]
}

#[test]
fn config_checks_name_a_field_the_link_can_revert() {
    let configs: Vec<serde_json::Value> = presets::ALL
        .iter()
        .map(|p| serde_json::to_value((p.config)()).unwrap())
        .collect();
    let strategy = (select(configs), prop::collection::vec(config_edit(), 1..4));
    fuzz("config", 3_000, strategy, |(mut config, edits)| {
        for (key, value) in edits {
            config[key] = value;
        }
        // (A figure too large for its field's type is serde's refusal, with its place.)
        let config = match serde_json::from_value::<ExperimentConfig>(config) {
            Ok(config) => config,
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                return Ok(false);
            }
        };
        match config.validate() {
            Ok(()) => {
                prop_assert!(config.hidden.len() <= lottery_lab::experiment::MAX_LAYERS);
                prop_assert!(config.batch_size > 0 && config.iterations > 0);
                Ok(true)
            }
            Err(e) => {
                prop_assert!(
                    fields::for_check(e.field).is_some() || e.field == "dataset",
                    "{e}: no link field reverts {:?}",
                    e.field
                );
                Ok(false)
            }
        }
    });
}

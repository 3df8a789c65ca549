//! What the presets tell the hall, checked on their own runs in CI: the claims of
//! `src/experiment/claims.rs` on each cheap preset at full length over seeds 1-3 (the same
//! figures `lottery-lab check-presets` prints), and on shortened runs of the costly ones where
//! the claim's quantifier allows it ("from 23% down" holds or fails on fewer rounds).

use std::sync::Arc;

use lottery_lab::data::{DatasetConfig, mnist};
use lottery_lab::experiment::{Experiment, ExperimentConfig, ExperimentRecord, Schedule, presets};
use lottery_lab::train::CpuEngine;

/// The preset's runs for `seeds`, each config changed by `shorten` first.
fn run_preset(
    id: &str,
    seeds: &[u64],
    shorten: fn(&mut ExperimentConfig),
) -> Vec<ExperimentRecord> {
    let preset = presets::find(id).expect("a preset");
    seeds
        .iter()
        .map(|&seed| {
            let mut config = (preset.config)();
            config.seed = seed;
            config.keep_weights = false;
            shorten(&mut config);
            let digits = matches!(config.dataset, DatasetConfig::Mnist)
                .then(|| mnist::decode(mnist::BUNDLED).unwrap());
            let data = Arc::new(config.dataset.load(seed, digits.as_ref()).unwrap());
            let engine = Box::new(CpuEngine::new(data.clone()));
            let mut experiment = Experiment::new(config, data, engine).unwrap();
            experiment.run_to_end(|_, _| {});
            experiment.record().clone()
        })
        .collect()
}

/// Every claim of the preset holds on `records`; the figures are printed either way.
fn assert_claims_hold(id: &str, records: &[ExperimentRecord]) {
    let preset = presets::find(id).expect("a preset");
    assert!(!preset.claims.is_empty(), "{id} makes no checked claim");
    let mut failed = Vec::new();
    for claim in preset.claims {
        let verdict = (claim.check)(records);
        println!(
            "{id}: {}: {} — {}",
            claim.says, verdict.holds, verdict.figures
        );
        if !verdict.holds {
            failed.push(format!("{}: {}", claim.says, verdict.figures));
        }
    }
    assert!(failed.is_empty(), "{id}: {failed:#?}");
}

fn as_is(_: &mut ExperimentConfig) {}

#[test]
fn spiral_shows_what_its_text_says() {
    assert_claims_hold("spiral", &run_preset("spiral", &[1, 2, 3], as_is));
}

#[test]
fn fraud_shows_what_its_text_says() {
    assert_claims_hold("fraud", &run_preset("fraud", &[1, 2, 3], as_is));
}

#[test]
fn find_the_cliff_shows_what_its_text_says() {
    assert_claims_hold(
        "find-the-cliff",
        &run_preset("find-the-cliff", &[1, 2, 3], as_is),
    );
}

/// Shortened to 8 rounds (down to 18.5%) and the two controls the claims read.
#[test]
fn mnist1d_shows_what_its_text_says_down_to_18_percent() {
    let records = run_preset("mnist1d", &[1, 2, 3], |config| {
        config.schedule = Schedule::Iterative { rounds: 8 };
        config.controls.one_shot = false;
    });
    assert_claims_hold("mnist1d", &records);
}

/// Why reset matters and one-shot vs iterative are the quick-digits recipe with one control
/// each (every control trains on its own, so their runs are the same as there): seed 1 at full
/// length, both presets' claims on the one record that holds both controls.
#[test]
fn the_digits_presets_show_what_their_texts_say_on_seed_1() {
    let records = run_preset("digits-quick", &[1], |config| {
        config.controls.random_prune = false;
    });
    for id in ["why-reset", "one-shot-vs-iterative"] {
        assert_claims_hold(id, &records);
    }
}

/// Search vs shrink on seed 1 down to 8.3% (7 rounds): the small dense nets are cheap, the
/// ticket and its re-initialised mask cost a quick-digits round each.
#[test]
fn search_vs_shrink_shows_what_its_text_says_on_seed_1_down_to_8_percent() {
    let records = run_preset("search-vs-shrink", &[1], |config| {
        config.schedule = Schedule::Iterative { rounds: 7 };
    });
    assert_claims_hold("search-vs-shrink", &records);
}

//! Files out and in: export → import reproduces the record; a saved experiment continues
//! exactly; imported files are checked completely (fuzzed) before anything uses them.

use std::sync::Arc;

use lottery_lab::experiment::io::{self, TicketFile};
use lottery_lab::experiment::{Experiment, ExperimentConfig, ResetMode, Status, presets};
use lottery_lab::train::CpuEngine;
use rand::{Rng as _, SeedableRng as _};

fn tiny() -> ExperimentConfig {
    (presets::find("tiny").unwrap().config)()
}

fn experiment(config: ExperimentConfig) -> Experiment {
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    Experiment::new(config, data.clone(), Box::new(CpuEngine::new(data))).unwrap()
}

fn resumed(record: lottery_lab::experiment::ExperimentRecord) -> Experiment {
    let config = record.config.clone();
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    Experiment::resume(record, data.clone(), Box::new(CpuEngine::new(data))).unwrap()
}

/// Run until `rounds` rounds are recorded, then return the record as a file would hold it.
fn interrupted(config: ExperimentConfig, rounds: usize) -> String {
    let mut exp = experiment(config);
    while exp.record().rounds.len() < rounds {
        exp.advance(7);
    }
    serde_json::to_string(exp.record()).unwrap()
}

#[test]
fn a_saved_experiment_continues_exactly_as_if_never_interrupted() {
    for reset in [ResetMode::Init, ResetMode::Rewind { iteration: 50 }] {
        let config = ExperimentConfig { reset, ..tiny() };
        let mut whole = experiment(config.clone());
        whole.run_to_end(|_, _| {});
        let file = interrupted(config, 2);
        let record = io::parse_record(&file).unwrap();
        assert_eq!(record.rounds.len(), 2);
        assert_eq!(record.status, Status::Running);
        let mut continued = resumed(record);
        assert!(!continued.is_done());
        continued.run_to_end(|_, _| {});
        assert_eq!(
            continued.record().rounds,
            whole.record().rounds,
            "{reset:?}"
        );
        assert_eq!(continued.record().status, Status::Finished);
    }
}

#[test]
fn export_then_import_reproduces_a_finished_record() {
    let mut exp = experiment(tiny());
    exp.run_to_end(|_, _| {});
    let json = serde_json::to_string(exp.record()).unwrap();
    let back = io::parse_record(&json).unwrap();
    assert_eq!(&back, exp.record());
    // Viewing it again: nothing left to train, the same record on screen.
    let mut viewed = resumed(back);
    assert!(viewed.is_done());
    assert_eq!(viewed.advance(1_000).steps_done, 0);
    assert_eq!(viewed.record().rounds, exp.record().rounds);
    // The CSV has a header and a row per run.
    let csv = exp.record().to_csv();
    let runs: usize = exp.record().rounds.iter().map(|r| r.runs.len()).sum();
    assert_eq!(csv.lines().count(), runs + 1);
}

#[test]
fn a_record_without_weights_is_viewable_but_says_it_cannot_continue() {
    let file = interrupted(tiny(), 2);
    let mut record = io::parse_record(&file).unwrap().without_weights();
    record.theta_init = None;
    let exp = resumed(record);
    assert!(
        matches!(&exp.record().status, Status::Stopped { reason } if reason.contains("not continued"))
    );
    assert_eq!(exp.record().rounds.len(), 2);
}

#[test]
fn the_ticket_file_holds_the_mask_and_theta_0() {
    let mut exp = experiment(tiny());
    exp.run_to_end(|_, _| {});
    let ticket = io::ticket(exp.record(), 2).unwrap();
    let json = serde_json::to_string(&ticket).unwrap();
    let back: TicketFile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ticket);
    assert_eq!(&back.theta_init, exp.theta_init());
    let run = exp.record().rounds[2]
        .run(lottery_lab::experiment::RunKind::Ticket)
        .unwrap();
    assert_eq!(back.mask, run.mask);
    assert!((back.density - 0.25).abs() < 0.05, "{}", back.density);
    // It says how its mask was chosen: here by IMP; under SNIP, SNIP at initialisation.
    assert!(
        back.chosen_by
            .starts_with("iterative magnitude pruning, round 2"),
        "{}",
        back.chosen_by
    );
    let mut snip = exp.record().config.clone();
    snip.method = lottery_lab::prune::PruneMethod::Snip;
    assert!(io::chosen_by(&snip, 3).starts_with("SNIP at initialisation (round 3)"));
    snip.method = lottery_lab::prune::PruneMethod::Magnitude;
    snip.granularity = lottery_lab::prune::Granularity::TWO_FOUR;
    assert!(io::chosen_by(&snip, 1).starts_with("2:4 sparsity"));
    // Without kept weights theta_0 is drawn again from the seed: the same values.
    let mut light = exp.record().without_weights();
    light.theta_init = None;
    assert_eq!(&io::ticket(&light, 2).unwrap().theta_init, exp.theta_init());
    assert!(io::ticket(exp.record(), 9).is_err());
    // A ticket is not a results file, and the import says so.
    assert!(
        io::parse_record(&json)
            .unwrap_err()
            .to_string()
            .contains("ticket file")
    );
}

#[test]
fn bad_files_name_their_first_problem_and_never_panic() {
    let file = interrupted(tiny(), 2);
    // Syntax: line and column.
    let broken = file.replacen("\"rounds\"", "\"rounds\" oops", 1);
    let err = io::parse_record(&broken).unwrap_err().to_string();
    assert!(err.contains("line 1 column"), "{err}");
    // Content: the field.
    let mut value: serde_json::Value = serde_json::from_str(&file).unwrap();
    value["config"]["optimizer"]["lr"] = serde_json::json!(-1.0);
    let err = io::parse_record(&value.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("config.lr"), "{err}");
    let mut value: serde_json::Value = serde_json::from_str(&file).unwrap();
    value["rounds"][1]["runs"][0]["density"] = serde_json::json!(0.9);
    let err = io::parse_record(&value.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("rounds[1].runs[0].density"), "{err}");
    let mut value: serde_json::Value = serde_json::from_str(&file).unwrap();
    value["format"] = serde_json::json!("something/2");
    assert!(
        io::parse_record(&value.to_string())
            .unwrap_err()
            .to_string()
            .starts_with("format")
    );
    assert!(io::parse_record("").is_err());
    assert!(io::parse_record("[]").is_err());

    // Fuzz: thousands of mutated files. Each is refused with a message or, when the mutation
    // was harmless, accepted only if it also passes the full check (and then resumes).
    let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
    let bytes = file.as_bytes();
    let mut accepted = 0;
    for case in 0..3_000 {
        let mut mutated = bytes.to_vec();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..mutated.len());
            match case % 3 {
                0 => mutated[at] = b"0123456789,:{}[]\"-e.x "[rng.random_range(0..22)],
                1 => {
                    mutated.remove(at);
                }
                _ => mutated.truncate(at),
            }
        }
        let text = String::from_utf8_lossy(&mutated);
        if let Ok(record) = io::parse_record(&text) {
            accepted += 1;
            let config = record.config.clone();
            if let Ok(data) = config.dataset.load(config.seed, None) {
                let data = Arc::new(data);
                // Either it resumes or it explains why not: no panic either way.
                let _ = Experiment::resume(record, data.clone(), Box::new(CpuEngine::new(data)));
            }
        }
    }
    assert!(accepted < 3_000, "the fuzzer changed nothing that matters");
}

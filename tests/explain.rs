//! Explanations of the dense network and its ticket: integrated gradients are complete (they
//! sum to the logit's change from the blank baseline, within the tolerance, for MLPs and conv
//! nets), the ticket has fewer live paths, the work slices without changing the result, and
//! bad requests are refused with reasons.

mod common;

use lottery_lab::experiment::studies::explain::cross_seed_agreement;
use lottery_lab::experiment::studies::{
    ExplainConfig, ExplainError, ExplainRecord, ExplainStudy, Subject,
};
use lottery_lab::experiment::{ExperimentConfig, ExperimentRecord, Schedule, Status, presets};
use lottery_lab::model::attribution::COMPLETENESS_TOLERANCE;
use lottery_lab::model::parse_layers;

/// Quick digits, shortened: LeNet-300-100, 200 iterations a round, 2 rounds (~49% density).
fn digits(seed: u64) -> ExperimentConfig {
    let mut config = (presets::find("digits-quick").unwrap().config)();
    config.iterations = 200;
    config.eval_every = 100;
    config.schedule = Schedule::Iterative { rounds: 2 };
    config.controls.random_prune = true;
    config.seed = seed;
    config
}

fn imp(config: &ExperimentConfig) -> ExperimentRecord {
    let mut experiment = common::cpu_experiment(config.clone());
    experiment.run_to_end(|_, _| {});
    let record = experiment.record().clone();
    assert_eq!(record.status, Status::Finished);
    record
}

fn explain(record: &ExperimentRecord, config: ExplainConfig) -> ExplainRecord {
    let data = common::data_for(&record.config);
    let mut study = ExplainStudy::new(config, data, record).unwrap();
    study.run_to_end(|_| {}).clone()
}

#[test]
fn the_dense_net_its_ticket_and_random_pruning_are_explained_completely() {
    let record = imp(&digits(1));
    let result = explain(&record, ExplainConfig::new(2, vec![0, 7]));
    assert_eq!(result.status, Status::Finished);
    assert_eq!(result.input.label(), "28×28×1");
    let subjects: Vec<Subject> = result.networks.iter().map(|n| n.subject).collect();
    assert_eq!(
        subjects,
        [Subject::Dense, Subject::Ticket, Subject::RandomPrune]
    );
    let data = common::data_for(&record.config);
    for net in &result.networks {
        assert_eq!(net.examples.len(), 2);
        for e in &net.examples {
            assert_eq!(usize::from(e.label), e.integrated.class);
            assert_eq!(e.label, data.test.labels[e.index]);
            let sum: f32 = e.integrated.values.iter().sum();
            assert!(
                e.integrated.completeness_error() <= COMPLETENESS_TOLERANCE,
                "{:?} example {}: Σ IG = {sum}, F(x) − F(x′) = {} (error {}, {} intervals)",
                net.subject,
                e.index,
                e.integrated.output - e.integrated.baseline_output,
                e.integrated.completeness_error(),
                e.integrated.intervals
            );
            assert_eq!(e.neighbour_agreement.len(), 4);
            assert!(
                e.neighbour_agreement
                    .iter()
                    .all(|a| (0.0..=1.0).contains(a))
            );
            assert!((0.0..=1.0).contains(&e.top_share()));
            // Blank pixels get nothing from either method: (x − 0) = 0 there.
            let x = data.test.features.row(e.index);
            for (i, &v) in x.iter().enumerate() {
                if v == 0.0 {
                    assert_eq!(e.integrated.values[i], 0.0);
                    assert_eq!(e.gradient_input.values[i], 0.0);
                }
            }
        }
    }
    let dense = result.network(Subject::Dense).unwrap();
    let ticket = result.network(Subject::Ticket).unwrap();
    assert_eq!(dense.connectivity.paths, 784.0 * 300.0 * 100.0 * 10.0);
    assert_eq!(dense.connectivity.live_inputs, 784);
    assert!(ticket.connectivity.paths < dense.connectivity.paths / 4.0);
    assert!(ticket.connectivity.live_inputs <= 784);
    assert!((ticket.density - record.rounds[2].density()).abs() < 1e-12);
    // The file: JSON round trip, its check, a CSV row per network and example.
    let json = serde_json::to_string(&result).unwrap();
    let back: ExplainRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, result);
    back.check().unwrap();
    assert_eq!(result.to_csv().lines().count(), 1 + 3 * 2);
}

#[test]
fn integrated_gradients_are_complete_for_a_conv_net() {
    let mut config = digits(2);
    config.hidden = parse_layers("conv4k5s2, pool2, flatten, 32").unwrap();
    config.schedule = Schedule::Iterative { rounds: 1 };
    config.iterations = 100;
    let record = imp(&config);
    let result = explain(
        &record,
        ExplainConfig {
            neighbours: 0,
            ..ExplainConfig::new(1, vec![3, 4, 5])
        },
    );
    for net in &result.networks {
        for e in &net.examples {
            assert!(
                e.integrated.completeness_error() <= COMPLETENESS_TOLERANCE,
                "{:?} example {}: error {}",
                net.subject,
                e.index,
                e.integrated.completeness_error()
            );
            assert_eq!(e.mean_neighbour_agreement(), 1.0);
        }
    }
}

#[test]
fn slicing_the_work_does_not_change_the_result() {
    let record = imp(&digits(1));
    let config = ExplainConfig::new(1, vec![11]);
    let whole = explain(&record, config.clone());
    let data = common::data_for(&record.config);
    let mut study = ExplainStudy::new(config, data, &record).unwrap();
    let mut calls = 0;
    while !study.is_done() {
        let progress = study.advance(1);
        assert!(progress.fraction() <= 1.0);
        calls += 1;
        assert!(calls < 10_000, "no progress");
    }
    // 3 networks × 5 inputs, each at least 3 chunks (the ends, 15 points, 16 points).
    assert!(calls >= 3 * 5 * 3, "{calls} calls");
    assert_eq!(study.record(), &whole);
}

#[test]
fn seeds_give_their_own_networks_and_an_agreement_between_them() {
    let records: Vec<ExplainRecord> = [1, 2]
        .iter()
        .map(|&seed| explain(&imp(&digits(seed)), ExplainConfig::new(2, vec![0, 1])))
        .collect();
    assert_ne!(records[0].networks[0], records[1].networks[0]);
    for subject in [Subject::Dense, Subject::Ticket] {
        let agreement = cross_seed_agreement(&records, subject).unwrap();
        // One pair of seeds, two examples.
        assert_eq!(agreement.n, 2);
        assert!((0.0..=1.0).contains(&agreement.min) && agreement.max <= 1.0);
    }
    // Of one record with itself: full agreement.
    let same = [records[0].clone(), records[0].clone()];
    assert_eq!(
        cross_seed_agreement(&same, Subject::Ticket).unwrap().mean,
        1.0
    );
}

#[test]
fn bad_requests_are_refused_with_reasons() {
    let mut config = digits(1);
    config.schedule = Schedule::Iterative { rounds: 1 };
    config.iterations = 50;
    let record = imp(&config);
    let data = common::data_for(&record.config);
    let err = |c: ExplainConfig, r: &ExperimentRecord| {
        ExplainStudy::new(c, data.clone(), r)
            .err()
            .expect("refused")
    };
    assert!(matches!(
        err(ExplainConfig::new(5, vec![0]), &record),
        ExplainError::NoSuchRound {
            round: 5,
            rounds: 2
        }
    ));
    let len = data.test.len();
    let message = err(ExplainConfig::new(1, vec![len]), &record).to_string();
    assert!(
        message.contains(&format!("the test split has {len}")),
        "{message}"
    );
    assert!(matches!(
        err(ExplainConfig::new(1, vec![]), &record),
        ExplainError::Config(_)
    ));
    let noisy = ExplainConfig {
        noise: f32::NAN,
        ..ExplainConfig::new(1, vec![0])
    };
    assert!(matches!(err(noisy, &record), ExplainError::Config(_)));
    let message = err(ExplainConfig::new(1, vec![0]), &record.without_weights()).to_string();
    assert!(
        message.contains("trained weights are not in the record"),
        "{message}"
    );
}

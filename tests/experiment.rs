//! The IMP state machine: resets, schedules, determinism, bad input.

mod common;

use std::sync::Arc;

use lottery_lab::experiment::{
    Controls, Experiment, ExperimentConfig, ResetMode, RunKind, Schedule, Status, presets,
};
use lottery_lab::model::{Mask, Network};
use lottery_lab::train::{
    CpuEngine, Engine, EngineError, EngineInfo, Job, JobResult, Optimizer, TrainConfig,
};

fn tiny() -> ExperimentConfig {
    (presets::find("tiny").unwrap().config)()
}

fn spied(config: ExperimentConfig) -> (Experiment, common::Loads) {
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    let (engine, loads) = common::Spy::new(data.clone());
    (
        Experiment::new(config, data, Box::new(engine)).unwrap(),
        loads,
    )
}

/// The runs in the order the experiment loads them.
fn run_order(config: &ExperimentConfig) -> Vec<(usize, RunKind)> {
    let mut order = vec![(0, RunKind::Ticket)];
    for round in 1..=config.rounds() {
        order.push((round, RunKind::Ticket));
        if config.controls.reinit {
            order.push((round, RunKind::Reinit));
        }
        if config.controls.random_prune {
            order.push((round, RunKind::RandomPrune));
        }
        if config.controls.one_shot && round > 1 {
            order.push((round, RunKind::OneShot));
        }
    }
    order
}

#[test]
fn surviving_weights_are_reset_to_theta_0_bit_for_bit() {
    let config = tiny();
    let (mut experiment, loads) = spied(config.clone());
    experiment.run_to_end(|_, _| {});
    assert_eq!(experiment.record().status, Status::Finished);
    let theta_0 = experiment.theta_init().clone();
    let loads = loads.borrow();
    let order = run_order(&config);
    assert_eq!(loads.len(), order.len());
    for ((round, kind), (start, mask, _)) in order.iter().zip(loads.iter()) {
        let survivors_equal_theta_0 = start.masked(mask) == theta_0.masked(mask);
        match kind {
            RunKind::Ticket
            | RunKind::RandomPrune
            | RunKind::OneShot
            | RunKind::EarlyBird
            | RunKind::Unstructured
            | RunKind::TwoFour => {
                assert!(
                    survivors_equal_theta_0,
                    "round {round} {kind:?} does not start at θ₀"
                );
            }
            RunKind::Reinit | RunKind::SmallDense => {
                assert!(!survivors_equal_theta_0, "round {round}: re-init reused θ₀")
            }
        }
    }
    // The record's masks are the ones that were trained.
    for round in &experiment.record().rounds {
        for run in &round.runs {
            let (_, mask, _) = &loads[order
                .iter()
                .position(|&o| o == (round.round, run.kind))
                .unwrap()];
            assert_eq!(&run.mask, mask);
        }
    }
}

#[test]
fn late_rewinding_resets_to_theta_k() {
    let mut config = tiny();
    config.reset = ResetMode::Rewind { iteration: 30 };
    config.controls = Controls::NONE;
    let (mut experiment, loads) = spied(config.clone());
    experiment.run_to_end(|_, _| {});
    assert_eq!(experiment.record().status, Status::Finished);

    // theta_30, computed independently: 30 steps of the dense network from theta_0.
    let data = experiment.data().clone();
    let mut engine = CpuEngine::new(data);
    let spec = experiment.spec().clone();
    let cfg = TrainConfig {
        optimizer: config.optimizer,
        batch_size: config.batch_size,
        order_seed: config.seed,
    };
    engine
        .load(experiment.theta_init(), &Mask::dense(&spec), &cfg)
        .unwrap();
    for _ in 0..30 {
        engine.train_step().unwrap();
    }
    let theta_k = engine.network().unwrap().clone();
    let loads = loads.borrow();
    for (start, mask, _) in loads.iter().skip(1) {
        assert_eq!(
            start.masked(mask),
            theta_k.masked(mask),
            "a ticket did not start at θ_30"
        );
        assert_ne!(start.masked(mask), experiment.theta_init().masked(mask));
    }
}

#[test]
fn masks_shrink_follow_the_schedule_and_trained_weights_respect_them() {
    let config = tiny();
    let mut experiment = common::cpu_experiment(config.clone());
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    assert_eq!(record.rounds.len(), config.rounds() + 1);
    let spec = &record.spec;
    let mut previous: Option<&Mask> = None;
    for round in &record.rounds {
        let ticket = round.run(RunKind::Ticket).unwrap();
        let target = config.pruning.target_after(spec, round.round as f64);
        let expected: Vec<usize> = target.groups.iter().map(|g| g.keep).collect();
        assert_eq!(
            ticket.mask.kept_per_layer(),
            expected,
            "round {}",
            round.round
        );
        if let Some(prev) = previous {
            assert!(
                ticket.mask.is_subset_of(prev),
                "round {}: the mask grew",
                round.round
            );
        }
        previous = Some(&ticket.mask);
        for run in &round.runs {
            let trained = run.trained.as_ref().expect("the tiny preset keeps weights");
            assert_eq!(
                trained.masked(&run.mask),
                *trained,
                "{:?} has weights outside its mask",
                run.kind
            );
            assert!(run.early_stop.is_some() && run.curve.len() >= 2);
            if run.kind != RunKind::Ticket {
                assert_eq!(
                    run.mask.kept_per_layer(),
                    ticket.mask.kept_per_layer(),
                    "{:?}",
                    run.kind
                );
            }
        }
    }
}

#[test]
fn same_config_gives_an_identical_record() {
    let run = || {
        let mut experiment = common::cpu_experiment(tiny());
        experiment.run_to_end(|_, _| {});
        experiment.record().clone()
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let mut other = tiny();
    other.seed = 2;
    let mut experiment = common::cpu_experiment(other);
    experiment.run_to_end(|_, _| {});
    assert_ne!(
        experiment.record().rounds,
        a.rounds,
        "another seed, another result"
    );
}

#[test]
fn advance_respects_its_budget_and_slices_the_work() {
    let mut experiment = common::cpu_experiment(tiny());
    let mut calls = 0;
    while !experiment.is_done() {
        let progress = experiment.advance(7);
        assert!(progress.steps_done <= 7);
        calls += 1;
        assert!(calls < 100_000, "no progress");
    }
    // 10 runs of 200 iterations in slices of at most 7 steps.
    assert!(calls >= 10 * 200 / 7, "{calls} calls");
    assert_eq!(experiment.record().status, Status::Finished);
    // Slicing does not change the result.
    let mut whole = common::cpu_experiment(tiny());
    whole.run_to_end(|_, _| {});
    assert_eq!(whole.record(), experiment.record());
}

/// Run `config` to its end, which must be a stop: the record and the reason.
fn stopped(config: ExperimentConfig) -> (lottery_lab::experiment::ExperimentRecord, String) {
    let mut experiment = common::cpu_experiment(config);
    experiment.run_to_end(|_, _| {});
    let record = experiment.record().clone();
    let Status::Stopped { reason } = &record.status else {
        panic!("expected a stop, got {:?}", record.status)
    };
    let reason = reason.clone();
    (record, reason)
}

#[test]
fn an_absurd_learning_rate_stops_the_run_with_a_reason() {
    let mut config = tiny();
    config.optimizer = Optimizer::sgd(1e9, 0.9);
    let (record, reason) = stopped(config);
    assert!(
        reason.contains("non-finite") && reason.contains("learning rate"),
        "{reason}"
    );
    let run = &record.rounds.last().unwrap().runs.last().unwrap();
    assert!(run.stopped.is_some());
    assert!(!run.curve.last().unwrap().is_finite());
}

#[test]
fn a_loss_that_explodes_or_a_dense_net_at_chance_stops_the_experiment() {
    // Adam at 1e9: every number stays finite, the loss explodes at the first evaluation.
    let mut config = tiny();
    config.optimizer = Optimizer::adam(1e9);
    let (record, reason) = stopped(config);
    assert!(
        (reason.contains("exploded") || reason.contains("chance")) && reason.contains("too high"),
        "{reason}"
    );
    assert_eq!(record.rounds.len(), 1, "stopped in the dense round");
    assert!(record.rounds[0].runs[0].stopped.is_some());
    // Far too small a step: the dense net never leaves chance; its run is kept, flagged.
    let mut config = tiny();
    config.optimizer = Optimizer::adam(1e-9);
    let (record, reason) = stopped(config);
    assert!(
        reason.contains("chance") && reason.contains("too low"),
        "{reason}"
    );
    let dense = &record.rounds[0].runs[0];
    assert_eq!(
        dense.curve.last().unwrap().iteration,
        record.config.iterations
    );
    assert_eq!(dense.stopped.as_deref(), Some(reason.as_str()));
    // The preset's own rate trains and is not flagged.
    let mut experiment = common::cpu_experiment(tiny());
    experiment.run_to_end(|_, _| {});
    assert_eq!(experiment.record().status, Status::Finished);
}

/// A network too large for a browser tab is refused before anything is allocated, with its
/// size and what to change: the layers (8 × 4,096), the batch's activations (a wide conv at
/// a large batch), or the weights every run keeps.
#[test]
fn a_network_too_large_for_memory_is_refused_before_allocating() {
    use lottery_lab::model::{dense_layers, parse_layers};
    let data = Arc::new(
        (presets::find("lenet-mnist").unwrap().config)()
            .dataset
            .load(
                1,
                Some(&lottery_lab::data::mnist::decode(lottery_lab::data::mnist::BUNDLED).unwrap()),
            )
            .unwrap(),
    );
    let refused = |edit: &dyn Fn(&mut ExperimentConfig)| {
        let mut config = (presets::find("lenet-mnist").unwrap().config)();
        edit(&mut config);
        let engine = Box::new(CpuEngine::new(data.clone()));
        match Experiment::new(config, data.clone(), engine) {
            Err(lottery_lab::experiment::ExperimentError::Config(e)) => (e.field, e.message),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted"),
        }
    };
    let (field, message) = refused(&|c| c.hidden = dense_layers(&[4096; 8]));
    assert_eq!(field, "hidden", "{message}");
    assert!(
        message.contains(" MB") && message.contains("narrower"),
        "{message}"
    );
    let (field, message) = refused(&|c| {
        c.hidden = parse_layers("conv256k3p1,conv256k3p1,flatten").unwrap();
        c.batch_size = 1_000;
    });
    assert_eq!(field, "batch", "{message}");
    let (field, message) = refused(&|c| {
        c.hidden = dense_layers(&[4096, 4096]);
        c.keep_weights = true;
    });
    assert_eq!(field, "weights", "{message}");
    assert!(message.contains("weights=0"), "{message}");
}

#[test]
fn invalid_configs_are_refused_with_the_field_named() {
    type Mutation = Box<dyn Fn(&mut ExperimentConfig)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("lr", Box::new(|c| c.optimizer = Optimizer::adam(f32::NAN))),
        ("lr", Box::new(|c| c.optimizer = Optimizer::adam(-1.0))),
        ("rate", Box::new(|c| c.pruning.rate = 1.5)),
        ("hidden", Box::new(|c| c.hidden = vec![])),
        (
            "hidden",
            Box::new(|c| c.hidden = lottery_lab::model::dense_layers(&[0])),
        ),
        ("batch", Box::new(|c| c.batch_size = 0)),
        (
            "rounds",
            Box::new(|c| c.schedule = Schedule::Iterative { rounds: 1_000 }),
        ),
        (
            "density",
            Box::new(|c| c.schedule = Schedule::OneShot { density: 0.0 }),
        ),
        (
            "rewind",
            Box::new(|c| {
                c.reset = ResetMode::Rewind {
                    iteration: 1_000_000,
                }
            }),
        ),
        (
            "dataset",
            Box::new(|c| c.dataset = lottery_lab::data::DatasetConfig::Fraud { samples: 3 }),
        ),
    ];
    for (field, mutate) in cases {
        let mut config = tiny();
        mutate(&mut config);
        let err = config.validate().expect_err(field);
        assert_eq!(err.field, field, "{err}");
        let data = Arc::new(tiny().dataset.load(1, None).unwrap());
        assert!(Experiment::new(config, data.clone(), Box::new(CpuEngine::new(data))).is_err());
    }
}

#[test]
fn one_shot_schedule_prunes_once_to_the_target() {
    let mut config = tiny();
    config.schedule = Schedule::OneShot { density: 0.1 };
    let mut experiment = common::cpu_experiment(config);
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    assert_eq!(record.rounds.len(), 2);
    let density = record.rounds[1].density();
    assert!((density - 0.1).abs() < 0.01, "{density}");
}

#[test]
fn record_round_trips_through_json_and_csv_has_a_row_per_run() {
    let mut experiment = common::cpu_experiment(tiny());
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    let json = serde_json::to_string(record).unwrap();
    let back: lottery_lab::experiment::ExperimentRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, record);
    let runs: usize = record.rounds.iter().map(|r| r.runs.len()).sum();
    assert_eq!(record.to_csv().lines().count(), runs + 1);
    let small = serde_json::to_string(&record.without_weights()).unwrap();
    assert!(small.len() < json.len());
}

/// An engine that works like the CPU one, then fails as a lost GPU would.
struct FailingGpu {
    inner: CpuEngine,
    polls_left: usize,
}

impl Engine for FailingGpu {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: "gpu".into(),
            name: "a GPU about to be lost".into(),
        }
    }
    fn load(&mut self, net: &Network, mask: &Mask, cfg: &TrainConfig) -> Result<(), EngineError> {
        self.inner.load(net, mask, cfg)
    }
    fn submit(&mut self, job: Job) -> Result<(), EngineError> {
        self.inner.submit(job)
    }
    fn poll(&mut self) -> Result<Option<JobResult>, EngineError> {
        if self.polls_left == 0 {
            return Err(EngineError::DeviceLost("simulated".into()));
        }
        self.polls_left -= 1;
        self.inner.poll()
    }
}

#[test]
fn a_lost_gpu_hands_the_experiment_to_the_cpu_engine_keeping_finished_rounds() {
    let config = tiny();
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    // Fail in the middle of round 1 (round 0 takes 5 evaluations and a weight read).
    let engine = FailingGpu {
        inner: CpuEngine::new(data.clone()),
        polls_left: 12,
    };
    let mut experiment = Experiment::new(config.clone(), data.clone(), Box::new(engine)).unwrap();
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    assert_eq!(record.status, Status::Finished);
    assert_eq!(record.engine.kind, "cpu");
    assert!(
        record
            .notes
            .iter()
            .any(|n| n.contains("GPU engine failed") && n.contains("simulated")),
        "{:?}",
        record.notes
    );
    // The stand-in "GPU" computed exactly as the CPU does, so the result is the CPU's.
    let mut reference =
        Experiment::new(config, data.clone(), Box::new(CpuEngine::new(data))).unwrap();
    reference.run_to_end(|_, _| {});
    assert_eq!(record.rounds, reference.record().rounds);
}

#[test]
fn a_run_is_shown_the_moment_it_ends_before_its_round_is_done() {
    let mut experiment = common::cpu_experiment(tiny());
    let mut seen_early = None;
    while !experiment.is_done() {
        let progress = experiment.advance(10);
        if let Some((round, runs)) = experiment.round_in_progress()
            && round >= 1
            && progress.runs_done < progress.runs_in_round
        {
            // The ticket trains first: its record is there while the controls still train.
            assert_eq!(runs[0].kind, RunKind::Ticket);
            assert!(runs[0].accuracy().is_some());
            seen_early.get_or_insert((round, runs.len(), runs[0].clone()));
        }
    }
    let (round, _, early) =
        seen_early.expect("a finished run was available before its round ended");
    assert!(
        experiment.round_in_progress().is_none(),
        "nothing in progress once finished"
    );
    // The same record the round then keeps.
    assert_eq!(experiment.record().rounds[round].runs[0], early);
}

//! Small seeded experiments whose outcome the theory predicts (Frankle & Carbin 2019: a
//! ticket reset to θ₀ beats the same mask re-initialised, and a random mask, at ≤ 20%).

mod common;

use lottery_lab::experiment::{Controls, ExperimentConfig, RunKind, Schedule, Status};

/// Real digits, a 784-100-10 network, halving the weights each round down to 6.7%.
fn small_digits(seed: u64) -> ExperimentConfig {
    let mut config = ExperimentConfig::lenet_mnist();
    config.hidden = lottery_lab::model::dense_layers(&[100]);
    config.iterations = 600;
    config.eval_every = 100;
    config.pruning.rate = 0.5;
    config.pruning.output_rate = 0.2;
    config.schedule = Schedule::Iterative { rounds: 4 };
    config.controls = Controls {
        reinit: true,
        random_prune: true,
        one_shot: false,
        unstructured: false,
        two_four: false,
        small_dense: false,
    };
    config.keep_weights = false;
    config.seed = seed;
    config
}

/// Frankle & Carbin's central claim: at low density the winning ticket (reset to θ₀) trains
/// to a clearly higher accuracy than the same mask with fresh random weights. Averaged over
/// three seeds and over every round at or below 20% density.
#[test]
fn winning_tickets_beat_random_reinit_and_random_pruning_at_low_density() {
    let mut gaps_reinit = Vec::new();
    let mut gaps_random = Vec::new();
    for seed in 1..=3 {
        let mut experiment = common::cpu_experiment(small_digits(seed));
        experiment.run_to_end(|_, _| {});
        let record = experiment.record();
        assert_eq!(record.status, Status::Finished);
        let dense = record.rounds[0]
            .run(RunKind::Ticket)
            .unwrap()
            .accuracy()
            .unwrap();
        assert!(dense > 0.9, "seed {seed}: dense accuracy {dense}");
        for round in record.rounds.iter().filter(|r| r.density() <= 0.20) {
            let acc = |kind| round.run(kind).and_then(|r| r.accuracy()).unwrap();
            let ticket = acc(RunKind::Ticket);
            gaps_reinit.push(ticket - acc(RunKind::Reinit));
            gaps_random.push(ticket - acc(RunKind::RandomPrune));
            println!(
                "seed {seed} density {:.1}%: ticket {ticket:.4} re-init {:.4} random {:.4}",
                round.density() * 100.0,
                acc(RunKind::Reinit),
                acc(RunKind::RandomPrune)
            );
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert_eq!(gaps_reinit.len(), 6, "two rounds at or below 20% per seed");
    assert!(
        mean(&gaps_reinit) > 0.01,
        "ticket vs re-init: mean gap {:.4} ({gaps_reinit:?})",
        mean(&gaps_reinit)
    );
    assert!(
        mean(&gaps_random) > 0.01,
        "ticket vs random pruning: mean gap {:.4} ({gaps_random:?})",
        mean(&gaps_random)
    );
    assert!(
        gaps_reinit.iter().filter(|&&g| g > 0.0).count() >= 5,
        "{gaps_reinit:?}"
    );
}

/// The same claim for a small conv net on the digits (ours: a 3×3 conv layer of 8 channels,
/// stride 2, then dense 64 and the output; conv layers pruned 20% a round, dense 50%, output
/// 20%): at or below 20% of the weights the ticket keeps its accuracy where the same mask
/// with fresh random weights falls below it. Three seeds.
#[test]
fn conv_tickets_beat_random_reinit_at_low_density() {
    let mut gaps = Vec::new();
    let mut kept_off = Vec::new();
    for seed in 1..=3 {
        let mut config = small_digits(seed);
        config.hidden = lottery_lab::model::parse_layers("conv8k3s2,64").unwrap();
        config.pruning.conv_rate = Some(0.2);
        config.controls = Controls {
            reinit: true,
            random_prune: false,
            one_shot: false,
            unstructured: false,
            two_four: false,
            small_dense: false,
        };
        let mut experiment = common::cpu_experiment(config);
        experiment.run_to_end(|_, _| {});
        let record = experiment.record();
        assert_eq!(record.status, Status::Finished);
        let acc = |round: &lottery_lab::experiment::RoundRecord, kind| {
            round.run(kind).and_then(|r| r.accuracy()).unwrap()
        };
        let dense = acc(&record.rounds[0], RunKind::Ticket);
        assert!(dense > 0.9, "seed {seed}: dense accuracy {dense}");
        for round in record.rounds.iter().filter(|r| r.density() <= 0.20) {
            let (ticket, reinit) = (acc(round, RunKind::Ticket), acc(round, RunKind::Reinit));
            println!(
                "seed {seed} density {:.1}%: dense {dense:.4} ticket {ticket:.4} re-init {reinit:.4}",
                round.density() * 100.0
            );
            // The ticket keeps its accuracy (within 1.5 points of the dense net).
            if ticket <= dense - 0.015 {
                kept_off.push(format!("seed {seed}: ticket {ticket} vs dense {dense}"));
            }
            gaps.push(ticket - reinit);
        }
    }
    assert_eq!(gaps.len(), 6, "two rounds at or below 20% per seed");
    assert!(kept_off.is_empty(), "{kept_off:?}");
    let mean = gaps.iter().sum::<f32>() / gaps.len() as f32;
    assert!(
        mean > 0.01,
        "ticket vs re-init: mean gap {mean:.4} ({gaps:?})"
    );
    assert!(gaps.iter().filter(|&&g| g > 0.0).count() >= 5, "{gaps:?}");
}

/// "Can we identify the ticket at initialisation?" (Lee et al., Wang et al., Tanaka et al.;
/// Frankle et al. 2021's comparison): LeNet-300-100 on the digits pruned to 3.6% at θ₀ by
/// each method and trained 600 iterations. Each beats random pruning at initialisation and
/// stays at or below the one-shot ticket at the same density (the IMP ticket, found by
/// training; measured ours, seeds 1-2: random 83.0/84.8%, SNIP 90.7/89.6%, GraSP 87.5/89.4%,
/// SynFlow 90.8/90.8%, the one-shot ticket 92.2/92.4%).
#[test]
fn methods_at_init_beat_random_pruning_at_3_6_percent_and_stay_below_the_ticket() {
    use lottery_lab::prune::PruneMethod;
    for seed in 1..=2 {
        let accuracy_at_3_6 = |method: PruneMethod, one_shot: bool| {
            let mut config = ExperimentConfig::lenet_mnist();
            config.iterations = 600;
            config.eval_every = 100;
            config.method = method;
            config.schedule = Schedule::OneShot { density: 0.036 };
            config.controls = Controls {
                reinit: false,
                random_prune: false,
                one_shot,
                unstructured: false,
                two_four: false,
                small_dense: false,
            };
            config.keep_weights = false;
            config.seed = seed;
            let mut experiment = common::cpu_experiment(config);
            experiment.run_to_end(|_, _| {});
            let record = experiment.record();
            assert_eq!(record.status, Status::Finished);
            let round = &record.rounds[1];
            assert!((round.density() - 0.036).abs() < 1e-4);
            let acc = |kind| round.run(kind).and_then(|r| r.accuracy()).unwrap();
            (
                acc(RunKind::Ticket),
                one_shot.then(|| acc(RunKind::OneShot)),
            )
        };
        let (random, _) = accuracy_at_3_6(PruneMethod::Random, false);
        let (snip, ticket) = accuracy_at_3_6(PruneMethod::Snip, true);
        let ticket = ticket.unwrap();
        let grasp = accuracy_at_3_6(PruneMethod::Grasp, false).0;
        let synflow = accuracy_at_3_6(PruneMethod::Synflow, false).0;
        println!(
            "seed {seed} at 3.6%: random {random:.4} SNIP {snip:.4} GraSP {grasp:.4} SynFlow {synflow:.4} one-shot ticket {ticket:.4}"
        );
        for (name, acc) in [("SNIP", snip), ("GraSP", grasp), ("SynFlow", synflow)] {
            assert!(
                acc > random + 0.01,
                "seed {seed}: {name} {acc} does not beat random pruning {random}"
            );
            assert!(
                acc <= ticket + 0.005,
                "seed {seed}: {name} {acc} above the ticket {ticket}"
            );
        }
    }
}

/// The structured preset's claim, at reduced cost (its rounds 1-4, only the unstructured
/// control): at 21.9% of the weights the unstructured ticket beats the structured one
/// (ours, the preset's own run: by 0.8, 0.6 and 1.2 points for seeds 1-3).
#[test]
fn unstructured_tickets_beat_structured_ones_at_the_same_density() {
    for seed in 1..=2 {
        let mut config = (lottery_lab::experiment::presets::find("structured")
            .unwrap()
            .config)();
        config.schedule = Schedule::Iterative { rounds: 4 };
        config.controls = Controls {
            unstructured: true,
            ..Controls::NONE
        };
        config.keep_weights = false;
        config.seed = seed;
        let mut experiment = common::cpu_experiment(config);
        experiment.run_to_end(|_, _| {});
        let last = experiment.record().rounds.last().unwrap();
        let accuracy = |kind| {
            last.run(kind)
                .and_then(|r| r.accuracy())
                .expect("the run finished")
        };
        let (structured, unstructured) =
            (accuracy(RunKind::Ticket), accuracy(RunKind::Unstructured));
        eprintln!(
            "seed {seed}, {:.1}%: structured {:.2}%, unstructured {:.2}%",
            last.density() * 100.0,
            structured * 100.0,
            unstructured * 100.0
        );
        assert!((last.density() - 0.219).abs() < 0.005, "{}", last.density());
        assert!(
            unstructured > structured,
            "seed {seed}: unstructured {unstructured} vs structured {structured}"
        );
    }
}

/// Frankle et al. 2020: MNIST-scale networks are stable at k = 0: two copies from θ₀ trained
/// with different data orders end in one linearly connected valley (error barrier under 2
/// points). The dense 784-100-10 of the test above, at its full length.
#[test]
fn a_dense_digits_network_is_linearly_connected_from_its_initialisation() {
    use lottery_lab::experiment::studies::{LmcConfig, LmcStudy, Subject};
    let config = small_digits(1);
    let data = common::data_for(&config);
    let engine = Box::new(lottery_lab::train::CpuEngine::new(data.clone()));
    let mut study = LmcStudy::new(LmcConfig::dense(config, vec![0]), data, engine, None).unwrap();
    study.run_to_end(|_| {});
    let record = study.record();
    assert_eq!(record.status, Status::Finished, "{:?}", record.status);
    let path = record.path(Subject::Dense, 0).expect("the dense path");
    let errors: Vec<String> = path
        .test_error
        .iter()
        .map(|e| format!("{:.2}", e * 100.0))
        .collect();
    println!(
        "dense 784-100-10, k = 0: test error along the path {errors:?}, barrier {:.2} points",
        path.barrier() * 100.0
    );
    // Two different data orders give two different networks (not one trained twice)...
    assert_ne!(path.test_error[0], path.test_error[10]);
    // ...both well trained, and the line between them stays as good.
    assert!(path.test_error[0] < 0.10 && path.test_error[10] < 0.10);
    assert!(
        path.barrier() < 0.02,
        "barrier {:.2} points",
        path.barrier() * 100.0
    );
}

/// Ticket transfer (ours, after Morcos et al. 2019): on the target task (digits 5-9, read as
/// 0-4) at ≤ 7% of the weights, the target's own ticket beats a random mask of its density,
/// over three seeds. The transferred ticket and A's mask with fresh weights are printed (the
/// README reports their order over seeds as our finding, whatever it is).
#[test]
fn on_the_target_task_its_own_ticket_beats_a_random_mask_at_low_density() {
    use lottery_lab::data::tasks::TransferTask;
    use lottery_lab::experiment::studies::{
        Source, TransferConfig, TransferStudy, TransferSubject,
    };
    let mut gaps = Vec::new();
    for seed in 1..=3 {
        let mut base = small_digits(seed);
        base.controls = Controls::NONE;
        let config = TransferConfig {
            base,
            task: TransferTask::Digits0To4To5To9,
            round: 4,
        };
        let data = common::data_for(&config.base);
        let make = Box::new(|data| {
            Box::new(lottery_lab::train::CpuEngine::new(data))
                as Box<dyn lottery_lab::train::Engine>
        });
        let mut study = TransferStudy::new(config, data, Source::FindIt, make).unwrap();
        let record = study.run_to_end(|_| {}).clone();
        assert_eq!(record.status, Status::Finished);
        assert!(record.ticket_density <= 0.07, "{}", record.ticket_density);
        let acc = |s| record.result(s).unwrap().test_accuracy;
        println!(
            "seed {seed} at {:.1}%: {}",
            record.ticket_density * 100.0,
            TransferSubject::ALL
                .map(|s| format!("{} {:.4}", s.label(), acc(s)))
                .join(", ")
        );
        gaps.push(acc(TransferSubject::TargetTicket) - acc(TransferSubject::TargetRandomPrune));
    }
    let mean = gaps.iter().sum::<f32>() / gaps.len() as f32;
    assert!(
        mean > 0.01,
        "own ticket vs random mask: mean gap {mean:.4} ({gaps:?})"
    );
    assert!(gaps.iter().filter(|&&g| g > 0.0).count() >= 2, "{gaps:?}");
}

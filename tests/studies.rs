//! Studies of other shapes than IMP rounds: linear mode connectivity (two copies from θ_k and
//! the path between them). Its science check (a dense digits net is stable at k = 0) is in
//! `science.rs`; the path's exact ends and the barrier's definition are unit tests.

mod common;

use lottery_lab::experiment::studies::{LmcConfig, LmcError, LmcStudy, Subject};
use lottery_lab::experiment::{ExperimentConfig, ExperimentRecord, Status, presets};
use lottery_lab::model::Network;
use lottery_lab::train::{CpuEngine, Optimizer};

fn tiny() -> ExperimentConfig {
    (presets::find("tiny").unwrap().config)()
}

/// The tiny preset's IMP experiment (ticket, re-init, random pruning each round).
fn imp(config: &ExperimentConfig) -> ExperimentRecord {
    let mut experiment = common::cpu_experiment(config.clone());
    experiment.run_to_end(|_, _| {});
    experiment.record().clone()
}

fn study(config: LmcConfig, imp: Option<&ExperimentRecord>) -> LmcStudy {
    let data = common::data_for(&config.base);
    let engine = Box::new(CpuEngine::new(data.clone()));
    LmcStudy::new(config, data, engine, imp).unwrap()
}

fn round_one(branch_at: Vec<usize>) -> LmcConfig {
    LmcConfig {
        round: Some(1),
        ..LmcConfig::dense(tiny(), branch_at)
    }
}

#[test]
fn a_round_is_measured_for_the_dense_net_its_ticket_and_both_controls() {
    let record = imp(&tiny());
    let mut lmc = study(round_one(vec![0, 50]), Some(&record));
    lmc.run_to_end(|_| {});
    let result = lmc.record();
    assert_eq!(result.status, Status::Finished, "{:?}", result.status);
    assert_eq!(result.paths.len(), 4 * 2);
    let ticket_density = record.rounds[1].density();
    for subject in Subject::ALL {
        for k in [0, 50] {
            let path = result.path(subject, k).expect("every subject at every k");
            assert_eq!(path.test_error.len(), 11);
            assert!(path.test_error.iter().all(|e| (0.0..=1.0).contains(e)));
            assert!(path.barrier() >= 0.0);
            let density = if subject == Subject::Dense {
                1.0
            } else {
                ticket_density
            };
            assert!((path.density - density).abs() < 1e-9, "{subject:?}");
        }
    }
    // The file: JSON round trip, and a CSV row per point.
    let json = serde_json::to_string(result).unwrap();
    let back: lottery_lab::experiment::studies::LmcRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, result);
    assert_eq!(result.to_csv().lines().count(), 1 + 8 * 11);
}

#[test]
fn slicing_the_work_does_not_change_the_result() {
    let record = imp(&tiny());
    let mut sliced = study(round_one(vec![0, 30]), Some(&record));
    let mut calls = 0;
    while !sliced.is_done() {
        let progress = sliced.advance(7);
        assert!(progress.fraction() <= 1.0);
        calls += 1;
        assert!(calls < 100_000, "no progress");
    }
    // 4 networks, each 30 steps to θ_30 and 2 · (200 + 170) steps of copies, by 7s at most.
    assert!(calls >= 4 * (30 + 2 * 370) / 7, "{calls} calls");
    let mut whole = study(round_one(vec![0, 30]), Some(&record));
    whole.run_to_end(|_| {});
    assert_eq!(whole.record(), sliced.record());
}

#[test]
fn both_copies_start_from_the_same_theta_k_with_different_data_orders() {
    let config = LmcConfig::dense(tiny(), vec![0, 40]);
    let data = common::data_for(&config.base);
    let (engine, loads) = common::Spy::new(data.clone());
    let mut lmc = LmcStudy::new(config.clone(), data, Box::new(engine), None).unwrap();
    lmc.run_to_end(|_| {});
    let loads = loads.borrow();
    // θ₀ trained to θ_40 once, then two copies from each of θ₀ and θ_40.
    assert_eq!(loads.len(), 5);
    let theta_0 = Network::init(
        &lmc.record().spec,
        config.base.init,
        &mut lottery_lab::rng::rng(config.base.seed, "init"),
    );
    assert_eq!(loads[0].0, theta_0);
    assert_eq!(
        loads[0].2, config.base.seed,
        "θ_k comes from the run's own data order"
    );
    let (copy_a, copy_b) = (&loads[1], &loads[2]);
    assert_eq!(copy_a.0, theta_0.masked(&copy_a.1));
    assert_eq!(copy_a.0, copy_b.0);
    assert_ne!(copy_a.2, copy_b.2, "the copies see different data orders");
    let (late_a, late_b) = (&loads[3], &loads[4]);
    assert_eq!(late_a.0, late_b.0);
    assert_ne!(late_a.0, theta_0, "θ_40 is trained");
    assert_eq!((late_a.2, late_b.2), (copy_a.2, copy_b.2));
}

#[test]
fn bad_requests_are_refused_with_their_reason() {
    let data = common::data_for(&tiny());
    let engine = || Box::new(CpuEngine::new(data.clone()));
    // A ticket without the experiment that found it.
    let err = LmcStudy::new(round_one(vec![0]), data.clone(), engine(), None).err();
    assert!(
        matches!(err, Some(LmcError::NoExperiment { round: 1 })),
        "{err:?}"
    );
    // A round the experiment does not have.
    let record = imp(&tiny());
    let mut far = round_one(vec![0]);
    far.round = Some(9);
    let err = LmcStudy::new(far, data.clone(), engine(), Some(&record)).err();
    assert!(
        matches!(err, Some(LmcError::NoSuchRound { round: 9, .. })),
        "{err:?}"
    );
    // Masks of another network.
    let mut wider = round_one(vec![0]);
    wider.base.hidden = lottery_lab::model::dense_layers(&[32, 16]);
    let err = LmcStudy::new(wider, data.clone(), engine(), Some(&record)).err();
    assert!(
        matches!(err, Some(LmcError::OtherNetwork { .. })),
        "{err:?}"
    );
    // An absurd learning rate: the study stops with a reason, no panic.
    let mut wild = LmcConfig::dense(tiny(), vec![0]);
    wild.base.optimizer = Optimizer::sgd(1e9, 0.9);
    let mut lmc = LmcStudy::new(wild, data.clone(), engine(), None).unwrap();
    lmc.run_to_end(|_| {});
    let Status::Stopped { reason } = &lmc.record().status else {
        panic!("expected a stop, got {:?}", lmc.record().status);
    };
    assert!(reason.contains("not finite"), "{reason}");
}

/// The GPU engine answers later (the study waits on it across calls: `Late` holds each
/// answer back one poll, as a busy GPU would) and trains the same copies within float
/// tolerance: the path's errors agree with the CPU engine's.
#[test]
fn the_gpu_engine_gives_the_cpu_engines_path() {
    let ctx = std::sync::Arc::new(common::gpu_context());
    let config = LmcConfig::dense(tiny(), vec![0, 50]);
    let data = common::data_for(&config.base);
    let gpu = lottery_lab::train::gpu::GpuEngine::new(ctx, data.clone()).unwrap();
    let gpu = common::Late::new(gpu);
    let mut on_gpu = LmcStudy::new(config.clone(), data.clone(), Box::new(gpu), None).unwrap();
    let mut waited = 0;
    while !on_gpu.is_done() {
        if on_gpu.advance(50).waiting {
            waited += 1;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    assert!(waited > 0, "the GPU engine answers asynchronously");
    assert_eq!(
        on_gpu.record().engine.kind,
        "gpu",
        "{:?}",
        on_gpu.record().notes
    );
    let mut on_cpu = study(config, None);
    on_cpu.run_to_end(|_| {});
    // Float differences may flip a test point or two near the boundary.
    let two_points = 2.0 / data.test.len() as f32 + 1e-6;
    for (g, c) in on_gpu.record().paths.iter().zip(&on_cpu.record().paths) {
        assert_eq!((g.subject, g.branch_at), (c.subject, c.branch_at));
        for (eg, ec) in g.test_error.iter().zip(&c.test_error) {
            assert!(
                (eg - ec).abs() <= two_points,
                "GPU {:?} CPU {:?}",
                g.test_error,
                c.test_error
            );
        }
    }
}

#[test]
fn a_rewind_sweep_gives_each_point_the_experiment_run_gives_it() {
    use lottery_lab::experiment::studies::{RewindConfig, RewindSweep};
    let config = RewindConfig {
        base: tiny(),
        rewind_at: vec![0, 20],
        density: 0.2,
    };
    let data = common::data_for(&config.base);
    let make =
        Box::new(|data| Box::new(CpuEngine::new(data)) as Box<dyn lottery_lab::train::Engine>);
    let mut sweep = RewindSweep::new(config.clone(), data, make).unwrap();
    let mut calls = 0;
    while !sweep.is_done() {
        let progress = sweep.advance(7);
        assert!(progress.steps_done <= 7 && progress.fraction() <= 1.0);
        calls += 1;
    }
    let record = sweep.record();
    assert_eq!(record.status, Status::Finished, "{:?}", record.status);
    assert!(calls > 2 * 2 * 200 / 7, "sliced: {calls} calls");
    assert_eq!(record.points.len(), 2);
    assert_eq!(record.points[1].rewind_at, 20);
    assert!(record.points[0].reinit_accuracy.is_some());
    assert!(record.points[1].reinit_accuracy.is_none());
    // Each point is the IMP experiment of its own config, as `lottery-lab run` would train it.
    for (i, point) in record.points.iter().enumerate() {
        let mut alone = common::cpu_experiment(config.experiment(i));
        alone.run_to_end(|_, _| {});
        let ticket = alone.record().rounds[1]
            .run(lottery_lab::experiment::RunKind::Ticket)
            .unwrap();
        assert_eq!(point.ticket_accuracy, ticket.accuracy());
        assert!((point.density - ticket.density).abs() < 1e-12);
    }
    assert_eq!(record.to_csv().lines().count(), 3);
}

/// The tiny preset to round 3 with only the ticket's layer shuffle (random pruning) beside it.
fn tiny_imp_with_shuffle() -> ExperimentConfig {
    ExperimentConfig {
        schedule: lottery_lab::experiment::Schedule::Iterative { rounds: 3 },
        controls: lottery_lab::experiment::Controls {
            random_prune: true,
            ..lottery_lab::experiment::Controls::NONE
        },
        ..tiny()
    }
}

fn cpu_maker() -> lottery_lab::experiment::studies::EngineMaker {
    Box::new(|data| Box::new(CpuEngine::new(data)) as Box<dyn lottery_lab::train::Engine>)
}

#[test]
fn pruning_at_init_trains_each_method_as_its_own_experiment_beside_the_imp_ticket() {
    use lottery_lab::experiment::RunKind;
    use lottery_lab::experiment::studies::{AtInitConfig, AtInitStudy};
    use lottery_lab::prune::PruneMethod;
    let imp = imp(&tiny_imp_with_shuffle());
    let methods = vec![PruneMethod::Snip, PruneMethod::Random];
    let config = AtInitConfig::for_record(&imp, &[0.2, 0.5], methods.clone());
    // Each density moved to the IMP round near it, densest first.
    let rounds: Vec<f64> = imp.rounds.iter().map(|r| r.density()).collect();
    assert_eq!(config.densities.len(), 2);
    assert!(config.densities[0] > config.densities[1]);
    for d in &config.densities {
        assert!(
            rounds.contains(d),
            "{d} is not a round's density: {rounds:?}"
        );
    }
    let data = common::data_for(&config.base);
    let mut study = AtInitStudy::new(config.clone(), data.clone(), &imp, cpu_maker()).unwrap();
    let (mut calls, mut steps) = (0, 0);
    while !study.is_done() {
        let progress = study.advance(9);
        assert!(progress.steps_done <= 9 && progress.fraction() <= 1.0);
        calls += 1;
        steps += progress.steps_done;
    }
    let record = study.record();
    assert_eq!(record.status, Status::Finished, "{:?}", record.status);
    // Two masks per trainable point (the mask and its shuffle), 200 iterations each, in
    // slices of 9.
    let trainable = record
        .points
        .iter()
        .filter(|p| p.round.is_none() && p.untrainable.is_none());
    assert!(steps >= trainable.count() * 2 * 200, "{steps} steps");
    assert!(
        calls >= steps / 9,
        "sliced: {calls} calls for {steps} steps"
    );
    assert_eq!(record.points.len(), 2 * 3);
    // The IMP ticket and its shuffle are the experiment's own rounds, not trained again.
    for p in record.points_of(PruneMethod::Magnitude) {
        let round = &imp.rounds[p.round.unwrap()];
        assert_eq!(p.accuracy, round.run(RunKind::Ticket).unwrap().accuracy());
        assert_eq!(
            p.shuffled_accuracy,
            round.run(RunKind::RandomPrune).unwrap().accuracy()
        );
    }
    // Each method's point is round 1 of its one-shot experiment, as `lottery-lab run` would
    // train it (its dense run changes nothing that round 1 trains).
    for &method in &methods {
        for (p, &density) in record.points_of(method).zip(&config.densities) {
            let mut alone = common::cpu_experiment(config.experiment(method, density));
            alone.run_to_end(|_, _| {});
            let round = &alone.record().rounds[1];
            let mask = round.run(RunKind::Ticket).unwrap();
            assert_eq!(p.accuracy, mask.accuracy(), "{method:?} at {density}");
            assert_eq!(
                p.shuffled_accuracy,
                round.run(RunKind::RandomPrune).unwrap().accuracy()
            );
            assert!((p.density - mask.density).abs() < 1e-12);
            assert_eq!(p.layer_density, mask.layer_density);
        }
    }
    assert_eq!(record.to_csv().lines().count(), 1 + 6);
    let text = serde_json::to_string(record).unwrap();
    assert_eq!(
        lottery_lab::experiment::studies::AtInitRecord::parse(&text).as_ref(),
        Ok(record)
    );
    // The same study run in one go gives the same figures.
    let mut whole = AtInitStudy::new(config, data, &imp, cpu_maker()).unwrap();
    whole.run_to_end(|_| {});
    assert_eq!(whole.record(), record);
}

/// On imbalanced binary data (the fraud set) the study compares ROC AUC, as the rest of the
/// app does: accuracy there is about the share of honest payments whatever the mask.
#[test]
fn pruning_at_init_compares_auc_on_the_fraud_data() {
    use lottery_lab::experiment::studies::{AtInitConfig, AtInitStudy};
    use lottery_lab::prune::PruneMethod;
    let mut config = (lottery_lab::experiment::presets::find("fraud")
        .expect("listed")
        .config)();
    config.dataset = lottery_lab::data::DatasetConfig::Fraud { samples: 3_000 };
    config.iterations = 150;
    config.eval_every = 50;
    config.schedule = lottery_lab::experiment::Schedule::Iterative { rounds: 2 };
    config.controls = lottery_lab::experiment::Controls {
        random_prune: true,
        ..lottery_lab::experiment::Controls::NONE
    };
    let imp = imp(&config);
    let study_config = AtInitConfig::for_record(&imp, &[0.64], vec![PruneMethod::Snip]);
    let data = common::data_for(&study_config.base);
    let mut study = AtInitStudy::new(study_config, data, &imp, cpu_maker()).unwrap();
    study.run_to_end(|_| {});
    let record = study.record();
    assert_eq!(record.status, Status::Finished, "{:?}", record.status);
    assert!(record.by_auc && record.dense_auc.is_some());
    assert_eq!(record.points.len(), 2);
    for p in &record.points {
        let (auc, shuffled) = (p.auc.unwrap(), p.shuffled_auc.unwrap());
        assert!((0.0..=1.0).contains(&auc) && (0.0..=1.0).contains(&shuffled));
        assert_eq!(record.score(p), Some(f64::from(auc)));
        let cost = record.shuffle_cost(p).unwrap();
        assert!((cost - f64::from(auc - shuffled)).abs() < 1e-9, "{cost}");
    }
    assert!(record.finding().unwrap().contains(" AUC"));
    assert_eq!(record.metric_name(), "test ROC AUC");
}

#[test]
fn pruning_at_init_refuses_what_it_cannot_compare() {
    use lottery_lab::experiment::studies::{AtInitConfig, AtInitStudy};
    use lottery_lab::prune::PruneMethod;
    let config = tiny_imp_with_shuffle();
    let data = common::data_for(&config);
    let unfinished = common::cpu_experiment(config.clone()).record().clone();
    let study_config = AtInitConfig::for_record(&unfinished, &[0.5], vec![PruneMethod::Snip]);
    let error = AtInitStudy::new(study_config, data.clone(), &unfinished, cpu_maker())
        .err()
        .expect("refused");
    assert!(error.to_string().contains("finish"), "{error}");
    // IMP itself needs its dense run: the study's points alone go without one.
    let refused = common::cpu_experiment(config.clone()).without_dense_run();
    assert_eq!(refused.err().map(|e| e.field), Some("method"));
    let imp = imp(&config);
    let field = |methods: Vec<PruneMethod>, densities: &[f64]| {
        let study_config = AtInitConfig::for_record(&imp, densities, methods);
        AtInitStudy::new(study_config, data.clone(), &imp, cpu_maker())
            .err()
            .map(|e| e.to_string())
    };
    assert!(
        field(vec![PruneMethod::Magnitude], &[0.5])
            .unwrap()
            .contains("methods")
    );
    assert!(
        field(vec![PruneMethod::Snip], &[1.5])
            .unwrap()
            .contains("densities")
    );
    assert!(field(vec![], &[0.5]).unwrap().contains("methods"));
    // Another seed's experiment is not this study's.
    let mut other = imp.clone();
    other.config.seed += 1;
    let study_config = AtInitConfig::for_record(&imp, &[0.5], vec![PruneMethod::Snip]);
    assert!(AtInitStudy::new(study_config, data.clone(), &other, cpu_maker()).is_err());
    // A density no IMP round lies near: the methods still train, and a note says why the
    // ticket is missing.
    let study_config = AtInitConfig::for_record(&imp, &[0.01], vec![PruneMethod::Random]);
    let study = AtInitStudy::new(study_config, data, &imp, cpu_maker()).unwrap();
    assert!(study.record().points.is_empty());
    assert!(
        study
            .record()
            .notes
            .iter()
            .any(|n| n.contains("no IMP round")),
        "{:?}",
        study.record().notes
    );
}

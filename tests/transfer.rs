//! Ticket transfer: A's ticket (found here, taken from an experiment, or from a ticket file)
//! trained on B beside B's own ticket, its random mask and A's mask with fresh weights. The
//! networks start from what they should, the results are complete, bad requests are refused.
//! Its science check (B's own ticket beats the random mask at ≤ 7%) is in `science.rs`.

mod common;

use std::sync::Arc;

use lottery_lab::data::DataSplits;
use lottery_lab::data::tasks::TransferTask;
use lottery_lab::experiment::io;
use lottery_lab::experiment::studies::EngineMaker;
use lottery_lab::experiment::studies::{
    Source, TransferConfig, TransferError, TransferRecord, TransferStudy, TransferSubject,
};
use lottery_lab::experiment::{ExperimentConfig, Schedule, Status, presets};
use lottery_lab::model::Network;
use lottery_lab::train::CpuEngine;

/// Digits, a 784-40-10 net, 120 iterations a round, halving each round.
fn digits() -> ExperimentConfig {
    let mut config = ExperimentConfig::lenet_mnist();
    config.hidden = lottery_lab::model::dense_layers(&[40]);
    config.iterations = 120;
    config.eval_every = 60;
    config.pruning.rate = 0.5;
    config.schedule = Schedule::Iterative { rounds: 2 };
    config
}

fn cpu() -> EngineMaker {
    Box::new(|data: Arc<DataSplits>| Box::new(CpuEngine::new(data)))
}

/// A maker of engines that remember what they were loaded with.
fn spies() -> (EngineMaker, common::Loads) {
    let loads = common::Loads::default();
    let shared = loads.clone();
    let maker: EngineMaker = Box::new(move |data| {
        let (spy, spy_loads) = common::Spy::new(data);
        let shared = shared.clone();
        // Each engine's loads go to the shared list as they happen.
        Box::new(Forward {
            spy,
            spy_loads,
            shared,
        })
    });
    (maker, loads)
}

struct Forward {
    spy: common::Spy,
    spy_loads: common::Loads,
    shared: common::Loads,
}

impl lottery_lab::train::Engine for Forward {
    fn info(&self) -> lottery_lab::train::EngineInfo {
        self.spy.info()
    }
    fn load(
        &mut self,
        net: &Network,
        mask: &lottery_lab::model::Mask,
        cfg: &lottery_lab::train::TrainConfig,
    ) -> Result<(), lottery_lab::train::EngineError> {
        self.spy.load(net, mask, cfg)?;
        let last = self
            .spy_loads
            .borrow()
            .last()
            .cloned()
            .expect("just loaded");
        self.shared.borrow_mut().push(last);
        Ok(())
    }
    fn submit(
        &mut self,
        job: lottery_lab::train::Job,
    ) -> Result<(), lottery_lab::train::EngineError> {
        self.spy.submit(job)
    }
    fn poll(
        &mut self,
    ) -> Result<Option<lottery_lab::train::JobResult>, lottery_lab::train::EngineError> {
        self.spy.poll()
    }
}

fn study(task: TransferTask, source: Source<'_>, maker: EngineMaker) -> TransferRecord {
    let config = TransferConfig {
        base: digits(),
        task,
        round: 2,
    };
    let data = common::data_for(&config.base);
    let mut study = TransferStudy::new(config, data, source, maker).unwrap();
    let mut calls = 0;
    while !study.is_done() {
        let progress = study.advance(37);
        assert!(progress.fraction() <= 1.0);
        calls += 1;
        assert!(calls < 100_000);
    }
    study.record().clone()
}

#[test]
fn every_task_gives_five_networks_on_b_at_the_tickets_density() {
    for task in [TransferTask::Digits0To4To5To9, TransferTask::ShiftedDigits] {
        let record = study(task, Source::FindIt, cpu());
        assert_eq!(record.status, Status::Finished, "{task:?}");
        let subjects: Vec<TransferSubject> = record.results.iter().map(|r| r.subject).collect();
        assert_eq!(subjects, TransferSubject::ALL, "{task:?}");
        let density = record.ticket_density;
        assert!(density < 0.3, "two rounds of halving");
        for r in &record.results {
            assert!((0.0..=1.0).contains(&r.test_accuracy));
            if r.subject != TransferSubject::TargetDense {
                // One rounding rule on both tasks: the same weight counts.
                assert!(
                    (r.density - density).abs() < 1e-9,
                    "{:?}: {}",
                    r.subject,
                    r.density
                );
            }
        }
        // Better than chance on B (5 or 10 classes) after 120 iterations.
        let chance = if task == TransferTask::Digits0To4To5To9 {
            0.2
        } else {
            0.1
        };
        assert!(
            record
                .results
                .iter()
                .all(|r| r.test_accuracy > chance + 0.2),
            "{record:?}"
        );
        if task == TransferTask::Digits0To4To5To9 {
            assert!(record.source.contains("digits 0-4") && record.target.contains("5-9"));
        }
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(TransferRecord::parse(&json).unwrap(), record);
        assert_eq!(record.to_csv().lines().count(), 1 + 5);
    }
}

#[test]
fn the_transferred_ticket_starts_from_as_theta0_and_the_control_from_fresh_weights() {
    let config = digits();
    let mut experiment = common::cpu_experiment(ExperimentConfig {
        keep_weights: true,
        ..config.clone()
    });
    experiment.run_to_end(|_, _| {});
    let record = experiment.record().clone();
    let ticket = io::ticket(&record, 2).unwrap();
    for task in [TransferTask::InvertedDigits, TransferTask::OtherSeed] {
        let (maker, loads) = spies();
        let result = study(task, Source::Experiment(&record), maker);
        assert_eq!(result.status, Status::Finished);
        assert_eq!(result.ticket_from, "round 2 of the experiment");
        let loads = loads.borrow();
        // B's IMP: dense + 2 tickets + 2 random masks; then A's ticket and A's mask, fresh.
        assert_eq!(loads.len(), 5 + 2, "{task:?}");
        let (transferred, fresh) = (&loads[5], &loads[6]);
        assert_eq!(transferred.1, ticket.mask);
        assert_eq!(
            transferred.0.masked(&ticket.mask),
            ticket.theta_init.masked(&ticket.mask)
        );
        assert_eq!(fresh.1, ticket.mask);
        assert_ne!(fresh.0, transferred.0);
        // B trains with its own seed's data order; across seeds, the fresh weights are seed
        // B's θ₀ (what B's dense run started from).
        let b_seed = if task == TransferTask::OtherSeed {
            2
        } else {
            1
        };
        assert_eq!(transferred.2, b_seed);
        assert_eq!(loads[0].0.layers.len(), fresh.0.layers.len());
        if task == TransferTask::OtherSeed {
            assert_eq!(
                fresh.0.masked(&ticket.mask),
                loads[0].0.masked(&ticket.mask)
            );
            assert_ne!(loads[0].0, record.theta_init.clone().unwrap());
        } else {
            // Same seed, same shape: B's experiment starts from A's θ₀.
            assert_eq!(&loads[0].0, record.theta_init.as_ref().unwrap());
        }
    }
}

#[test]
fn bad_requests_are_refused_with_reasons() {
    let data = common::data_for(&digits());
    let make = |task, round, base: ExperimentConfig| TransferConfig { base, task, round };
    let err = |config: TransferConfig, source: Source<'_>| {
        TransferStudy::new(config, data.clone(), source, cpu())
            .err()
            .expect("refused")
    };
    assert!(matches!(
        err(make(TransferTask::Noisier, 0, digits()), Source::FindIt),
        TransferError::Config(_)
    ));
    // A ticket of the 10-class network cannot be trained on 5 classes.
    let mut experiment = common::cpu_experiment(digits());
    experiment.run_to_end(|_, _| {});
    let ticket = io::ticket(experiment.record(), 1).unwrap();
    let message = err(
        make(TransferTask::Digits0To4To5To9, 1, digits()),
        Source::File(Box::new(ticket.clone())),
    )
    .to_string();
    assert!(message.contains("is not task B's"), "{message}");
    // The same ticket works for inverted digits (same network).
    assert!(
        TransferStudy::new(
            make(TransferTask::InvertedDigits, 1, digits()),
            data.clone(),
            Source::File(Box::new(ticket)),
            cpu()
        )
        .is_ok()
    );
    // Image tasks need images.
    let tiny = (presets::find("tiny").unwrap().config)();
    let toy = common::data_for(&tiny);
    let message = TransferStudy::new(
        make(TransferTask::ShiftedDigits, 1, tiny),
        toy,
        Source::FindIt,
        cpu(),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(message.contains("needs image data"), "{message}");
}

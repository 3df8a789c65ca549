//! The transfer study's state machine: IMP on A (unless the ticket is given), IMP on B, then
//! A's mask trained on B twice (its own start, fresh weights) and evaluated a chunk at a time.

use std::collections::VecDeque;
use std::sync::Arc;

use super::super::training::{Flow, Trainer, Training};
use super::{
    super::EngineMaker, CHUNK_COST, Source, TRANSFER_FORMAT, TransferConfig, TransferError,
    TransferProgress, TransferRecord, TransferResult, TransferSubject,
};
use crate::data::DataSplits;
use crate::data::tasks::TransferTask;
use crate::experiment::io::{self, TicketFile};
use crate::experiment::{Experiment, RunKind, Status};
use crate::model::Network;
use crate::model::infer::{self, EvalBuffers, Partial};
use crate::rng;
use crate::train::{CpuEngine, Engine, EngineError, TrainConfig};

enum Task {
    /// IMP on A, to find the ticket.
    SourceImp(Box<Experiment>),
    /// IMP on B: the dense net, B's own ticket and random pruning.
    TargetImp(Box<Experiment>),
    /// An A-mask network trained on B.
    Train {
        subject: TransferSubject,
        training: Training,
    },
    /// Its test accuracy on B, a chunk at a time.
    Evaluate {
        subject: TransferSubject,
        density: f64,
        net: Network,
        partial: Partial,
    },
}

pub struct TransferStudy {
    config: TransferConfig,
    source_data: Arc<DataSplits>,
    target_data: Arc<DataSplits>,
    make_engine: EngineMaker,
    trainer: Option<Trainer>,
    ticket: Option<TicketFile>,
    tasks: VecDeque<Task>,
    record: TransferRecord,
    buffers: EvalBuffers,
    /// Steps of the experiments already finished (theirs count from 0 each).
    iterations_before: usize,
    iterations: usize,
}

impl TransferStudy {
    /// A study of `config` on the experiment's `data` (task A's and B's origin).
    pub fn new(
        config: TransferConfig,
        data: Arc<DataSplits>,
        source: Source<'_>,
        mut make_engine: EngineMaker,
    ) -> Result<Self, TransferError> {
        config.validate()?;
        if let Some(why) = config.task.unsuitable(&data) {
            return Err(TransferError::Task(why));
        }
        let source_data = Arc::new(config.task.source(&data));
        let target_data = Arc::new(config.task.target(&data, config.base.seed));
        let target_spec = config.base.spec(&target_data);
        let mut tasks = VecDeque::new();
        let (ticket, ticket_from) = match source {
            Source::FindIt => {
                let engine = make_engine(source_data.clone());
                let imp =
                    Experiment::new(config.imp(config.base.seed), source_data.clone(), engine)?;
                tasks.push_back(Task::SourceImp(Box::new(imp)));
                (None, format!("found by IMP on A to round {}", config.round))
            }
            Source::Experiment(record) => {
                let ticket = io::ticket(record, config.round)
                    .map_err(|e| TransferError::Ticket(e.to_string()))?;
                (
                    Some(ticket),
                    format!("round {} of the experiment", config.round),
                )
            }
            Source::File(ticket) => (Some(*ticket), "a ticket file".to_string()),
        };
        if let Some(t) = &ticket
            && t.spec != target_spec
        {
            return Err(TransferError::OtherNetwork {
                theirs: t.spec.label(),
                ours: target_spec.label(),
            });
        }
        let engine = make_engine(target_data.clone());
        let target_imp = Experiment::new(
            config.imp(config.target_seed()),
            target_data.clone(),
            engine,
        )?;
        tasks.push_back(Task::TargetImp(Box::new(target_imp)));
        let iterations = config.base.iterations;
        let rounds = config.round + 1;
        let imp_a = if ticket.is_none() { rounds } else { 0 };
        // A: the ticket each round; B: the ticket and (after round 0) random pruning; then the
        // two A-mask subjects.
        let total = iterations * (imp_a + rounds + config.round + 2);
        let record = TransferRecord {
            format: TRANSFER_FORMAT.into(),
            config: config.clone(),
            source: source_data.name.clone(),
            target: target_data.name.clone(),
            ticket_from,
            ticket_density: ticket.as_ref().map_or(0.0, |t| t.density),
            ticket_accuracy_on_a: ticket.as_ref().and_then(|t| t.test_accuracy),
            results: Vec::new(),
            status: Status::Running,
            notes: Vec::new(),
        };
        let mut study = Self {
            config,
            source_data,
            target_data,
            make_engine,
            trainer: None,
            ticket: None,
            tasks,
            record,
            buffers: EvalBuffers::default(),
            iterations_before: 0,
            iterations: total,
        };
        if let Some(ticket) = ticket {
            study.with_ticket(ticket);
        }
        Ok(study)
    }

    /// A saved study, shown as it was: nothing left to train.
    pub fn reopened(mut record: TransferRecord, data: Arc<DataSplits>) -> Self {
        if record.status == Status::Running {
            record.status = Status::Stopped {
                reason: "saved before it finished".into(),
            };
        }
        Self {
            config: record.config.clone(),
            source_data: data.clone(),
            target_data: data,
            make_engine: Box::new(|data| Box::new(CpuEngine::new(data))),
            trainer: None,
            ticket: None,
            tasks: VecDeque::new(),
            record,
            buffers: EvalBuffers::default(),
            iterations_before: 0,
            iterations: 0,
        }
    }

    pub fn record(&self) -> &TransferRecord {
        &self.record
    }

    pub fn is_done(&self) -> bool {
        self.record.status != Status::Running
    }

    /// A's ticket is known: queue its two subjects after B's experiment.
    fn with_ticket(&mut self, ticket: TicketFile) {
        let spec = &ticket.spec;
        let start = ticket
            .theta_rewind
            .clone()
            .unwrap_or_else(|| ticket.theta_init.clone());
        let fresh = match self.config.task {
            // Seed B's θ₀: what its own experiment starts from.
            TransferTask::OtherSeed => Network::init(
                spec,
                self.config.base.init,
                &mut rng::rng(self.config.target_seed(), "init"),
            ),
            _ => Network::init(
                spec,
                self.config.base.init,
                &mut rng::rng_indexed(
                    self.config.base.seed,
                    "transfer-fresh",
                    self.config.round as u64,
                ),
            ),
        };
        let order_seed = self.config.target_seed();
        let iterations = self.config.base.iterations;
        for (subject, start) in [
            (TransferSubject::Transferred, start),
            (TransferSubject::MaskFreshWeights, fresh),
        ] {
            self.tasks.push_back(Task::Train {
                subject,
                training: Training::new(start, ticket.mask.clone(), order_seed, iterations),
            });
        }
        self.record.ticket_density = ticket.density;
        self.record.ticket_accuracy_on_a = ticket.test_accuracy;
        self.ticket = Some(ticket);
    }

    /// At most `step_budget` training steps (an evaluation chunk counts as a few), then
    /// return; with an engine that answers later, as soon as it waits.
    pub fn advance(&mut self, step_budget: usize) -> TransferProgress {
        let mut budget = step_budget.max(1);
        let mut steps_done = 0;
        let mut waiting = false;
        while !self.is_done() && budget > 0 && !waiting {
            let Some(task) = self.tasks.front_mut() else {
                self.record.status = Status::Finished;
                break;
            };
            match task {
                Task::SourceImp(imp) | Task::TargetImp(imp) => {
                    let progress = imp.advance(budget);
                    let trained = progress.steps_done;
                    budget = budget.saturating_sub(trained.max(1));
                    steps_done += trained;
                    waiting = progress.waiting;
                    if imp.is_done() {
                        let Some(done) = self.tasks.pop_front() else {
                            unreachable!("the front task");
                        };
                        self.finish_experiment(done);
                    }
                }
                Task::Train { .. } | Task::Evaluate { .. } => {
                    match self.advance_network(&mut budget, &mut steps_done) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::OutOfBudget) => break,
                        Ok(Flow::Waiting) => waiting = true,
                        Err(e) => self.engine_failed(e),
                    }
                }
            }
        }
        self.progress(steps_done, waiting)
    }

    /// An IMP experiment ended: A's gives the ticket, B's its three results.
    fn finish_experiment(&mut self, task: Task) {
        let (Task::SourceImp(imp) | Task::TargetImp(imp)) = &task else {
            return;
        };
        let record = imp.record();
        self.iterations_before +=
            self.config.base.iterations * record.rounds.iter().map(|r| r.runs.len()).sum::<usize>();
        if let Status::Stopped { reason } = &record.status {
            let which = if matches!(task, Task::SourceImp(_)) {
                "A"
            } else {
                "B"
            };
            self.record.status = Status::Stopped {
                reason: format!("IMP on {which} stopped: {reason}"),
            };
            return;
        }
        match task {
            Task::SourceImp(imp) => match io::ticket(imp.record(), self.config.round) {
                Ok(ticket) => {
                    // Its subjects train after B's experiment, which is next.
                    self.with_ticket(ticket);
                }
                Err(e) => {
                    self.record.status = Status::Stopped {
                        reason: format!("A's ticket: {e}"),
                    }
                }
            },
            Task::TargetImp(imp) => {
                let record = imp.record();
                let round = &record.rounds;
                let pick = |r: usize, kind: RunKind| round.get(r).and_then(|r| r.run(kind));
                for (subject, run) in [
                    (TransferSubject::TargetDense, pick(0, RunKind::Ticket)),
                    (
                        TransferSubject::TargetTicket,
                        pick(self.config.round, RunKind::Ticket),
                    ),
                    (
                        TransferSubject::TargetRandomPrune,
                        pick(self.config.round, RunKind::RandomPrune),
                    ),
                ] {
                    if let Some((run, point)) = run.and_then(|r| Some((r, r.final_point()?))) {
                        self.record.results.push(TransferResult {
                            subject,
                            density: run.density,
                            test_accuracy: point.test_accuracy,
                            test_auc: point.test_auc,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn trainer_with(&self, engine: Box<dyn Engine>) -> Trainer {
        Trainer {
            engine,
            train_config: TrainConfig {
                optimizer: self.config.base.optimizer,
                batch_size: self.config.base.batch_size,
                order_seed: self.config.target_seed(),
            },
            iterations_done: 0,
        }
    }

    /// As the experiments do: a GPU fault restarts the network in flight on the CPU.
    fn engine_failed(&mut self, e: EngineError) {
        let on_gpu = self
            .trainer
            .as_ref()
            .is_some_and(|t| t.engine.info().kind != "cpu");
        if on_gpu {
            let cpu = Box::new(CpuEngine::new(self.target_data.clone()));
            let done = self.trainer.as_ref().map_or(0, |t| t.iterations_done);
            let mut trainer = self.trainer_with(cpu);
            trainer.iterations_done = done;
            self.trainer = Some(trainer);
            self.record.notes.push(format!(
                "the GPU engine failed ({e}); went on with the CPU engine"
            ));
            if let Some(Task::Train { training, .. }) = self.tasks.front_mut() {
                training.restart();
            }
        } else {
            self.record.status = Status::Stopped {
                reason: format!("engine error: {e}"),
            };
        }
    }

    fn advance_network(
        &mut self,
        budget: &mut usize,
        steps_done: &mut usize,
    ) -> Result<Flow, EngineError> {
        if self.trainer.is_none() {
            let engine = (self.make_engine)(self.target_data.clone());
            self.trainer = Some(self.trainer_with(engine));
        }
        let trainer = self.trainer.as_mut().expect("just made");
        match self.tasks.front_mut() {
            Some(Task::Train { subject, training }) => {
                let before = trainer.iterations_done;
                let result = trainer.drive(training, budget)?;
                *steps_done += trainer.iterations_done - before;
                let net = match result {
                    Ok(net) => net,
                    Err(flow) => return Ok(flow),
                };
                let (subject, density) = (*subject, training.mask.density());
                self.tasks.pop_front();
                if !net.is_finite() {
                    self.record.status = Status::Stopped {
                        reason: format!(
                            "{}: the weights are not finite after training (the learning rate is too high?)",
                            subject.label()
                        ),
                    };
                    return Ok(Flow::Continue);
                }
                self.tasks.push_front(Task::Evaluate {
                    subject,
                    density,
                    net,
                    partial: Partial::default(),
                });
                Ok(Flow::Continue)
            }
            Some(Task::Evaluate {
                subject,
                density,
                net,
                partial,
            }) => {
                if *budget < CHUNK_COST {
                    *budget = 0;
                    return Ok(Flow::OutOfBudget);
                }
                *budget -= CHUNK_COST;
                let test = &self.target_data.test;
                if let Some(e) = infer::evaluate_chunk(
                    net,
                    test,
                    self.target_data.positive_class,
                    &mut self.buffers,
                    partial,
                ) {
                    self.record.results.push(TransferResult {
                        subject: *subject,
                        density: *density,
                        test_accuracy: e.accuracy,
                        test_auc: e.auc,
                    });
                    self.tasks.pop_front();
                }
                Ok(Flow::Continue)
            }
            _ => Ok(Flow::Continue),
        }
    }

    fn progress(&self, steps_done: usize, waiting: bool) -> TransferProgress {
        let (in_flight, doing) = match self.tasks.front() {
            None => (0, "done".to_string()),
            Some(Task::SourceImp(imp)) => (
                imp_steps(imp),
                format!(
                    "IMP on A ({}), round {}",
                    self.source_data.name,
                    imp.record().rounds.len()
                ),
            ),
            Some(Task::TargetImp(imp)) => (
                imp_steps(imp),
                format!(
                    "IMP on B ({}), round {}",
                    self.target_data.name,
                    imp.record().rounds.len()
                ),
            ),
            Some(Task::Train { subject, .. }) => (0, format!("{} on B", subject.label())),
            Some(Task::Evaluate { subject, .. }) => {
                (0, format!("{}: test accuracy on B", subject.label()))
            }
        };
        let trained = self.trainer.as_ref().map_or(0, |t| t.iterations_done);
        TransferProgress {
            iterations_done: self.iterations_before + in_flight + trained,
            iterations: self.iterations,
            steps_done,
            doing,
            waiting,
            finished: self.is_done(),
        }
    }

    /// Run to the end (the CLI and tests); blocks, so native only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_to_end(
        &mut self,
        mut on_progress: impl FnMut(&TransferProgress),
    ) -> &TransferRecord {
        while !self.is_done() {
            let progress = self.advance(self.config.base.eval_every.max(1));
            on_progress(&progress);
            if progress.waiting {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        &self.record
    }

    /// A's ticket once known (found, or given).
    pub fn ticket(&self) -> Option<&TicketFile> {
        self.ticket.as_ref()
    }
}

/// Steps an experiment in flight has trained (finished runs' iterations plus the current).
fn imp_steps(imp: &Experiment) -> usize {
    let record = imp.record();
    let iterations = record.config.iterations;
    let finished: usize = record.rounds.iter().map(|r| r.runs.len()).sum();
    finished * iterations
}

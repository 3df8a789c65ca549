//! Ticket transfer (after Morcos et al. 2019, on our own small task pairs): is a ticket found
//! on task A a ticket on a related task B? The ticket of A (its mask and starting weights:
//! found by IMP on A here, taken from the finished experiment, or brought in a ticket file) is
//! trained on B beside
//!
//! - B's own ticket at the same round (IMP on B) and B's random pruning (a random mask at the
//!   same per-layer density, B's IMP control), with the dense network on B for reference;
//! - A's mask with fresh weights ("the mask without its initial values"; across seeds: on
//!   seed B's θ₀, the paper's "tickets are not transferable across seeds").
//!
//! Every network is trained the config's iterations and scored by its test accuracy at the
//! end, on B. The two IMP experiments are ordinary `Experiment`s (the same as `lottery-lab run`
//! on those data), each with an engine from an [`DataEngineMaker`]; the two A-mask subjects
//! train on one engine through the studies' trainer.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::training::{Flow, Trainer, Training};
use crate::data::DataSplits;
use crate::data::tasks::TransferTask;
use crate::experiment::io::{self, TicketFile};
use crate::experiment::{
    ConfigError, Controls, Experiment, ExperimentConfig, ExperimentError, ExperimentRecord,
    RunKind, Schedule, Status,
};
use crate::model::Network;
use crate::model::infer::{self, EvalBuffers, Partial};
use crate::rng;
use crate::train::{CpuEngine, Engine, EngineError, TrainConfig};

pub const TRANSFER_FORMAT: &str = "lottery-lab-transfer/1";
/// Training steps one evaluation chunk counts for in a step budget.
const CHUNK_COST: usize = 2;

/// Makes an engine for a task's data (the page's GPU engine, or the CPU).
pub type DataEngineMaker = Box<dyn FnMut(Arc<DataSplits>) -> Box<dyn Engine>>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferConfig {
    /// The network, training recipe, pruning rates and seed; its data is task A's origin.
    pub base: ExperimentConfig,
    pub task: TransferTask,
    /// The IMP round whose tickets are compared (its density).
    pub round: usize,
}

impl TransferConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=30).contains(&self.round) {
            return Err(ConfigError {
                field: "round",
                message: format!("{}: a pruned round, 1 to 30", self.round),
            });
        }
        self.imp(self.base.seed).validate()
    }

    /// The IMP experiment on either task: the base config to `round`, random pruning beside.
    pub fn imp(&self, seed: u64) -> ExperimentConfig {
        ExperimentConfig {
            schedule: Schedule::Iterative { rounds: self.round },
            controls: Controls {
                random_prune: true,
                ..Controls::NONE
            },
            keep_weights: true,
            seed,
            ..self.base.clone()
        }
    }

    /// The seed of task B's experiment.
    pub fn target_seed(&self) -> u64 {
        match self.task {
            TransferTask::OtherSeed => self.base.seed + 1,
            _ => self.base.seed,
        }
    }
}

/// One network trained on task B.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferSubject {
    TargetDense,
    TargetTicket,
    TargetRandomPrune,
    /// A's mask and A's starting weights.
    Transferred,
    /// A's mask with fresh weights (across seeds: seed B's θ₀).
    MaskFreshWeights,
}

impl TransferSubject {
    pub const ALL: [TransferSubject; 5] = [
        TransferSubject::TargetDense,
        TransferSubject::TargetTicket,
        TransferSubject::TargetRandomPrune,
        TransferSubject::Transferred,
        TransferSubject::MaskFreshWeights,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TransferSubject::TargetDense => "dense on B",
            TransferSubject::TargetTicket => "B's own ticket",
            TransferSubject::TargetRandomPrune => "random mask on B",
            TransferSubject::Transferred => "A's ticket",
            TransferSubject::MaskFreshWeights => "A's mask, fresh weights",
        }
    }
}

/// A network's score on task B after training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferResult {
    pub subject: TransferSubject,
    pub density: f64,
    /// Test accuracy on B at the end of training.
    pub test_accuracy: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_auc: Option<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferRecord {
    /// [`TRANSFER_FORMAT`].
    pub format: String,
    pub config: TransferConfig,
    /// The tasks' names ("MNIST digits (digits 0-4)").
    pub source: String,
    pub target: String,
    /// Where A's ticket came from, in words (found here, the experiment, a file).
    pub ticket_from: String,
    /// A's ticket: density, and its test accuracy on A (when known).
    pub ticket_density: f64,
    pub ticket_accuracy_on_a: Option<f32>,
    pub results: Vec<TransferResult>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl TransferRecord {
    pub fn result(&self, subject: TransferSubject) -> Option<&TransferResult> {
        self.results.iter().find(|r| r.subject == subject)
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::from("task,round,subject,density,test_accuracy,test_auc\n");
        for r in &self.results {
            out.push_str(&format!(
                "{},{},{},{:.6},{:.6},{}\n",
                self.config.task.key(),
                self.config.round,
                r.subject.label(),
                r.density,
                r.test_accuracy,
                r.test_auc.map_or(String::new(), |a| format!("{a:.6}"))
            ));
        }
        out
    }

    /// A saved study's file, checked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let record: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if record.format != TRANSFER_FORMAT {
            return Err(format!(
                "format {:?}: this app reads {TRANSFER_FORMAT}",
                record.format
            ));
        }
        if let Some(r) = record
            .results
            .iter()
            .find(|r| !(0.0..=1.0).contains(&r.test_accuracy))
        {
            return Err(format!(
                "{}: accuracy {} is not in [0, 1]",
                r.subject.label(),
                r.test_accuracy
            ));
        }
        Ok(record)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Task(String),
    #[error("the experiment: {0}")]
    Experiment(#[from] ExperimentError),
    #[error("the ticket's network ({theirs}) is not task B's ({ours})")]
    OtherNetwork { theirs: String, ours: String },
    #[error("the ticket: {0}")]
    Ticket(String),
}

/// Where a study stands.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferProgress {
    pub iterations_done: usize,
    pub iterations: usize,
    /// Training steps done during this call.
    pub steps_done: usize,
    pub doing: String,
    pub waiting: bool,
    pub finished: bool,
}

impl TransferProgress {
    pub fn fraction(&self) -> f64 {
        if self.finished {
            1.0
        } else {
            (self.iterations_done as f64 / self.iterations.max(1) as f64).min(1.0)
        }
    }
}

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
    make_engine: DataEngineMaker,
    trainer: Option<Trainer>,
    ticket: Option<TicketFile>,
    tasks: VecDeque<Task>,
    record: TransferRecord,
    buffers: EvalBuffers,
    /// Steps of the experiments already finished (theirs count from 0 each).
    iterations_before: usize,
    iterations: usize,
}

/// Where A's ticket comes from.
pub enum Source<'a> {
    /// IMP on A, run by the study.
    FindIt,
    /// A finished experiment on A's data (the page's, when A is its data).
    Experiment(&'a ExperimentRecord),
    /// A ticket file ("bring a ticket from home").
    File(Box<TicketFile>),
}

impl TransferStudy {
    /// A study of `config` on the experiment's `data` (task A's and B's origin).
    pub fn new(
        config: TransferConfig,
        data: Arc<DataSplits>,
        source: Source<'_>,
        mut make_engine: DataEngineMaker,
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
                if record.engine.kind != "cpu" || self.trainer.is_none() {
                    let engine = (self.make_engine)(self.target_data.clone());
                    self.trainer = Some(self.trainer_with(engine));
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

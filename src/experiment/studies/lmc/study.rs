//! The study's state machine: each subject trained to its branch points, two copies from
//! each θ_k, then the path between them evaluated a chunk at a time.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::Rng as _;

use super::super::training::{Flow, Trainer, Training};
use super::{
    CHUNK_COST, LMC_FORMAT, LmcConfig, LmcError, LmcPath, LmcRecord, Subject, alphas,
    interpolate_into,
};
use crate::data::DataSplits;
use crate::experiment::{DataSummary, ExperimentRecord, RunKind, Status};
use crate::model::infer::{self, EvalBuffers, Partial};
use crate::model::{Mask, Network};
use crate::rng;
use crate::train::{CpuEngine, Engine, EngineError, TrainConfig};

/// Where a study stands after an `advance`.
#[derive(Clone, Debug, PartialEq)]
pub struct LmcProgress {
    /// Training iterations done of all the study needs.
    pub iterations_done: usize,
    pub iterations: usize,
    pub paths_done: usize,
    pub paths: usize,
    /// What is happening, in words ("ticket: copy B from θ_100").
    pub doing: String,
    pub waiting: bool,
    pub finished: bool,
}

impl LmcProgress {
    pub fn fraction(&self) -> f64 {
        if self.finished {
            1.0
        } else {
            self.iterations_done as f64 / self.iterations.max(1) as f64
        }
    }
}

/// One subject's start.
#[derive(Clone)]
struct Start {
    subject: Subject,
    network: Network,
    mask: Mask,
}

enum Task {
    /// A subject trained from its start; θ_k read at each branch point.
    Prefix {
        subject: Subject,
        training: Training,
        next: usize,
        thetas: Vec<Network>,
    },
    /// The two copies from θ_k.
    Copies {
        subject: Subject,
        branch_at: usize,
        theta: Network,
        mask: Mask,
        training: Training,
        first: Option<Network>,
    },
    /// The test error along the line between the copies, a chunk at a time.
    Path {
        path: LmcPath,
        a: Network,
        b: Network,
        point: Network,
        /// The point under evaluation (None: the next point is not interpolated yet).
        partial: Option<Partial>,
    },
}

pub struct LmcStudy {
    config: LmcConfig,
    data: Arc<DataSplits>,
    trainer: Trainer,
    record: LmcRecord,
    tasks: VecDeque<Task>,
    buffers: EvalBuffers,
    iterations: usize,
    paths: usize,
}

impl LmcStudy {
    /// A study of `config` on `data`; with `config.round`, `imp` is the finished IMP
    /// experiment whose masks it measures (its round's ticket, random pruning and re-init).
    pub fn new(
        config: LmcConfig,
        data: Arc<DataSplits>,
        engine: Box<dyn Engine>,
        imp: Option<&ExperimentRecord>,
    ) -> Result<Self, LmcError> {
        config.validate()?;
        let base = &config.base;
        let spec = base.spec(&data);
        spec.check().map_err(|e| {
            LmcError::Network(format!("{e} (input {})", spec.input_shape().label()))
        })?;
        let theta_init = Network::init(&spec, base.init, &mut rng::rng(base.seed, "init"));
        let mut starts = vec![Start {
            subject: Subject::Dense,
            network: theta_init.clone(),
            mask: Mask::dense(&spec),
        }];
        let mut notes = Vec::new();
        if let Some(round) = config.round {
            let imp = imp.ok_or(LmcError::NoExperiment { round })?;
            if imp.spec != spec {
                return Err(LmcError::OtherNetwork {
                    theirs: imp.spec.label(),
                    ours: spec.label(),
                });
            }
            let record = imp.rounds.get(round).ok_or(LmcError::NoSuchRound {
                round,
                rounds: imp.rounds.len(),
            })?;
            let ticket = record.run(RunKind::Ticket).ok_or(LmcError::NoSuchRound {
                round,
                rounds: imp.rounds.len(),
            })?;
            starts.push(Start {
                subject: Subject::Ticket,
                network: theta_init.clone(),
                mask: ticket.mask.clone(),
            });
            match record.run(RunKind::RandomPrune) {
                Some(random) => starts.push(Start {
                    subject: Subject::RandomPrune,
                    network: theta_init.clone(),
                    mask: random.mask.clone(),
                }),
                None => notes.push(format!(
                    "round {round} has no random-pruning run (its control was off): that path is left out"
                )),
            }
            // The fresh weights the experiment's re-init control drew this round.
            let fresh = Network::init(
                &spec,
                base.init,
                &mut rng::rng_indexed(base.seed, "reinit", round as u64),
            );
            starts.push(Start {
                subject: Subject::Reinit,
                network: fresh,
                mask: ticket.mask.clone(),
            });
        }
        let train_config = TrainConfig {
            optimizer: base.optimizer,
            batch_size: base.batch_size,
            order_seed: base.seed,
        };
        let last = *config.branch_at.last().expect("validated");
        let per_subject = last
            + config
                .branch_at
                .iter()
                .map(|k| 2 * (base.iterations - k))
                .sum::<usize>();
        let paths = starts.len() * config.branch_at.len();
        let tasks = starts
            .into_iter()
            .map(|s| Task::Prefix {
                subject: s.subject,
                training: Training::new(s.network, s.mask, base.seed, config.branch_at[0]),
                next: 0,
                thetas: Vec::new(),
            })
            .collect();
        let record = LmcRecord {
            format: LMC_FORMAT.into(),
            config: config.clone(),
            spec,
            data: DataSummary::of(&data),
            engine: engine.info(),
            paths: Vec::new(),
            status: Status::Running,
            notes,
        };
        Ok(Self {
            iterations: per_subject * (paths / config.branch_at.len()),
            config,
            data,
            trainer: Trainer {
                engine,
                train_config,
                iterations_done: 0,
            },
            record,
            tasks,
            buffers: EvalBuffers::default(),
            paths,
        })
    }

    /// A saved study, shown as it was: nothing left to train.
    pub fn reopened(record: LmcRecord, data: Arc<DataSplits>) -> Self {
        let paths = record.config.branch_at.len() * Subject::ALL.len();
        Self {
            config: record.config.clone(),
            trainer: Trainer {
                engine: Box::new(CpuEngine::new(data.clone())),
                train_config: TrainConfig {
                    optimizer: record.config.base.optimizer,
                    batch_size: record.config.base.batch_size,
                    order_seed: record.config.base.seed,
                },
                iterations_done: 0,
            },
            data,
            tasks: VecDeque::new(),
            buffers: EvalBuffers::default(),
            iterations: 0,
            paths: paths.min(record.paths.len()),
            record: LmcRecord {
                status: match record.status {
                    Status::Running => Status::Stopped {
                        reason: "saved before it finished".into(),
                    },
                    other => other,
                },
                ..record
            },
        }
    }

    pub fn record(&self) -> &LmcRecord {
        &self.record
    }

    pub fn is_done(&self) -> bool {
        self.record.status != Status::Running
    }

    /// Do at most `step_budget` training steps (an evaluation chunk counts as
    /// [`CHUNK_COST`]), then return; with an engine that answers later, as soon as it waits.
    pub fn advance(&mut self, step_budget: usize) -> LmcProgress {
        let mut budget = step_budget.max(1);
        let mut waiting = false;
        while !self.is_done() {
            match self.advance_once(&mut budget) {
                Ok(Flow::Continue) => {}
                Ok(Flow::OutOfBudget) => break,
                Ok(Flow::Waiting) => {
                    waiting = true;
                    break;
                }
                Err(e) if self.record.engine.kind != "cpu" => {
                    // As the IMP experiment does: the task in flight restarts on the CPU.
                    self.trainer.engine = Box::new(CpuEngine::new(self.data.clone()));
                    self.record.engine = self.trainer.engine.info();
                    self.record.notes.push(format!(
                        "the GPU engine failed ({e}); went on with the CPU engine"
                    ));
                    if let Some(Task::Prefix { training, .. } | Task::Copies { training, .. }) =
                        self.tasks.front_mut()
                    {
                        training.restart();
                    }
                }
                Err(e) => {
                    self.record.status = Status::Stopped {
                        reason: format!("engine error: {e}"),
                    };
                }
            }
        }
        self.progress(waiting)
    }

    /// Run to the end (the CLI and tests); blocks, so native only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_to_end(&mut self, mut on_progress: impl FnMut(&LmcProgress)) {
        while !self.is_done() {
            let progress = self.advance(self.config.base.eval_every.max(1));
            on_progress(&progress);
            if progress.waiting {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }

    fn progress(&self, waiting: bool) -> LmcProgress {
        let doing = match self.tasks.front() {
            None => String::new(),
            Some(Task::Prefix {
                subject, training, ..
            }) => format!("{}: training to θ_{}", subject.label(), training.target),
            Some(Task::Copies {
                subject,
                branch_at,
                first,
                ..
            }) => format!(
                "{}: copy {} from θ_{branch_at}",
                subject.label(),
                if first.is_some() { "B" } else { "A" }
            ),
            Some(Task::Path { path, .. }) => {
                format!(
                    "{}: the path from θ_{}",
                    path.subject.label(),
                    path.branch_at
                )
            }
        };
        LmcProgress {
            iterations_done: self.trainer.iterations_done,
            iterations: self.iterations,
            paths_done: self.record.paths.len(),
            paths: self.paths,
            doing,
            waiting,
            finished: self.is_done(),
        }
    }

    fn advance_once(&mut self, budget: &mut usize) -> Result<Flow, EngineError> {
        let Some(task) = self.tasks.front_mut() else {
            self.record.status = Status::Finished;
            return Ok(Flow::Continue);
        };
        match task {
            Task::Prefix {
                subject,
                training,
                next,
                thetas,
            } => {
                let theta = match self.trainer.drive(training, budget)? {
                    Ok(theta) => theta,
                    Err(flow) => return Ok(flow),
                };
                thetas.push(theta);
                *next += 1;
                if let Some(&k) = self.config.branch_at.get(*next) {
                    // Train on from here (same engine state, same data order).
                    training.target = k;
                    training.in_flight = false;
                    return Ok(Flow::Continue);
                }
                let (subject, mask) = (*subject, training.mask.clone());
                let thetas = std::mem::take(thetas);
                self.tasks.pop_front();
                for (theta, &k) in thetas.into_iter().zip(&self.config.branch_at).rev() {
                    let training = self.copy_training(&theta, &mask, k, 'A');
                    self.tasks.push_front(Task::Copies {
                        subject,
                        branch_at: k,
                        theta,
                        mask: mask.clone(),
                        training,
                        first: None,
                    });
                }
                Ok(Flow::Continue)
            }
            Task::Copies {
                subject,
                branch_at,
                theta,
                mask,
                training,
                first,
            } => {
                let trained = match self.trainer.drive(training, budget)? {
                    Ok(trained) => trained,
                    Err(flow) => return Ok(flow),
                };
                if !trained.is_finite() {
                    self.record.status = Status::Stopped {
                        reason: format!(
                            "{}: a copy's weights are not finite after training (the learning rate is too high?)",
                            subject.label()
                        ),
                    };
                    return Ok(Flow::Continue);
                }
                match first.take() {
                    None => {
                        *first = Some(trained);
                        let (theta, mask, k) = (theta.clone(), mask.clone(), *branch_at);
                        let next = self.copy_training(&theta, &mask, k, 'B');
                        if let Some(Task::Copies { training, .. }) = self.tasks.front_mut() {
                            *training = next;
                        }
                    }
                    Some(a) => {
                        let alphas = alphas(self.config.points);
                        let path = LmcPath {
                            subject: *subject,
                            density: mask.density(),
                            branch_at: *branch_at,
                            test_error: Vec::with_capacity(alphas.len()),
                            test_loss: Vec::with_capacity(alphas.len()),
                            alphas,
                        };
                        let point = a.clone();
                        self.tasks.pop_front();
                        self.tasks.push_front(Task::Path {
                            path,
                            a,
                            b: trained,
                            point,
                            partial: None,
                        });
                    }
                }
                Ok(Flow::Continue)
            }
            Task::Path {
                path,
                a,
                b,
                point,
                partial,
            } => {
                if *budget < CHUNK_COST {
                    *budget = 0;
                    return Ok(Flow::OutOfBudget);
                }
                *budget -= CHUNK_COST;
                let started = partial.get_or_insert_with(|| {
                    interpolate_into(a, b, path.alphas[path.test_error.len()], point);
                    Partial::default()
                });
                if let Some(e) = infer::evaluate_chunk(
                    point,
                    &self.data.test,
                    self.data.positive_class,
                    &mut self.buffers,
                    started,
                ) {
                    path.test_error.push(1.0 - e.accuracy);
                    path.test_loss.push(e.loss);
                    // The next point is interpolated when its turn comes.
                    *partial = None;
                    if path.test_error.len() == path.alphas.len() {
                        let Some(Task::Path { path, .. }) = self.tasks.pop_front() else {
                            unreachable!("the front task is this path");
                        };
                        self.record.paths.push(path);
                    }
                }
                Ok(Flow::Continue)
            }
        }
    }

    /// A copy from θ_k: its own data order ('A' or 'B'), trained to the full length.
    fn copy_training(&self, theta: &Network, mask: &Mask, k: usize, copy: char) -> Training {
        let order_seed = rng::rng(self.config.base.seed, &format!("lmc-copy-{copy}")).random();
        Training::new(
            theta.clone(),
            mask.clone(),
            order_seed,
            self.config.base.iterations - k,
        )
    }
}

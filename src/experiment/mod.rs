//! The experiment: iterative magnitude pruning with its controls, as an incremental state
//! machine. [`Experiment::advance`] does a bounded amount of work and returns; an engine that
//! answers later (the GPU) simply leaves the machine waiting until a later call.

pub mod claims;
mod config;
mod divergence;
pub mod fields;
pub mod io;
pub mod link;
pub mod presets;
mod record;
mod scoring;
pub mod seeds;
pub mod studies;

#[cfg(not(target_arch = "wasm32"))]
pub use scoring::mask_at_init_blocking;

pub use config::{ConfigError, Controls, ExperimentConfig, MAX_LAYERS, ResetMode, Schedule};
pub use record::{
    DataSummary, EarlyStop, ExperimentRecord, RECORD_FORMAT, RecordError, RoundRecord, RunKind,
    RunRecord, Status,
};

use std::collections::VecDeque;
use std::sync::Arc;

use crate::data::DataSplits;
use crate::model::{Mask, NetSpec, Network};
use crate::prune::{self, Granularity, PruneMethod, PruneTarget, Scores};
use crate::rng;
use crate::train::{Engine, EngineError, EvalPoint, Job, JobResult, TrainConfig};

/// Where an experiment stands after an `advance`.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Round in flight (0 = the dense network).
    pub round: usize,
    pub rounds: usize,
    pub run: Option<RunKind>,
    /// Runs finished in this round, and how many it has.
    pub runs_done: usize,
    pub runs_in_round: usize,
    pub iteration: usize,
    pub iterations: usize,
    /// Training steps done during this call.
    pub steps_done: usize,
    /// The engine holds submitted work whose results are not back yet.
    pub waiting: bool,
    pub finished: bool,
}

impl Progress {
    /// Fraction of all training done, in `0..=1`.
    pub fn fraction(&self) -> f64 {
        if self.finished {
            return 1.0;
        }
        let per_round = self.runs_in_round.max(1) as f64;
        let in_run = self.iteration as f64 / self.iterations.max(1) as f64;
        let in_round = (self.runs_done as f64 + in_run) / per_round;
        ((self.round as f64 + in_round) / (self.rounds + 1) as f64).min(1.0)
    }
}

/// One training run to do: its starting weights and its mask.
struct PlannedRun {
    kind: RunKind,
    start: Network,
    mask: Mask,
}

/// A run of the round, made ready only when its turn comes: drawing fresh weights or a random
/// mask, or pruning the dense network, takes milliseconds for LeNet, and doing all of a
/// round's at once would stall the app's frame that finishes the round.
enum Planned {
    Ready(PlannedRun),
    /// The ticket's mask with fresh random weights.
    Reinit {
        mask: Mask,
    },
    /// A random mask with the ticket's per-layer sizes, from the ticket's starting weights.
    RandomPrune {
        like: Mask,
        start: Network,
    },
    /// The dense trained network's unstructured magnitude mask at `like`'s per-layer sizes.
    Unstructured {
        like: Mask,
        start: Network,
    },
    /// The dense trained network's 2:4 mask.
    TwoFour {
        start: Network,
    },
    /// A narrower dense network with about `density` of the weights, freshly initialised.
    SmallDense {
        density: f64,
    },
    /// The dense trained network pruned straight to the round's size.
    OneShot {
        target: PruneTarget,
        start: Network,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Awaiting {
    Trained,
    Evaluated,
    RewindWeights,
    /// The dense run's weights at an epoch's end, for the early-bird search.
    EarlyBirdWeights,
    FinalWeights,
}

struct ActiveRun {
    plan: PlannedRun,
    loaded: bool,
    iteration: usize,
    curve: Vec<EvalPoint>,
    awaiting: Option<Awaiting>,
    /// Why training this run is pointless (layer collapse): it is evaluated once, as it
    /// starts, and recorded as untrainable.
    untrainable: Option<String>,
    /// Structured pruning: the smaller dense network the engine trains instead (its weights
    /// come back in the full shape).
    shrunk: Option<prune::Shrunk>,
}

pub struct Experiment {
    config: ExperimentConfig,
    data: Arc<DataSplits>,
    engine: Box<dyn Engine>,
    spec: NetSpec,
    train_config: TrainConfig,
    record: ExperimentRecord,
    theta_init: Network,
    theta_rewind: Option<Network>,
    dense_trained: Option<Network>,
    /// The ticket's mask and trained weights after the last finished round.
    ticket_mask: Mask,
    ticket_trained: Option<Network>,
    queue: VecDeque<Planned>,
    active: Option<ActiveRun>,
    round: usize,
    current_round: Vec<RunRecord>,
    runs_in_round: usize,
    /// A method at initialisation's scores at θ₀ (every round ranks them to its size).
    init_scores: Option<Scores>,
    /// Scoring in progress: the round is planned when it is done.
    scoring: Option<scoring::Scoring>,
    /// The data's chance level, what a diverged or stuck run is told by.
    chance: divergence::ChanceLevel,
}

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}

/// Why a saved record cannot be picked up again.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Start(#[from] ExperimentError),
    #[error("data: the file was made on {saved}, which does not match this data ({here})")]
    OtherData { saved: String, here: String },
    #[error(
        "theta_init: the file's initial weights are not the ones its seed gives: it was edited or made by another version"
    )]
    OtherInit,
}

impl Experiment {
    /// A new experiment on `data` with `engine`. Nothing is trained until `advance`.
    pub fn new(
        config: ExperimentConfig,
        data: Arc<DataSplits>,
        engine: Box<dyn Engine>,
    ) -> Result<Self, ExperimentError> {
        config.validate()?;
        if config.batch_size > data.train.len() {
            return Err(ConfigError {
                field: "batch",
                message: format!(
                    "batch size {} is larger than the {} training samples",
                    config.batch_size,
                    data.train.len()
                ),
            }
            .into());
        }
        let spec = config.spec(&data);
        spec.check().map_err(|e| ConfigError {
            field: "hidden",
            message: format!("{e} (input {})", spec.input_shape().label()),
        })?;
        check_footprint(&config, &spec)?;
        let theta_init = Network::init(&spec, config.init, &mut rng::rng(config.seed, "init"));
        let train_config = TrainConfig {
            optimizer: config.optimizer,
            batch_size: config.batch_size,
            order_seed: config.seed,
        };
        let record = ExperimentRecord {
            format: RECORD_FORMAT.into(),
            config: config.clone(),
            spec: spec.clone(),
            data: DataSummary::of(&data),
            engine: engine.info(),
            theta_init: config.keep_weights.then(|| theta_init.clone()),
            theta_rewind: None,
            rounds: Vec::new(),
            status: Status::Running,
            notes: Vec::new(),
            early_bird: config
                .early_bird
                .map(|d| prune::EarlyBirdTrace::new(d, prune::EARLY_BIRD_EPSILON)),
        };
        let dense = Mask::dense(&spec);
        let chance = divergence::ChanceLevel::of(&data);
        let mut experiment = Self {
            queue: VecDeque::from([Planned::Ready(PlannedRun {
                kind: RunKind::Ticket,
                start: theta_init.clone(),
                mask: dense.clone(),
            })]),
            runs_in_round: 1,
            config,
            data,
            engine,
            spec,
            train_config,
            record,
            theta_init,
            theta_rewind: None,
            dense_trained: None,
            ticket_mask: dense,
            ticket_trained: None,
            active: None,
            round: 0,
            current_round: Vec::new(),
            init_scores: None,
            scoring: None,
            chance,
        };
        if experiment.config.reset == (ResetMode::Rewind { iteration: 0 }) {
            experiment.theta_rewind = Some(experiment.theta_init.clone());
        }
        Ok(experiment)
    }

    /// Start at round 1, without training the dense network first: for a mask chosen at θ₀
    /// and trained from θ₀, which needs nothing from the dense run (the study "prune at
    /// initialisation" compares such masks with an IMP experiment that already trained it).
    /// Its record has no round 0. Refused, naming the field, for configs that do need the
    /// dense run (IMP, rewinding, the one-shot, unstructured and 2:4 controls, early bird).
    pub fn without_dense_run(mut self) -> Result<Self, ConfigError> {
        let c = &self.config;
        let needs_dense = [
            (!c.method.at_init(), "method"),
            (c.reset != ResetMode::Init, "reset"),
            (c.early_bird.is_some(), "early_bird"),
            (
                c.controls.one_shot || c.controls.unstructured || c.controls.two_four,
                "controls",
            ),
        ];
        if let Some((_, field)) = needs_dense.into_iter().find(|(needs, _)| *needs) {
            return Err(ConfigError {
                field,
                message: "this config needs the dense network trained first".into(),
            });
        }
        self.queue.clear();
        self.runs_in_round = 0;
        // Round 0 has no runs: this records nothing and plans round 1.
        self.finish_round();
        Ok(self)
    }

    /// Pick up a saved record (an imported file, or the page's saved state after a reload):
    /// its finished rounds are kept as they are, and a record that was still running goes on
    /// with the next round exactly as the uninterrupted experiment would have (tested).
    /// A record without weights can be viewed but not continued; it says so in its status.
    pub fn resume(
        saved: ExperimentRecord,
        data: Arc<DataSplits>,
        engine: Box<dyn Engine>,
    ) -> Result<Self, ResumeError> {
        saved.check()?;
        let mut experiment = Self::new(saved.config.clone(), data, engine)?;
        let data_matches = {
            let (a, b) = (&saved.data, &experiment.record.data);
            a.train == b.train && a.val == b.val && a.test == b.test && a.classes == b.classes
        };
        if saved.spec != experiment.spec || !data_matches {
            return Err(ResumeError::OtherData {
                saved: format!(
                    "{} ({} training samples, network {})",
                    saved.data.name,
                    saved.data.train,
                    saved.spec.label()
                ),
                here: format!(
                    "{}, {} training samples, network {}",
                    experiment.record.data.name,
                    experiment.record.data.train,
                    experiment.spec.label()
                ),
            });
        }
        if let Some(theta) = &saved.theta_init
            && *theta != experiment.theta_init
        {
            return Err(ResumeError::OtherInit);
        }
        let record = &mut experiment.record;
        record.rounds = saved.rounds;
        record.notes = saved.notes;
        record.theta_rewind = saved.theta_rewind.clone();
        record.early_bird = saved.early_bird.clone();
        record.status = saved.status;
        if saved.engine != record.engine && !record.rounds.is_empty() {
            record.notes.push(format!(
                "rounds 0-{} were trained on {}",
                record.rounds.len() - 1,
                saved.engine.name
            ));
        }
        if experiment.record.rounds.is_empty() || experiment.is_done() {
            return Ok(experiment);
        }
        // Still running: rebuild the state the next round is planned from.
        let rounds = &experiment.record.rounds;
        let last = rounds.last().expect("not empty");
        let ticket = last.run(RunKind::Ticket).expect("checked");
        let dense = rounds[0].run(RunKind::Ticket).expect("checked");
        let rewind_needed =
            matches!(experiment.config.reset, ResetMode::Rewind { iteration } if iteration > 0);
        let state = (
            ticket.trained.clone(),
            dense.trained.clone(),
            ticket.mask.clone(),
            last.round,
        );
        match state {
            (Some(trained), Some(dense), mask, round)
                if !rewind_needed || saved.theta_rewind.is_some() =>
            {
                experiment.dense_trained = Some(dense);
                experiment.ticket_trained = Some(trained);
                experiment.ticket_mask = mask;
                if rewind_needed {
                    experiment.theta_rewind = saved.theta_rewind;
                }
                experiment.round = round;
                experiment.queue.clear();
                experiment.runs_in_round = 0;
                experiment.finish_round();
            }
            _ => experiment.record.status = Status::Stopped {
                reason:
                    "the saved record has no trained weights, so it can be viewed but not continued"
                        .into(),
            },
        }
        Ok(experiment)
    }

    pub fn record(&self) -> &ExperimentRecord {
        &self.record
    }

    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    pub fn data(&self) -> &Arc<DataSplits> {
        &self.data
    }

    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    pub fn theta_init(&self) -> &Network {
        &self.theta_init
    }

    pub fn is_done(&self) -> bool {
        !matches!(self.record.status, Status::Running)
    }

    /// The round still training and its runs that have finished (the ticket's point can be
    /// drawn the moment its run ends, before the round's controls are done).
    pub fn round_in_progress(&self) -> Option<(usize, &[RunRecord])> {
        (!self.is_done() && !self.current_round.is_empty())
            .then_some((self.round, self.current_round.as_slice()))
    }

    /// The eval points of the run in flight (for live learning curves).
    pub fn live_curve(&self) -> Option<(RunKind, &[EvalPoint])> {
        self.active
            .as_ref()
            .map(|a| (a.plan.kind, a.curve.as_slice()))
    }

    /// Swap in another engine (e.g. the CPU one after a lost GPU). Finished rounds and runs
    /// are kept; the run in flight restarts from its starting weights.
    pub fn replace_engine(&mut self, engine: Box<dyn Engine>, reason: &str) {
        self.engine = engine;
        self.record.engine = self.engine.info();
        self.record
            .notes
            .push(format!("switched to {}: {reason}", self.record.engine.name));
        if let Some(active) = &mut self.active {
            active.loaded = false;
            active.iteration = 0;
            active.curve.clear();
            active.awaiting = None;
        }
    }

    /// Do at most `step_budget` training steps (plus the evaluations and bookkeeping they
    /// lead to), then return. With an engine that answers later, returns as soon as it is
    /// waiting for results.
    pub fn advance(&mut self, step_budget: usize) -> Progress {
        let mut budget = step_budget;
        let mut steps_done = 0;
        let mut waiting = false;
        while !self.is_done() {
            match self.advance_once(&mut budget, &mut steps_done) {
                Ok(Flow::Continue) => {}
                Ok(Flow::OutOfBudget) | Ok(Flow::Yield) => break,
                Ok(Flow::Waiting) => {
                    waiting = true;
                    break;
                }
                Err(e) if self.record.engine.kind != "cpu" => {
                    // A GPU fault (lost device, validation error): finished rounds and runs are
                    // kept, the run in flight restarts on the CPU engine, and the record says so.
                    let cpu = Box::new(crate::train::CpuEngine::new(self.data.clone()));
                    self.replace_engine(cpu, &format!("the GPU engine failed ({e})"));
                }
                Err(e) => self.stop(format!("engine error: {e}")),
            }
        }
        self.progress(steps_done, waiting)
    }

    /// Run to the end (the CLI and tests), calling `on_progress` after each slice. It blocks,
    /// so it exists natively only: the page advances a slice per frame (and a blocking sleep
    /// panics on wasm32).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_to_end(&mut self, mut on_progress: impl FnMut(&Progress, &ExperimentRecord)) {
        while !self.is_done() {
            let progress = self.advance(self.config.eval_every.max(1));
            on_progress(&progress, &self.record);
            if progress.waiting {
                // An asynchronous engine: give it a moment instead of spinning.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }

    fn progress(&self, steps_done: usize, waiting: bool) -> Progress {
        Progress {
            round: self.round,
            rounds: self.config.rounds(),
            run: self.active.as_ref().map(|a| a.plan.kind),
            runs_done: self.current_round.len(),
            runs_in_round: self.runs_in_round,
            iteration: self.active.as_ref().map_or(0, |a| a.iteration),
            iterations: self.config.iterations,
            steps_done,
            waiting,
            finished: self.is_done(),
        }
    }

    fn stop(&mut self, reason: String) {
        if let Some(active) = self.active.take() {
            let mut run = self.run_record(&active, None);
            run.stopped = Some(reason.clone());
            self.current_round.push(run);
        }
        if !self.current_round.is_empty() {
            self.record.rounds.push(RoundRecord {
                round: self.round,
                runs: std::mem::take(&mut self.current_round),
            });
        }
        self.record.status = Status::Stopped { reason };
    }

    fn advance_once(
        &mut self,
        budget: &mut usize,
        steps_done: &mut usize,
    ) -> Result<Flow, EngineError> {
        if self.scoring.is_some() {
            return self.advance_scoring();
        }
        let Some(active) = &mut self.active else {
            match self.queue.pop_front() {
                Some(planned) => {
                    let ready = matches!(planned, Planned::Ready(_));
                    let plan = self.make_ready(planned);
                    let untrainable = collapse_reason(&plan.mask, &self.spec)
                        .map(|why| format!("untrainable: layer collapse ({why})"));
                    self.active = Some(ActiveRun {
                        plan,
                        loaded: false,
                        iteration: 0,
                        curve: Vec::new(),
                        awaiting: None,
                        untrainable,
                        shrunk: None,
                    });
                    if !ready {
                        // That took a few milliseconds: loading can wait for the next call.
                        return Ok(Flow::Yield);
                    }
                }
                None => {
                    self.finish_round();
                    // Pruning for the next round is done: give the frame back.
                    return Ok(Flow::Yield);
                }
            }
            return Ok(Flow::Continue);
        };

        if !active.loaded {
            let shrunk = (self.config.trains_smaller_network(active.plan.kind))
                .then(|| prune::Shrunk::of(&self.spec, &active.plan.mask))
                .filter(|s| s.units.removes_any());
            match &shrunk {
                Some(small) => self.engine.load(
                    &small.network(&active.plan.start),
                    &small.mask(&active.plan.mask),
                    &self.train_config,
                )?,
                None => {
                    self.engine
                        .load(&active.plan.start, &active.plan.mask, &self.train_config)?
                }
            }
            active.shrunk = shrunk;
            active.loaded = true;
            // The point at iteration 0: the untrained network.
            self.engine.submit(Job::Train {
                steps: 0,
                evaluate: true,
            })?;
            active.awaiting = Some(Awaiting::Evaluated);
            return Ok(Flow::Continue);
        }

        if let Some(awaiting) = active.awaiting {
            let Some(mut result) = self.engine.poll()? else {
                return Ok(Flow::Waiting);
            };
            active.awaiting = None;
            if let (Some(small), JobResult::Weights(net)) = (&active.shrunk, &mut result) {
                *net = small.expand(net, &active.plan.start);
            }
            match (awaiting, result) {
                (Awaiting::Trained, JobResult::Trained { iteration }) => {
                    active.iteration = iteration
                }
                (Awaiting::Evaluated, JobResult::Evaluated(point)) => {
                    active.iteration = point.iteration;
                    active.curve.push(point);
                    let lr = self.config.optimizer.lr();
                    if let Some(reason) = divergence::diverged(&active.curve, &self.chance, lr) {
                        self.stop(reason);
                        return Ok(Flow::Continue);
                    }
                }
                (Awaiting::RewindWeights, JobResult::Weights(net)) => {
                    if self.config.keep_weights {
                        self.record.theta_rewind = Some(net.clone());
                    }
                    self.theta_rewind = Some(net)
                }
                (Awaiting::EarlyBirdWeights, JobResult::Weights(net)) => {
                    self.observe_early_bird(active_iteration(&self.active), &net);
                }
                (Awaiting::FinalWeights, JobResult::Weights(net)) => {
                    // A dense network that learned nothing makes every ticket meaningless:
                    // the experiment stops there, the run kept and flagged.
                    let stuck = (self.round == 0 && active.plan.kind == RunKind::Ticket)
                        .then(|| {
                            let lr = self.config.optimizer.lr();
                            divergence::stuck_at_chance(&active.curve, &self.chance, lr)
                        })
                        .flatten();
                    self.finish_run(net);
                    if let Some(reason) = stuck {
                        if let Some(run) = self.current_round.last_mut() {
                            run.stopped = Some(reason.clone());
                        }
                        self.stop(reason);
                    }
                    return Ok(Flow::Continue);
                }
                (expected, got) => {
                    return Err(EngineError::Gpu(format!(
                        "engine answered {got:?} while {expected:?} was expected"
                    )));
                }
            }
            return Ok(Flow::Continue);
        }

        // Nothing in flight: decide the next job for this run.
        let iteration = active.iteration;
        let total = self.config.iterations;
        let wants_rewind = self.round == 0
            && self.theta_rewind.is_none()
            && matches!(self.config.reset, ResetMode::Rewind { iteration: k } if k == iteration);
        if wants_rewind {
            self.engine.submit(Job::ReadWeights)?;
            active.awaiting = Some(Awaiting::RewindWeights);
            return Ok(Flow::Continue);
        }
        // The early-bird search: the dense run's mask after every epoch.
        // (Fields, not `epoch_length()`: `active` borrows self mutably.)
        let epoch = self
            .data
            .train
            .len()
            .div_ceil(self.config.batch_size)
            .max(1);
        let wants_early_bird = self.round == 0
            && iteration > 0
            && iteration.is_multiple_of(epoch)
            && self
                .record
                .early_bird
                .as_ref()
                .is_some_and(|t| t.points.last().is_none_or(|p| p.iteration < iteration));
        if wants_early_bird {
            self.engine.submit(Job::ReadWeights)?;
            active.awaiting = Some(Awaiting::EarlyBirdWeights);
            return Ok(Flow::Continue);
        }
        if iteration >= total || active.untrainable.is_some() {
            self.engine.submit(Job::ReadWeights)?;
            active.awaiting = Some(Awaiting::FinalWeights);
            return Ok(Flow::Continue);
        }
        // Train up to the next boundary: an eval point, the rewind point, or the end.
        let mut boundary = ((iteration / self.config.eval_every) + 1) * self.config.eval_every;
        if let ResetMode::Rewind { iteration: k } = self.config.reset
            && self.round == 0
            && k > iteration
        {
            boundary = boundary.min(k);
        }
        if self.round == 0 && self.record.early_bird.is_some() {
            boundary = boundary.min((iteration / epoch + 1) * epoch);
        }
        let boundary = boundary.min(total);
        if *budget == 0 {
            return Ok(Flow::OutOfBudget);
        }
        let steps = (boundary - iteration).min(*budget);
        *budget -= steps;
        *steps_done += steps;
        let reaches_boundary = iteration + steps == boundary;
        let evaluate = reaches_boundary
            && (boundary.is_multiple_of(self.config.eval_every) || boundary == total);
        self.engine.submit(Job::Train { steps, evaluate })?;
        active.awaiting = Some(if evaluate {
            Awaiting::Evaluated
        } else {
            Awaiting::Trained
        });
        Ok(Flow::Continue)
    }

    fn run_record(&self, active: &ActiveRun, trained: Option<Network>) -> RunRecord {
        let mask = &active.plan.mask;
        RunRecord {
            kind: active.plan.kind,
            density: mask.density(),
            layer_density: mask.layer_densities(),
            collapsed_layers: mask.collapsed_layers_in(&self.spec),
            early_stop: EarlyStop::from_curve(&active.curve),
            curve: active.curve.clone(),
            mask: mask.clone(),
            trained: if self.config.keep_weights {
                trained
            } else {
                None
            },
            stopped: active.untrainable.clone(),
        }
    }

    fn finish_run(&mut self, trained: Network) {
        let Some(active) = self.active.take() else {
            return;
        };
        let run = self.run_record(&active, Some(trained.clone()));
        if active.plan.kind == RunKind::Ticket {
            if self.round == 0 {
                self.dense_trained = Some(trained.clone());
            }
            self.ticket_mask = active.plan.mask.clone();
            self.ticket_trained = Some(trained);
        }
        self.current_round.push(run);
    }

    /// All runs of the round are done: record it and plan the next one.
    fn finish_round(&mut self) {
        let runs = std::mem::take(&mut self.current_round);
        if !runs.is_empty() {
            self.record.rounds.push(RoundRecord {
                round: self.round,
                runs,
            });
        }
        if self.round >= self.config.rounds() {
            self.record.status = Status::Finished;
            return;
        }
        self.round += 1;
        self.plan_round();
    }

    /// Choose the round's mask (by IMP, or by the method at initialisation, which may first
    /// need scoring), then plan its runs.
    fn plan_round(&mut self) {
        let method = self.config.method;
        let keep = self.target(self.round).kept();
        let dense = Mask::dense(&self.spec);
        let mask = match method {
            PruneMethod::Magnitude => {
                let trained = self
                    .ticket_trained
                    .as_ref()
                    .expect("the ticket of the previous round finished");
                match self.config.granularity {
                    Granularity::Weights => {
                        prune::magnitude_prune(trained, &self.ticket_mask, &self.target(self.round))
                    }
                    Granularity::NOfM { n, m } => {
                        prune::n_of_m_prune(trained, &self.ticket_mask, n, m)
                    }
                    Granularity::Neurons => prune::structured_prune(
                        trained,
                        &self.ticket_mask,
                        &self.unit_counts(self.round),
                    ),
                }
            }
            PruneMethod::Synflow => {
                self.scoring = Some(scoring::Scoring::synflow(&self.theta_init, keep));
                return;
            }
            _ => {
                if self.init_scores.is_none() {
                    let Some(scores) =
                        scoring::scores_without_engine(method, &self.theta_init, self.config.seed)
                    else {
                        self.scoring =
                            Some(scoring::Scoring::gradients(method, self.config.batch_size));
                        return;
                    };
                    self.init_scores = Some(scores);
                }
                let scores = self.init_scores.as_ref().expect("just set");
                prune::keep_top_global(scores, &dense, keep)
            }
        };
        self.plan_runs(mask);
    }

    /// Scoring at initialisation, a bounded step at a time; the round is planned once done.
    fn advance_scoring(&mut self) -> Result<Flow, EngineError> {
        let scoring = self.scoring.as_mut().expect("called while scoring");
        let scored = scoring.advance(self.engine.as_mut(), &self.theta_init, &self.train_config)?;
        match scored {
            scoring::Scored::Waiting => Ok(Flow::Waiting),
            scoring::Scored::Working => Ok(Flow::Yield),
            scoring::Scored::Scores(scores, note) => {
                self.scoring = None;
                self.record.notes.push(note);
                self.init_scores = Some(scores);
                self.plan_round();
                Ok(Flow::Yield)
            }
            scoring::Scored::Mask(mask) => {
                self.scoring = None;
                self.plan_runs(mask);
                Ok(Flow::Yield)
            }
        }
    }

    /// The round's runs: the mask's own (the ticket, or the method's mask at θ₀) and the
    /// controls beside it.
    fn plan_runs(&mut self, mask: Mask) {
        let round = self.round;
        let target = self.target(round);
        let at_init = self.config.method.at_init();
        if let Some(why) = collapse_reason(&mask, &self.spec) {
            self.record.notes.push(format!(
                "round {round}: layer collapse before training, {}'s mask: {why}; its runs are \
                 not trained",
                self.config.method.label(),
            ));
        }

        // Controls start from the ticket's reset weights (theta_0 or theta_k).
        let reset_start = match self.config.reset {
            ResetMode::Rewind { .. } => self
                .theta_rewind
                .clone()
                .unwrap_or_else(|| self.theta_init.clone()),
            _ => self.theta_init.clone(),
        };
        let fresh = |stream: &str| {
            Network::init(
                &self.spec,
                self.config.init,
                &mut rng::rng_indexed(self.config.seed, stream, round as u64),
            )
        };
        let ticket_start = match self.config.reset {
            ResetMode::Init | ResetMode::Rewind { .. } => reset_start.clone(),
            ResetMode::Reinit => fresh("reset-reinit"),
            ResetMode::FineTune => self
                .ticket_trained
                .clone()
                .expect("the ticket of the previous round finished"),
        };

        let mut plans = vec![Planned::Ready(PlannedRun {
            kind: RunKind::Ticket,
            start: ticket_start,
            mask: mask.clone(),
        })];
        // The early-bird ticket, trained from the ticket's start beside the first round.
        if round == 1
            && let Some(mask) = self.record.early_bird.as_ref().and_then(|t| t.mask.clone())
        {
            plans.push(Planned::Ready(PlannedRun {
                kind: RunKind::EarlyBird,
                start: reset_start.clone(),
                mask,
            }));
        }
        let controls = self.config.controls;
        if controls.reinit {
            plans.push(Planned::Reinit { mask: mask.clone() });
        }
        if controls.random_prune {
            plans.push(Planned::RandomPrune {
                like: mask.clone(),
                start: reset_start.clone(),
            });
        }
        let iterative = matches!(self.config.schedule, Schedule::Iterative { .. });
        if controls.one_shot && (at_init || (iterative && round > 1)) {
            // (At round 1 one-shot and iterative magnitude pruning are the same thing; beside
            // a method at initialisation it is the one-shot ticket at the same size.)
            plans.push(Planned::OneShot {
                target,
                start: reset_start.clone(),
            });
        }
        if controls.unstructured && self.config.granularity != Granularity::Weights && round > 0 {
            plans.push(Planned::Unstructured {
                like: mask.clone(),
                start: reset_start.clone(),
            });
        }
        let n_of_m = matches!(self.config.granularity, Granularity::NOfM { .. });
        if controls.two_four && !n_of_m && round == 1 {
            plans.push(Planned::TwoFour {
                start: reset_start.clone(),
            });
        }
        if controls.small_dense && round > 0 {
            plans.push(Planned::SmallDense {
                density: mask.density(),
            });
        }
        self.runs_in_round = plans.len();
        self.queue = plans.into();
    }

    /// Draw or prune what a planned run needs (the same draws, from the same named streams,
    /// as if done when the round was planned).
    fn make_ready(&self, planned: Planned) -> PlannedRun {
        let round = self.round as u64;
        match planned {
            Planned::Ready(run) => run,
            Planned::Reinit { mask } => {
                let rng = &mut rng::rng_indexed(self.config.seed, "reinit", round);
                let start = if self.config.granularity == Granularity::Neurons {
                    // A fresh small network, with its own (smaller) fans: Liu et al.'s
                    // "trained from scratch".
                    let shrunk = prune::Shrunk::of(&self.spec, &mask);
                    let small = Network::init(&shrunk.spec, self.config.init, rng);
                    shrunk.expand(&small, &self.theta_init)
                } else {
                    Network::init(&self.spec, self.config.init, rng)
                };
                PlannedRun {
                    kind: RunKind::Reinit,
                    start,
                    mask,
                }
            }
            Planned::RandomPrune { like, start } => {
                let rng = &mut rng::rng_indexed(self.config.seed, "random-mask", round);
                let dense = Mask::dense(&self.spec);
                PlannedRun {
                    kind: RunKind::RandomPrune,
                    start,
                    // The same structure at random: an N:M pattern, or the per-layer counts.
                    mask: match self.config.granularity {
                        Granularity::NOfM { n, m } => prune::random_n_of_m(&dense, n, m, rng),
                        Granularity::Neurons => prune::random_units(
                            &self.spec,
                            &prune::Units::of_mask(&like).counts(),
                            rng,
                        ),
                        Granularity::Weights => {
                            prune::random_prune(&dense, &PruneTarget::like(&like), rng)
                        }
                    },
                }
            }
            Planned::Unstructured { like, start } => PlannedRun {
                kind: RunKind::Unstructured,
                start,
                mask: prune::magnitude_prune(
                    self.dense_trained.as_ref().expect("round 0 finished"),
                    &Mask::dense(&self.spec),
                    &PruneTarget::like(&like),
                ),
            },
            Planned::TwoFour { start } => PlannedRun {
                kind: RunKind::TwoFour,
                start,
                mask: prune::n_of_m_prune(
                    self.dense_trained.as_ref().expect("round 0 finished"),
                    &Mask::dense(&self.spec),
                    2,
                    4,
                ),
            },
            Planned::SmallDense { density } => {
                let mask =
                    prune::first_units(&self.spec, &prune::narrower_counts(&self.spec, density));
                // Its own fans, as a network of that size would be built: trained in its
                // small shape, like structured pruning's.
                let shrunk = prune::Shrunk::of(&self.spec, &mask);
                let rng = &mut rng::rng_indexed(self.config.seed, "small-dense", round);
                let small = Network::init(&shrunk.spec, self.config.init, rng);
                PlannedRun {
                    kind: RunKind::SmallDense,
                    start: shrunk.expand(&small, &self.theta_init),
                    mask,
                }
            }
            Planned::OneShot { target, start } => {
                let dense_trained = self.dense_trained.as_ref().expect("round 0 finished");
                let dense = Mask::dense(&self.spec);
                PlannedRun {
                    kind: RunKind::OneShot,
                    start,
                    mask: match self.config.granularity {
                        Granularity::Neurons => prune::structured_prune(
                            dense_trained,
                            &dense,
                            &self.unit_counts(self.round),
                        ),
                        _ => prune::magnitude_prune(dense_trained, &dense, &target),
                    },
                }
            }
        }
    }

    /// The dense run's magnitude mask at the early-bird density after an epoch.
    fn observe_early_bird(&mut self, iteration: usize, weights: &Network) {
        let Some(trace) = self.record.early_bird.as_mut() else {
            return;
        };
        let rates = &self.config.pruning;
        let target = rates.target_after(
            &self.spec,
            rates.rounds_for_density(&self.spec, trace.density),
        );
        let mask = prune::magnitude_prune(weights, &Mask::dense(&self.spec), &target);
        if trace.observe(iteration, mask) {
            self.record.notes.push(format!(
                "early-bird ticket found at iteration {iteration} of the dense run's {}: its \
                 mask at {:.1}% was within ε = {} of the previous {} epochs' masks",
                self.config.iterations,
                trace.density * 100.0,
                trace.epsilon,
                prune::EARLY_BIRD_WINDOW
            ));
        }
    }

    /// How many units each hidden layer keeps in `round` (structured pruning).
    fn unit_counts(&self, round: usize) -> Vec<usize> {
        let rates = &self.config.pruning;
        let rounds = match self.config.schedule {
            Schedule::Iterative { .. } => round as f64,
            Schedule::OneShot { density } => {
                prune::unit_rounds_for_density(&self.spec, rates, density)
            }
        };
        prune::unit_counts(&self.spec, rates, rounds)
    }

    /// How many weights each round keeps.
    fn target(&self, round: usize) -> PruneTarget {
        let rates = &self.config.pruning;
        match self.config.schedule {
            Schedule::Iterative { .. } => rates.target_after(&self.spec, round as f64),
            Schedule::OneShot { density } => {
                rates.target_after(&self.spec, rates.rounds_for_density(&self.spec, density))
            }
        }
    }
}

/// Why a mask cannot pass a signal from the input to the output, in words, if it cannot.
fn collapse_reason(mask: &Mask, spec: &NetSpec) -> Option<String> {
    let layer = *mask.collapsed_layers_in(spec).first()?;
    Some(if mask.kept_per_layer()[layer] == 0 {
        format!("layer {} has no weights left", layer + 1)
    } else {
        format!(
            "layer {}'s remaining weights all start at units the input no longer reaches",
            layer + 1
        )
    })
}

/// Refuse, before anything is allocated, a network too large to train in a browser tab (and
/// its record, with every run's weights kept): which field to change, and by how much.
fn check_footprint(config: &ExperimentConfig, spec: &NetSpec) -> Result<(), ConfigError> {
    use crate::model::footprint::{Footprint, MAX_KEPT_BYTES, MAX_TRAINING_BYTES, megabytes};
    let needs = Footprint::training(spec, config.batch_size);
    if needs.total() > MAX_TRAINING_BYTES {
        // Name the part that makes it large: the layers, or the batch's activations.
        let (field, change) = if needs.parameters >= needs.activations {
            ("hidden", "fewer or narrower layers")
        } else {
            ("batch", "a smaller batch or fewer channels")
        };
        return Err(ConfigError {
            field,
            message: format!(
                "the network {} needs about {} to train (weights {}, a batch's activations \
                 {}); this app trains up to {}: {change}",
                spec.label(),
                megabytes(needs.total()),
                megabytes(needs.parameters),
                megabytes(needs.activations),
                megabytes(MAX_TRAINING_BYTES)
            ),
        });
    }
    if config.keep_weights {
        let runs = (config.rounds() as u64 + 1) * config.run_kinds().len() as u64;
        let kept = runs * spec.weight_count() as u64 * 4;
        if kept > MAX_KEPT_BYTES {
            return Err(ConfigError {
                field: "weights",
                message: format!(
                    "keeping every run's trained weights takes about {} ({runs} runs of {} \
                     weights); this app keeps up to {}: turn keeping weights off (weights=0)",
                    megabytes(kept),
                    spec.weight_count(),
                    megabytes(MAX_KEPT_BYTES)
                ),
            });
        }
    }
    Ok(())
}

fn active_iteration(active: &Option<ActiveRun>) -> usize {
    active.as_ref().map_or(0, |a| a.iteration)
}

enum Flow {
    Continue,
    OutOfBudget,
    Waiting,
    /// A costly piece of bookkeeping was done: return, and go on at the next call.
    Yield,
}

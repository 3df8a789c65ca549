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
mod runs;
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

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::data::DataSplits;
use crate::model::{Mask, NetSpec, Network};
use crate::prune::{self, Granularity, PruneMethod, PruneTarget, Scores};
use crate::rng;
use crate::train::{Engine, EngineError, EngineInfo, EvalPoint, TrainConfig};

use runs::{Finished, Lane, Planned, PlannedRun};

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

pub struct Experiment {
    config: ExperimentConfig,
    data: Arc<DataSplits>,
    /// Where the round's runs train: lane 0 is the engine the experiment was made with (it
    /// also scores at initialisation); more lanes train more runs at once.
    lanes: Vec<Lane>,
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
    /// Runs finished ahead of their turn in the record, by their place in the round.
    finished: BTreeMap<usize, Finished>,
    /// A run has stopped the experiment: no lane takes another run of the round.
    halted: bool,
    round: usize,
    current_round: Vec<RunRecord>,
    runs_in_round: usize,
    /// A method at initialisation's scores at θ₀ (every round ranks them to its size).
    init_scores: Option<Scores>,
    /// Scoring in progress: the round is planned when it is done.
    scoring: Option<scoring::Scoring>,
    /// The data's chance level, what a diverged or stuck run is told by.
    chance: divergence::ChanceLevel,
    /// Makes the CPU engine a GPU fault hands the run in flight to (in a worker where the
    /// platform has them, so the page's thread keeps only drawing); `None`: the CPU engine
    /// in this thread.
    cpu_fallback: Option<crate::train::EngineMaker>,
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
            lanes: vec![Lane::new(engine)],
            spec,
            train_config,
            record,
            theta_init,
            theta_rewind: None,
            dense_trained: None,
            ticket_mask: dense,
            ticket_trained: None,
            finished: BTreeMap::new(),
            halted: false,
            round: 0,
            current_round: Vec::new(),
            init_scores: None,
            scoring: None,
            chance,
            cpu_fallback: None,
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
        // Only another kind of engine is worth a note: the CPU engine in this thread, in a
        // worker or several runs at a time gives the same record bit for bit.
        if saved.engine.kind != record.engine.kind && !record.rounds.is_empty() {
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

    /// The eval points of the run in flight (for live learning curves): with several runs
    /// training at once, the one that comes first in the round.
    pub fn live_curve(&self) -> Option<(RunKind, &[EvalPoint])> {
        self.first_active()
            .map(|a| (a.plan.kind, a.curve.as_slice()))
    }

    /// Train up to `1 + more.len()` of a round's runs at once, each extra one on its own
    /// engine (training workers). The record is the one a single engine gives: the runs are
    /// recorded in the round's order. Engines that train in this thread gain nothing from
    /// it: each lane may do a whole `advance`'s step budget.
    /// After a GPU fault, train on engines from `make` (the CPU engine in a worker) instead
    /// of the CPU engine in this thread.
    pub fn with_cpu_fallback(mut self, make: crate::train::EngineMaker) -> Self {
        self.cpu_fallback = Some(make);
        self
    }

    pub fn with_lanes(mut self, more: Vec<Box<dyn Engine>>) -> Self {
        self.lanes.extend(more.into_iter().map(Lane::new));
        self.record.engine = self.lane_engine_info(&*self.lanes[0].engine);
        self
    }

    /// How many runs train at once.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// The record's name for the engines: lane 0's, and how many runs train at once.
    fn lane_engine_info(&self, engine: &dyn Engine) -> EngineInfo {
        let mut info = engine.info();
        if self.lanes.len() > 1 {
            info.name = format!("{}, {} runs at a time", info.name, self.lanes.len());
        }
        info
    }

    /// Whether the engine works while the caller goes on (a GPU, a worker): the app then
    /// hands it more steps per frame.
    pub fn engine_answers_later(&self) -> bool {
        self.lanes[0].engine.answers_later()
    }

    /// Every lane's engine wakes the page when it answers (Web Workers): the experiment can
    /// be driven from those wake-ups (`advance` on each answer) rather than every frame.
    pub fn engines_announce_answers(&self) -> bool {
        self.lanes
            .iter()
            .all(|lane| lane.engine.announces_answers())
    }

    /// Swap in another engine (e.g. the CPU one after a lost GPU) for the experiment's own
    /// lane. Finished rounds and runs are kept; its run in flight restarts from its starting
    /// weights.
    pub fn replace_engine(&mut self, engine: Box<dyn Engine>, reason: &str) {
        let mut lanes = std::mem::take(&mut self.lanes);
        self.swap_engine(&mut lanes[0], 0, engine, reason);
        self.lanes = lanes;
    }

    /// Do at most `step_budget` training steps (plus the evaluations and bookkeeping they
    /// lead to), then return. With an engine that answers later, returns as soon as it is
    /// waiting for results.
    ///
    /// With several lanes, each may do `step_budget` steps: they train in parallel.
    pub fn advance(&mut self, step_budget: usize) -> Progress {
        // The lanes are taken out while they work, so each can be driven beside `self`.
        let mut lanes = std::mem::take(&mut self.lanes);
        let mut budgets = vec![step_budget; lanes.len()];
        let mut steps_done = 0;
        let mut waiting = false;
        'work: while !self.is_done() {
            if self.scoring.is_some() {
                match self.advance_scoring(lanes[0].engine.as_mut()) {
                    Ok(Flow::Continue) => continue,
                    Ok(Flow::Waiting) => waiting = true,
                    Ok(_) => {}
                    Err(e) => {
                        self.engine_failed(&mut lanes[0], 0, e);
                        continue;
                    }
                }
                break;
            }
            let mut moved = false;
            waiting = false;
            for (index, lane) in lanes.iter_mut().enumerate() {
                loop {
                    if self.is_done() {
                        break 'work;
                    }
                    match self.step_lane(lane, &mut budgets[index], &mut steps_done) {
                        Ok(Flow::Continue) => moved = true,
                        Ok(Flow::Yield) => break 'work,
                        Ok(Flow::Waiting) => {
                            waiting = true;
                            break;
                        }
                        Ok(Flow::OutOfBudget | Flow::Idle) => break,
                        Err(e) => {
                            self.engine_failed(lane, index, e);
                            moved = true;
                        }
                    }
                }
            }
            if !self.is_done() && self.queue.is_empty() && lanes.iter().all(|l| l.active.is_none())
            {
                // Every run of the round is recorded: prune for the next one, then give the
                // frame back.
                self.finish_round();
                break;
            }
            if !moved {
                break;
            }
        }
        if self.is_done() {
            for lane in &mut lanes {
                lane.active = None;
            }
        }
        self.lanes = lanes;
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
            run: self.first_active().map(|a| a.plan.kind),
            runs_done: self.current_round.len() + self.finished.len(),
            runs_in_round: self.runs_in_round,
            iteration: self.first_active().map_or(0, |a| a.iteration),
            iterations: self.config.iterations,
            steps_done,
            waiting,
            finished: self.is_done(),
        }
    }

    /// Stop the experiment for `reason`, keeping the round's recorded runs (the run that
    /// stops it is recorded first, see `runs.rs`).
    fn stop(&mut self, reason: String) {
        if !self.current_round.is_empty() {
            self.record.rounds.push(RoundRecord {
                round: self.round,
                runs: std::mem::take(&mut self.current_round),
            });
        }
        self.record.status = Status::Stopped { reason };
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
    fn advance_scoring(&mut self, engine: &mut dyn Engine) -> Result<Flow, EngineError> {
        let scoring = self.scoring.as_mut().expect("called while scoring");
        let scored = scoring.advance(engine, &self.theta_init, &self.train_config)?;
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

    /// Training steps in one pass over the training set.
    fn epoch_length(&self) -> usize {
        self.data
            .train
            .len()
            .div_ceil(self.config.batch_size)
            .max(1)
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

enum Flow {
    Continue,
    OutOfBudget,
    Waiting,
    /// A costly piece of bookkeeping was done: return, and go on at the next call.
    Yield,
    /// A lane with no run to take (the round's runs are all taken, or a run stopped it).
    Idle,
}

//! One experiment in the app, with the pacing that keeps frames short.

use std::sync::Arc;

use web_time::Instant;

use crate::data::DataSplits;
use crate::data::tasks::TransferTask;
use crate::experiment::io::TicketFile;
use crate::experiment::studies::{
    AtInitConfig, AtInitProgress, AtInitStudy, EngineMaker, ExplainConfig, ExplainProgress,
    ExplainStudy, LmcConfig, LmcProgress, LmcStudy, RewindConfig, RewindProgress, RewindSweep,
    Source, StudyRequest, TransferConfig, TransferProgress, TransferStudy,
};
use crate::experiment::{Experiment, ExperimentConfig, Progress, Status};
use crate::train::gpu::{BackendChoice, BackendPreference, GpuContext};
use crate::train::worker::{MAX_PARALLEL_RUNS, Workers};
use crate::train::{Engine, choose_engine};

/// The data of the experiment's config under another seed (the seeds after the first).
pub type SeedData = Box<dyn Fn(u64) -> Result<Arc<DataSplits>, String>>;

/// The CPU time a frame may take, training included: a 60 Hz frame has 16.7 ms and our
/// budget is a frame time under 16 ms at p95. The margin is for frames that also end a round
/// (saving, a new heatmap) and for steps slowed by other threads on the same cores (a
/// software rasteriser's: there 12 ms gave a p95 of 15.6-17.3 ms). The training slice gets
/// what the rest of the frame leaves.
const FRAME_TARGET_S: f64 = 0.010;
/// Training's least share of a frame, however much the rest costs (at least one step).
const MIN_TRAINING_S: f64 = 0.002;

/// How the session's engines are made: the backend the user prefers, the device, and where
/// the CPU engine trains (workers, when the platform has them) and how many runs at once.
#[derive(Clone)]
pub struct Engines {
    pub preference: BackendPreference,
    pub gpu: Result<Arc<GpuContext>, String>,
    pub workers: Option<Workers>,
    /// A round's runs trained at once, each in its own worker (1 = one after another).
    pub parallel_runs: usize,
}

impl Engines {
    /// One engine (a study's, a seed's): the chosen backend; the CPU engine in a worker.
    pub fn make(&self, data: Arc<DataSplits>) -> (Box<dyn Engine>, BackendChoice) {
        let (engine, choice) = choose_engine(self.preference, self.gpu.clone(), data.clone());
        match &self.workers {
            Some(workers) if !choice.use_gpu => {
                let choice = BackendChoice {
                    reason: format!("{}; it trains in {}", choice.reason, workers.place),
                    ..choice
                };
                (Box::new(workers.engine(data)), choice)
            }
            _ => (engine, choice),
        }
    }

    /// `experiment` with its extra lanes: where the CPU engine trains in workers, a round's
    /// runs train `parallel_runs` at a time (the record is the same as one at a time).
    pub fn with_lanes(&self, experiment: Experiment, choice: &BackendChoice) -> Experiment {
        match &self.workers {
            Some(workers) if !choice.use_gpu && self.parallel_runs > 1 => {
                let data = experiment.data().clone();
                let more = (1..self.parallel_runs.min(MAX_PARALLEL_RUNS))
                    .map(|_| Box::new(workers.engine(data.clone())) as Box<dyn Engine>)
                    .collect();
                experiment.with_lanes(more)
            }
            _ => experiment,
        }
    }

    /// A new experiment with its lanes.
    pub fn experiment(
        &self,
        config: ExperimentConfig,
        data: Arc<DataSplits>,
    ) -> Result<(Experiment, BackendChoice), String> {
        let (engine, choice) = self.make(data.clone());
        let mut experiment = Experiment::new(config, data, engine).map_err(|e| e.to_string())?;
        if let Some(workers) = &self.workers {
            // A GPU lost mid-run hands its run to the CPU engine in a worker, not to the
            // page's thread, which would stutter for the rest of the lecture.
            let workers = workers.clone();
            experiment = experiment.with_cpu_fallback(Box::new(move |data| {
                Box::new(workers.engine(data)) as Box<dyn Engine>
            }));
        }
        Ok((self.with_lanes(experiment, &choice), choice))
    }
}

pub struct Session {
    pub experiment: Experiment,
    pub choice: BackendChoice,
    pub paused: bool,
    /// Pause again when this many rounds are finished ("step one round").
    pub pause_at_rounds: Option<usize>,
    pub last_progress: Progress,
    /// Measured seconds per training step (smoothed).
    step_cost_s: f64,
    pub samples_per_s: f64,
    steps_total: usize,
    /// Wall time spent running (paused time excluded), and the previous running tick.
    active_s: f64,
    last_tick: Option<Instant>,
    /// Derived views (textures, the slider's evaluation), rebuilt only when their key changes.
    pub cache: ViewCache,
    /// The stability study (linear mode connectivity) of the finished experiment, trained
    /// after it in the same per-frame slices.
    pub stability: Option<(LmcStudy, LmcProgress)>,
    /// The late-rewinding sweep at one density, likewise after the experiment.
    pub rewinding: Option<(RewindSweep, RewindProgress)>,
    /// Explanations of a test example by the dense network and a round's ticket (attributions
    /// of the trained weights: no engine), computed in the same slices, before the others.
    pub explanation: Option<(ExplainStudy, ExplainProgress)>,
    /// Ticket transfer from this experiment's data to a related task, likewise.
    pub transfer: Option<(TransferStudy, TransferProgress)>,
    /// Pruning at initialisation beside this experiment's IMP tickets, likewise.
    pub at_init: Option<(AtInitStudy, AtInitProgress)>,
    /// A run over several seeds: how many, the other seeds' finished records (weights
    /// dropped), the one training (after the first seed, before any study), their data.
    seeds: usize,
    pub seed_records: Vec<crate::experiment::ExperimentRecord>,
    seed_run: Option<Experiment>,
    seed_data: Option<SeedData>,
    /// Why the seeds stopped short, if they did.
    pub seed_notice: Option<String>,
    /// Measured seconds per attribution row (a forward and backward pass of one input).
    row_cost_s: f64,
    /// How the session's engine was made, for its seeds and studies.
    engines: Engines,
    /// The record's engine switches (a lost GPU) already told as a notice.
    switches_told: usize,
}

#[derive(Default)]
pub struct ViewCache {
    pub textures: crate::app::textures::Textures,
    pub slider: Option<SliderResult>,
    /// The slider's evaluation in progress (a few hundred test rows per frame).
    pub slider_job: Option<SliderJob>,
    /// The panels left work for the next frame (a heatmap not built yet, the slider's
    /// evaluation): that frame trains only its least slice (2 ms) and saves nothing, to give
    /// them room (a round's end otherwise piles its saving, new heatmaps and training into a
    /// few frames over budget).
    pub view_work_pending: bool,
    /// A dense layer's picture half built (the heatmaps build it a band of rows per frame).
    pub pending_image: Option<crate::app::panels::heatmaps::PendingImage>,
    /// Measured seconds per test row of the slider's evaluation (its chunks are sized from it).
    pub slider_row_cost_s: Option<f64>,
}

/// The pruned network being evaluated for the slider, chunk by chunk across frames.
pub struct SliderJob {
    pub key: (usize, crate::experiment::RunKind, u32),
    pub pruned: crate::model::Network,
    pub density: f64,
    pub partial: crate::model::infer::Partial,
    pub buffers: crate::model::infer::EvalBuffers,
    /// Compute time so far (pruning and the chunks evaluated), not the frames between.
    pub spent_ms: f64,
}

/// The selected network pruned to the slider's density, evaluated on the test set.
#[derive(Clone, Debug)]
pub struct SliderResult {
    pub key: (usize, crate::experiment::RunKind, u32),
    pub density: f64,
    /// Accuracy in [0, 1], or AUC for binary imbalanced data.
    pub metric: f64,
    /// Time to prune and evaluate; `None` when nothing was pruned and the run's own last
    /// evaluation is the result.
    pub elapsed_ms: Option<f64>,
}

impl Session {
    pub fn start(
        config: ExperimentConfig,
        data: Arc<DataSplits>,
        engines: Engines,
    ) -> Result<Self, String> {
        let (experiment, choice) = engines.experiment(config, data)?;
        Ok(Self::with_experiment(experiment, choice, engines))
    }

    /// A saved record picked up again (see [`Experiment::resume`]).
    pub fn resume(
        record: crate::experiment::ExperimentRecord,
        data: Arc<DataSplits>,
        engines: Engines,
    ) -> Result<Self, String> {
        let (engine, choice) = engines.make(data.clone());
        let experiment = Experiment::resume(record, data, engine).map_err(|e| e.to_string())?;
        let experiment = engines.with_lanes(experiment, &choice);
        Ok(Self::with_experiment(experiment, choice, engines))
    }

    fn with_experiment(
        mut experiment: Experiment,
        choice: BackendChoice,
        engines: Engines,
    ) -> Self {
        let last_progress = experiment.advance(0);
        let switches_told = engine_switches(&experiment);
        Self {
            experiment,
            choice,
            paused: false,
            pause_at_rounds: None,
            last_progress,
            step_cost_s: 1e-3,
            samples_per_s: 0.0,
            steps_total: 0,
            active_s: 0.0,
            last_tick: None,
            cache: ViewCache::default(),
            stability: None,
            rewinding: None,
            explanation: None,
            transfer: None,
            at_init: None,
            seeds: 1,
            seed_records: Vec::new(),
            seed_run: None,
            seed_data: None,
            seed_notice: None,
            row_cost_s: 1e-4,
            switches_told,
            engines,
        }
    }

    /// Start the study `request` names (a link's, a panel's).
    pub fn start_request(&mut self, request: &StudyRequest) -> Result<(), String> {
        match request {
            StudyRequest::Stability { round, branch_at } => {
                self.start_stability(*round, branch_at.clone())
            }
            StudyRequest::Rewinding { density, rewind_at } => {
                self.start_rewinding(*density, rewind_at.clone())
            }
            StudyRequest::Explain { round, example } => self.start_explanation(*round, *example),
            StudyRequest::Transfer { task, round } => self.start_transfer(*task, *round, None),
            StudyRequest::AtInit { densities, methods } => {
                self.start_at_init(densities, methods.clone())
            }
        }
    }

    /// The record's latest engine switch (a GPU that failed mid-run), once: what the app
    /// tells the user in a notice.
    pub fn new_engine_switch(&mut self) -> Option<String> {
        let switches = engine_switches(&self.experiment);
        if switches == self.switches_told {
            return None;
        }
        self.switches_told = switches;
        let note = self
            .experiment
            .record()
            .notes
            .iter()
            .rev()
            .find(|n| n.starts_with(SWITCHED))?;
        Some(format!(
            "The experiment {note}; its finished rounds are kept and the run in flight \
             started again."
        ))
    }

    /// Engines for the studies, as the session's own was chosen (its preference, its device).
    fn engine_maker(&self) -> EngineMaker {
        let engines = self.engines.clone();
        Box::new(move |data| engines.make(data).0)
    }

    /// Run the experiment over `seeds` seeds: after this one, the next seeds' experiments,
    /// one after another, each on its own data from `data`.
    pub fn run_over_seeds(&mut self, seeds: usize, data: SeedData) {
        self.seeds = seeds.clamp(1, crate::experiment::seeds::MAX_SEEDS);
        self.seed_data = Some(data);
    }

    /// Seeds planned, and finished (the first included once it is).
    pub fn seeds_done(&self) -> (usize, usize) {
        let first = usize::from(self.experiment.is_done());
        (first + self.seed_records.len(), self.seeds)
    }

    /// The next seed's slice of a frame, while seeds are left; false when none is.
    fn tick_seeds(&mut self, budget: f64) -> bool {
        if self.seed_run.is_none() {
            let index = 1 + self.seed_records.len();
            let Some(data) = self.seed_data.as_ref().filter(|_| index < self.seeds) else {
                return false;
            };
            let config = crate::experiment::seeds::seed_config(self.experiment.config(), index);
            let made = data(config.seed)
                .and_then(|data| self.engines.experiment(config, data))
                .map(|(experiment, _)| experiment);
            match made {
                Ok(run) => self.seed_run = Some(run),
                Err(e) => {
                    // The seeds so far stand; the rest cannot run.
                    self.seeds = index;
                    self.seed_notice = Some(format!("seed {index}: {e}"));
                    return false;
                }
            }
        }
        let run = self.seed_run.as_mut().expect("just made");
        slice(budget, &mut self.step_cost_s, |steps| {
            let progress = run.advance(steps);
            (progress.steps_done, progress.waiting || progress.finished)
        });
        if run.is_done() {
            let record = run.record().without_weights();
            self.seed_run = None;
            self.seed_records.push(record);
        }
        true
    }

    /// Start the stability study of the finished experiment: the dense network, and for a
    /// pruned `round` its ticket and random controls, branched at `branch_at`.
    pub fn start_stability(&mut self, round: usize, branch_at: Vec<usize>) -> Result<(), String> {
        let record = self.experiment.record();
        if record.status != Status::Finished {
            return Err("the experiment has to finish first".into());
        }
        let config = LmcConfig {
            round: (round > 0).then_some(round),
            ..LmcConfig::dense(record.config.clone(), branch_at)
        };
        let data = self.experiment.data().clone();
        let (engine, _) = self.engines.make(data.clone());
        let mut study =
            LmcStudy::new(config, data, engine, Some(record)).map_err(|e| e.to_string())?;
        let progress = study.advance(0);
        self.stability = Some((study, progress));
        Ok(())
    }

    /// Start the late-rewinding sweep at `density`: one-shot pruning of this experiment's
    /// config, survivors reset to each θ_k in `rewind_at`.
    pub fn start_rewinding(&mut self, density: f64, rewind_at: Vec<usize>) -> Result<(), String> {
        let record = self.experiment.record();
        if record.status != Status::Finished {
            return Err("the experiment has to finish first".into());
        }
        let config = RewindConfig {
            base: record.config.clone(),
            rewind_at,
            density,
        };
        let data = self.experiment.data().clone();
        let mut sweep =
            RewindSweep::new(config, data, self.engine_maker()).map_err(|e| e.to_string())?;
        let progress = sweep.advance(0);
        self.rewinding = Some((sweep, progress));
        Ok(())
    }

    /// Explain test example `example` by the dense network and, for `round` > 0, that round's
    /// ticket and random-pruning control, from the finished experiment's trained weights.
    pub fn start_explanation(&mut self, round: usize, example: usize) -> Result<(), String> {
        let record = self.experiment.record();
        if record.status != Status::Finished {
            return Err("the experiment has to finish first".into());
        }
        let config = ExplainConfig::new(round, vec![example]);
        let data = self.experiment.data().clone();
        let mut study = ExplainStudy::new(config, data, record).map_err(|e| e.to_string())?;
        let progress = study.advance(0);
        self.explanation = Some((study, progress));
        Ok(())
    }

    /// Start a transfer study of `task`: A's ticket of `round` (this experiment's, when A is
    /// its data and its schedule is iterative; else found by IMP on A), or the ticket `file`
    /// a user opened, trained on B beside B's own ticket and the controls.
    pub fn start_transfer(
        &mut self,
        task: TransferTask,
        round: usize,
        file: Option<TicketFile>,
    ) -> Result<(), String> {
        let record = self.experiment.record();
        if record.status != Status::Finished {
            return Err("the experiment has to finish first".into());
        }
        if let Some(ticket) = &file
            && ticket.config.dataset != record.config.dataset
        {
            return Err(format!(
                "the ticket was found on {}, this experiment trains on {}: run one on the ticket's data first",
                ticket.config.dataset.name(),
                record.config.dataset.name()
            ));
        }
        let config = TransferConfig {
            base: file
                .as_ref()
                .map_or_else(|| record.config.clone(), |t| t.config.clone()),
            task,
            round: file.as_ref().map_or(round, |t| t.round),
        };
        let source = match file {
            Some(ticket) => Source::File(Box::new(ticket)),
            None => Source::for_experiment(record, task, round),
        };
        let data = self.experiment.data().clone();
        let mut study = TransferStudy::new(config, data, source, self.engine_maker())
            .map_err(|e| e.to_string())?;
        let progress = study.advance(0);
        self.transfer = Some((study, progress));
        Ok(())
    }

    /// Start the study of pruning at initialisation: each of `methods` at each of `densities`
    /// (snapped to this experiment's IMP rounds near them), trained beside its layer shuffle,
    /// against the experiment's tickets.
    pub fn start_at_init(
        &mut self,
        densities: &[f64],
        methods: Vec<crate::prune::PruneMethod>,
    ) -> Result<(), String> {
        let record = self.experiment.record();
        if record.status != Status::Finished {
            return Err("the experiment has to finish first".into());
        }
        let config = AtInitConfig::for_record(record, densities, methods);
        let data = self.experiment.data().clone();
        let mut study = AtInitStudy::new(config, data, record, self.engine_maker())
            .map_err(|e| e.to_string())?;
        let progress = study.advance(0);
        self.at_init = Some((study, progress));
        Ok(())
    }

    /// The studies' slice of a frame (after the experiment, which they never race): an
    /// explanation first (a second's work, asked for by a click), then the stability study,
    /// the rewinding sweep, the transfer study and pruning at initialisation.
    fn tick_studies(&mut self, other_s: f64) -> bool {
        if self.paused {
            return false;
        }
        let budget = (FRAME_TARGET_S - other_s).max(MIN_TRAINING_S);
        if self.tick_seeds(budget) {
            return true;
        }
        if let Some((study, progress)) = &mut self.explanation
            && !study.is_done()
        {
            slice(budget, &mut self.row_cost_s, |rows| {
                let before = study.rows_evaluated();
                *progress = study.advance(rows);
                (study.rows_evaluated() - before, progress.finished)
            });
            return true;
        }
        let cost = &mut self.step_cost_s;
        if let Some((study, progress)) = &mut self.stability
            && !study.is_done()
        {
            slice(budget, cost, |steps| {
                let before = progress.iterations_done;
                *progress = study.advance(steps);
                (
                    progress.iterations_done - before,
                    progress.waiting || progress.finished,
                )
            });
            return true;
        }
        if let Some((sweep, progress)) = &mut self.rewinding
            && !sweep.is_done()
        {
            slice(budget, cost, |steps| {
                *progress = sweep.advance(steps);
                (progress.steps_done, progress.waiting || progress.finished)
            });
            return true;
        }
        if let Some((study, progress)) = &mut self.transfer
            && !study.is_done()
        {
            slice(budget, cost, |steps| {
                *progress = study.advance(steps);
                (progress.steps_done, progress.waiting || progress.finished)
            });
            return true;
        }
        if let Some((study, progress)) = &mut self.at_init
            && !study.is_done()
        {
            slice(budget, cost, |steps| {
                *progress = study.advance(steps);
                (progress.steps_done, progress.waiting || progress.finished)
            });
            return true;
        }
        false
    }

    /// One frame's slice of work; true while there is more to do. `other_s` is what the
    /// frame costs besides training (already spent, and still to come: panels, painting).
    /// A slow painter (a software rasteriser) does not enlarge the slice: the frame time
    /// stays in budget, and on a real GPU the frame rate with it.
    pub fn tick(&mut self, other_s: f64) -> bool {
        if self.experiment.is_done() {
            return self.tick_studies(other_s);
        }
        if self.paused {
            self.last_tick = None;
            return false;
        }
        let now = Instant::now();
        if let Some(previous) = self.last_tick {
            self.active_s += now.duration_since(previous).as_secs_f64();
        }
        self.last_tick = Some(now);
        let budget = (FRAME_TARGET_S - other_s).max(MIN_TRAINING_S);
        // Steps in a few calls, watching the clock: where other threads share the cores (a
        // software rasteriser) a step's cost varies, and one call planned from the average
        // overshoots the frame.
        let answers_later = self.experiment.engine_answers_later();
        let started = Instant::now();
        let mut steps_done = 0;
        let mut progress = loop {
            let left = budget - started.elapsed().as_secs_f64();
            // One step until a step has been timed (a guessed cost can be 50x off), and at
            // least one always: a step cost measured too high (a frame that also finished a
            // round) must not stop training for good. Then half of what is left per call.
            let steps = if self.steps_total + steps_done == 0 {
                1
            } else {
                (left / self.step_cost_s / 2.0).clamp(1.0, MAX_STEPS_PER_CALL as f64) as usize
            };
            let call = Instant::now();
            let progress = self.experiment.advance(steps);
            let elapsed = call.elapsed().as_secs_f64();
            // Steps are timed in calls that did nothing else. The CPU engine "waits" only
            // while an evaluation spans frames (its steps are done, the time includes
            // evaluating): skipped.
            if progress.steps_done > 0 && !progress.waiting {
                let cost = elapsed / progress.steps_done as f64;
                self.step_cost_s = 0.7 * self.step_cost_s + 0.3 * cost;
            } else if progress.waiting && progress.steps_done > 0 && answers_later {
                // A GPU engine or a worker: the call only handed work over, so ask for more
                // next frame.
                self.step_cost_s = (self.step_cost_s * 0.8).max(1e-6);
            }
            steps_done += progress.steps_done;
            let left = budget - started.elapsed().as_secs_f64();
            if progress.waiting
                || progress.finished
                || progress.steps_done == 0
                || left < 1.2 * self.step_cost_s
            {
                break progress;
            }
        };
        progress.steps_done = steps_done;
        // Throughput over the whole run so far: right for engines that answer later too.
        self.steps_total += progress.steps_done;
        if self.active_s > 0.0 {
            self.samples_per_s =
                (self.steps_total * self.experiment.config().batch_size) as f64 / self.active_s;
        }
        self.last_progress = progress;
        self.pause_at_target();
        !self.experiment.is_done()
    }

    /// "Next round" pauses once its round is recorded.
    fn pause_at_target(&mut self) {
        if let Some(target) = self.pause_at_rounds
            && self.experiment.record().rounds.len() >= target
        {
            self.paused = true;
            self.pause_at_rounds = None;
        }
    }

    /// Whether the experiment is driven by its engines' answers ([`Self::answer_arrived`])
    /// rather than by frames: then a frame is needed only to show what changed.
    pub fn driven_by_answers(&self) -> bool {
        !self.paused && !self.experiment.is_done() && self.experiment.engines_announce_answers()
    }

    /// A worker answered between frames: hand out the next jobs now, so that no worker idles
    /// until the next frame. Only handing out: every lane trains elsewhere, so this costs
    /// what a frame's tick does (and a round's end, its pruning).
    pub fn answer_arrived(&mut self) -> Handed {
        if !self.driven_by_answers() {
            return Handed::Nothing;
        }
        let progress = self.experiment.advance(MAX_STEPS_PER_CALL);
        self.steps_total += progress.steps_done;
        let waiting = progress.waiting;
        self.last_progress = progress;
        self.pause_at_target();
        if waiting || !self.driven_by_answers() {
            Handed::AllBusy
        } else {
            // `advance` gave the call back early (a round's end, a run's start): a lane may
            // still be idle, with no answer of its own to come.
            Handed::MoreToHand
        }
    }
}

/// What [`Session::answer_arrived`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handed {
    /// The experiment is not driven by answers (paused, finished, trained in this thread).
    Nothing,
    /// Every lane has its job, or the experiment just ended.
    AllBusy,
    /// Call again soon: a lane may still wait for its next job.
    MoreToHand,
}

/// The most steps one call of `advance` hands a lane (jobs end at evaluations anyway).
const MAX_STEPS_PER_CALL: usize = 20_000;

/// Calls of `advance(steps) -> (steps trained, stop)` for one frame's `budget_s`, each sized
/// from the measured cost of a step (`step_cost_s`, updated from what the calls trained).
fn slice(budget_s: f64, step_cost_s: &mut f64, mut advance: impl FnMut(usize) -> (usize, bool)) {
    let started = Instant::now();
    loop {
        let left = budget_s - started.elapsed().as_secs_f64();
        let steps = (left / *step_cost_s / 2.0).clamp(1.0, 20_000.0) as usize;
        let call = Instant::now();
        let (trained, stop) = advance(steps);
        if trained > 0 {
            let cost = call.elapsed().as_secs_f64() / trained as f64;
            *step_cost_s = 0.7 * *step_cost_s + 0.3 * cost;
        }
        let left = budget_s - started.elapsed().as_secs_f64();
        if stop || left < 1.2 * *step_cost_s {
            break;
        }
    }
}

/// How the record's notes begin an engine switch (`Experiment::replace_engine`).
const SWITCHED: &str = "switched to ";

fn engine_switches(experiment: &Experiment) -> usize {
    experiment
        .record()
        .notes
        .iter()
        .filter(|n| n.starts_with(SWITCHED))
        .count()
}

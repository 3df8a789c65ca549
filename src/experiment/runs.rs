//! A round's runs, each trained on a lane: an engine and the run it trains. Lane 0 is the
//! experiment's own engine; more lanes (training workers, see `Experiment::with_lanes`) train
//! more of a round's runs at once. Runs may finish in any order; they are recorded in the
//! round's planned order, and a run that stops the experiment stops it at its own place, so
//! the record is the same whatever the number of lanes (tested in `tests/worker.rs`).

use super::{Experiment, Flow, RunKind, RunRecord, collapse_reason, divergence};
use crate::model::{Mask, Network};
use crate::prune::{self, Granularity, PruneTarget};
use crate::rng;
use crate::train::{Engine, EngineError, EvalPoint, Job, JobResult};

use super::config::ResetMode;
use super::record::EarlyStop;

/// One training run to do: its starting weights and its mask.
pub(super) struct PlannedRun {
    pub kind: RunKind,
    pub start: Network,
    pub mask: Mask,
}

/// A run of the round, made ready only when its turn comes: drawing fresh weights or a random
/// mask, or pruning the dense network, takes milliseconds for LeNet, and doing all of a
/// round's at once would stall the app's frame that finishes the round.
pub(super) enum Planned {
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

pub(super) struct ActiveRun {
    /// Its place in the round's plan (the order the record keeps).
    index: usize,
    pub plan: PlannedRun,
    loaded: bool,
    pub iteration: usize,
    pub curve: Vec<EvalPoint>,
    awaiting: Option<Awaiting>,
    /// Why training this run is pointless (layer collapse): it is evaluated once, as it
    /// starts, and recorded as untrainable.
    untrainable: Option<String>,
    /// Structured pruning: the smaller dense network the engine trains instead (its weights
    /// come back in the full shape).
    shrunk: Option<prune::Shrunk>,
}

impl ActiveRun {
    /// Start again from the run's starting weights (on another engine).
    pub fn restart(&mut self) {
        self.loaded = false;
        self.iteration = 0;
        self.curve.clear();
        self.awaiting = None;
    }
}

/// An engine and the run it trains.
pub(super) struct Lane {
    pub engine: Box<dyn Engine>,
    pub active: Option<ActiveRun>,
}

impl Lane {
    pub fn new(engine: Box<dyn Engine>) -> Self {
        Self {
            engine,
            active: None,
        }
    }
}

/// A run finished before its turn in the record, or the run that stops the experiment.
pub(super) struct Finished {
    run: RunRecord,
    /// The experiment stops here, for this reason (a diverged run, a dense net at chance).
    stop: Option<String>,
}

impl Experiment {
    /// The run in flight that comes first in the round (the one the views follow).
    pub(super) fn first_active(&self) -> Option<&ActiveRun> {
        self.lanes
            .iter()
            .filter_map(|lane| lane.active.as_ref())
            .min_by_key(|active| active.index)
    }

    /// One piece of work on `lane`: take the round's next run, load it, read an answer, or
    /// hand the engine its next job.
    pub(super) fn step_lane(
        &mut self,
        lane: &mut Lane,
        budget: &mut usize,
        steps_done: &mut usize,
    ) -> Result<Flow, EngineError> {
        let Some(active) = &mut lane.active else {
            if self.halted {
                return Ok(Flow::Idle);
            }
            let Some(planned) = self.queue.pop_front() else {
                return Ok(Flow::Idle);
            };
            let index = self.runs_in_round - self.queue.len() - 1;
            let ready = matches!(planned, Planned::Ready(_));
            let plan = self.make_ready(planned);
            let untrainable = collapse_reason(&plan.mask, &self.spec)
                .map(|why| format!("untrainable: layer collapse ({why})"));
            lane.active = Some(ActiveRun {
                index,
                plan,
                loaded: false,
                iteration: 0,
                curve: Vec::new(),
                awaiting: None,
                untrainable,
                shrunk: None,
            });
            // Drawing or pruning took a few milliseconds: loading can wait for the next call.
            return Ok(if ready { Flow::Continue } else { Flow::Yield });
        };
        let engine = lane.engine.as_mut();

        if !active.loaded {
            let shrunk = (self.config.trains_smaller_network(active.plan.kind))
                .then(|| prune::Shrunk::of(&self.spec, &active.plan.mask))
                .filter(|s| s.units.removes_any());
            match &shrunk {
                Some(small) => engine.load(
                    &small.network(&active.plan.start),
                    &small.mask(&active.plan.mask),
                    &self.train_config,
                )?,
                None => engine.load(&active.plan.start, &active.plan.mask, &self.train_config)?,
            }
            active.shrunk = shrunk;
            active.loaded = true;
            // The point at iteration 0: the untrained network.
            engine.submit(Job::Train {
                steps: 0,
                evaluate: true,
            })?;
            active.awaiting = Some(Awaiting::Evaluated);
            return Ok(Flow::Continue);
        }

        if let Some(awaiting) = active.awaiting {
            let Some(mut result) = engine.poll()? else {
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
                        self.halt(lane, reason);
                    }
                }
                (Awaiting::RewindWeights, JobResult::Weights(net)) => {
                    if self.config.keep_weights {
                        self.record.theta_rewind = Some(net.clone());
                    }
                    self.theta_rewind = Some(net)
                }
                (Awaiting::EarlyBirdWeights, JobResult::Weights(net)) => {
                    let iteration = active.iteration;
                    self.observe_early_bird(iteration, &net);
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
                    let active = lane.active.take().expect("matched above");
                    self.finish_run(active, net, stuck);
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
            engine.submit(Job::ReadWeights)?;
            active.awaiting = Some(Awaiting::RewindWeights);
            return Ok(Flow::Continue);
        }
        // The early-bird search: the dense run's mask after every epoch.
        let epoch = self.epoch_length();
        let wants_early_bird = self.round == 0
            && iteration > 0
            && iteration.is_multiple_of(epoch)
            && self
                .record
                .early_bird
                .as_ref()
                .is_some_and(|t| t.points.last().is_none_or(|p| p.iteration < iteration));
        if wants_early_bird {
            engine.submit(Job::ReadWeights)?;
            active.awaiting = Some(Awaiting::EarlyBirdWeights);
            return Ok(Flow::Continue);
        }
        if iteration >= total || active.untrainable.is_some() {
            engine.submit(Job::ReadWeights)?;
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
        engine.submit(Job::Train { steps, evaluate })?;
        active.awaiting = Some(if evaluate {
            Awaiting::Evaluated
        } else {
            Awaiting::Trained
        });
        Ok(Flow::Continue)
    }

    /// The engine of `lane` failed. A GPU fault (lost device, validation error): finished
    /// rounds and runs are kept, the run in flight restarts on the CPU engine, and the record
    /// says so. A CPU engine's error stops the experiment at that run.
    pub(super) fn engine_failed(&mut self, lane: &mut Lane, lane_index: usize, e: EngineError) {
        if lane.engine.info().kind != "cpu" {
            let cpu = match &mut self.cpu_fallback {
                Some(make) => make(self.data.clone()),
                None => Box::new(crate::train::CpuEngine::new(self.data.clone())),
            };
            self.swap_engine(
                lane,
                lane_index,
                cpu,
                &format!("the GPU engine failed ({e})"),
            );
        } else if lane.active.is_some() {
            self.halt(lane, format!("engine error: {e}"));
        } else {
            self.stop(format!("engine error: {e}"));
        }
    }

    /// Put `engine` in `lane`; its run in flight restarts from its starting weights.
    pub(super) fn swap_engine(
        &mut self,
        lane: &mut Lane,
        lane_index: usize,
        engine: Box<dyn Engine>,
        reason: &str,
    ) {
        lane.engine = engine;
        if lane_index == 0 {
            self.record.engine = self.lane_engine_info(&*lane.engine);
        }
        self.record
            .notes
            .push(format!("switched to {}: {reason}", lane.engine.info().name));
        if let Some(active) = &mut lane.active {
            active.restart();
        }
    }

    /// The run on `lane` stops the experiment for `reason`, at its place in the round: runs
    /// before it still finish and are recorded, runs after it are not (as if trained in turn).
    fn halt(&mut self, lane: &mut Lane, reason: String) {
        let Some(active) = lane.active.take() else {
            return;
        };
        let mut run = self.run_record(&active, None);
        run.stopped = Some(reason.clone());
        self.finished.insert(
            active.index,
            Finished {
                run,
                stop: Some(reason),
            },
        );
        self.halted = true;
        self.commit_finished();
    }

    fn finish_run(&mut self, active: ActiveRun, trained: Network, stuck: Option<String>) {
        let mut run = self.run_record(&active, Some(trained.clone()));
        if active.plan.kind == RunKind::Ticket {
            if self.round == 0 {
                self.dense_trained = Some(trained.clone());
            }
            self.ticket_mask = active.plan.mask.clone();
            self.ticket_trained = Some(trained);
        }
        if stuck.is_some() {
            run.stopped = stuck.clone();
            self.halted = true;
        }
        self.finished
            .insert(active.index, Finished { run, stop: stuck });
        self.commit_finished();
    }

    /// Record the finished runs whose turn has come, in the round's order.
    fn commit_finished(&mut self) {
        while let Some(done) = self.finished.remove(&self.current_round.len()) {
            self.current_round.push(done.run);
            if let Some(reason) = done.stop {
                self.finished.clear();
                self.stop(reason);
                return;
            }
        }
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

    /// Draw or prune what a planned run needs (the same draws, from the same named streams,
    /// as if done when the round was planned).
    pub(super) fn make_ready(&self, planned: Planned) -> PlannedRun {
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
}

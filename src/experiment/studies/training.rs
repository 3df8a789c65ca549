//! Training one network on an engine for a study: load it, train to a target in jobs that
//! fit the caller's budget, read the weights back — answering "not yet" while a GPU engine
//! works. The stability and transfer studies train their networks through this.

use crate::model::{Mask, Network};
use crate::train::{Engine, EngineError, Job, JobResult, TrainConfig};

/// One network on the engine, trained to `target` iterations and read back.
pub(super) struct Training {
    pub(super) start: Network,
    pub(super) mask: Mask,
    pub(super) order_seed: u64,
    pub(super) target: usize,
    pub(super) done: usize,
    pub(super) loaded: bool,
    pub(super) in_flight: bool,
}

impl Training {
    pub(super) fn new(start: Network, mask: Mask, order_seed: u64, target: usize) -> Self {
        Self {
            start,
            mask,
            order_seed,
            target,
            done: 0,
            loaded: false,
            in_flight: false,
        }
    }

    /// Back to the start (the engine was replaced): the same steps give the same weights.
    pub(super) fn restart(&mut self) {
        self.done = 0;
        self.loaded = false;
        self.in_flight = false;
    }
}

pub(super) enum Flow {
    Continue,
    Waiting,
    OutOfBudget,
}

/// The engine, the recipe it trains with, and the iterations it has trained for the study.
pub(super) struct Trainer {
    pub(super) engine: Box<dyn Engine>,
    pub(super) train_config: TrainConfig,
    pub(super) iterations_done: usize,
}

impl Trainer {
    /// Load, train `training` to its target in jobs of at most the budget, then read the
    /// weights: `Ok(weights)` once they are back, else how this call ends (waiting for the
    /// engine, or out of budget).
    pub(super) fn drive(
        &mut self,
        training: &mut Training,
        budget: &mut usize,
    ) -> Result<Result<Network, Flow>, EngineError> {
        if !training.loaded {
            let cfg = TrainConfig {
                order_seed: training.order_seed,
                ..self.train_config.clone()
            };
            self.engine.load(&training.start, &training.mask, &cfg)?;
            training.loaded = true;
            training.in_flight = false;
        }
        loop {
            if !training.in_flight {
                if training.done < training.target {
                    if *budget == 0 {
                        return Ok(Err(Flow::OutOfBudget));
                    }
                    let steps = (training.target - training.done).min(*budget);
                    self.engine.submit(Job::Train {
                        steps,
                        evaluate: false,
                    })?;
                    *budget -= steps;
                } else {
                    self.engine.submit(Job::ReadWeights)?;
                }
                training.in_flight = true;
            }
            match self.engine.poll()? {
                None => return Ok(Err(Flow::Waiting)),
                Some(JobResult::Trained { iteration }) => {
                    self.iterations_done += iteration.saturating_sub(training.done);
                    training.done = iteration;
                    training.in_flight = false;
                }
                Some(JobResult::Weights(net)) => {
                    training.in_flight = false;
                    return Ok(Ok(net));
                }
                Some(other) => {
                    return Err(EngineError::Unsupported(format!(
                        "unexpected answer to a training job: {other:?}"
                    )));
                }
            }
        }
    }
}

//! Scoring weights at initialisation, as bounded steps of the experiment's state machine:
//! SNIP and GraSP ask the engine for gradients at θ₀ (one job, or three for GraSP's
//! difference) and wait for its answer like training does; SynFlow needs no engine and takes
//! a few of its pruning steps per call.

use crate::model::{Layer, Mask, Network};
use crate::prune::{self, PruneMethod, Scores, SynflowPruning};
use crate::train::{Engine, EngineError, Job, JobResult, TrainConfig};

/// The named random stream random pruning at initialisation draws its scores from.
pub(super) const RANDOM_AT_INIT_STREAM: &str = "random-at-init";

/// SynFlow steps per call: LeNet-300-100's take about 2 ms each natively (`lottery-lab bench`).
const SYNFLOW_STEPS_PER_CALL: usize = 2;

pub(super) enum Scoring {
    /// Gradient jobs in turn, at θ₀ and (GraSP) at θ₀ ± εg.
    Gradients {
        method: PruneMethod,
        rows: usize,
        /// Gradients back so far.
        answers: Vec<Vec<Layer>>,
        awaiting: bool,
        step: f32,
    },
    /// One round's SynFlow pruning down to its size.
    Synflow(SynflowPruning),
}

/// What a call came to.
pub(super) enum Scored {
    /// Not finished: waiting for the engine, or out of this call's share of work.
    Waiting,
    Working,
    /// Scores at θ₀ for every round (SNIP, GraSP), and a sentence for the record's notes.
    Scores(Scores, String),
    /// A finished mask (SynFlow, for one round).
    Mask(Mask),
}

impl Scoring {
    /// For methods whose scores come from the engine; `rows` training rows per gradient.
    pub fn gradients(method: PruneMethod, rows: usize) -> Self {
        Scoring::Gradients {
            method,
            rows,
            answers: Vec::new(),
            awaiting: false,
            step: 0.0,
        }
    }

    pub fn synflow(theta: &Network, keep: usize) -> Self {
        Scoring::Synflow(SynflowPruning::new(theta, keep))
    }

    pub fn advance(
        &mut self,
        engine: &mut dyn Engine,
        theta: &Network,
        train_config: &TrainConfig,
    ) -> Result<Scored, EngineError> {
        match self {
            Scoring::Synflow(pruning) => {
                for _ in 0..SYNFLOW_STEPS_PER_CALL {
                    if let Some(mask) = pruning.step() {
                        return Ok(Scored::Mask(mask.clone()));
                    }
                }
                Ok(Scored::Working)
            }
            Scoring::Gradients {
                method,
                rows,
                answers,
                awaiting,
                step,
            } => {
                if *awaiting {
                    let Some(result) = engine.poll()? else {
                        return Ok(Scored::Waiting);
                    };
                    let JobResult::Gradients(grads) = result else {
                        return Err(EngineError::Gpu(format!(
                            "engine answered {result:?} while gradients were expected"
                        )));
                    };
                    *awaiting = false;
                    answers.push(grads);
                }
                let needed = if *method == PruneMethod::Grasp { 3 } else { 1 };
                if answers.len() == needed {
                    let rows_text = format!("training rows 0-{}", *rows - 1);
                    return Ok(match method {
                        PruneMethod::Grasp => Scored::Scores(
                            prune::grasp_scores(theta, &answers[1], &answers[2], *step),
                            format!(
                                "GraSP scored at θ₀ on {rows_text}: Hg by a central difference of gradients at θ₀ ± εg, ε = {:.3e} ({} × |θ₀| / |g|, Euclidean norms)",
                                step,
                                prune::GRASP_RELATIVE_STEP
                            ),
                        ),
                        _ => Scored::Scores(
                            prune::snip_scores(theta, &answers[0]),
                            format!("SNIP scored at θ₀ on {rows_text}"),
                        ),
                    });
                }
                // The next network to take a gradient at.
                let at = match answers.len() {
                    0 => theta.clone(),
                    1 => {
                        *step = prune::step_size(theta, &answers[0]);
                        prune::stepped(theta, &answers[0], *step)
                    }
                    _ => prune::stepped(theta, &answers[0], -*step),
                };
                engine.load(&at, &Mask::dense(&theta.spec), train_config)?;
                engine.submit(Job::Gradients {
                    start: 0,
                    len: *rows,
                })?;
                *awaiting = true;
                Ok(Scored::Working)
            }
        }
    }
}

/// The scores of the methods that need neither the engine nor many steps (magnitude at θ₀,
/// random); `None` for the others.
pub(super) fn scores_without_engine(
    method: PruneMethod,
    theta: &Network,
    seed: u64,
) -> Option<Scores> {
    match method {
        PruneMethod::InitMagnitude => Some(prune::magnitude_scores(theta)),
        PruneMethod::Random => Some(prune::random_scores(
            &theta.spec,
            &mut crate::rng::rng(seed, RANDOM_AT_INIT_STREAM),
        )),
        _ => None,
    }
}

/// A method at initialisation's mask of `keep` weights, scored to the end before returning
/// (the CLI's bench and tests; the page goes step by step through the experiment instead).
#[cfg(not(target_arch = "wasm32"))]
pub fn mask_at_init_blocking(
    method: PruneMethod,
    engine: &mut dyn Engine,
    theta: &Network,
    train_config: &TrainConfig,
    keep: usize,
    seed: u64,
) -> Result<Mask, EngineError> {
    let dense = Mask::dense(&theta.spec);
    if let Some(scores) = scores_without_engine(method, theta, seed) {
        return Ok(prune::keep_top_global(&scores, &dense, keep));
    }
    let mut scoring = match method {
        PruneMethod::Magnitude => {
            return Err(EngineError::Unsupported(
                "IMP chooses its mask after training, not at initialisation".into(),
            ));
        }
        PruneMethod::InitMagnitude | PruneMethod::Random => unreachable!("scored above"),
        PruneMethod::Synflow => Scoring::synflow(theta, keep),
        PruneMethod::Snip | PruneMethod::Grasp => {
            Scoring::gradients(method, train_config.batch_size)
        }
    };
    loop {
        match scoring.advance(engine, theta, train_config)? {
            Scored::Waiting => std::thread::sleep(std::time::Duration::from_micros(200)),
            Scored::Working => {}
            Scored::Scores(scores, _) => return Ok(prune::keep_top_global(&scores, &dense, keep)),
            Scored::Mask(mask) => return Ok(mask),
        }
    }
}

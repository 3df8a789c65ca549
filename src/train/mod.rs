//! Training engines. An [`Engine`] holds one network (weights, mask, optimiser state) and
//! trains it on a dataset it was built with. The interface is submit/poll so that an engine
//! may answer later: the CPU engine does the work inside `poll`, a GPU engine records the
//! work, submits it, and answers once its results have been read back asynchronously.

pub mod cpu;
pub mod gpu;
pub use crate::model::metrics;
pub use crate::model::ops::matmul;
pub mod throughput;
pub mod worker;

use crate::model::{Mask, Network};
use serde::{Deserialize, Serialize};

pub use cpu::CpuEngine;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Optimizer {
    /// PyTorch's SGD: `buf = momentum·buf + g; w -= lr·buf`.
    Sgd { lr: f32, momentum: f32 },
    /// PyTorch's Adam: `w -= lr/(1-β1ᵗ) · m / (sqrt(v)/sqrt(1-β2ᵗ) + eps)`.
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
    },
}

impl Optimizer {
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    pub fn sgd(lr: f32, momentum: f32) -> Self {
        Optimizer::Sgd { lr, momentum }
    }

    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    /// The same optimiser with another learning rate.
    pub fn with_lr(self, lr: f32) -> Self {
        match self {
            Optimizer::Sgd { momentum, .. } => Optimizer::Sgd { lr, momentum },
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
        }
    }
}

/// How one run trains: what a config fixes besides the weights and the mask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub optimizer: Optimizer,
    pub batch_size: usize,
    /// Seeds the per-epoch shuffle of the training set (see [`epoch_order`]).
    pub order_seed: u64,
}

/// The order in which epoch `epoch` visits the training set. Every engine uses this, so the
/// CPU and GPU engines see the same batches.
pub fn epoch_order(order_seed: u64, epoch: u64, n: usize) -> Vec<usize> {
    crate::data::permutation(n, &mut crate::rng::rng_indexed(order_seed, "order", epoch))
}

/// One evaluation point along training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// Training iterations done when this was measured.
    pub iteration: usize,
    /// Mean training loss over the iterations since the previous point (`None` at 0).
    pub train_loss: Option<f32>,
    pub val_loss: f32,
    pub val_accuracy: f32,
    pub test_loss: f32,
    pub test_accuracy: f32,
    /// ROC AUC of the positive class on the test set, for binary imbalanced data.
    pub test_auc: Option<f32>,
}

impl EvalPoint {
    pub fn is_finite(&self) -> bool {
        self.train_loss.is_none_or(f32::is_finite) && self.val_loss.is_finite()
    }
}

/// Work for an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    /// Train `steps` iterations (0 is allowed), then, if `evaluate`, measure the validation
    /// and test sets.
    Train { steps: usize, evaluate: bool },
    /// Hand back the current (masked) weights.
    ReadWeights,
    /// The gradient of the mean loss on training rows `start..start + len` at the current
    /// weights, nothing updated: what scores weights at initialisation (SNIP, GraSP).
    Gradients { start: usize, len: usize },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum JobResult {
    /// Trained without evaluating; the engine's iteration count now.
    Trained {
        iteration: usize,
    },
    Evaluated(EvalPoint),
    Weights(Network),
    /// dL/dθ, one weight and bias gradient per parametric layer, every position included.
    Gradients(Vec<crate::model::Layer>),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum EngineError {
    #[error("the engine has no network loaded")]
    NotLoaded,
    #[error("a job is already in flight")]
    Busy,
    #[error("network {network} does not fit the data ({inputs} inputs, {classes} classes)")]
    ShapeMismatch {
        network: String,
        inputs: usize,
        classes: usize,
    },
    #[error("batch size {batch} is larger than the {train} training samples")]
    BatchTooLarge { batch: usize, train: usize },
    #[error("a gradient job needs 1 to {train} training rows, not {rows}")]
    BadRows { rows: usize, train: usize },
    #[error("{0}")]
    Unsupported(String),
    #[error("GPU error: {0}")]
    Gpu(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// "cpu" or "gpu".
    pub kind: String,
    /// Human-readable: the adapter's name, or the CPU engine's.
    pub name: String,
}

/// What every engine checks at `load`: the network and mask fit the data, the batch fits the
/// training set.
pub fn check_load(
    net: &Network,
    mask: &Mask,
    cfg: &TrainConfig,
    data: &crate::data::DataSplits,
) -> Result<(), EngineError> {
    if let Err(e) = net.spec.check() {
        return Err(EngineError::Unsupported(format!(
            "network {}: {e}",
            net.spec.label()
        )));
    }
    let shapes = net.spec.layer_shapes();
    let fits = net.spec.input == data.input_dim()
        && net.layers.len() == shapes.len()
        && net
            .layers
            .iter()
            .zip(&shapes)
            .all(|(l, &s)| l.weight.dim() == s && l.bias.len() == s.1)
        && net.spec.output == data.n_classes
        && mask
            .layers
            .iter()
            .map(|m| m.dim())
            .eq(shapes.iter().copied());
    if !fits {
        return Err(EngineError::ShapeMismatch {
            network: net.spec.label(),
            inputs: data.input_dim(),
            classes: data.n_classes,
        });
    }
    if cfg.batch_size == 0 || cfg.batch_size > data.train.len() {
        return Err(EngineError::BatchTooLarge {
            batch: cfg.batch_size,
            train: data.train.len(),
        });
    }
    Ok(())
}

/// Makes an engine on the data it trains on: the page's GPU engine or the CPU engine (in a
/// worker where the platform has them), as the session chose.
pub type EngineMaker = Box<dyn FnMut(std::sync::Arc<crate::data::DataSplits>) -> Box<dyn Engine>>;

pub trait Engine {
    fn info(&self) -> EngineInfo;

    /// Install weights (already masked or not: they are masked here), the mask, and a fresh
    /// optimiser state. Any job in flight is dropped.
    fn load(&mut self, net: &Network, mask: &Mask, cfg: &TrainConfig) -> Result<(), EngineError>;

    /// Queue one job. At most one job is in flight at a time.
    fn submit(&mut self, job: Job) -> Result<(), EngineError>;

    /// Never blocks for long: `Ok(None)` while the result is not ready yet.
    fn poll(&mut self) -> Result<Option<JobResult>, EngineError>;

    /// Whether a job runs elsewhere (a GPU, a worker) while the caller goes on: `submit` then
    /// costs almost nothing, so a caller pacing itself by time asks for more per job.
    fn answers_later(&self) -> bool {
        false
    }

    /// Whether an answer's arrival wakes the caller by itself (a Web Worker's message): then
    /// nothing needs to poll this engine every frame.
    fn announces_answers(&self) -> bool {
        false
    }
}

/// The engine that `preference` and the available GPU call for, and why, in words.
/// `gpu` is the device to use, or why there is none. A GPU engine that fails to start (its
/// kernels refused, say) falls back to the CPU engine, with the reason.
pub fn choose_engine(
    preference: gpu::BackendPreference,
    gpu: Result<std::sync::Arc<gpu::GpuContext>, String>,
    data: std::sync::Arc<crate::data::DataSplits>,
) -> (Box<dyn Engine>, gpu::BackendChoice) {
    let choice = gpu::choose_backend(
        preference,
        gpu.as_ref().map(|c| &c.adapter).map_err(String::as_str),
    );
    match gpu {
        Ok(ctx) if choice.use_gpu => match gpu::GpuEngine::new(ctx, data.clone()) {
            Ok(engine) => (Box::new(engine), choice),
            Err(e) => (
                Box::new(CpuEngine::new(data)),
                gpu::BackendChoice {
                    use_gpu: false,
                    reason: format!("CPU engine: the GPU engine failed to start ({e})"),
                },
            ),
        },
        _ => (Box::new(CpuEngine::new(data)), choice),
    }
}

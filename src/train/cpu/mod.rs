//! The CPU engine: the network's passes from [`crate::model::ops`] (batched matrix products
//! through gemm: SIMD natively and on wasm32 with simd128, two threads natively for the large
//! ones), every buffer allocated once at `load`, and the mask fused into the optimiser update
//! ([`optim`]) so that pruned weights, their gradients and their optimiser moments stay
//! exactly zero. Evaluation goes through [`crate::model::infer`], the path every view uses.
//!
//! These functions are also the CPU reference the GPU kernels are tested against.

mod optim;

use std::sync::Arc;

use ndarray::{Array1, Array2};

pub use optim::{AdamStep, adam_update, sgd_update};

use super::{
    Engine, EngineError, EngineInfo, EvalPoint, Job, JobResult, Optimizer, TrainConfig,
    epoch_order, metrics,
};
use crate::data::{DataSplits, Dataset};
use crate::model::infer::{self, EvalBuffers, Evaluation, Partial};
use crate::model::ops::network::{Backward, Forward, zero_gradients};
use crate::model::{Layer, Mask, Network};

pub use crate::model::infer::EVAL_CHUNK;

/// An evaluation in progress yields after this much time in one `poll`, so that the frame
/// that polls stays short; the result does not depend on where it yields.
const EVAL_SLICE_S: f64 = 0.004;

pub struct CpuEngine {
    data: Arc<DataSplits>,
    state: Option<State>,
    pending: Option<Job>,
    /// The evaluation of the pending job, when it spans several polls.
    evaluating: Option<EvalInProgress>,
}

/// An eval point being computed chunk by chunk: validation first, then test.
struct EvalInProgress {
    iteration: usize,
    train_loss: Option<f32>,
    val: Option<Evaluation>,
    partial: Partial,
}

/// Everything one loaded network needs, allocated once.
struct State {
    cfg: TrainConfig,
    net: Network,
    /// 1.0 kept, 0.0 pruned, `[fan_in, fan_out]` per layer.
    mask: Vec<Array2<f32>>,
    /// dL/dθ for the batch, shaped like the parameters.
    grads: Vec<Layer>,
    moments: Vec<Moments>,
    /// Adam's step count `t` (bias correction).
    adam_t: i32,
    forward: Forward,
    backward: Backward,
    x_batch: Array2<f32>,
    y_batch: Vec<u8>,
    probs: Vec<f32>,
    order: Vec<usize>,
    epoch: u64,
    /// Position of the next batch within `order`.
    cursor: usize,
    iteration: usize,
    loss_sum: f64,
    loss_steps: usize,
    eval: EvalBuffers,
}

/// First and second moments (Adam) or the momentum buffer (SGD, in `m`).
struct Moments {
    m_weight: Array2<f32>,
    v_weight: Array2<f32>,
    m_bias: Array1<f32>,
    v_bias: Array1<f32>,
}

impl CpuEngine {
    pub fn new(data: Arc<DataSplits>) -> Self {
        Self {
            data,
            state: None,
            pending: None,
            evaluating: None,
        }
    }

    pub fn data(&self) -> &Arc<DataSplits> {
        &self.data
    }

    /// The current weights (masked), if a network is loaded.
    pub fn network(&self) -> Option<&Network> {
        self.state.as_ref().map(|s| &s.net)
    }

    /// One training iteration; returns the batch's mean loss. Public for benchmarks and tests.
    pub fn train_step(&mut self) -> Result<f32, EngineError> {
        let state = self.state.as_mut().ok_or(EngineError::NotLoaded)?;
        Ok(state.step(&self.data.train))
    }

    /// Gradients of the mean loss on the given training rows at the current (masked) weights,
    /// without updating anything: one weight and bias gradient per parametric layer, at every
    /// position (pruned ones too: scores at initialisation rank them). Also [`Job::Gradients`].
    pub fn gradients(&mut self, rows: &[usize]) -> Result<Vec<Layer>, EngineError> {
        let state = self.state.as_mut().ok_or(EngineError::NotLoaded)?;
        if rows.is_empty() || rows.iter().any(|&r| r >= self.data.train.len()) {
            return Err(EngineError::BadRows {
                rows: rows.len(),
                train: self.data.train.len(),
            });
        }
        state.assemble_batch_from(&self.data.train, rows);
        state.forward_backward();
        Ok(state.grads.clone())
    }

    /// Start an eval point at the current weights (the mean training loss so far goes with it).
    fn begin_evaluation(&mut self) -> Result<(), EngineError> {
        let state = self.state.as_mut().ok_or(EngineError::NotLoaded)?;
        let train_loss =
            (state.loss_steps > 0).then(|| (state.loss_sum / state.loss_steps as f64) as f32);
        state.loss_sum = 0.0;
        state.loss_steps = 0;
        self.evaluating = Some(EvalInProgress {
            iteration: state.iteration,
            train_loss,
            val: None,
            partial: Partial::default(),
        });
        Ok(())
    }

    /// Go on with the evaluation for about `EVAL_SLICE_S`; the point once it is complete.
    fn continue_evaluation(&mut self) -> Result<Option<EvalPoint>, EngineError> {
        let state = self.state.as_mut().ok_or(EngineError::NotLoaded)?;
        let eval = self.evaluating.as_mut().ok_or(EngineError::NotLoaded)?;
        let positive = self.data.positive_class;
        let started = web_time::Instant::now();
        loop {
            let split = if eval.val.is_none() {
                &self.data.val
            } else {
                &self.data.test
            };
            if let Some(done) = infer::evaluate_chunk(
                &state.net,
                split,
                positive,
                &mut state.eval,
                &mut eval.partial,
            ) {
                eval.partial = Partial::default();
                match eval.val {
                    None => eval.val = Some(done),
                    Some(val) => {
                        let point = EvalPoint {
                            iteration: eval.iteration,
                            train_loss: eval.train_loss,
                            val_loss: val.loss,
                            val_accuracy: val.accuracy,
                            test_loss: done.loss,
                            test_accuracy: done.accuracy,
                            test_auc: done.auc,
                        };
                        self.evaluating = None;
                        return Ok(Some(point));
                    }
                }
            }
            if started.elapsed().as_secs_f64() > EVAL_SLICE_S {
                return Ok(None);
            }
        }
    }
}

impl Engine for CpuEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: "cpu".into(),
            name: "CPU engine (ndarray)".into(),
        }
    }

    fn load(&mut self, net: &Network, mask: &Mask, cfg: &TrainConfig) -> Result<(), EngineError> {
        super::check_load(net, mask, cfg, &self.data)?;
        self.pending = None;
        self.evaluating = None;
        self.state = Some(State::new(net, mask, cfg, self.data.train.len()));
        Ok(())
    }

    fn submit(&mut self, job: Job) -> Result<(), EngineError> {
        if self.state.is_none() {
            return Err(EngineError::NotLoaded);
        }
        if self.pending.is_some() {
            return Err(EngineError::Busy);
        }
        self.pending = Some(job);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<JobResult>, EngineError> {
        let Some(job) = self.pending.take() else {
            return Ok(None);
        };
        match job {
            Job::Train { steps, evaluate } => {
                if self.evaluating.is_none() {
                    for _ in 0..steps {
                        self.train_step()?;
                    }
                    if !evaluate {
                        let iteration = self.state.as_ref().map_or(0, |s| s.iteration);
                        return Ok(Some(JobResult::Trained { iteration }));
                    }
                    self.begin_evaluation()?;
                }
                // An evaluation spans polls (a frame each in the app); the steps are done.
                match self.continue_evaluation()? {
                    Some(point) => Ok(Some(JobResult::Evaluated(point))),
                    None => {
                        self.pending = Some(job);
                        Ok(None)
                    }
                }
            }
            Job::ReadWeights => {
                let state = self.state.as_ref().ok_or(EngineError::NotLoaded)?;
                Ok(Some(JobResult::Weights(state.net.clone())))
            }
            Job::Gradients { start, len } => {
                let rows: Vec<usize> = (start..start.saturating_add(len)).collect();
                let grads = self.gradients(&rows)?;
                Ok(Some(JobResult::Gradients(grads)))
            }
        }
    }
}

impl State {
    fn new(net: &Network, mask: &Mask, cfg: &TrainConfig, train_len: usize) -> Self {
        let batch = cfg.batch_size;
        let mask: Vec<Array2<f32>> = mask
            .layers
            .iter()
            .map(|m| m.mapv(|k| if k { 1.0 } else { 0.0 }))
            .collect();
        let mut net = net.clone();
        for (layer, m) in net.layers.iter_mut().zip(&mask) {
            layer.weight *= m;
        }
        let forward = Forward::new(&net.spec, batch);
        Self {
            grads: zero_gradients(&net),
            moments: net
                .layers
                .iter()
                .map(|l| Moments {
                    m_weight: Array2::zeros(l.weight.dim()),
                    v_weight: Array2::zeros(l.weight.dim()),
                    m_bias: Array1::zeros(l.bias.len()),
                    v_bias: Array1::zeros(l.bias.len()),
                })
                .collect(),
            adam_t: 0,
            backward: Backward::new(&forward),
            forward,
            x_batch: Array2::zeros((batch, net.spec.input)),
            y_batch: vec![0; batch],
            probs: vec![0.0; net.spec.output],
            order: epoch_order(cfg.order_seed, 0, train_len),
            epoch: 0,
            cursor: 0,
            iteration: 0,
            loss_sum: 0.0,
            loss_steps: 0,
            eval: EvalBuffers::default(),
            cfg: cfg.clone(),
            net,
            mask,
        }
    }

    fn step(&mut self, train: &Dataset) -> f32 {
        let batch = self.cfg.batch_size;
        // The last partial batch of an epoch is dropped (as PyTorch's drop_last), so every
        // step sees exactly `batch` samples and the engines agree on the order.
        if self.cursor + batch > self.order.len() {
            self.epoch += 1;
            self.order = epoch_order(self.cfg.order_seed, self.epoch, train.len());
            self.cursor = 0;
        }
        let rows = std::mem::take(&mut self.order);
        self.assemble_batch_from(train, &rows[self.cursor..self.cursor + batch]);
        self.order = rows;
        self.cursor += batch;

        let loss = self.forward_backward();
        self.update();
        self.iteration += 1;
        self.loss_sum += f64::from(loss);
        self.loss_steps += 1;
        loss
    }

    fn assemble_batch_from(&mut self, train: &Dataset, rows: &[usize]) {
        if self.x_batch.nrows() != rows.len() {
            // Only gradient jobs and checks ask for another batch size.
            self.x_batch = Array2::zeros((rows.len(), train.input_dim()));
            self.y_batch = vec![0; rows.len()];
            self.forward = Forward::new(&self.net.spec, rows.len());
            self.backward = Backward::new(&self.forward);
        }
        for (i, &r) in rows.iter().enumerate() {
            self.x_batch.row_mut(i).assign(&train.features.row(r));
            self.y_batch[i] = train.labels[r];
        }
    }

    /// Forward and backward over `x_batch`; fills `grads`, returns the mean loss.
    fn forward_backward(&mut self) -> f32 {
        self.forward.run(&self.net, self.x_batch.view());

        // Softmax cross-entropy: delta of the logits = (softmax - onehot) / batch.
        let batch = self.x_batch.nrows();
        let scale = 1.0 / batch as f32;
        let mut loss_sum = 0.0f32;
        let delta = self.backward.logits_delta();
        for ((z, mut d), &y) in self
            .forward
            .logits()
            .outer_iter()
            .zip(delta.outer_iter_mut())
            .zip(&self.y_batch)
        {
            let z = z.as_slice().expect("contiguous rows");
            loss_sum += metrics::softmax_cross_entropy(z, y as usize, &mut self.probs);
            for (dv, &p) in d.iter_mut().zip(&self.probs) {
                *dv = p * scale;
            }
            d[y as usize] -= scale;
        }
        self.backward.run(
            &mut self.forward,
            &self.net,
            self.x_batch.view(),
            &mut self.grads,
        );
        loss_sum * scale
    }

    fn update(&mut self) {
        match self.cfg.optimizer {
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                self.adam_t = self.adam_t.saturating_add(1);
                let step = AdamStep::new(lr, beta1, beta2, eps, self.adam_t);
                for ((layer, grads), (moments, mask)) in self
                    .net
                    .layers
                    .iter_mut()
                    .zip(&self.grads)
                    .zip(self.moments.iter_mut().zip(&self.mask))
                {
                    adam_update(
                        &step,
                        slice_mut(&mut layer.weight),
                        slice(&grads.weight),
                        slice_mut(&mut moments.m_weight),
                        slice_mut(&mut moments.v_weight),
                        Some(slice(mask)),
                    );
                    adam_update(
                        &step,
                        layer.bias.as_slice_mut().expect("contiguous"),
                        grads.bias.as_slice().expect("contiguous"),
                        moments.m_bias.as_slice_mut().expect("contiguous"),
                        moments.v_bias.as_slice_mut().expect("contiguous"),
                        None,
                    );
                }
            }
            Optimizer::Sgd { lr, momentum } => {
                for ((layer, grads), (moments, mask)) in self
                    .net
                    .layers
                    .iter_mut()
                    .zip(&self.grads)
                    .zip(self.moments.iter_mut().zip(&self.mask))
                {
                    sgd_update(
                        lr,
                        momentum,
                        slice_mut(&mut layer.weight),
                        slice(&grads.weight),
                        slice_mut(&mut moments.m_weight),
                        Some(slice(mask)),
                    );
                    sgd_update(
                        lr,
                        momentum,
                        layer.bias.as_slice_mut().expect("contiguous"),
                        grads.bias.as_slice().expect("contiguous"),
                        moments.m_bias.as_slice_mut().expect("contiguous"),
                        None,
                    );
                }
            }
        }
    }
}

fn slice(a: &Array2<f32>) -> &[f32] {
    a.as_slice().expect("parameters are contiguous")
}

fn slice_mut(a: &mut Array2<f32>) -> &mut [f32] {
    a.as_slice_mut().expect("parameters are contiguous")
}

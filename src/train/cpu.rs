//! The CPU engine: batched matrix products (`matmul`, the gemm crate: SIMD on native and on
//! wasm32 with simd128, two threads natively for the large ones), every buffer allocated once at
//! `load`, and the mask fused into the optimiser update so that pruned weights, their
//! gradients and their optimiser moments stay exactly zero.
//!
//! These functions are also the CPU reference the GPU kernels are tested against.

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView2, Axis, s};

use super::{
    Engine, EngineError, EngineInfo, EvalPoint, Job, JobResult, Optimizer, TrainConfig,
    epoch_order, matmul::matmul, metrics,
};
use crate::data::{DataSplits, Dataset};
use crate::model::{Mask, Network};

/// Rows evaluated per forward pass: bounds the evaluation buffers' size, and is the unit in
/// which an evaluation is spread over frames (LeNet: ~5 ms of wasm per chunk).
pub const EVAL_CHUNK: usize = 256;

/// An evaluation in progress yields after this much time in one `poll`, so that the frame
/// that polls stays short; the result does not depend on where it yields.
const EVAL_SLICE_S: f64 = 0.004;

/// Gradients of one layer: (weight `[fan_in, fan_out]`, bias).
pub type LayerGradients = (Array2<f32>, Array1<f32>);

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
    grads: Vec<LayerGrads>,
    moments: Vec<Moments>,
    /// Adam's step count `t` (bias correction).
    adam_t: i32,
    /// Per layer, the batch's outputs: ReLU activations for hidden layers, logits for the last.
    acts: Vec<Array2<f32>>,
    /// Per layer, dL/d(pre-activation) for the batch.
    deltas: Vec<Array2<f32>>,
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

struct LayerGrads {
    weight: Array2<f32>,
    bias: Array1<f32>,
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

    /// Gradients of the mean loss on the given batch at the current weights, without updating
    /// anything (for gradient checks). Returns (weight grads, bias grads) per layer.
    pub fn gradients(&mut self, rows: &[usize]) -> Result<Vec<LayerGradients>, EngineError> {
        let state = self.state.as_mut().ok_or(EngineError::NotLoaded)?;
        state.assemble_batch_from(&self.data.train, rows);
        state.forward_backward();
        Ok(state
            .grads
            .iter()
            .map(|g| (g.weight.clone(), g.bias.clone()))
            .collect())
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
            if let Some(done) = evaluate_chunk(
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
        }
    }
}

impl State {
    fn new(net: &Network, mask: &Mask, cfg: &TrainConfig, train_len: usize) -> Self {
        let batch = cfg.batch_size;
        let shapes = net.spec.layer_shapes();
        let mask: Vec<Array2<f32>> = mask
            .layers
            .iter()
            .map(|m| m.mapv(|k| if k { 1.0 } else { 0.0 }))
            .collect();
        let mut net = net.clone();
        for (layer, m) in net.layers.iter_mut().zip(&mask) {
            layer.weight *= m;
        }
        let zeros2 = |&(i, o): &(usize, usize)| Array2::<f32>::zeros((i, o));
        Self {
            grads: shapes
                .iter()
                .map(|s| LayerGrads {
                    weight: zeros2(s),
                    bias: Array1::zeros(s.1),
                })
                .collect(),
            moments: shapes
                .iter()
                .map(|s| Moments {
                    m_weight: zeros2(s),
                    v_weight: zeros2(s),
                    m_bias: Array1::zeros(s.1),
                    v_bias: Array1::zeros(s.1),
                })
                .collect(),
            adam_t: 0,
            acts: shapes
                .iter()
                .map(|&(_, o)| Array2::zeros((batch, o)))
                .collect(),
            deltas: shapes
                .iter()
                .map(|&(_, o)| Array2::zeros((batch, o)))
                .collect(),
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
            // Only gradient checks ask for another batch size.
            self.x_batch = Array2::zeros((rows.len(), train.input_dim()));
            self.y_batch = vec![0; rows.len()];
            for (act, delta) in self.acts.iter_mut().zip(&mut self.deltas) {
                *act = Array2::zeros((rows.len(), act.ncols()));
                *delta = Array2::zeros((rows.len(), delta.ncols()));
            }
        }
        for (i, &r) in rows.iter().enumerate() {
            self.x_batch.row_mut(i).assign(&train.features.row(r));
            self.y_batch[i] = train.labels[r];
        }
    }

    /// Forward and backward over `x_batch`; fills `grads`, returns the mean loss.
    fn forward_backward(&mut self) -> f32 {
        let n_layers = self.net.layers.len();
        forward(&self.net, self.x_batch.view(), &mut self.acts);

        // Softmax cross-entropy: delta of the last layer = (softmax - onehot) / batch.
        let batch = self.x_batch.nrows();
        let scale = 1.0 / batch as f32;
        let mut loss_sum = 0.0f32;
        let logits = &self.acts[n_layers - 1];
        let delta = &mut self.deltas[n_layers - 1];
        for ((z, mut d), &y) in logits
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

        for l in (0..n_layers).rev() {
            let input = if l == 0 {
                self.x_batch.view()
            } else {
                self.acts[l - 1].view()
            };
            // dW = inputᵀ · delta, db = Σ_rows delta.
            matmul(
                input.t(),
                self.deltas[l].view(),
                self.grads[l].weight.view_mut(),
                false,
            );
            let bias_grad = &mut self.grads[l].bias;
            bias_grad.fill(0.0);
            for row in self.deltas[l].outer_iter() {
                *bias_grad += &row;
            }
            if l > 0 {
                // delta_{l-1} = (delta_l · W_lᵀ) ⊙ relu'(z_{l-1}); relu'(z) = [a > 0].
                let (lower, upper) = self.deltas.split_at_mut(l);
                let weight_t = self.net.layers[l].weight.t();
                matmul(upper[0].view(), weight_t, lower[l - 1].view_mut(), false);
                ndarray::Zip::from(&mut lower[l - 1])
                    .and(&self.acts[l - 1])
                    .for_each(|d, &a| {
                        if a <= 0.0 {
                            *d = 0.0;
                        }
                    });
            }
        }
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

/// Forward pass of `x` through `net` into `acts` (one `[rows, width]` buffer per layer):
/// `z = x · W + b`, ReLU on every layer but the last, which holds the logits.
pub fn forward(net: &Network, x: ArrayView2<f32>, acts: &mut [Array2<f32>]) {
    let n_layers = net.layers.len();
    for l in 0..n_layers {
        let (done, rest) = acts.split_at_mut(l);
        let out = &mut rest[0];
        let input = if l == 0 { x } else { done[l - 1].view() };
        let layer = &net.layers[l];
        let dim = out.dim();
        out.assign(&layer.bias.broadcast(dim).expect("bias fits the layer"));
        matmul(input, layer.weight.view(), out.view_mut(), true);
        if l + 1 < n_layers {
            out.mapv_inplace(|v| v.max(0.0));
        }
    }
}

/// Adam's per-step constants, in PyTorch's formulation.
pub struct AdamStep {
    beta1: f32,
    beta2: f32,
    eps: f32,
    /// lr / (1 - β1ᵗ)
    step_size: f32,
    /// sqrt(1 - β2ᵗ)
    bias_correction2_sqrt: f32,
}

impl AdamStep {
    /// lr / (1 − β1ᵗ)
    pub fn step_size(&self) -> f32 {
        self.step_size
    }

    /// 1 / sqrt(1 − β2ᵗ), as the update uses it.
    pub fn inv_bias_correction2(&self) -> f32 {
        1.0 / self.bias_correction2_sqrt
    }

    pub fn new(lr: f32, beta1: f32, beta2: f32, eps: f32, t: i32) -> Self {
        Self {
            beta1,
            beta2,
            eps,
            step_size: lr / (1.0 - beta1.powi(t)),
            bias_correction2_sqrt: (1.0 - beta2.powi(t)).sqrt(),
        }
    }
}

/// Adam with the mask fused in: the gradient, both moments and the weight are multiplied by
/// the mask, so a pruned position stays exactly 0 whatever happened before. Natively, large
/// layers are split over the cores (the update is a fifth of a LeNet step on one core).
pub fn adam_update(
    s: &AdamStep,
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    mask: Option<&[f32]>,
) {
    #[cfg(not(target_arch = "wasm32"))]
    if w.len() >= PARALLEL_MIN_LEN {
        use rayon::prelude::*;
        let chunk = w.len().div_ceil(rayon::current_num_threads().max(1));
        let (w, m, v) = (
            w.par_chunks_mut(chunk),
            m.par_chunks_mut(chunk),
            v.par_chunks_mut(chunk),
        );
        let parts = w.zip(g.par_chunks(chunk)).zip(m).zip(v);
        match mask {
            Some(mask) => parts
                .zip(mask.par_chunks(chunk))
                .for_each(|((((w, g), m), v), k)| adam_kernel(s, w, g, m, v, Some(k))),
            None => parts.for_each(|(((w, g), m), v)| adam_kernel(s, w, g, m, v, None)),
        }
        return;
    }
    adam_kernel(s, w, g, m, v, mask)
}

/// Slices at least this long are updated in parallel (natively).
#[cfg(not(target_arch = "wasm32"))]
const PARALLEL_MIN_LEN: usize = 1 << 16;

fn adam_kernel(
    s: &AdamStep,
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    mask: Option<&[f32]>,
) {
    let (b1, b2) = (s.beta1, s.beta2);
    let inv_bc2 = s.inv_bias_correction2();
    match mask {
        Some(mask) => {
            for ((((w, &g), m), v), &k) in w.iter_mut().zip(g).zip(m).zip(v).zip(mask) {
                let g = g * k;
                *m = (b1 * *m + (1.0 - b1) * g) * k;
                *v = (b2 * *v + (1.0 - b2) * g * g) * k;
                *w = (*w - s.step_size * *m / (v.sqrt() * inv_bc2 + s.eps)) * k;
            }
        }
        None => {
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *w -= s.step_size * *m / (v.sqrt() * inv_bc2 + s.eps);
            }
        }
    }
}

/// SGD with momentum (PyTorch's form), mask fused in as in [`adam_update`].
pub fn sgd_update(
    lr: f32,
    momentum: f32,
    w: &mut [f32],
    g: &[f32],
    buf: &mut [f32],
    mask: Option<&[f32]>,
) {
    match mask {
        Some(mask) => {
            for (((w, &g), b), &k) in w.iter_mut().zip(g).zip(buf).zip(mask) {
                *b = (momentum * *b + g) * k;
                *w = (*w - lr * *b) * k;
            }
        }
        None => {
            for ((w, &g), b) in w.iter_mut().zip(g).zip(buf) {
                *b = momentum * *b + g;
                *w -= lr * *b;
            }
        }
    }
}

/// Loss and accuracy of a network on a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f32,
    pub accuracy: f32,
    pub auc: Option<f32>,
}

/// Reusable buffers for evaluation, so repeated evaluations (the sparsity slider, eval points
/// during training) do not allocate.
#[derive(Default)]
pub struct EvalBuffers {
    acts: Vec<Array2<f32>>,
    /// For the last, shorter chunk of a split (kept: the same split is evaluated again).
    tail: Vec<Array2<f32>>,
    probs: Vec<f32>,
    scores: Vec<f32>,
    positives: Vec<bool>,
}

/// Evaluate `net` on `data`: mean loss, accuracy and, with a `positive` class, ROC AUC of
/// that class's softmax probability.
pub fn evaluate(net: &Network, data: &Dataset, positive: Option<u8>) -> Evaluation {
    evaluate_with(net, data, positive, &mut EvalBuffers::default())
}

pub fn evaluate_with(
    net: &Network,
    data: &Dataset,
    positive: Option<u8>,
    buf: &mut EvalBuffers,
) -> Evaluation {
    let mut partial = Partial::default();
    loop {
        if let Some(done) = evaluate_chunk(net, data, positive, buf, &mut partial) {
            return done;
        }
    }
}

/// How far an evaluation has come: rows done and their running totals.
#[derive(Default, Clone, Copy)]
pub struct Partial {
    start: usize,
    loss_sum: f64,
    correct: usize,
}

/// Evaluate the next [`EVAL_CHUNK`] rows; the result once the last row is in. Chunk by chunk
/// or all at once, the totals are the same (the rows are summed in order).
pub fn evaluate_chunk(
    net: &Network,
    data: &Dataset,
    positive: Option<u8>,
    buf: &mut EvalBuffers,
    partial: &mut Partial,
) -> Option<Evaluation> {
    let widths: Vec<usize> = net.layers.iter().map(|l| l.bias.len()).collect();
    let rows = EVAL_CHUNK.min(data.len()).max(1);
    buf.probs.resize(net.spec.output, 0.0);
    if partial.start == 0 {
        buf.scores.clear();
        buf.positives.clear();
    }
    let start = partial.start;
    if start < data.len() {
        let end = (start + rows).min(data.len());
        let x = data.features.slice(s![start..end, ..]);
        let n = end - start;
        let (mut loss_sum, mut correct) = (partial.loss_sum, partial.correct);
        // The last, shorter chunk has buffers of its own size.
        let slot = if n == rows {
            &mut buf.acts
        } else {
            &mut buf.tail
        };
        let mut acts = std::mem::take(slot);
        let fits =
            acts.len() == widths.len() && acts.iter().zip(&widths).all(|(a, &w)| a.dim() == (n, w));
        if !fits {
            acts = widths.iter().map(|&w| Array2::zeros((n, w))).collect();
        }
        forward(net, x, &mut acts);
        tally(
            &acts[acts.len() - 1],
            &data.labels[start..end],
            positive,
            buf,
            &mut loss_sum,
            &mut correct,
        );
        if n == rows {
            buf.acts = acts;
        } else {
            buf.tail = acts;
        }
        *partial = Partial {
            start: end,
            loss_sum,
            correct,
        };
        if end < data.len() {
            return None;
        }
    }
    let n = data.len().max(1) as f64;
    Some(Evaluation {
        loss: (partial.loss_sum / n) as f32,
        accuracy: (partial.correct as f64 / n) as f32,
        auc: positive.and_then(|_| metrics::roc_auc(&buf.scores, &buf.positives)),
    })
}

fn tally(
    logits: &Array2<f32>,
    labels: &[u8],
    positive: Option<u8>,
    buf: &mut EvalBuffers,
    loss_sum: &mut f64,
    correct: &mut usize,
) {
    for (z, &y) in logits.axis_iter(Axis(0)).zip(labels) {
        let z = z.as_slice().expect("contiguous rows");
        *loss_sum += f64::from(metrics::softmax_cross_entropy(
            z,
            y as usize,
            &mut buf.probs,
        ));
        if metrics::argmax(z) == y as usize {
            *correct += 1;
        }
        if let Some(p) = positive {
            buf.scores.push(buf.probs[p as usize]);
            buf.positives.push(y == p);
        }
    }
}

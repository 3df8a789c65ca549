//! The GPU engine: the same training as the CPU engine, as WGSL compute shaders through wgpu.
//!
//! Weights, masks, optimiser state and the whole dataset stay on the GPU for a run. A job of
//! N steps is encoded as one compute pass per chunk of up to [`STEP_SLOTS`] steps (19
//! dispatches a step for LeNet) and submitted at once; metrics accumulate on the GPU and come
//! back with one asynchronous read per job ([`readback`]). Nothing here ever waits for the
//! GPU: `poll` answers `None` until the read has landed.
//!
//! Pruning stays on the CPU: the trained weights come back once per run anyway (the record
//! and the heatmaps need them), and magnitude pruning of LeNet's 266k weights takes a few
//! milliseconds there (`lottery-lab bench` prints it), so a GPU threshold would save nothing.

pub mod context;
mod encode;
pub mod kernels;
pub mod readback;
pub mod testing;

use std::sync::Arc;

use wgpu::util::DeviceExt as _;

pub use context::{AdapterSummary, BackendChoice, BackendPreference, GpuContext, choose_backend};
use kernels::{Kernels, Step};
use readback::PendingRead;

use super::cpu::AdamStep;
use super::{
    Engine, EngineError, EngineInfo, EvalPoint, Job, JobResult, Optimizer, TrainConfig,
    epoch_order, metrics,
};
use crate::data::{DataSplits, Dataset};
use crate::model::{Layer, Mask, NetSpec, Network};

/// Steps encoded per submission: bounds the per-step uniform and index buffers.
pub const STEP_SLOTS: usize = 512;

/// metrics buffer: [train loss sum, train steps, val loss, val correct, test loss, test correct]
const METRIC_SLOTS: usize = 6;
const VAL_SLOT: u32 = 2;
const TEST_SLOT: u32 = 4;

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

/// A dataset split on the GPU.
struct GpuSplit {
    features: wgpu::Buffer,
    labels: wgpu::Buffer,
    rows: usize,
}

impl GpuSplit {
    fn upload(device: &wgpu::Device, data: &Dataset, name: &str) -> Self {
        let features = data.features.as_standard_layout();
        let labels: Vec<u32> = data.labels.iter().map(|&l| u32::from(l)).collect();
        Self {
            features: init_buffer(
                device,
                &format!("{name} features"),
                bytemuck::cast_slice(features.as_slice().expect("standard layout")),
                STORAGE,
            ),
            labels: init_buffer(
                device,
                &format!("{name} labels"),
                bytemuck::cast_slice(&labels),
                STORAGE,
            ),
            rows: data.len(),
        }
    }
}

fn init_buffer(
    device: &wgpu::Device,
    label: &str,
    bytes: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    // wgpu refuses zero-sized bindings: an empty array still gets 4 bytes.
    let contents: &[u8] = if bytes.is_empty() { &[0; 4] } else { bytes };
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents,
        usage,
    })
}

/// Refuse, before anything is allocated, a buffer larger than the device can bind (WebGPU's
/// default is 128 MiB): the caller falls back to the CPU engine with this reason.
fn check_binding(device: &wgpu::Device, what: &str, bytes: u64) -> Result<(), EngineError> {
    let limits = device.limits();
    let most = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    if bytes > most {
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64);
        return Err(EngineError::Unsupported(format!(
            "{what} need a {} buffer; this GPU binds at most {}",
            mib(bytes),
            mib(most)
        )));
    }
    Ok(())
}

fn zeros(device: &wgpu::Device, label: &str, floats: usize) -> wgpu::Buffer {
    // wgpu zero-initialises new buffers.
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (floats.max(1) * 4) as u64,
        usage: STORAGE,
        mapped_at_creation: false,
    })
}

fn uniform_of<T: bytemuck::Pod>(device: &wgpu::Device, label: &str, value: &T) -> wgpu::Buffer {
    init_buffer(
        device,
        label,
        bytemuck::bytes_of(value),
        wgpu::BufferUsages::UNIFORM,
    )
}

/// One dispatch, ready to record.
struct Dispatch {
    pipeline: Pipeline,
    bind_group: wgpu::BindGroup,
    /// Uses the per-step uniform at the step's dynamic offset.
    per_step: bool,
    groups: (u32, u32),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pipeline {
    Forward,
    InputGrad,
    WeightGrad,
    BiasGrad,
    ConvForward,
    ConvInputGrad,
    ConvWeightGrad,
    ConvBiasGrad,
    PoolForward,
    PoolBackward,
    TrainLoss,
    EvalMetrics,
    Gather,
    Update,
}

/// Everything for one loaded network.
struct Loaded {
    spec: NetSpec,
    cfg: TrainConfig,
    /// Weights and biases of each parametric layer.
    layers: Vec<encode::ParamBuffers>,
    indices: wgpu::Buffer,
    steps: wgpu::Buffer,
    step_stride: usize,
    metrics: wgpu::Buffer,
    /// Where a gradient job keeps the training-loss totals it must not change.
    metrics_saved: wgpu::Buffer,
    scores: wgpu::Buffer,
    /// dL/dW and dL/db per layer, as the last step's backward pass left them.
    grads: Vec<(wgpu::Buffer, wgpu::Buffer)>,
    /// Buffers only the bind groups name (masks, moments), held for clarity.
    _held: Vec<wgpu::Buffer>,
    /// Dispatches of one training step, in order.
    step_dispatches: Vec<Dispatch>,
    /// Dispatches of one evaluation (validation, then test).
    eval_dispatches: Vec<Dispatch>,
    // Host-side batch order and Adam step, mirroring the CPU engine exactly.
    order: Vec<usize>,
    epoch: u64,
    cursor: usize,
    adam_t: i32,
    iteration: usize,
}

enum InFlight {
    Trained { read: PendingRead },
    Evaluated { read: PendingRead },
    Weights { read: PendingRead },
    Gradients { read: PendingRead },
}

pub struct GpuEngine {
    ctx: Arc<GpuContext>,
    kernels: Kernels,
    data: Arc<DataSplits>,
    train: GpuSplit,
    val: GpuSplit,
    test: GpuSplit,
    loaded: Option<Loaded>,
    in_flight: Option<InFlight>,
}

impl GpuEngine {
    /// Compile the kernels and upload the dataset (once; every run reuses it). The matrix
    /// products suit the adapter (see [`kernels::Matmul`]).
    pub fn new(ctx: Arc<GpuContext>, data: Arc<DataSplits>) -> Result<Self, EngineError> {
        let matmul = kernels::Matmul::for_adapter(&ctx.adapter);
        Self::with_matmul(ctx, data, matmul)
    }

    /// [`GpuEngine::new`] with a chosen matrix-product kernel (benchmarks compare them).
    pub fn with_matmul(
        ctx: Arc<GpuContext>,
        data: Arc<DataSplits>,
        matmul: kernels::Matmul,
    ) -> Result<Self, EngineError> {
        let device = &ctx.device;
        for (name, split) in [
            ("training", &data.train),
            ("validation", &data.val),
            ("test", &data.test),
        ] {
            let bytes = (split.len() * data.input_dim() * 4) as u64;
            check_binding(device, &format!("the {name} data"), bytes)?;
        }
        let (kernels, train, val, test) = ctx.scoped(|| {
            (
                Kernels::new(device, matmul),
                GpuSplit::upload(device, &data.train, "train"),
                GpuSplit::upload(device, &data.val, "val"),
                GpuSplit::upload(device, &data.test, "test"),
            )
        });
        if let Some(fault) = ctx.faults.take() {
            return Err(fault);
        }
        Ok(Self {
            ctx,
            kernels,
            data,
            train,
            val,
            test,
            loaded: None,
            in_flight: None,
        })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.ctx.adapter
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    fn pipeline(&self, which: Pipeline) -> &wgpu::ComputePipeline {
        let k = &self.kernels;
        match which {
            Pipeline::Forward => &k.forward,
            Pipeline::InputGrad => &k.input_grad,
            Pipeline::WeightGrad => &k.weight_grad,
            Pipeline::BiasGrad => &k.bias_grad,
            Pipeline::ConvForward => &k.conv_forward,
            Pipeline::ConvInputGrad => &k.conv_input_grad,
            Pipeline::ConvWeightGrad => &k.conv_weight_grad,
            Pipeline::ConvBiasGrad => &k.conv_bias_grad,
            Pipeline::PoolForward => &k.pool_forward,
            Pipeline::PoolBackward => &k.pool_backward,
            Pipeline::TrainLoss => &k.train_loss,
            Pipeline::EvalMetrics => &k.eval_metrics,
            Pipeline::Gather => &k.gather,
            Pipeline::Update => &k.update,
        }
    }

    fn record(&self, pass: &mut wgpu::ComputePass<'_>, dispatches: &[Dispatch], step_offset: u32) {
        for d in dispatches {
            pass.set_pipeline(self.pipeline(d.pipeline));
            if d.per_step {
                pass.set_bind_group(0, &d.bind_group, &[step_offset]);
            } else {
                pass.set_bind_group(0, &d.bind_group, &[]);
            }
            pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
        }
    }

    /// Encode and submit `steps` training steps; the caller adds the read that follows.
    fn submit_training(&mut self, steps: usize) -> Result<(), EngineError> {
        let mut remaining = steps;
        while remaining > 0 {
            let chunk = remaining.min(STEP_SLOTS);
            let (indices, step_bytes) = self.plan_steps(chunk)?;
            let loaded = self.loaded.as_ref().ok_or(EngineError::NotLoaded)?;
            // Queue writes land before the next submission and after the previous one: a
            // chunk never sees the next chunk's values.
            self.ctx
                .queue
                .write_buffer(&loaded.indices, 0, bytemuck::cast_slice(&indices));
            self.ctx.queue.write_buffer(&loaded.steps, 0, &step_bytes);
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("train"),
                    timestamp_writes: None,
                });
                for s in 0..chunk {
                    self.record(
                        &mut pass,
                        &loaded.step_dispatches,
                        (s * loaded.step_stride) as u32,
                    );
                }
            }
            self.ctx.queue.submit([encoder.finish()]);
            remaining -= chunk;
        }
        Ok(())
    }

    /// The batch rows and per-step uniforms of the next `chunk` steps, advancing the
    /// host-side order and Adam step exactly as the CPU engine does.
    fn plan_steps(&mut self, chunk: usize) -> Result<(Vec<u32>, Vec<u8>), EngineError> {
        let train_rows = self.train.rows;
        let loaded = self.loaded.as_mut().ok_or(EngineError::NotLoaded)?;
        let batch = loaded.cfg.batch_size;
        let mut indices: Vec<u32> = Vec::with_capacity(chunk * batch);
        let mut step_bytes = vec![0u8; chunk * loaded.step_stride];
        for s in 0..chunk {
            // drop_last at the end of an epoch, as the CPU engine.
            if loaded.cursor + batch > loaded.order.len() {
                loaded.epoch += 1;
                loaded.order = epoch_order(loaded.cfg.order_seed, loaded.epoch, train_rows);
                loaded.cursor = 0;
            }
            indices.extend(
                loaded.order[loaded.cursor..loaded.cursor + batch]
                    .iter()
                    .map(|&i| i as u32),
            );
            loaded.cursor += batch;
            let mut step = Step {
                cursor: (s * batch) as u32,
                ..Default::default()
            };
            if let Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } = loaded.cfg.optimizer
            {
                loaded.adam_t = loaded.adam_t.saturating_add(1);
                let adam = AdamStep::new(lr, beta1, beta2, eps, loaded.adam_t);
                step.step_size = adam.step_size();
                step.inv_bias_correction2 = adam.inv_bias_correction2();
            }
            let at = s * loaded.step_stride;
            step_bytes[at..at + std::mem::size_of::<Step>()]
                .copy_from_slice(bytemuck::bytes_of(&step));
        }
        loaded.iteration += chunk;
        Ok((indices, step_bytes))
    }

    fn start_read(&self, evaluate: bool) -> Result<PendingRead, EngineError> {
        let loaded = self.loaded.as_ref().ok_or(EngineError::NotLoaded)?;
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        if evaluate {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("evaluate"),
                timestamp_writes: None,
            });
            self.record(&mut pass, &loaded.eval_dispatches, 0);
        }
        let mut sources = vec![(&loaded.metrics, (METRIC_SLOTS * 4) as u64)];
        if evaluate && self.data.positive_class.is_some() {
            sources.push((&loaded.scores, (self.test.rows * 4) as u64));
        }
        Ok(PendingRead::start(
            &self.ctx.device,
            &self.ctx.queue,
            encoder,
            &sources,
        ))
    }

    /// A step's forward and backward passes on training rows `start..start + len`, without
    /// the update, then a read of the gradients (laid out as the weights are). One batch:
    /// `len` must be the configured batch size (the kernels' buffers are sized for it).
    fn start_gradients(&mut self, start: usize, len: usize) -> Result<PendingRead, EngineError> {
        let train_rows = self.train.rows;
        let loaded = self.loaded.as_ref().ok_or(EngineError::NotLoaded)?;
        let batch = loaded.cfg.batch_size;
        if len != batch || start.saturating_add(len) > train_rows {
            return Err(EngineError::Unsupported(format!(
                "the GPU engine computes gradients on one batch of {batch} training rows (within the {train_rows}), not rows {start}..{}",
                start.saturating_add(len)
            )));
        }
        let indices: Vec<u32> = (start..start + len).map(|i| i as u32).collect();
        self.ctx
            .queue
            .write_buffer(&loaded.indices, 0, bytemuck::cast_slice(&indices));
        // Slot 0's uniform: cursor 0; the update's constants are not used.
        self.ctx
            .queue
            .write_buffer(&loaded.steps, 0, bytemuck::bytes_of(&Step::default()));
        let metrics_bytes = (METRIC_SLOTS * 4) as u64;
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        // The training loss of this batch must not count in the next evaluation's mean.
        encoder.copy_buffer_to_buffer(&loaded.metrics, 0, &loaded.metrics_saved, 0, metrics_bytes);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("gradients"),
                timestamp_writes: None,
            });
            for d in loaded
                .step_dispatches
                .iter()
                .filter(|d| d.pipeline != Pipeline::Update)
            {
                self.record(&mut pass, std::slice::from_ref(d), 0);
            }
        }
        encoder.copy_buffer_to_buffer(&loaded.metrics_saved, 0, &loaded.metrics, 0, metrics_bytes);
        let mut sources = Vec::new();
        for (layer, (weight, bias)) in loaded.layers.iter().zip(&loaded.grads) {
            sources.push((weight, (layer.fan_in * layer.fan_out * 4) as u64));
            sources.push((bias, (layer.fan_out * 4) as u64));
        }
        Ok(PendingRead::start(
            &self.ctx.device,
            &self.ctx.queue,
            encoder,
            &sources,
        ))
    }

    fn start_weights_read(&self) -> Result<PendingRead, EngineError> {
        let loaded = self.loaded.as_ref().ok_or(EngineError::NotLoaded)?;
        let encoder = self.ctx.device.create_command_encoder(&Default::default());
        let mut sources = Vec::new();
        for layer in &loaded.layers {
            sources.push((&layer.weight, (layer.fan_in * layer.fan_out * 4) as u64));
            sources.push((&layer.bias, (layer.fan_out * 4) as u64));
        }
        Ok(PendingRead::start(
            &self.ctx.device,
            &self.ctx.queue,
            encoder,
            &sources,
        ))
    }

    fn eval_point(&self, values: &[f32]) -> Result<EvalPoint, EngineError> {
        let loaded = self.loaded.as_ref().ok_or(EngineError::NotLoaded)?;
        let (val_n, test_n) = (self.val.rows.max(1) as f32, self.test.rows.max(1) as f32);
        let test_auc = self.data.positive_class.and_then(|p| {
            let scores = &values[METRIC_SLOTS..METRIC_SLOTS + self.test.rows];
            let positives: Vec<bool> = self.data.test.labels.iter().map(|&l| l == p).collect();
            metrics::roc_auc(scores, &positives)
        });
        Ok(EvalPoint {
            iteration: loaded.iteration,
            train_loss: (values[1] > 0.0).then(|| values[0] / values[1]),
            val_loss: values[2] / val_n,
            val_accuracy: values[3] / val_n,
            test_loss: values[4] / test_n,
            test_accuracy: values[5] / test_n,
            test_auc,
        })
    }

    fn weights_from(&self, values: &[f32]) -> Result<Network, EngineError> {
        let loaded = self.loaded.as_ref().ok_or(EngineError::NotLoaded)?;
        let mut offset = 0;
        let mut layers = Vec::new();
        for layer in &loaded.layers {
            let n = layer.fan_in * layer.fan_out;
            let weight = ndarray::Array2::from_shape_vec(
                (layer.fan_in, layer.fan_out),
                values[offset..offset + n].to_vec(),
            )
            .map_err(|e| EngineError::Gpu(e.to_string()))?;
            offset += n;
            let bias = ndarray::Array1::from(values[offset..offset + layer.fan_out].to_vec());
            offset += layer.fan_out;
            layers.push(Layer { weight, bias });
        }
        Ok(Network {
            spec: loaded.spec.clone(),
            layers,
        })
    }
}

impl Engine for GpuEngine {
    fn answers_later(&self) -> bool {
        true
    }

    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: "gpu".into(),
            name: format!("GPU engine on {}", self.ctx.adapter.describe()),
        }
    }

    fn load(&mut self, net: &Network, mask: &Mask, cfg: &TrainConfig) -> Result<(), EngineError> {
        if let Some(fault) = self.ctx.faults.take() {
            return Err(fault);
        }
        super::check_load(net, mask, cfg, &self.data)?;
        for (i, layer) in net.layers.iter().enumerate() {
            let bytes = (layer.weight.len() * 4) as u64;
            check_binding(
                &self.ctx.device,
                &format!("layer {}'s weights", i + 1),
                bytes,
            )?;
        }
        self.in_flight = None;
        let loaded = self
            .ctx
            .clone()
            .scoped(|| encode::build(self, net, mask, cfg));
        self.loaded = Some(loaded);
        if let Some(fault) = self.ctx.faults.take() {
            self.loaded = None;
            return Err(fault);
        }
        Ok(())
    }

    fn submit(&mut self, job: Job) -> Result<(), EngineError> {
        if self.loaded.is_none() {
            return Err(EngineError::NotLoaded);
        }
        if self.in_flight.is_some() {
            return Err(EngineError::Busy);
        }
        if let Some(fault) = self.ctx.faults.take() {
            return Err(fault);
        }
        let ctx = self.ctx.clone();
        let in_flight = ctx.scoped(|| self.start(job))?;
        self.in_flight = Some(in_flight);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<JobResult>, EngineError> {
        let ctx = self.ctx.clone();
        ctx.scoped(|| self.poll_in_flight())
    }
}

impl GpuEngine {
    /// Encode and submit `job`'s work.
    fn start(&mut self, job: Job) -> Result<InFlight, EngineError> {
        Ok(match job {
            Job::Train { steps, evaluate } => {
                self.submit_training(steps)?;
                let read = self.start_read(evaluate)?;
                if evaluate {
                    InFlight::Evaluated { read }
                } else {
                    InFlight::Trained { read }
                }
            }
            Job::ReadWeights => InFlight::Weights {
                read: self.start_weights_read()?,
            },
            Job::Gradients { start, len } => InFlight::Gradients {
                read: self.start_gradients(start, len)?,
            },
        })
    }

    /// The job in flight's result, once its read-back has arrived.
    fn poll_in_flight(&mut self) -> Result<Option<JobResult>, EngineError> {
        if let Some(fault) = self.ctx.faults.take() {
            self.in_flight = None;
            return Err(fault);
        }
        let Some(in_flight) = &self.in_flight else {
            return Ok(None);
        };
        let read = match in_flight {
            InFlight::Trained { read }
            | InFlight::Evaluated { read }
            | InFlight::Weights { read }
            | InFlight::Gradients { read } => read,
        };
        let Some(bytes) = read.try_take(&self.ctx.device)? else {
            return Ok(None);
        };
        let values = readback::f32s(&bytes);
        let in_flight = self.in_flight.take().expect("checked above");
        let loaded = self.loaded.as_ref().ok_or(EngineError::NotLoaded)?;
        Ok(Some(match in_flight {
            InFlight::Trained { .. } => JobResult::Trained {
                iteration: loaded.iteration,
            },
            InFlight::Evaluated { .. } => {
                let point = self.eval_point(&values)?;
                // The training loss is a mean since the previous evaluation, as on the CPU.
                self.ctx
                    .queue
                    .write_buffer(&loaded.metrics, 0, bytemuck::cast_slice(&[0.0f32; 2]));
                JobResult::Evaluated(point)
            }
            InFlight::Weights { .. } => JobResult::Weights(self.weights_from(&values)?),
            InFlight::Gradients { .. } => JobResult::Gradients(self.weights_from(&values)?.layers),
        }))
    }
}

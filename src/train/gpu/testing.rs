//! Run one kernel on host arrays and wait for the answer: for the kernel-versus-reference
//! tests and the benchmark, never for training (which never waits).

#![cfg(not(target_arch = "wasm32"))]

use ndarray::{Array1, Array2};
use wgpu::util::DeviceExt as _;

use super::kernels::{
    self, ConvDims, Dims, GatherDims, Kernels, LossDims, OptParams, PoolDims, Step,
};
use super::readback::{PendingRead, f32s};
use super::{GpuContext, STORAGE};
use crate::model::{ConvGeometry, PoolGeometry};
use crate::train::EngineError;

enum Binding<'a> {
    Uniform(&'a [u8]),
    /// The per-step uniform, at offset 0.
    Step(&'a [u8]),
    Read(&'a [u8]),
    Write(&'a [u8]),
}

/// Bind `bindings` in order, dispatch `groups` of `pipeline`, `repeat` times, and read back
/// every `Write` binding.
fn run(
    ctx: &GpuContext,
    layout: &wgpu::BindGroupLayout,
    pipeline: &wgpu::ComputePipeline,
    bindings: &[Binding],
    groups: (u32, u32),
    repeat: usize,
) -> Result<Vec<Vec<f32>>, EngineError> {
    let device = &ctx.device;
    let buffers: Vec<(wgpu::Buffer, bool, usize)> = bindings
        .iter()
        .map(|b| {
            let (bytes, usage, written) = match b {
                Binding::Uniform(bytes) | Binding::Step(bytes) => {
                    (*bytes, wgpu::BufferUsages::UNIFORM, false)
                }
                Binding::Read(bytes) => (*bytes, STORAGE, false),
                Binding::Write(bytes) => (*bytes, STORAGE, true),
            };
            let contents: &[u8] = if bytes.is_empty() { &[0; 4] } else { bytes };
            let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents,
                usage,
            });
            (buffer, written, bytes.len())
        })
        .collect();
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, (buffer, _, _))| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: buffer.as_entire_binding(),
        })
        .collect();
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout,
        entries: &entries,
    });
    let has_step = bindings.iter().any(|b| matches!(b, Binding::Step(_)));
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(pipeline);
        for _ in 0..repeat {
            pass.set_bind_group(0, &bind_group, if has_step { &[0] } else { &[] });
            pass.dispatch_workgroups(groups.0, groups.1, 1);
        }
    }
    let outputs: Vec<(&wgpu::Buffer, u64)> = buffers
        .iter()
        .filter(|(_, written, _)| *written)
        .map(|(buffer, _, len)| (buffer, *len as u64))
        .collect();
    let bytes = PendingRead::start(device, &ctx.queue, encoder, &outputs).wait(device)?;
    if let Some(fault) = ctx.faults.take() {
        return Err(fault);
    }
    let mut offset = 0;
    Ok(outputs
        .iter()
        .map(|(_, len)| {
            let part = f32s(&bytes[offset..offset + *len as usize]);
            offset += *len as usize;
            part
        })
        .collect())
}

fn floats<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>) -> Vec<f32> {
    a.as_standard_layout().iter().copied().collect()
}

/// Weights, first moments (or momentum) and second moments after an update.
pub type UpdatedState = (Vec<f32>, Vec<f32>, Vec<f32>);

/// A kernel harness over one context.
pub struct KernelRunner<'a> {
    pub ctx: &'a GpuContext,
    pub kernels: Kernels,
}

impl<'a> KernelRunner<'a> {
    /// With the matrix-product kernels the engine would pick for this adapter.
    pub fn new(ctx: &'a GpuContext) -> Self {
        Self::with_matmul(ctx, kernels::Matmul::for_adapter(&ctx.adapter))
    }

    pub fn with_matmul(ctx: &'a GpuContext, matmul: kernels::Matmul) -> Self {
        Self {
            ctx,
            kernels: Kernels::new(&ctx.device, matmul),
        }
    }

    /// `operands` are lhs, rhs and aux, as linear.wgsl binds them.
    fn linear(
        &self,
        pipeline: &wgpu::ComputePipeline,
        dims: Dims,
        [lhs, rhs, aux]: [Vec<f32>; 3],
        out_len: usize,
        (groups, repeat): ((u32, u32), usize),
    ) -> Result<Vec<f32>, EngineError> {
        let out = vec![0.0f32; out_len];
        let mut result = run(
            self.ctx,
            &self.kernels.linear_layout,
            pipeline,
            &[
                Binding::Uniform(bytemuck::bytes_of(&dims)),
                Binding::Read(bytemuck::cast_slice(&lhs)),
                Binding::Read(bytemuck::cast_slice(&rhs)),
                Binding::Read(bytemuck::cast_slice(&aux)),
                Binding::Write(bytemuck::cast_slice(&out)),
            ],
            groups,
            repeat,
        )?;
        Ok(result.remove(0))
    }

    /// One dispatch of a kernel bound like the linear ones (uniform, lhs, rhs, aux, out), one
    /// invocation per element of `out_len` (conv.wgsl, pool.wgsl).
    fn elementwise(
        &self,
        pipeline: &wgpu::ComputePipeline,
        uniform: &[u8],
        [lhs, rhs, aux]: [Vec<f32>; 3],
        out_len: usize,
    ) -> Result<Vec<f32>, EngineError> {
        let out = vec![0.0f32; out_len];
        let mut result = run(
            self.ctx,
            &self.kernels.linear_layout,
            pipeline,
            &[
                Binding::Uniform(uniform),
                Binding::Read(bytemuck::cast_slice(&lhs)),
                Binding::Read(bytemuck::cast_slice(&rhs)),
                Binding::Read(bytemuck::cast_slice(&aux)),
                Binding::Write(bytemuck::cast_slice(&out)),
            ],
            kernels::element_groups(out_len),
            1,
        )?;
        Ok(result.remove(0))
    }

    /// conv.wgsl `forward`: relu?(conv(x, W) + b), `[rows, out_len]`.
    pub fn conv_forward(
        &self,
        x: &Array2<f32>,
        w: &Array2<f32>,
        b: &Array1<f32>,
        g: &ConvGeometry,
        relu: bool,
    ) -> Result<Array2<f32>, EngineError> {
        let rows = x.nrows();
        let dims = ConvDims::new(g, rows, if relu { kernels::RELU } else { 0 });
        let out = self.elementwise(
            &self.kernels.conv_forward,
            bytemuck::bytes_of(&dims),
            [floats(x), floats(w), floats(b)],
            rows * g.output.len(),
        )?;
        Ok(Array2::from_shape_vec((rows, g.output.len()), out).expect("shape"))
    }

    /// conv.wgsl `input_grad`: dL/dx from δ, times relu'(the input) when `act_below` is given.
    pub fn conv_input_grad(
        &self,
        delta: &Array2<f32>,
        w: &Array2<f32>,
        act_below: Option<&Array2<f32>>,
        g: &ConvGeometry,
    ) -> Result<Array2<f32>, EngineError> {
        let rows = delta.nrows();
        let dims = ConvDims::new(
            g,
            rows,
            if act_below.is_some() {
                kernels::RELU
            } else {
                0
            },
        );
        let out = self.elementwise(
            &self.kernels.conv_input_grad,
            bytemuck::bytes_of(&dims),
            [
                floats(delta),
                floats(w),
                act_below.map_or(vec![0.0], floats),
            ],
            rows * g.input.len(),
        )?;
        Ok(Array2::from_shape_vec((rows, g.input.len()), out).expect("shape"))
    }

    /// conv.wgsl `weight_grad` and `bias_grad`: dL/dW `[taps · C, out_c]` and dL/db.
    pub fn conv_param_grads(
        &self,
        x: &Array2<f32>,
        delta: &Array2<f32>,
        g: &ConvGeometry,
    ) -> Result<(Array2<f32>, Array1<f32>), EngineError> {
        let dims = ConvDims::new(g, x.nrows(), 0);
        let dw = self.elementwise(
            &self.kernels.conv_weight_grad,
            bytemuck::bytes_of(&dims),
            [floats(x), floats(delta), vec![0.0]],
            g.taps() * g.output.channels,
        )?;
        let db = self.elementwise(
            &self.kernels.conv_bias_grad,
            bytemuck::bytes_of(&dims),
            [vec![0.0], floats(delta), vec![0.0]],
            g.output.channels,
        )?;
        Ok((
            Array2::from_shape_vec((g.taps(), g.output.channels), dw).expect("shape"),
            Array1::from(db),
        ))
    }

    /// pool.wgsl `forward`.
    pub fn pool_forward(
        &self,
        x: &Array2<f32>,
        g: &PoolGeometry,
    ) -> Result<Array2<f32>, EngineError> {
        let rows = x.nrows();
        let dims = PoolDims::new(g, rows, 0);
        let out = self.elementwise(
            &self.kernels.pool_forward,
            bytemuck::bytes_of(&dims),
            [floats(x), vec![0.0], vec![0.0]],
            rows * g.output.len(),
        )?;
        Ok(Array2::from_shape_vec((rows, g.output.len()), out).expect("shape"))
    }

    /// pool.wgsl `backward`: dL/dx from dL/dy, times relu'(x) when `relu`.
    pub fn pool_backward(
        &self,
        delta: &Array2<f32>,
        x: &Array2<f32>,
        g: &PoolGeometry,
        relu: bool,
    ) -> Result<Array2<f32>, EngineError> {
        let rows = x.nrows();
        let dims = PoolDims::new(g, rows, if relu { kernels::RELU } else { 0 });
        let out = self.elementwise(
            &self.kernels.pool_backward,
            bytemuck::bytes_of(&dims),
            [floats(delta), floats(x), vec![0.0]],
            rows * g.input.len(),
        )?;
        Ok(Array2::from_shape_vec((rows, g.input.len()), out).expect("shape"))
    }

    /// relu?(x · W + b)
    pub fn forward(
        &self,
        x: &Array2<f32>,
        w: &Array2<f32>,
        b: &Array1<f32>,
        relu: bool,
    ) -> Result<Array2<f32>, EngineError> {
        let (m, k) = x.dim();
        let n = w.ncols();
        let dims = Dims {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            flags: if relu { kernels::RELU } else { 0 },
        };
        let out = self.linear(
            &self.kernels.forward,
            dims,
            [floats(x), floats(w), floats(b)],
            m * n,
            (kernels::tiles(m, n), 1),
        )?;
        Ok(Array2::from_shape_vec((m, n), out).expect("shape"))
    }

    /// (δ · Wᵀ) ⊙ [a > 0], with W `[fan_in, fan_out]`, δ `[rows, fan_out]`, a `[rows, fan_in]`.
    pub fn input_grad(
        &self,
        delta: &Array2<f32>,
        w: &Array2<f32>,
        act_below: &Array2<f32>,
    ) -> Result<Array2<f32>, EngineError> {
        let (m, k) = delta.dim();
        let n = w.nrows();
        let dims = Dims {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            flags: kernels::TRANSPOSE_B,
        };
        let out = self.linear(
            &self.kernels.input_grad,
            dims,
            [floats(delta), floats(w), floats(act_below)],
            m * n,
            (kernels::tiles(m, n), 1),
        )?;
        Ok(Array2::from_shape_vec((m, n), out).expect("shape"))
    }

    /// xᵀ · δ, with x `[rows, fan_in]` and δ `[rows, fan_out]`.
    pub fn weight_grad(
        &self,
        x: &Array2<f32>,
        delta: &Array2<f32>,
    ) -> Result<Array2<f32>, EngineError> {
        let (rows, m) = x.dim();
        let n = delta.ncols();
        let dims = Dims {
            m: m as u32,
            n: n as u32,
            k: rows as u32,
            flags: kernels::TRANSPOSE_A,
        };
        let out = self.linear(
            &self.kernels.weight_grad,
            dims,
            [floats(x), floats(delta), vec![0.0]],
            m * n,
            (kernels::tiles(m, n), 1),
        )?;
        Ok(Array2::from_shape_vec((m, n), out).expect("shape"))
    }

    /// Column sums of δ.
    pub fn bias_grad(&self, delta: &Array2<f32>) -> Result<Array1<f32>, EngineError> {
        let (m, n) = delta.dim();
        let dims = Dims {
            m: m as u32,
            n: n as u32,
            k: 0,
            flags: 0,
        };
        let out = self.linear(
            &self.kernels.bias_grad,
            dims,
            [floats(delta), vec![0.0], vec![0.0]],
            n,
            (((n as u32).div_ceil(64), 1), 1),
        )?;
        Ok(Array1::from(out))
    }

    /// `repeat` forward products of the given shape, timed (for the benchmark).
    pub fn time_forward(
        &self,
        m: usize,
        k: usize,
        n: usize,
        repeat: usize,
    ) -> Result<f64, EngineError> {
        let dims = Dims {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            flags: 0,
        };
        // Warm up (pipeline and buffers), then time.
        self.linear(
            &self.kernels.forward,
            dims,
            [vec![0.5; m * k], vec![0.25; k * n], vec![0.0; n]],
            m * n,
            (kernels::tiles(m, n), 1),
        )?;
        let start = std::time::Instant::now();
        self.linear(
            &self.kernels.forward,
            dims,
            [vec![0.5; m * k], vec![0.25; k * n], vec![0.0; n]],
            m * n,
            (kernels::tiles(m, n), repeat),
        )?;
        Ok(start.elapsed().as_secs_f64())
    }

    /// The training loss kernel: (δ = (softmax − onehot)/rows, the metrics buffer after it).
    pub fn train_loss(
        &self,
        logits: &Array2<f32>,
        labels: &[u32],
    ) -> Result<(Array2<f32>, Vec<f32>), EngineError> {
        let (rows, classes) = logits.dim();
        let dims = LossDims {
            rows: rows as u32,
            classes: classes as u32,
            slot: 0,
            positive: kernels::NO_CLASS,
        };
        let mut out = run(
            self.ctx,
            &self.kernels.loss_layout,
            &self.kernels.train_loss,
            &[
                Binding::Uniform(bytemuck::bytes_of(&dims)),
                Binding::Read(bytemuck::cast_slice(&floats(logits))),
                Binding::Read(bytemuck::cast_slice(labels)),
                Binding::Write(bytemuck::cast_slice(&vec![0.0f32; rows * classes])),
                Binding::Write(bytemuck::cast_slice(&[0.0f32; 6])),
            ],
            (1, 1),
            1,
        )?;
        let metrics = out.remove(1);
        Ok((
            Array2::from_shape_vec((rows, classes), out.remove(0)).expect("shape"),
            metrics,
        ))
    }

    /// The evaluation kernel: (loss sum, correct count, positive-class scores).
    pub fn eval_metrics(
        &self,
        logits: &Array2<f32>,
        labels: &[u32],
        positive: Option<u32>,
    ) -> Result<(f32, f32, Vec<f32>), EngineError> {
        let (rows, classes) = logits.dim();
        let dims = LossDims {
            rows: rows as u32,
            classes: classes as u32,
            slot: 2,
            positive: positive.unwrap_or(kernels::NO_CLASS),
        };
        let out = run(
            self.ctx,
            &self.kernels.loss_layout,
            &self.kernels.eval_metrics,
            &[
                Binding::Uniform(bytemuck::bytes_of(&dims)),
                Binding::Read(bytemuck::cast_slice(&floats(logits))),
                Binding::Read(bytemuck::cast_slice(labels)),
                Binding::Write(bytemuck::cast_slice(&vec![0.0f32; rows])),
                Binding::Write(bytemuck::cast_slice(&[0.0f32; 6])),
            ],
            (1, 1),
            1,
        )?;
        Ok((out[1][2], out[1][3], out[0].clone()))
    }

    /// Batch assembly: rows `indices[cursor..cursor + rows]` of `features`, and their labels.
    pub fn gather(
        &self,
        features: &Array2<f32>,
        labels: &[u32],
        indices: &[u32],
        cursor: u32,
        rows: usize,
    ) -> Result<(Array2<f32>, Vec<u32>), EngineError> {
        let cols = features.ncols();
        let dims = GatherDims {
            rows: rows as u32,
            cols: cols as u32,
            _pad: [0; 2],
        };
        let step = Step {
            cursor,
            ..Default::default()
        };
        let out = run(
            self.ctx,
            &self.kernels.gather_layout,
            &self.kernels.gather,
            &[
                Binding::Uniform(bytemuck::bytes_of(&dims)),
                Binding::Step(bytemuck::bytes_of(&step)),
                Binding::Read(bytemuck::cast_slice(indices)),
                Binding::Read(bytemuck::cast_slice(&floats(features))),
                Binding::Read(bytemuck::cast_slice(labels)),
                Binding::Write(bytemuck::cast_slice(&vec![0.0f32; rows * cols])),
                Binding::Write(bytemuck::cast_slice(&vec![0u32; rows])),
            ],
            ((cols as u32).div_ceil(64), rows as u32),
            1,
        )?;
        let y = out[1].iter().map(|v| v.to_bits()).collect();
        Ok((
            Array2::from_shape_vec((rows, cols), out[0].clone()).expect("shape"),
            y,
        ))
    }

    /// One optimiser update (Adam at step `t`, or SGD); returns (w, m, v).
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        optimizer: crate::train::Optimizer,
        t: i32,
        w: &[f32],
        g: &[f32],
        m: &[f32],
        v: &[f32],
        mask: &[f32],
    ) -> Result<UpdatedState, EngineError> {
        use crate::train::Optimizer;
        let len = w.len();
        let (params, step) = match optimizer {
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let adam = crate::train::cpu::AdamStep::new(lr, beta1, beta2, eps, t);
                (
                    OptParams {
                        len: len as u32,
                        kind: 0,
                        beta1,
                        beta2,
                        eps,
                        lr,
                        momentum: 0.0,
                        _pad: 0.0,
                    },
                    Step {
                        cursor: 0,
                        step_size: adam.step_size(),
                        inv_bias_correction2: adam.inv_bias_correction2(),
                        _pad: 0.0,
                    },
                )
            }
            Optimizer::Sgd { lr, momentum } => (
                OptParams {
                    len: len as u32,
                    kind: 1,
                    beta1: 0.0,
                    beta2: 0.0,
                    eps: 0.0,
                    lr,
                    momentum,
                    _pad: 0.0,
                },
                Step::default(),
            ),
        };
        let mut out = run(
            self.ctx,
            &self.kernels.optimizer_layout,
            &self.kernels.update,
            &[
                Binding::Uniform(bytemuck::bytes_of(&params)),
                Binding::Step(bytemuck::bytes_of(&step)),
                Binding::Write(bytemuck::cast_slice(w)),
                Binding::Read(bytemuck::cast_slice(g)),
                Binding::Write(bytemuck::cast_slice(m)),
                Binding::Write(bytemuck::cast_slice(v)),
                Binding::Read(bytemuck::cast_slice(mask)),
            ],
            kernels::update_groups(len),
            1,
        )?;
        let v = out.remove(2);
        let m = out.remove(1);
        Ok((out.remove(0), m, v))
    }
}

//! A loaded network's work as dispatches, recorded once at `load`: buffers per planned layer,
//! then one encoder per op kind — dense (linear.wgsl), conv (conv.wgsl), max-pool
//! (pool.wgsl) — for its forward pass, its backward pass and the evaluation. [`build`] only
//! walks the plan; a new layer kind is one more encoder here and one arm in [`GpuOp`].
//!
//! Flatten has no dispatch: activations are channels-last rows, already flat.

use super::kernels::{self, ConvDims, Dims, GatherDims, LossDims, OptParams, PoolDims, Step};
use super::{
    Dispatch, GpuEngine, Loaded, METRIC_SLOTS, Pipeline, STEP_SLOTS, STORAGE, TEST_SLOT, VAL_SLOT,
    init_buffer, uniform_of, zeros,
};
use crate::model::{ConvGeometry, Mask, Network, PlannedOp, PoolGeometry};
use crate::train::{Optimizer, TrainConfig, epoch_order};

/// A parametric layer's weights `[fan_in, fan_out]` and biases on the GPU.
pub(super) struct ParamBuffers {
    pub fan_in: usize,
    pub fan_out: usize,
    pub weight: wgpu::Buffer,
    pub bias: wgpu::Buffer,
}

/// One op of the network as the GPU runs it.
#[derive(Clone, Copy)]
enum GpuOp {
    Dense {
        fan_in: usize,
        fan_out: usize,
        relu: bool,
        param: usize,
    },
    Conv {
        geometry: ConvGeometry,
        param: usize,
    },
    Pool {
        geometry: PoolGeometry,
    },
}

impl GpuOp {
    /// The planned layers the GPU runs (flatten needs nothing).
    fn plan(net: &Network) -> Vec<(GpuOp, usize)> {
        net.spec
            .plan()
            .into_iter()
            .filter_map(|layer| {
                let op = match layer.op {
                    PlannedOp::Dense {
                        fan_in,
                        fan_out,
                        relu,
                    } => GpuOp::Dense {
                        fan_in,
                        fan_out,
                        relu,
                        param: layer.param?,
                    },
                    PlannedOp::Conv(geometry) => GpuOp::Conv {
                        geometry,
                        param: layer.param?,
                    },
                    PlannedOp::MaxPool(geometry) => GpuOp::Pool { geometry },
                    PlannedOp::Flatten => return None,
                };
                Some((op, layer.output.len()))
            })
            .collect()
    }

    /// Is its output followed by ReLU (so the gradient into it is masked by `[out > 0]`)?
    fn relu(&self) -> bool {
        match self {
            GpuOp::Dense { relu, .. } => *relu,
            GpuOp::Conv { .. } => true,
            GpuOp::Pool { .. } => false,
        }
    }
}

/// A planned op's activations and gradients.
struct ActBuffers {
    /// `[batch, out_len]`, after the op's ReLU (logits for the output layer).
    act: wgpu::Buffer,
    /// dL/d(pre-activation) `[batch, out_len]` (for a pool: dL/d(output)).
    delta: wgpu::Buffer,
    /// `[max(val, test) rows, out_len]` while evaluating.
    eval_act: wgpu::Buffer,
}

/// Makes uniforms and bind groups.
struct Binder<'a> {
    device: &'a wgpu::Device,
    steps: &'a wgpu::Buffer,
}

impl Binder<'_> {
    fn bind(&self, layout: &wgpu::BindGroupLayout, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout,
            entries: &entries,
        })
    }

    /// `first` at binding 0, the per-step uniform (one `Step` at a dynamic offset) at 1, then
    /// `rest`.
    fn bind_with_step(
        &self,
        layout: &wgpu::BindGroupLayout,
        first: &wgpu::Buffer,
        rest: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: first.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: self.steps,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<Step>() as u64),
                }),
            },
        ];
        entries.extend(rest.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32 + 2,
            resource: b.as_entire_binding(),
        }));
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout,
            entries: &entries,
        })
    }
}

/// The kernels bound like linear.wgsl: (uniform, lhs, rhs, aux, out).
struct Encoders<'a> {
    binder: Binder<'a>,
    layout: &'a wgpu::BindGroupLayout,
    /// Bound where a kernel ignores an operand.
    dummy: &'a wgpu::Buffer,
}

impl Encoders<'_> {
    fn dispatch<T: bytemuck::Pod>(
        &self,
        pipeline: Pipeline,
        uniform: &T,
        [lhs, rhs, aux, out]: [&wgpu::Buffer; 4],
        groups: (u32, u32),
    ) -> Dispatch {
        let dims = uniform_of(self.binder.device, "dims", uniform);
        Dispatch {
            pipeline,
            bind_group: self.binder.bind(self.layout, &[&dims, lhs, rhs, aux, out]),
            per_step: false,
            groups,
        }
    }

    /// `out = relu?(input · W + b)` over `rows` rows.
    fn forward(
        &self,
        op: &GpuOp,
        rows: usize,
        input: &wgpu::Buffer,
        params: &[ParamBuffers],
        out: &wgpu::Buffer,
    ) -> Dispatch {
        let relu = if op.relu() { kernels::RELU } else { 0 };
        match *op {
            GpuOp::Dense {
                fan_in,
                fan_out,
                param,
                ..
            } => {
                let p = &params[param];
                self.dispatch(
                    Pipeline::Forward,
                    &dims(rows, fan_out, fan_in, relu),
                    [input, &p.weight, &p.bias, out],
                    kernels::tiles(rows, fan_out),
                )
            }
            GpuOp::Conv { geometry, param } => {
                let p = &params[param];
                self.dispatch(
                    Pipeline::ConvForward,
                    &ConvDims::new(&geometry, rows, relu),
                    [input, &p.weight, &p.bias, out],
                    kernels::element_groups(rows * geometry.output.len()),
                )
            }
            GpuOp::Pool { geometry } => self.dispatch(
                Pipeline::PoolForward,
                &PoolDims::new(&geometry, rows, 0),
                [input, self.dummy, self.dummy, out],
                kernels::element_groups(rows * geometry.output.len()),
            ),
        }
    }

    /// From this op's delta: its parameter gradients, and the delta of the op below (masked by
    /// the ReLU below, when it has one) unless it is the first.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        op: &GpuOp,
        batch: usize,
        input: &wgpu::Buffer,
        delta: &wgpu::Buffer,
        below: Option<(&ActBuffers, bool)>,
        params: &[ParamBuffers],
        grads: &[(wgpu::Buffer, wgpu::Buffer)],
    ) -> Vec<Dispatch> {
        let mut out = Vec::new();
        match *op {
            GpuOp::Dense {
                fan_in,
                fan_out,
                param,
                ..
            } => {
                let (gw, gb) = &grads[param];
                out.push(self.dispatch(
                    Pipeline::WeightGrad,
                    &dims(fan_in, fan_out, batch, kernels::TRANSPOSE_A),
                    [input, delta, self.dummy, gw],
                    kernels::tiles(fan_in, fan_out),
                ));
                out.push(self.dispatch(
                    Pipeline::BiasGrad,
                    &dims(batch, fan_out, 0, 0),
                    [delta, self.dummy, self.dummy, gb],
                    ((fan_out as u32).div_ceil(64), 1),
                ));
                // linear.wgsl's input gradient always applies [a > 0] of the layer below; where
                // that is a pool, its output is its window's winning ReLU output, so the mask
                // is the one the conv below would apply.
                if let Some((below, _)) = below {
                    out.push(self.dispatch(
                        Pipeline::InputGrad,
                        &dims(batch, fan_in, fan_out, kernels::TRANSPOSE_B),
                        [delta, &params[param].weight, &below.act, &below.delta],
                        kernels::tiles(batch, fan_in),
                    ));
                }
            }
            GpuOp::Conv { geometry, param } => {
                let (gw, gb) = &grads[param];
                let plain = ConvDims::new(&geometry, batch, 0);
                out.push(self.dispatch(
                    Pipeline::ConvWeightGrad,
                    &plain,
                    [input, delta, self.dummy, gw],
                    kernels::element_groups(geometry.taps() * geometry.output.channels),
                ));
                out.push(self.dispatch(
                    Pipeline::ConvBiasGrad,
                    &plain,
                    [self.dummy, delta, self.dummy, gb],
                    ((geometry.output.channels as u32).div_ceil(64), 1),
                ));
                if let Some((below, relu)) = below {
                    let flags = if relu { kernels::RELU } else { 0 };
                    out.push(self.dispatch(
                        Pipeline::ConvInputGrad,
                        &ConvDims::new(&geometry, batch, flags),
                        [delta, &params[param].weight, &below.act, &below.delta],
                        kernels::element_groups(batch * geometry.input.len()),
                    ));
                }
            }
            GpuOp::Pool { geometry } => {
                if let Some((below, relu)) = below {
                    let flags = if relu { kernels::RELU } else { 0 };
                    out.push(self.dispatch(
                        Pipeline::PoolBackward,
                        &PoolDims::new(&geometry, batch, flags),
                        [delta, &below.act, self.dummy, &below.delta],
                        kernels::element_groups(batch * geometry.input.len()),
                    ));
                }
            }
        }
        out
    }
}

fn dims(m: usize, n: usize, k: usize, flags: u32) -> Dims {
    Dims {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        flags,
    }
}

/// Allocate a network's buffers and record its dispatches.
pub(super) fn build(engine: &GpuEngine, net: &Network, mask: &Mask, cfg: &TrainConfig) -> Loaded {
    let device = &engine.ctx.device;
    let batch = cfg.batch_size;
    let eval_rows = engine.val.rows.max(engine.test.rows).max(1);
    let classes = net.spec.output;

    let mut params = Vec::new();
    let mut masks = Vec::new();
    let mut bias_masks = Vec::new();
    let mut grads = Vec::new();
    let mut moments = Vec::new();
    for (l, (layer, keep)) in net.layers.iter().zip(&mask.layers).enumerate() {
        let (fan_in, fan_out) = layer.weight.dim();
        let mask_f32: Vec<f32> = keep.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
        // The CPU engine masks the weights it is given; so do we.
        let weight: Vec<f32> = layer
            .weight
            .iter()
            .zip(&mask_f32)
            .map(|(w, k)| w * k)
            .collect();
        params.push(ParamBuffers {
            fan_in,
            fan_out,
            weight: init_buffer(
                device,
                &format!("weight {l}"),
                bytemuck::cast_slice(&weight),
                STORAGE,
            ),
            bias: init_buffer(
                device,
                &format!("bias {l}"),
                bytemuck::cast_slice(layer.bias.as_slice().expect("contiguous bias")),
                STORAGE,
            ),
        });
        masks.push(init_buffer(
            device,
            &format!("mask {l}"),
            bytemuck::cast_slice(&mask_f32),
            STORAGE,
        ));
        bias_masks.push(init_buffer(
            device,
            "bias mask",
            bytemuck::cast_slice(&vec![1.0f32; fan_out]),
            STORAGE,
        ));
        grads.push((
            zeros(device, "grad w", fan_in * fan_out),
            zeros(device, "grad b", fan_out),
        ));
        moments.push([
            zeros(device, "m w", fan_in * fan_out),
            zeros(device, "v w", fan_in * fan_out),
            zeros(device, "m b", fan_out),
            zeros(device, "v b", fan_out),
        ]);
    }
    let ops = GpuOp::plan(net);
    let acts: Vec<ActBuffers> = ops
        .iter()
        .map(|&(_, len)| ActBuffers {
            act: zeros(device, "act", batch * len),
            delta: zeros(device, "delta", batch * len),
            eval_act: zeros(device, "eval act", eval_rows * len),
        })
        .collect();
    let x_batch = zeros(device, "x batch", batch * net.spec.input);
    let y_batch = zeros(device, "y batch", batch);
    let indices = zeros(device, "batch indices", STEP_SLOTS * batch);
    let step_stride = (device.limits().min_uniform_buffer_offset_alignment as usize)
        .max(std::mem::size_of::<Step>());
    let steps = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("per-step uniforms"),
        size: (STEP_SLOTS * step_stride) as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let metrics = zeros(device, "metrics", METRIC_SLOTS);
    let scores = zeros(device, "scores", eval_rows);
    let dummy = zeros(device, "unused", 1);

    let k = &engine.kernels;
    let binder = Binder {
        device,
        steps: &steps,
    };
    let enc = Encoders {
        binder: Binder {
            device,
            steps: &steps,
        },
        layout: &k.linear_layout,
        dummy: &dummy,
    };
    let last = acts.len() - 1;

    // One training step: gather the batch, forward, loss, backward, update.
    let mut step_dispatches = Vec::new();
    let gather_dims = uniform_of(
        device,
        "gather dims",
        &GatherDims {
            rows: batch as u32,
            cols: net.spec.input as u32,
            _pad: [0; 2],
        },
    );
    step_dispatches.push(Dispatch {
        pipeline: Pipeline::Gather,
        bind_group: binder.bind_with_step(
            &k.gather_layout,
            &gather_dims,
            &[
                &indices,
                &engine.train.features,
                &engine.train.labels,
                &x_batch,
                &y_batch,
            ],
        ),
        per_step: true,
        groups: ((net.spec.input as u32).div_ceil(64), batch as u32),
    });
    for (l, (op, _)) in ops.iter().enumerate() {
        let input = if l == 0 { &x_batch } else { &acts[l - 1].act };
        step_dispatches.push(enc.forward(op, batch, input, &params, &acts[l].act));
    }
    let train_loss_dims = uniform_of(
        device,
        "loss dims",
        &LossDims {
            rows: batch as u32,
            classes: classes as u32,
            slot: 0,
            positive: kernels::NO_CLASS,
        },
    );
    step_dispatches.push(Dispatch {
        pipeline: Pipeline::TrainLoss,
        bind_group: binder.bind(
            &k.loss_layout,
            &[
                &train_loss_dims,
                &acts[last].act,
                &y_batch,
                &acts[last].delta,
                &metrics,
            ],
        ),
        per_step: false,
        groups: (1, 1),
    });
    for (l, (op, _)) in ops.iter().enumerate().rev() {
        let input = if l == 0 { &x_batch } else { &acts[l - 1].act };
        let below = (l > 0).then(|| (&acts[l - 1], ops[l - 1].0.relu()));
        step_dispatches.extend(enc.backward(
            op,
            batch,
            input,
            &acts[l].delta,
            below,
            &params,
            &grads,
        ));
    }
    let (kind, lr, beta1, beta2, eps, momentum) = match cfg.optimizer {
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => (0, lr, beta1, beta2, eps, 0.0),
        Optimizer::Sgd { lr, momentum } => (1, lr, 0.0, 0.0, 0.0, momentum),
    };
    for (l, p) in params.iter().enumerate() {
        for (len, w, g, m, v, keep) in [
            (
                p.fan_in * p.fan_out,
                &p.weight,
                &grads[l].0,
                &moments[l][0],
                &moments[l][1],
                &masks[l],
            ),
            (
                p.fan_out,
                &p.bias,
                &grads[l].1,
                &moments[l][2],
                &moments[l][3],
                &bias_masks[l],
            ),
        ] {
            let opt = uniform_of(
                device,
                "optimizer",
                &OptParams {
                    len: len as u32,
                    kind,
                    beta1,
                    beta2,
                    eps,
                    lr,
                    momentum,
                    _pad: 0.0,
                },
            );
            step_dispatches.push(Dispatch {
                pipeline: Pipeline::Update,
                bind_group: binder.bind_with_step(&k.optimizer_layout, &opt, &[w, g, m, v, keep]),
                per_step: true,
                groups: kernels::update_groups(len),
            });
        }
    }

    // One evaluation: validation, then test (with scores for AUC).
    let mut eval_dispatches = Vec::new();
    for (split, slot, positive) in [
        (&engine.val, VAL_SLOT, kernels::NO_CLASS),
        (
            &engine.test,
            TEST_SLOT,
            engine
                .data
                .positive_class
                .map_or(kernels::NO_CLASS, u32::from),
        ),
    ] {
        for (l, (op, _)) in ops.iter().enumerate() {
            let input = if l == 0 {
                &split.features
            } else {
                &acts[l - 1].eval_act
            };
            eval_dispatches.push(enc.forward(op, split.rows, input, &params, &acts[l].eval_act));
        }
        let loss_dims = uniform_of(
            device,
            "eval dims",
            &LossDims {
                rows: split.rows as u32,
                classes: classes as u32,
                slot,
                positive,
            },
        );
        eval_dispatches.push(Dispatch {
            pipeline: Pipeline::EvalMetrics,
            bind_group: binder.bind(
                &k.loss_layout,
                &[
                    &loss_dims,
                    &acts[last].eval_act,
                    &split.labels,
                    &scores,
                    &metrics,
                ],
            ),
            per_step: false,
            groups: (1, 1),
        });
    }

    Loaded {
        spec: net.spec.clone(),
        cfg: cfg.clone(),
        layers: params,
        indices,
        steps,
        step_stride,
        metrics,
        metrics_saved: zeros(device, "metrics saved", METRIC_SLOTS),
        scores,
        grads,
        _held: masks
            .into_iter()
            .chain(bias_masks)
            .chain(moments.into_iter().flatten())
            .chain(acts.into_iter().flat_map(|a| [a.act, a.delta, a.eval_act]))
            .chain([x_batch, y_batch, dummy])
            .collect(),
        step_dispatches,
        eval_dispatches,
        order: epoch_order(cfg.order_seed, 0, engine.train.rows),
        epoch: 0,
        cursor: 0,
        adam_t: 0,
        iteration: 0,
    }
}

//! The compute pipelines, one WGSL file per op (all its entry points together), and the
//! uniform structs their shaders read. Each kernel's CPU reference is named in its WGSL file;
//! `tests/gpu_kernels.rs` holds them against it.

use bytemuck::{Pod, Zeroable};

pub const LINEAR_WGSL: &str = include_str!("linear.wgsl");
pub const LINEAR_DIRECT_WGSL: &str = include_str!("linear_direct.wgsl");
pub const LOSS_WGSL: &str = include_str!("loss.wgsl");
pub const BATCH_WGSL: &str = include_str!("batch.wgsl");
pub const OPTIMIZER_WGSL: &str = include_str!("optimizer.wgsl");
pub const CONV_WGSL: &str = include_str!("conv.wgsl");
pub const POOL_WGSL: &str = include_str!("pool.wgsl");

/// Output tile of the matrix-product kernels (linear.wgsl's TILE).
pub const TILE: u32 = 64;

/// linear.wgsl's flags.
pub const TRANSPOSE_A: u32 = 1;
pub const TRANSPOSE_B: u32 = 2;
pub const RELU: u32 = 4;

/// loss.wgsl's "no positive class".
pub const NO_CLASS: u32 = u32::MAX;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Dims {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub flags: u32,
}

/// conv.wgsl's shapes: a layer's geometry for `batch` samples.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ConvDims {
    pub batch: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub in_c: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub out_c: u32,
    pub k_h: u32,
    pub k_w: u32,
    pub s_h: u32,
    pub s_w: u32,
    pub p_h: u32,
    pub p_w: u32,
    pub flags: u32,
    pub _pad: [u32; 2],
}

impl ConvDims {
    pub fn new(g: &crate::model::ConvGeometry, batch: usize, flags: u32) -> Self {
        let u = |v: usize| v as u32;
        Self {
            batch: u(batch),
            in_h: u(g.input.height),
            in_w: u(g.input.width),
            in_c: u(g.input.channels),
            out_h: u(g.output.height),
            out_w: u(g.output.width),
            out_c: u(g.output.channels),
            k_h: u(g.kernel_h),
            k_w: u(g.kernel_w),
            s_h: u(g.stride_h),
            s_w: u(g.stride_w),
            p_h: u(g.pad_h),
            p_w: u(g.pad_w),
            flags,
            _pad: [0; 2],
        }
    }
}

/// pool.wgsl's shapes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct PoolDims {
    pub batch: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub channels: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub size_h: u32,
    pub size_w: u32,
    pub flags: u32,
    pub _pad: [u32; 3],
}

impl PoolDims {
    pub fn new(g: &crate::model::PoolGeometry, batch: usize, flags: u32) -> Self {
        let u = |v: usize| v as u32;
        Self {
            batch: u(batch),
            in_h: u(g.input.height),
            in_w: u(g.input.width),
            channels: u(g.input.channels),
            out_h: u(g.output.height),
            out_w: u(g.output.width),
            size_h: u(g.size_h),
            size_w: u(g.size_w),
            flags,
            _pad: [0; 3],
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LossDims {
    pub rows: u32,
    pub classes: u32,
    pub slot: u32,
    pub positive: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GatherDims {
    pub rows: u32,
    pub cols: u32,
    pub _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct OptParams {
    pub len: u32,
    pub kind: u32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub lr: f32,
    pub momentum: f32,
    pub _pad: f32,
}

/// Per-step values (batch cursor, Adam's bias corrections), one slot per step at a dynamic
/// offset: a whole segment of steps is encoded at once, so they cannot be rewritten between
/// steps.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct Step {
    pub cursor: u32,
    pub step_size: f32,
    pub inv_bias_correction2: f32,
    pub _pad: f32,
}

/// Which matrix-product kernels: tiled through workgroup memory (linear.wgsl, for GPUs) or
/// direct, without barriers (linear_direct.wgsl, for CPU-based adapters such as SwiftShader
/// and lavapipe, where a barrier is a context switch). Same entry points, same results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matmul {
    Tiled,
    Direct,
}

impl Matmul {
    pub const ALL: [Matmul; 2] = [Matmul::Tiled, Matmul::Direct];

    pub fn for_adapter(adapter: &super::AdapterSummary) -> Self {
        if adapter.is_software {
            Matmul::Direct
        } else {
            Matmul::Tiled
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Matmul::Tiled => "tiled",
            Matmul::Direct => "direct",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

pub struct Kernels {
    pub matmul: Matmul,
    pub linear_layout: wgpu::BindGroupLayout,
    pub loss_layout: wgpu::BindGroupLayout,
    pub gather_layout: wgpu::BindGroupLayout,
    pub optimizer_layout: wgpu::BindGroupLayout,
    pub forward: wgpu::ComputePipeline,
    pub input_grad: wgpu::ComputePipeline,
    pub weight_grad: wgpu::ComputePipeline,
    pub bias_grad: wgpu::ComputePipeline,
    pub train_loss: wgpu::ComputePipeline,
    pub eval_metrics: wgpu::ComputePipeline,
    pub gather: wgpu::ComputePipeline,
    pub update: wgpu::ComputePipeline,
    // conv.wgsl and pool.wgsl, bound like the linear kernels.
    pub conv_forward: wgpu::ComputePipeline,
    pub conv_input_grad: wgpu::ComputePipeline,
    pub conv_weight_grad: wgpu::ComputePipeline,
    pub conv_bias_grad: wgpu::ComputePipeline,
    pub pool_forward: wgpu::ComputePipeline,
    pub pool_backward: wgpu::ComputePipeline,
}

fn uniform(binding: u32, dynamic: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: dynamic,
            min_binding_size: None,
        },
        count: None,
    }
}

fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Kernels {
    pub fn new(device: &wgpu::Device, matmul: Matmul) -> Self {
        let linear_source = match matmul {
            Matmul::Tiled => LINEAR_WGSL,
            Matmul::Direct => LINEAR_DIRECT_WGSL,
        };
        let layout = |label, entries: &[wgpu::BindGroupLayoutEntry]| {
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(label),
                entries,
            })
        };
        // Uniform dims, then the operands; the last storage binding is the one written.
        let linear_layout = layout(
            "linear",
            &[
                uniform(0, false),
                storage(1, true),
                storage(2, true),
                storage(3, true),
                storage(4, false),
            ],
        );
        let loss_layout = layout(
            "loss",
            &[
                uniform(0, false),
                storage(1, true),
                storage(2, true),
                storage(3, false),
                storage(4, false),
            ],
        );
        let gather_layout = layout(
            "gather",
            &[
                uniform(0, false),
                uniform(1, true),
                storage(2, true),
                storage(3, true),
                storage(4, true),
                storage(5, false),
                storage(6, false),
            ],
        );
        let optimizer_layout = layout(
            "optimizer",
            &[
                uniform(0, false),
                uniform(1, true),
                storage(2, false),
                storage(3, true),
                storage(4, false),
                storage(5, false),
                storage(6, true),
            ],
        );
        let pipeline =
            |label: &str, source: &str, bind_layout: &wgpu::BindGroupLayout, entry: &str| {
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
                let pipeline_layout =
                    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(label),
                        bind_group_layouts: &[Some(bind_layout)],
                        immediate_size: 0,
                    });
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
            };
        Self {
            matmul,
            forward: pipeline("linear forward", linear_source, &linear_layout, "forward"),
            input_grad: pipeline(
                "linear input_grad",
                linear_source,
                &linear_layout,
                "input_grad",
            ),
            weight_grad: pipeline(
                "linear weight_grad",
                linear_source,
                &linear_layout,
                "weight_grad",
            ),
            // Column sums need no tiling: linear.wgsl's kernel serves both variants.
            bias_grad: pipeline("linear bias_grad", LINEAR_WGSL, &linear_layout, "bias_grad"),
            train_loss: pipeline("loss train", LOSS_WGSL, &loss_layout, "train_loss"),
            eval_metrics: pipeline("loss eval", LOSS_WGSL, &loss_layout, "eval_metrics"),
            gather: pipeline("gather", BATCH_WGSL, &gather_layout, "gather"),
            update: pipeline("optimizer", OPTIMIZER_WGSL, &optimizer_layout, "update"),
            conv_forward: pipeline("conv forward", CONV_WGSL, &linear_layout, "forward"),
            conv_input_grad: pipeline("conv input_grad", CONV_WGSL, &linear_layout, "input_grad"),
            conv_weight_grad: pipeline(
                "conv weight_grad",
                CONV_WGSL,
                &linear_layout,
                "weight_grad",
            ),
            conv_bias_grad: pipeline("conv bias_grad", CONV_WGSL, &linear_layout, "bias_grad"),
            pool_forward: pipeline("pool forward", POOL_WGSL, &linear_layout, "forward"),
            pool_backward: pipeline("pool backward", POOL_WGSL, &linear_layout, "backward"),
            linear_layout,
            loss_layout,
            gather_layout,
            optimizer_layout,
        }
    }
}

/// Workgroups for a tiled product with an `m x n` output.
pub fn tiles(m: usize, n: usize) -> (u32, u32) {
    ((n as u32).div_ceil(TILE), (m as u32).div_ceil(TILE))
}

/// Workgroups (x, y) for the optimiser over `len` elements: 256 per group, at most 65,535
/// groups per dimension.
pub fn update_groups(len: usize) -> (u32, u32) {
    let groups = (len as u32).div_ceil(256).max(1);
    let x = groups.min(65_535);
    (x, groups.div_ceil(x))
}

/// Workgroups (x, y) of 64 invocations for `len` elements, one each (conv.wgsl, pool.wgsl):
/// at most 65,535 groups per dimension, the shaders read the 2-D id as one index.
pub fn element_groups(len: usize) -> (u32, u32) {
    let groups = (len as u32).div_ceil(64).max(1);
    let x = groups.min(65_535);
    (x, groups.div_ceil(x))
}

// Batch assembly: the training set lives on the GPU; each step copies its rows, chosen by the
// host-computed batch order (`train::epoch_order`, the same order the CPU engine uses), into
// the batch buffer. Only the order (a few KB per submission) is uploaded, never the data.

struct GatherDims {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
};

// Per-step values, one 256-byte slot per step, selected with a dynamic offset.
struct Step {
    cursor: u32,
    step_size: f32,
    inv_bias_correction2: f32,
    _pad: f32,
};

@group(0) @binding(0) var<uniform> dims: GatherDims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> features: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<u32>;
@group(0) @binding(5) var<storage, read_write> x_batch: array<f32>;
@group(0) @binding(6) var<storage, read_write> y_batch: array<u32>;

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y;
    let col = gid.x;
    if row >= dims.rows {
        return;
    }
    let source = indices[step.cursor + row];
    if col < dims.cols {
        x_batch[row * dims.cols + col] = features[source * dims.cols + col];
    }
    if col == 0u {
        y_batch[row] = labels[source];
    }
}

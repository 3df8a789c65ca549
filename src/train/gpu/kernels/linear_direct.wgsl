// Masked linear layer for software adapters (SwiftShader, lavapipe): the same product entry
// points (forward, input_grad, weight_grad), bindings and results as linear.wgsl (CPU
// reference: `model::ops::dense::{forward, backward}`), without workgroup memory or barriers.
//
// Why a second kernel: a CPU-based Vulkan runs a workgroup's invocations as coroutines on a
// few cores, so every workgroupBarrier() is a round of context switches, and the "shared"
// tile is ordinary memory anyway. Here each invocation reads its operands straight from the
// buffers and the CPU's caches do the tiling. On lavapipe this ran the forward product
// about 2x faster than the tiled kernel; on a real GPU the tiled one wins.
//
// Each invocation computes a 4x4 block of C; a 16x16 workgroup covers the same 64x64 tile as
// linear.wgsl, so both are dispatched alike. Rows and columns past the edge read the last valid
// one (no branch in the loop) and are not stored.

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
};

const RELU: u32 = 4u;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
// forward: the bias [n]; input_grad: the activations of the layer below [m, n].
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// The four rows and columns of this invocation's block, clamped into the matrix.
fn rows(gid: vec3<u32>) -> vec4<u32> {
    let r = gid.y * 4u;
    let last = dims.m - 1u;
    return vec4<u32>(min(r, last), min(r + 1u, last), min(r + 2u, last), min(r + 3u, last));
}

fn cols(gid: vec3<u32>) -> vec4<u32> {
    let c = gid.x * 4u;
    let last = dims.n - 1u;
    return vec4<u32>(min(c, last), min(c + 1u, last), min(c + 2u, last), min(c + 3u, last));
}

// acc[i][j] += A[r_i, k] * B[k, c_j], with A [m, k] and B [k, n] (forward: input · W).
fn product_nn(r: vec4<u32>, c: vec4<u32>) -> array<vec4<f32>, 4> {
    var acc = array<vec4<f32>, 4>();
    let k_len = dims.k;
    let n = dims.n;
    for (var k = 0u; k < k_len; k++) {
        let row = k * n;
        let b = vec4<f32>(rhs[row + c.x], rhs[row + c.y], rhs[row + c.z], rhs[row + c.w]);
        acc[0] = fma(vec4<f32>(lhs[r.x * k_len + k]), b, acc[0]);
        acc[1] = fma(vec4<f32>(lhs[r.y * k_len + k]), b, acc[1]);
        acc[2] = fma(vec4<f32>(lhs[r.z * k_len + k]), b, acc[2]);
        acc[3] = fma(vec4<f32>(lhs[r.w * k_len + k]), b, acc[3]);
    }
    return acc;
}

// A [m, k] and B stored [n, k] (input gradient: delta · Wᵀ, W being [fan_in, fan_out]).
fn product_nt(r: vec4<u32>, c: vec4<u32>) -> array<vec4<f32>, 4> {
    var acc = array<vec4<f32>, 4>();
    let k_len = dims.k;
    for (var k = 0u; k < k_len; k++) {
        let b = vec4<f32>(
            rhs[c.x * k_len + k],
            rhs[c.y * k_len + k],
            rhs[c.z * k_len + k],
            rhs[c.w * k_len + k],
        );
        acc[0] = fma(vec4<f32>(lhs[r.x * k_len + k]), b, acc[0]);
        acc[1] = fma(vec4<f32>(lhs[r.y * k_len + k]), b, acc[1]);
        acc[2] = fma(vec4<f32>(lhs[r.z * k_len + k]), b, acc[2]);
        acc[3] = fma(vec4<f32>(lhs[r.w * k_len + k]), b, acc[3]);
    }
    return acc;
}

// A stored [k, m] and B [k, n] (weight gradient: inputᵀ · delta).
fn product_tn(r: vec4<u32>, c: vec4<u32>) -> array<vec4<f32>, 4> {
    var acc = array<vec4<f32>, 4>();
    let m = dims.m;
    let n = dims.n;
    for (var k = 0u; k < dims.k; k++) {
        let a_row = k * m;
        let b_row = k * n;
        let b = vec4<f32>(rhs[b_row + c.x], rhs[b_row + c.y], rhs[b_row + c.z], rhs[b_row + c.w]);
        acc[0] = fma(vec4<f32>(lhs[a_row + r.x]), b, acc[0]);
        acc[1] = fma(vec4<f32>(lhs[a_row + r.y]), b, acc[1]);
        acc[2] = fma(vec4<f32>(lhs[a_row + r.z]), b, acc[2]);
        acc[3] = fma(vec4<f32>(lhs[a_row + r.w]), b, acc[3]);
    }
    return acc;
}

// out[m, n] = relu?(lhs[m, k] · rhs[k, n] + bias[n])
@compute @workgroup_size(16, 16)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.y * 4u >= dims.m || gid.x * 4u >= dims.n {
        return;
    }
    let r = rows(gid);
    let c = cols(gid);
    let acc = product_nn(r, c);
    let bias = vec4<f32>(aux[c.x], aux[c.y], aux[c.z], aux[c.w]);
    for (var i = 0u; i < 4u; i++) {
        var v = acc[i] + bias;
        if (dims.flags & RELU) != 0u {
            v = max(v, vec4<f32>(0.0));
        }
        let row = gid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = gid.x * 4u + j;
            if row < dims.m && col < dims.n {
                out[row * dims.n + col] = v[j];
            }
        }
    }
}

// out[m, n] = (lhs[m, k] · rhs[n, k]ᵀ) ⊙ [aux[m, n] > 0]: the delta of the layer below.
@compute @workgroup_size(16, 16)
fn input_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.y * 4u >= dims.m || gid.x * 4u >= dims.n {
        return;
    }
    let acc = product_nt(rows(gid), cols(gid));
    for (var i = 0u; i < 4u; i++) {
        let row = gid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = gid.x * 4u + j;
            if row < dims.m && col < dims.n {
                let index = row * dims.n + col;
                out[index] = select(0.0, acc[i][j], aux[index] > 0.0);
            }
        }
    }
}

// out[m, n] = lhs[k, m]ᵀ · rhs[k, n]: the weight gradient inputᵀ · delta.
@compute @workgroup_size(16, 16)
fn weight_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.y * 4u >= dims.m || gid.x * 4u >= dims.n {
        return;
    }
    let acc = product_tn(rows(gid), cols(gid));
    for (var i = 0u; i < 4u; i++) {
        let row = gid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = gid.x * 4u + j;
            if row < dims.m && col < dims.n {
                out[row * dims.n + col] = acc[i][j];
            }
        }
    }
}

// The bias gradient (column sums) has no product to tile: linear.wgsl's `bias_grad` serves both.

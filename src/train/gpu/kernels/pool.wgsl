// Max-pooling over non-overlapping size_h × size_w windows of channels-last activations (a
// ragged edge is dropped), one invocation per element, no workgroup memory. CPU reference:
// `model::ops::pool::{forward, backward}`; the first maximum of a window wins a tie, there
// as here.
//
// Bindings as linear.wgsl's (uniform dims, lhs, rhs, aux, out):
//   forward   lhs = x,                       out = y
//   backward  lhs = delta (dL/dy), rhs = x,  out = dL/dx (times relu'(x) when flagged: the
//             layer below's ReLU). The winner of each window is found again from x, so no
//             index buffer travels between the passes.

struct PoolDims {
    batch: u32,
    in_h: u32,
    in_w: u32,
    channels: u32,
    out_h: u32,
    out_w: u32,
    size_h: u32,
    size_w: u32,
    flags: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};

const RELU: u32 = 4u;

@group(0) @binding(0) var<uniform> d: PoolDims;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn flat(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

// Index within the sample of the first maximum of window (oy, ox) in channel c of `x`, whose
// sample starts at `row`.
fn winner(row: u32, oy: u32, ox: u32, c: u32, from_rhs: bool) -> u32 {
    var best = 0.0;
    var at = 0u;
    for (var ky = 0u; ky < d.size_h; ky++) {
        for (var kx = 0u; kx < d.size_w; kx++) {
            let j = ((oy * d.size_h + ky) * d.in_w + ox * d.size_w + kx) * d.channels + c;
            var v: f32;
            if (from_rhs) {
                v = rhs[row + j];
            } else {
                v = lhs[row + j];
            }
            if ((ky == 0u && kx == 0u) || v > best) {
                best = v;
                at = j;
            }
        }
    }
    return at;
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    let out_len = d.out_h * d.out_w * d.channels;
    if (i >= d.batch * out_len) {
        return;
    }
    let n = i / out_len;
    let c = i % d.channels;
    let p = (i % out_len) / d.channels;
    let row = n * d.in_h * d.in_w * d.channels;
    out[i] = lhs[row + winner(row, p / d.out_w, p % d.out_w, c, false)];
}

@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    let in_len = d.in_h * d.in_w * d.channels;
    if (i >= d.batch * in_len) {
        return;
    }
    let n = i / in_len;
    let j = i % in_len;
    let c = j % d.channels;
    let q = j / d.channels;
    let oy = (q / d.in_w) / d.size_h;
    let ox = (q % d.in_w) / d.size_w;
    var g = 0.0;
    if (oy < d.out_h && ox < d.out_w && winner(n * in_len, oy, ox, c, true) == j) {
        g = lhs[n * d.out_h * d.out_w * d.channels + (oy * d.out_w + ox) * d.channels + c];
    }
    if ((d.flags & RELU) != 0u && rhs[i] <= 0.0) {
        g = 0.0;
    }
    out[i] = g;
}

// Convolution on channels-last activations ([batch, H, W, C] rows), one invocation per output
// element, no workgroup memory. CPU reference: `model::ops::conv::{forward, backward}` (the
// weights laid out [(ky·kw + kx)·C + c, o]). 1-D convolutions have k_h = 1.
//
// Bindings as linear.wgsl's (uniform dims, lhs, rhs, aux, out):
//   forward      lhs = x,     rhs = weights, aux = bias,                 out = y (ReLU if flagged)
//   input_grad   lhs = delta, rhs = weights, aux = the input activation, out = dL/dx
//                (times relu'(input) when flagged: the layer below's ReLU)
//   weight_grad  lhs = x,     rhs = delta,                               out = dL/dW
//   bias_grad    rhs = delta,                                            out = dL/db
// `delta` is dL/d(pre-activation) of this layer, [batch, out_h, out_w, out_c].

struct ConvDims {
    batch: u32,
    in_h: u32,
    in_w: u32,
    in_c: u32,
    out_h: u32,
    out_w: u32,
    out_c: u32,
    k_h: u32,
    k_w: u32,
    s_h: u32,
    s_w: u32,
    p_h: u32,
    p_w: u32,
    flags: u32,
    _pad0: u32,
    _pad1: u32,
};

const RELU: u32 = 4u;

@group(0) @binding(0) var<uniform> d: ConvDims;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Outputs can outnumber 65,535 workgroups of 64: the dispatch is 2-D, read as one index.
fn flat(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    let out_len = d.out_h * d.out_w * d.out_c;
    if (i >= d.batch * out_len) {
        return;
    }
    let n = i / out_len;
    let o = i % d.out_c;
    let p = (i % out_len) / d.out_c;
    let oy = p / d.out_w;
    let ox = p % d.out_w;
    let x_row = n * d.in_h * d.in_w * d.in_c;
    var acc = aux[o];
    for (var ky = 0u; ky < d.k_h; ky++) {
        let iy = i32(oy * d.s_h + ky) - i32(d.p_h);
        if (iy < 0 || iy >= i32(d.in_h)) {
            continue;
        }
        for (var kx = 0u; kx < d.k_w; kx++) {
            let ix = i32(ox * d.s_w + kx) - i32(d.p_w);
            if (ix < 0 || ix >= i32(d.in_w)) {
                continue;
            }
            let src = x_row + (u32(iy) * d.in_w + u32(ix)) * d.in_c;
            let tap = (ky * d.k_w + kx) * d.in_c;
            for (var c = 0u; c < d.in_c; c++) {
                acc = fma(lhs[src + c], rhs[(tap + c) * d.out_c + o], acc);
            }
        }
    }
    if ((d.flags & RELU) != 0u) {
        acc = max(acc, 0.0);
    }
    out[i] = acc;
}

// dL/dx[n, iy, ix, c] = Σ over the outputs whose window covers (iy, ix) and every o of
// delta[n, oy, ox, o] · W[(ky·kw + kx)·C + c, o].
@compute @workgroup_size(64)
fn input_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    let in_len = d.in_h * d.in_w * d.in_c;
    if (i >= d.batch * in_len) {
        return;
    }
    if ((d.flags & RELU) != 0u && aux[i] <= 0.0) {
        out[i] = 0.0;
        return;
    }
    let n = i / in_len;
    let c = i % d.in_c;
    let q = (i % in_len) / d.in_c;
    let iy = q / d.in_w;
    let ix = q % d.in_w;
    let delta_row = n * d.out_h * d.out_w * d.out_c;
    var acc = 0.0;
    for (var ky = 0u; ky < d.k_h; ky++) {
        // oy · s_h + ky − p_h = iy
        let span_y = i32(iy + d.p_h) - i32(ky);
        if (span_y < 0 || u32(span_y) % d.s_h != 0u) {
            continue;
        }
        let oy = u32(span_y) / d.s_h;
        if (oy >= d.out_h) {
            continue;
        }
        for (var kx = 0u; kx < d.k_w; kx++) {
            let span_x = i32(ix + d.p_w) - i32(kx);
            if (span_x < 0 || u32(span_x) % d.s_w != 0u) {
                continue;
            }
            let ox = u32(span_x) / d.s_w;
            if (ox >= d.out_w) {
                continue;
            }
            let dst = delta_row + (oy * d.out_w + ox) * d.out_c;
            let w_row = ((ky * d.k_w + kx) * d.in_c + c) * d.out_c;
            for (var o = 0u; o < d.out_c; o++) {
                acc = fma(lhs[dst + o], rhs[w_row + o], acc);
            }
        }
    }
    out[i] = acc;
}

// dL/dW[(ky·kw + kx)·C + c, o] = Σ over samples and output positions of
// x[n, iy, ix, c] · delta[n, oy, ox, o].
@compute @workgroup_size(64)
fn weight_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat(gid, groups);
    let taps = d.k_h * d.k_w * d.in_c;
    if (i >= taps * d.out_c) {
        return;
    }
    let o = i % d.out_c;
    let row = i / d.out_c;
    let c = row % d.in_c;
    let tap = row / d.in_c;
    let ky = tap / d.k_w;
    let kx = tap % d.k_w;
    let in_len = d.in_h * d.in_w * d.in_c;
    let out_len = d.out_h * d.out_w * d.out_c;
    var acc = 0.0;
    for (var n = 0u; n < d.batch; n++) {
        for (var oy = 0u; oy < d.out_h; oy++) {
            let iy = i32(oy * d.s_h + ky) - i32(d.p_h);
            if (iy < 0 || iy >= i32(d.in_h)) {
                continue;
            }
            for (var ox = 0u; ox < d.out_w; ox++) {
                let ix = i32(ox * d.s_w + kx) - i32(d.p_w);
                if (ix < 0 || ix >= i32(d.in_w)) {
                    continue;
                }
                let x = lhs[n * in_len + (u32(iy) * d.in_w + u32(ix)) * d.in_c + c];
                acc = fma(x, rhs[n * out_len + (oy * d.out_w + ox) * d.out_c + o], acc);
            }
        }
    }
    out[i] = acc;
}

// dL/db[o] = Σ over samples and positions of delta[n, oy, ox, o].
@compute @workgroup_size(64)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = gid.x;
    if (o >= d.out_c) {
        return;
    }
    let positions = d.batch * d.out_h * d.out_w;
    var acc = 0.0;
    for (var p = 0u; p < positions; p++) {
        acc += rhs[p * d.out_c + o];
    }
    out[o] = acc;
}

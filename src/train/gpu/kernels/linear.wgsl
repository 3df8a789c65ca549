// Masked linear layer: forward (bias and ReLU fused), input gradient (ReLU derivative fused),
// weight gradient and bias gradient. CPU reference: `model::ops::dense::{forward, backward}`
// (the dense arm of `model::ops::network`).
//
// The mask needs no work here: the optimiser keeps pruned weights at exactly 0, so the
// products use W as it is.
//
// One tiled product C[m, n] = op(A)[m, k] · op(B)[k, n] serves the three matrix products;
// `flags` say which operand is stored transposed and what the epilogue does. Each workgroup
// computes a 64x64 tile of C with 16x16 threads, each thread a 4x4 block, stepping through k
// 16 at a time via workgroup memory.

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
};

const TRANSPOSE_A: u32 = 1u; // A is stored [k, m] (weight gradient: inputᵀ)
const TRANSPOSE_B: u32 = 2u; // B is stored [n, k] (input gradient: Wᵀ)
const RELU: u32 = 4u;        // forward: ReLU after the bias

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
// forward: the bias [n]; input_grad: the activations of the layer below [m, n].
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
const THREADS: u32 = 256u;

var<workgroup> tile_a: array<f32, 1024>; // [TILE_K][TILE]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K][TILE]

fn load_tiles(row0: u32, col0: u32, k0: u32, tid: u32) {
    let transpose_a = (dims.flags & TRANSPOSE_A) != 0u;
    let transpose_b = (dims.flags & TRANSPOSE_B) != 0u;
    for (var i = 0u; i < 4u; i++) {
        let e = tid + i * THREADS;
        // Neighbouring threads read neighbouring addresses: along k for a row-major A, along
        // the rows for a transposed one (and likewise for B).
        var r: u32;
        var ka: u32;
        if transpose_a {
            ka = e / TILE;
            r = e % TILE;
        } else {
            r = e / TILE_K;
            ka = e % TILE_K;
        }
        var va = 0.0;
        let gr = row0 + r;
        let gka = k0 + ka;
        if gr < dims.m && gka < dims.k {
            if transpose_a {
                va = lhs[gka * dims.m + gr];
            } else {
                va = lhs[gr * dims.k + gka];
            }
        }
        tile_a[ka * TILE + r] = va;

        var c: u32;
        var kb: u32;
        if transpose_b {
            c = e / TILE_K;
            kb = e % TILE_K;
        } else {
            kb = e / TILE;
            c = e % TILE;
        }
        var vb = 0.0;
        let gc = col0 + c;
        let gkb = k0 + kb;
        if gc < dims.n && gkb < dims.k {
            if transpose_b {
                vb = rhs[gc * dims.k + gkb];
            } else {
                vb = rhs[gkb * dims.n + gc];
            }
        }
        tile_b[kb * TILE + c] = vb;
    }
}

fn tile_product(wg: vec3<u32>, lid: vec3<u32>) -> array<f32, 16> {
    var acc = array<f32, 16>();
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let tid = lid.y * 16u + lid.x;
    for (var k0 = 0u; k0 < dims.k; k0 += TILE_K) {
        load_tiles(row0, col0, k0, tid);
        // Every thread's loads must land before anyone reads the tiles.
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            let a_base = kk * TILE + lid.y * 4u;
            let b_base = kk * TILE + lid.x * 4u;
            let a = vec4<f32>(tile_a[a_base], tile_a[a_base + 1u], tile_a[a_base + 2u], tile_a[a_base + 3u]);
            let b = vec4<f32>(tile_b[b_base], tile_b[b_base + 1u], tile_b[b_base + 2u], tile_b[b_base + 3u]);
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        // ...and nobody may overwrite them while others still read.
        workgroupBarrier();
    }
    return acc;
}

// out[m, n] = relu?(lhs[m, k] · rhs[k, n] + bias[n])
@compute @workgroup_size(16, 16)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = tile_product(wg, lid);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let r = wg.y * TILE + lid.y * 4u + i;
            let c = wg.x * TILE + lid.x * 4u + j;
            if r < dims.m && c < dims.n {
                var v = aux[c] + acc[i * 4u + j];
                if (dims.flags & RELU) != 0u {
                    v = max(v, 0.0);
                }
                out[r * dims.n + c] = v;
            }
        }
    }
}

// out[m, n] = (lhs[m, k] · rhs[n, k]ᵀ) ⊙ [aux[m, n] > 0]: the delta of the layer below.
@compute @workgroup_size(16, 16)
fn input_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = tile_product(wg, lid);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let r = wg.y * TILE + lid.y * 4u + i;
            let c = wg.x * TILE + lid.x * 4u + j;
            if r < dims.m && c < dims.n {
                let index = r * dims.n + c;
                out[index] = select(0.0, acc[i * 4u + j], aux[index] > 0.0);
            }
        }
    }
}

// out[m, n] = lhs[k, m]ᵀ · rhs[k, n]: the weight gradient inputᵀ · delta.
@compute @workgroup_size(16, 16)
fn weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = tile_product(wg, lid);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let r = wg.y * TILE + lid.y * 4u + i;
            let c = wg.x * TILE + lid.x * 4u + j;
            if r < dims.m && c < dims.n {
                out[r * dims.n + c] = acc[i * 4u + j];
            }
        }
    }
}

// out[n] = Σ_rows lhs[m, n]: the bias gradient (column sums of the delta).
@compute @workgroup_size(64)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= dims.n {
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < dims.m; r++) {
        sum += lhs[r * dims.n + c];
    }
    out[c] = sum;
}

// Optimiser updates with the mask fused in: the gradient, the moments and the weight are
// multiplied by the mask, so pruned positions stay exactly 0 (science.md's first pitfall).
// CPU reference: `train::cpu::adam_update` and `sgd_update`, same order of operations.

struct Params {
    len: u32,
    // 0: Adam, 1: SGD with momentum (m holds the momentum buffer).
    kind: u32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    lr: f32,
    momentum: f32,
    _pad: f32,
};

struct Step {
    cursor: u32,
    // Adam: lr / (1 - β1ᵗ) and 1 / sqrt(1 - β2ᵗ), computed on the host as the CPU does.
    step_size: f32,
    inv_bias_correction2: f32,
    _pad: f32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
// 1.0 kept, 0.0 pruned (all ones for biases, which are never pruned).
@group(0) @binding(6) var<storage, read> mask: array<f32>;

@compute @workgroup_size(256)
fn update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.len {
        return;
    }
    let k = mask[i];
    if p.kind == 0u {
        let grad = g[i] * k;
        let m_new = (p.beta1 * m[i] + (1.0 - p.beta1) * grad) * k;
        let v_new = (p.beta2 * v[i] + (1.0 - p.beta2) * grad * grad) * k;
        m[i] = m_new;
        v[i] = v_new;
        w[i] = (w[i] - step.step_size * m_new / (sqrt(v_new) * step.inv_bias_correction2 + p.eps)) * k;
    } else {
        let b = (p.momentum * m[i] + g[i]) * k;
        m[i] = b;
        w[i] = (w[i] - p.lr * b) * k;
    }
}

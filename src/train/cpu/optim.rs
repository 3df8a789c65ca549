//! The optimisers' updates with the mask fused in, in PyTorch's formulation: the CPU
//! reference for `train/gpu/kernels/optimizer.wgsl`.

/// Adam's per-step constants, in PyTorch's formulation.
pub struct AdamStep {
    beta1: f32,
    beta2: f32,
    eps: f32,
    /// lr / (1 - β1ᵗ)
    step_size: f32,
    /// sqrt(1 - β2ᵗ)
    bias_correction2_sqrt: f32,
}

impl AdamStep {
    /// lr / (1 − β1ᵗ)
    pub fn step_size(&self) -> f32 {
        self.step_size
    }

    /// 1 / sqrt(1 − β2ᵗ), as the update uses it.
    pub fn inv_bias_correction2(&self) -> f32 {
        1.0 / self.bias_correction2_sqrt
    }

    pub fn new(lr: f32, beta1: f32, beta2: f32, eps: f32, t: i32) -> Self {
        Self {
            beta1,
            beta2,
            eps,
            step_size: lr / (1.0 - beta1.powi(t)),
            bias_correction2_sqrt: (1.0 - beta2.powi(t)).sqrt(),
        }
    }
}

/// Adam with the mask fused in: the gradient, both moments and the weight are multiplied by
/// the mask, so a pruned position stays exactly 0 whatever happened before. Natively, large
/// layers are split over the cores (the update is a fifth of a LeNet step on one core).
pub fn adam_update(
    s: &AdamStep,
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    mask: Option<&[f32]>,
) {
    #[cfg(not(target_arch = "wasm32"))]
    if w.len() >= PARALLEL_MIN_LEN {
        use rayon::prelude::*;
        let chunk = w.len().div_ceil(rayon::current_num_threads().max(1));
        let (w, m, v) = (
            w.par_chunks_mut(chunk),
            m.par_chunks_mut(chunk),
            v.par_chunks_mut(chunk),
        );
        let parts = w.zip(g.par_chunks(chunk)).zip(m).zip(v);
        match mask {
            Some(mask) => parts
                .zip(mask.par_chunks(chunk))
                .for_each(|((((w, g), m), v), k)| adam_kernel(s, w, g, m, v, Some(k))),
            None => parts.for_each(|(((w, g), m), v)| adam_kernel(s, w, g, m, v, None)),
        }
        return;
    }
    adam_kernel(s, w, g, m, v, mask)
}

/// Slices at least this long are updated in parallel (natively).
#[cfg(not(target_arch = "wasm32"))]
const PARALLEL_MIN_LEN: usize = 1 << 16;

fn adam_kernel(
    s: &AdamStep,
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    mask: Option<&[f32]>,
) {
    let (b1, b2) = (s.beta1, s.beta2);
    let inv_bc2 = s.inv_bias_correction2();
    match mask {
        Some(mask) => {
            for ((((w, &g), m), v), &k) in w.iter_mut().zip(g).zip(m).zip(v).zip(mask) {
                let g = g * k;
                *m = (b1 * *m + (1.0 - b1) * g) * k;
                *v = (b2 * *v + (1.0 - b2) * g * g) * k;
                *w = (*w - s.step_size * *m / (v.sqrt() * inv_bc2 + s.eps)) * k;
            }
        }
        None => {
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *w -= s.step_size * *m / (v.sqrt() * inv_bc2 + s.eps);
            }
        }
    }
}

/// SGD with momentum (PyTorch's form), mask fused in as in [`adam_update`].
pub fn sgd_update(
    lr: f32,
    momentum: f32,
    w: &mut [f32],
    g: &[f32],
    buf: &mut [f32],
    mask: Option<&[f32]>,
) {
    match mask {
        Some(mask) => {
            for (((w, &g), b), &k) in w.iter_mut().zip(g).zip(buf).zip(mask) {
                *b = (momentum * *b + g) * k;
                *w = (*w - lr * *b) * k;
            }
        }
        None => {
            for ((w, &g), b) in w.iter_mut().zip(g).zip(buf) {
                *b = momentum * *b + g;
                *w -= lr * *b;
            }
        }
    }
}

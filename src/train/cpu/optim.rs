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
                *m = flush_subnormal(b1 * *m + (1.0 - b1) * g) * k;
                *v = flush_subnormal(b2 * *v + (1.0 - b2) * g * g) * k;
                *w = (*w - s.step_size * *m / (v.sqrt() * inv_bc2 + s.eps)) * k;
            }
        }
        None => {
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                *m = flush_subnormal(b1 * *m + (1.0 - b1) * g);
                *v = flush_subnormal(b2 * *v + (1.0 - b2) * g * g);
                *w -= s.step_size * *m / (v.sqrt() * inv_bc2 + s.eps);
            }
        }
    }
}

/// A moment that decays below the smallest normal float becomes 0. A weight whose gradient
/// stays 0 (a dead unit; pruned positions are zeroed by the mask already) has its moments
/// shrink by β each step until they are subnormal, after ~800 steps for Adam's first moment;
/// arithmetic on subnormals takes the CPU's slow path, which made the update most of a native
/// LeNet step after a few thousand steps (measured: 21k → 43-66k samples/s with the flush).
/// The weights do not change: a moment that small moves a weight by less than 1e-30 (the
/// update divides by at least ε), below the last bit of any weight larger than ~1e-22.
#[inline(always)]
fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
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
                *b = flush_subnormal(momentum * *b + g) * k;
                *w = (*w - lr * *b) * k;
            }
        }
        None => {
            for ((w, &g), b) in w.iter_mut().zip(g).zip(buf) {
                *b = flush_subnormal(momentum * *b + g);
                *w -= lr * *b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam's update as written before the flush: the moments may go subnormal.
    fn adam_unflushed(s: &AdamStep, w: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        *m = s.beta1 * *m + (1.0 - s.beta1) * g;
        *v = s.beta2 * *v + (1.0 - s.beta2) * g * g;
        *w -= s.step_size * *m / (v.sqrt() * s.inv_bias_correction2() + s.eps);
    }

    #[test]
    fn moments_of_a_silent_weight_reach_zero_and_the_weights_do_not_change() {
        // Weights that get a gradient for a few steps, then none (a unit that died): after
        // ~800 steps the first moment would be subnormal; flushed it is 0, and every weight
        // is the same bits as without the flush.
        let n = 6;
        let mut w: Vec<f32> = (0..n).map(|i| 0.05 * (i as f32 - 2.5)).collect();
        let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut w_ref = w.clone();
        let (mut m_ref, mut v_ref) = (m.clone(), v.clone());
        let mut saw_subnormal = false;
        for t in 1..=3_000 {
            let s = AdamStep::new(1e-3, 0.9, 0.999, 1e-8, t);
            let g: Vec<f32> = (0..n)
                .map(|i| if t <= 5 { 0.01 * (i as f32 + 1.0) } else { 0.0 })
                .collect();
            adam_update(&s, &mut w, &g, &mut m, &mut v, None);
            for (((w, &g), m), v) in w_ref.iter_mut().zip(&g).zip(&mut m_ref).zip(&mut v_ref) {
                adam_unflushed(&s, w, g, m, v);
            }
            saw_subnormal |= m_ref.iter().any(|x| x.is_subnormal());
            assert!(m.iter().chain(&v).all(|x| !x.is_subnormal()), "step {t}");
            assert_eq!(
                w.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                w_ref.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "step {t}"
            );
        }
        assert!(saw_subnormal, "the unflushed moments went subnormal");
        assert!(m.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn sgd_momentum_of_a_silent_weight_reaches_zero() {
        let (mut w, mut b) = (vec![0.3f32], vec![0.0f32]);
        sgd_update(0.1, 0.9, &mut w, &[1.0], &mut b, Some(&[1.0]));
        for _ in 0..1_000 {
            sgd_update(0.1, 0.9, &mut w, &[0.0], &mut b, Some(&[1.0]));
            assert!(!b[0].is_subnormal());
        }
        assert_eq!(b[0], 0.0);
    }
}

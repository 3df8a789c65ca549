//! GraSP (Wang et al. 2020): keep the weights whose removal least reduces the gradient flow.
//! The score of removing a weight is −θ ⊙ Hg (H the loss's Hessian, g its gradient at θ₀) and
//! the largest are removed, so we keep the largest θ ⊙ Hg (Synaptic-Flow's implementation
//! does the same).
//!
//! Hg is not computed exactly (our passes have no second-order mode) but by a central
//! difference of two gradients, Hg ≈ (∇L(θ + εg) − ∇L(θ − εg)) / 2ε, each one an ordinary
//! gradient job, so it runs on the GPU where training does. `tests/pruning.rs` checks the
//! scores and masks against f64 finite-difference gradients of the independent reference
//! network at the same θ ± εg, and that a step four times smaller gives the same Hg (it is a
//! derivative, not a secant).

use super::Scores;
use crate::model::{Layer, Network};

/// How far the difference steps along g, as a fraction of ‖θ‖: small enough that few ReLUs
/// change state, large enough that f32 gradients still differ in many digits.
pub const RELATIVE_STEP: f32 = 1e-3;

/// ε such that ε‖g‖ = RELATIVE_STEP · ‖θ‖ (0 when the gradient is 0).
pub fn step_size(theta: &Network, gradient: &[Layer]) -> f32 {
    let norm = |layers: &mut dyn Iterator<Item = &Layer>| {
        layers
            .flat_map(|l| l.weight.iter().chain(l.bias.iter()))
            .map(|&v| (v as f64) * (v as f64))
            .sum::<f64>()
            .sqrt()
    };
    let theta_norm = norm(&mut theta.layers.iter());
    let grad_norm = norm(&mut gradient.iter());
    if grad_norm > 0.0 && grad_norm.is_finite() {
        (RELATIVE_STEP as f64 * theta_norm / grad_norm) as f32
    } else {
        0.0
    }
}

/// θ + step · g, weights and biases.
pub fn stepped(theta: &Network, gradient: &[Layer], step: f32) -> Network {
    let mut net = theta.clone();
    for (layer, grad) in net.layers.iter_mut().zip(gradient) {
        layer.weight.scaled_add(step, &grad.weight);
        layer.bias.scaled_add(step, &grad.bias);
    }
    net
}

/// The scores from the gradients at θ + εg and θ − εg: θ ⊙ Hg with Hg their central
/// difference. A zero step (a zero gradient) scores every weight 0.
pub fn grasp_scores(theta: &Network, plus: &[Layer], minus: &[Layer], step: f32) -> Scores {
    theta
        .layers
        .iter()
        .zip(plus.iter().zip(minus))
        .map(|(layer, (p, m))| {
            if step == 0.0 {
                return layer.weight.mapv(|_| 0.0);
            }
            let hg = (&p.weight - &m.weight) / (2.0 * step);
            &layer.weight * &hg
        })
        .collect()
}

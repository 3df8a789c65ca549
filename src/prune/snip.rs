//! SNIP (Lee et al. 2019): a weight's score is |g ⊙ θ₀|, g the gradient of the loss on one
//! batch at θ₀ (the engine's gradient job), the first-order change in loss its removal causes.

use super::Scores;
use crate::model::{Layer, Network};

pub fn snip_scores(theta: &Network, gradients: &[Layer]) -> Scores {
    theta
        .layers
        .iter()
        .zip(gradients)
        .map(|(layer, grad)| (&layer.weight * &grad.weight).mapv(f32::abs))
        .collect()
}

//! Early-bird tickets (You et al. 2020): during the dense run, the magnitude mask at the
//! target density after every epoch; once the newest mask is within ε (normalised Hamming
//! distance) of each of the previous five, the mask has settled and training it from θ₀ finds
//! a ticket for a fraction of full training's cost.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::model::Mask;

/// How many previous masks the newest must be close to.
pub const WINDOW: usize = 5;
/// The paper's threshold.
pub const DEFAULT_EPSILON: f64 = 0.1;

/// One epoch's mask, against the previous ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskDistance {
    pub iteration: usize,
    /// To the previous epoch's mask (`None` for the first).
    pub to_previous: Option<f64>,
    /// The largest distance to any of the previous [`WINDOW`] masks, once there are that many.
    pub window_max: Option<f64>,
}

/// The early-bird search of a dense run, as the record keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyBirdTrace {
    /// The target density the masks are drawn at.
    pub density: f64,
    pub epsilon: f64,
    /// The largest distance two masks of that density can have: 2·min(d, 1 − d).
    pub max_distance: f64,
    pub points: Vec<MaskDistance>,
    /// The iteration the detector fired at, and its mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_at: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Mask>,
    /// The newest masks, while searching.
    #[serde(skip)]
    recent: VecDeque<Mask>,
}

impl EarlyBirdTrace {
    pub fn new(density: f64, epsilon: f64) -> Self {
        Self {
            density,
            epsilon,
            max_distance: 2.0 * density.min(1.0 - density),
            points: Vec::new(),
            found_at: None,
            mask: None,
            recent: VecDeque::new(),
        }
    }

    /// The mask after the epoch ending at `iteration`. Returns whether the detector fired now.
    pub fn observe(&mut self, iteration: usize, mask: Mask) -> bool {
        let to_previous = self.recent.back().map(|m| m.hamming_distance(&mask));
        let window_max = (self.recent.len() >= WINDOW).then(|| {
            self.recent
                .iter()
                .rev()
                .take(WINDOW)
                .map(|m| m.hamming_distance(&mask))
                .fold(0.0, f64::max)
        });
        self.points.push(MaskDistance {
            iteration,
            to_previous,
            window_max,
        });
        let fired = self.found_at.is_none() && window_max.is_some_and(|d| d < self.epsilon);
        if fired {
            self.found_at = Some(iteration);
            self.mask = Some(mask.clone());
        }
        self.recent.push_back(mask);
        if self.recent.len() > WINDOW {
            self.recent.pop_front();
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetSpec;

    #[test]
    fn the_detector_fires_once_the_newest_mask_is_close_to_the_previous_five() {
        let spec = NetSpec::mlp(10, &[10], 2);
        let mut trace = EarlyBirdTrace::new(0.5, 0.1);
        assert!((trace.max_distance - 1.0).abs() < 1e-12);
        // Masks that flip 30 of 120 weights each epoch, then settle.
        let mut mask = Mask::dense(&spec);
        for epoch in 0..12 {
            if epoch < 4 {
                for i in 0..30 {
                    let j = (epoch * 30 + i) % 100;
                    mask.layers[0][(j / 10, j % 10)] ^= true;
                }
            }
            let fired = trace.observe(epoch * 10, mask.clone());
            // The masks of epochs 3.. are identical: at epoch 8 the five before it (3-7) are.
            assert_eq!(
                fired,
                epoch == 8,
                "epoch {epoch}: {:?}",
                trace.points.last()
            );
        }
        assert_eq!(trace.found_at, Some(80));
        assert_eq!(trace.points[1].to_previous, Some(0.25));
        assert!(trace.points[4].window_max.is_none());
        assert!(trace.points[5].window_max.is_some());
    }
}

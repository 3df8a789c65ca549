//! How much memory a network takes to train and to keep, estimated from its plan before
//! anything is allocated, so that a config too large for a browser tab (wasm32 has 4 GB, a
//! phone far less) is refused with its size instead of crashing the tab.

use super::{NetSpec, PlannedOp};

/// The most an engine's buffers may take: weights, gradients, Adam's two moments, the mask,
/// and one batch's activations both ways.
pub const MAX_TRAINING_BYTES: u64 = 1 << 30;

/// The most the record may keep of trained weights (each run's, with `weights=1`).
pub const MAX_KEPT_BYTES: u64 = 3 << 29;

/// The estimate, split by what a user can change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Weights and biases with their gradients, moments and mask (the layers' sizes).
    pub parameters: u64,
    /// A batch's activations and their gradients (the batch size times the layers'
    /// outputs).
    pub activations: u64,
}

impl Footprint {
    /// An engine training `spec` at batch `batch`: fp32 throughout.
    pub fn training(spec: &NetSpec, batch: usize) -> Self {
        let plan = spec.plan();
        let weights: u64 = plan
            .iter()
            .map(|l| match l.op {
                PlannedOp::Dense {
                    fan_in, fan_out, ..
                } => (fan_in * fan_out + fan_out) as u64,
                PlannedOp::Conv(g) => (g.taps() * g.output.channels + g.output.channels) as u64,
                PlannedOp::MaxPool(_) | PlannedOp::Flatten => 0,
            })
            .sum();
        let per_sample: u64 = plan
            .iter()
            // The output and its gradient, the input's gradient. Convolutions unfold
            // nothing: both engines compute them directly (a padded sample per task on the
            // CPU, one invocation per output on the GPU).
            .map(|l| (3 * l.output.len()) as u64)
            .sum();
        let floats = 4u64;
        Self {
            // Value, gradient, two moments, mask: five floats a weight.
            parameters: 5 * weights * floats,
            activations: (batch as u64)
                .saturating_mul(per_sample + spec.input_shape().len() as u64)
                .saturating_mul(floats),
        }
    }

    pub fn total(&self) -> u64 {
        self.parameters.saturating_add(self.activations)
    }
}

/// Megabytes, for messages.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / (1u64 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LayerSpec, Shape, dense_layers};

    #[test]
    fn lenet_is_small_and_eight_layers_of_4096_are_not() {
        let lenet = NetSpec::new(Shape::flat(784), &dense_layers(&[300, 100]), 10);
        let f = Footprint::training(&lenet, 60);
        // 266,610 parameters × 5 floats.
        assert_eq!(f.parameters, 266_610 * 5 * 4);
        assert!(f.total() < 8 << 20, "{f:?}");
        let huge = NetSpec::new(Shape::flat(784), &dense_layers(&[4096; 8]), 10);
        assert!(Footprint::training(&huge, 60).total() > MAX_TRAINING_BYTES);
        // A conv layer's output counts with its gradients: 28×28 positions × 8 channels × 3.
        let conv = NetSpec::new(
            Shape {
                height: 28,
                width: 28,
                channels: 1,
            },
            &[LayerSpec::parse("conv8k3p1").unwrap(), LayerSpec::Flatten],
            10,
        );
        let one = Footprint::training(&conv, 1).activations;
        assert!(one >= (28 * 28 * 8 * 3 * 4) as u64, "{one}");
    }
}

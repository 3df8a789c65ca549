//! SynFlow (Tanaka et al. 2020): data-free. The network with every parameter replaced by its
//! absolute value is fed an all-ones input; R is the sum of its outputs, and a weight's score
//! is θ ⊙ ∂R/∂θ (all positive), the "synaptic flow" through it. Pruning is iterated over 100
//! steps on an exponential density schedule, rescoring the survivors each step, which is what
//! keeps every layer alive where single-shot methods empty one.
//!
//! It needs no data and no loss, so it runs on the CPU through `model::ops` (a one-row pass,
//! milliseconds for LeNet), a few steps per call so the page's frame is never held up.

use ndarray::Array2;

use super::{Scores, keep_top_global};
use crate::model::ops::network::{Backward, Forward, zero_gradients};
use crate::model::{Mask, Network};

/// The paper's number of pruning steps.
pub const STEPS: usize = 100;

/// The scores of the surviving weights of `theta` under `mask` (pruned ones score 0).
pub fn synflow_scores(theta: &Network, mask: &Mask) -> Scores {
    let mut net = theta.masked(mask);
    for layer in &mut net.layers {
        layer.weight.mapv_inplace(f32::abs);
        layer.bias.mapv_inplace(f32::abs);
    }
    let ones = Array2::<f32>::ones((1, net.spec.input));
    let mut forward = Forward::new(&net.spec, 1);
    forward.run(&net, ones.view());
    let mut backward = Backward::new(&forward);
    backward.logits_delta().fill(1.0);
    let mut grads = zero_gradients(&net);
    backward.run(&mut forward, &net, ones.view(), &mut grads);
    net.layers
        .iter()
        .zip(&grads)
        .map(|(layer, grad)| &layer.weight * &grad.weight)
        .collect()
}

/// Iterative SynFlow from the dense mask down to `keep` weights, one step per [`step`] call.
///
/// [`step`]: SynflowPruning::step
pub struct SynflowPruning {
    theta: Network,
    mask: Mask,
    keep: usize,
    done_steps: usize,
}

impl SynflowPruning {
    pub fn new(theta: &Network, keep: usize) -> Self {
        Self {
            mask: Mask::dense(&theta.spec),
            theta: theta.clone(),
            keep,
            done_steps: 0,
        }
    }

    /// Step k of n keeps `total · d^(k/n)`, d the final density: the exponential schedule.
    fn keep_after(&self, step: usize) -> usize {
        let total = self.mask.size() as f64;
        let density = self.keep as f64 / total.max(1.0);
        if step >= STEPS {
            return self.keep;
        }
        (total * density.powf(step as f64 / STEPS as f64)).round() as usize
    }

    /// One pruning step; the mask once all are done.
    pub fn step(&mut self) -> Option<&Mask> {
        if self.done_steps < STEPS {
            self.done_steps += 1;
            let scores = synflow_scores(&self.theta, &self.mask);
            self.mask = keep_top_global(&scores, &self.mask, self.keep_after(self.done_steps));
        }
        (self.done_steps == STEPS).then_some(&self.mask)
    }

    pub fn steps_done(&self) -> usize {
        self.done_steps
    }

    /// All the steps at once (tests, the CLI's scoring bench).
    pub fn run(mut self) -> Mask {
        while self.step().is_none() {}
        self.mask
    }
}

//! The whole network's forward and backward passes over its plan, with every buffer kept
//! between calls (a training step or an evaluation chunk allocates nothing once warm).

use ndarray::{Array2, ArrayView2};

use super::{conv, dense, pool};
use crate::model::{Layer, NetSpec, Network, PlannedLayer, PlannedOp};

/// Buffers for forward passes over `rows` samples: one output per planned layer (after its
/// ReLU), and what the backward pass needs (pooling winners, conv scratch space).
pub struct Forward {
    plan: Vec<PlannedLayer>,
    rows: usize,
    outs: Vec<Array2<f32>>,
    conv: Vec<conv::ConvScratch>,
    winners: Vec<Vec<u32>>,
}

fn relu_after(op: &PlannedOp) -> bool {
    match op {
        PlannedOp::Dense { relu, .. } => *relu,
        PlannedOp::Conv(_) => true,
        PlannedOp::MaxPool(_) | PlannedOp::Flatten => false,
    }
}

impl Forward {
    pub fn new(spec: &NetSpec, rows: usize) -> Self {
        let plan = spec.plan();
        Self {
            outs: plan
                .iter()
                .map(|l| Array2::zeros((rows, l.output.len())))
                .collect(),
            conv: plan.iter().map(|_| Default::default()).collect(),
            winners: plan.iter().map(|_| Vec::new()).collect(),
            plan,
            rows,
        }
    }

    /// Are these buffers for this network and this many rows?
    pub fn fits(&self, spec: &NetSpec, rows: usize) -> bool {
        self.rows == rows && self.plan == spec.plan()
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Features per input row (the first layer's input).
    pub fn input_len(&self) -> usize {
        self.plan.first().map_or(0, |l| l.input.len())
    }

    /// Every layer's output for `x` (`[rows, input]`); the logits are the last.
    pub fn run(&mut self, net: &Network, x: ArrayView2<f32>) {
        assert_eq!(
            x.nrows(),
            self.rows,
            "forward buffers are for {} rows",
            self.rows
        );
        for l in 0..self.plan.len() {
            let layer = self.plan[l];
            let (done, rest) = self.outs.split_at_mut(l);
            let out = &mut rest[0];
            let input = if l == 0 { x } else { done[l - 1].view() };
            let relu = relu_after(&layer.op);
            match layer.op {
                PlannedOp::Dense { .. } => {
                    let p = &net.layers[layer.param.expect("dense layers have weights")];
                    dense::forward(input, p.weight.view(), p.bias.view(), relu, out);
                }
                PlannedOp::Conv(g) => {
                    let p = &net.layers[layer.param.expect("conv layers have weights")];
                    conv::forward(
                        input,
                        p.weight.view(),
                        p.bias.view(),
                        &g,
                        relu,
                        out,
                        &mut self.conv[l],
                    );
                }
                PlannedOp::MaxPool(g) => pool::forward(input, &g, out, &mut self.winners[l]),
                PlannedOp::Flatten => out.assign(&input),
            }
        }
    }

    pub fn logits(&self) -> &Array2<f32> {
        self.outs.last().expect("a network has an output layer")
    }

    /// Each planned layer's output, in order (the last are the logits).
    pub fn outputs(&self) -> &[Array2<f32>] {
        &self.outs
    }
}

/// Gradient buffers: dL/d(output) per planned layer, and dL/d(input) when asked for.
pub struct Backward {
    deltas: Vec<Array2<f32>>,
    /// dL/dx (`[rows, input]`): attributions need it, training does not.
    input_delta: Option<Array2<f32>>,
}

impl Backward {
    pub fn new(forward: &Forward) -> Self {
        Self {
            deltas: forward
                .outs
                .iter()
                .map(|o| Array2::zeros(o.dim()))
                .collect(),
            input_delta: None,
        }
    }

    /// Like [`Backward::new`], and [`Backward::run`] also fills dL/dx ([`Backward::input_delta`]).
    pub fn with_input_gradient(forward: &Forward) -> Self {
        Self {
            input_delta: Some(Array2::zeros((forward.rows, forward.input_len()))),
            ..Self::new(forward)
        }
    }

    /// dL/dx of the last [`Backward::run`] (only for [`Backward::with_input_gradient`]).
    pub fn input_delta(&self) -> Option<&Array2<f32>> {
        self.input_delta.as_ref()
    }

    /// dL/d(logits): the loss writes it before [`Backward::run`].
    pub fn logits_delta(&mut self) -> &mut Array2<f32> {
        self.deltas
            .last_mut()
            .expect("a network has an output layer")
    }

    /// Back from the logits' delta through every layer: fills `grads` (one weight and bias
    /// gradient per parametric layer, overwritten). `forward` must hold the pass over `x`.
    pub fn run(
        &mut self,
        forward: &mut Forward,
        net: &Network,
        x: ArrayView2<f32>,
        grads: &mut [Layer],
    ) {
        let Forward {
            plan,
            outs,
            conv: scratch,
            winners,
            ..
        } = forward;
        for l in (0..plan.len()).rev() {
            let layer = plan[l];
            let (lower, upper) = self.deltas.split_at_mut(l);
            let delta = &mut upper[0];
            if relu_after(&layer.op) {
                // relu'(z) = [a > 0]: from dL/d(output) to dL/d(pre-activation).
                ndarray::Zip::from(&mut *delta)
                    .and(&outs[l])
                    // A select, not a branch: half the units are off, unpredictably.
                    .for_each(|d, &a| *d = if a <= 0.0 { 0.0 } else { *d });
            }
            let input = if l == 0 { x } else { outs[l - 1].view() };
            // The first layer's input gradient only when asked for (attributions).
            let dx = match lower.last_mut() {
                Some(d) => Some(d.view_mut()),
                None => self.input_delta.as_mut().map(|d| d.view_mut()),
            };
            match layer.op {
                PlannedOp::Dense { .. } => {
                    let p = layer.param.expect("dense layers have weights");
                    let g = &mut grads[p];
                    dense::backward(
                        input,
                        net.layers[p].weight.view(),
                        delta.view(),
                        &mut g.weight,
                        &mut g.bias,
                        dx,
                    );
                }
                PlannedOp::Conv(geometry) => {
                    let p = layer.param.expect("conv layers have weights");
                    let g = &mut grads[p];
                    conv::backward(
                        input,
                        net.layers[p].weight.view(),
                        delta.view(),
                        &geometry,
                        &mut g.weight,
                        &mut g.bias,
                        dx,
                        &mut scratch[l],
                    );
                }
                PlannedOp::MaxPool(geometry) => {
                    if let Some(mut dx) = dx {
                        pool::backward(delta.view(), &geometry, &winners[l], &mut dx);
                    }
                }
                PlannedOp::Flatten => {
                    if let Some(mut dx) = dx {
                        dx.assign(delta);
                    }
                }
            }
        }
    }
}

/// Zeroed gradient buffers shaped like `net`'s parameters.
pub fn zero_gradients(net: &Network) -> Vec<Layer> {
    net.layers
        .iter()
        .map(|l| Layer {
            weight: Array2::zeros(l.weight.dim()),
            bias: ndarray::Array1::zeros(l.bias.len()),
        })
        .collect()
}

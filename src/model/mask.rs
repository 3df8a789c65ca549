//! Which weights survive: one boolean per weight, `true` = kept.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{NetSpec, PlannedOp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mask {
    /// `[fan_in, fan_out]` per layer, like the weights.
    #[serde(with = "super::encoding::vec_array2_bool")]
    pub layers: Vec<Array2<bool>>,
}

impl Mask {
    /// Every weight kept (the dense network).
    pub fn dense(spec: &NetSpec) -> Self {
        Self {
            layers: spec
                .layer_shapes()
                .into_iter()
                .map(|shape| Array2::from_elem(shape, true))
                .collect(),
        }
    }

    pub fn kept_per_layer(&self) -> Vec<usize> {
        self.layers
            .iter()
            .map(|l| l.iter().filter(|&&k| k).count())
            .collect()
    }

    pub fn size_per_layer(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.len()).collect()
    }

    pub fn kept(&self) -> usize {
        self.kept_per_layer().iter().sum()
    }

    pub fn size(&self) -> usize {
        self.layers.iter().map(|l| l.len()).sum()
    }

    /// Fraction of weights kept, in `0..=1`.
    pub fn density(&self) -> f64 {
        self.kept() as f64 / self.size().max(1) as f64
    }

    pub fn layer_densities(&self) -> Vec<f64> {
        self.layers
            .iter()
            .map(|l| l.iter().filter(|&&k| k).count() as f64 / l.len().max(1) as f64)
            .collect()
    }

    /// Layers with no weight left: the network can no longer pass a signal through them.
    pub fn collapsed_layers(&self) -> Vec<usize> {
        self.kept_per_layer()
            .iter()
            .enumerate()
            .filter(|&(_, &k)| k == 0)
            .map(|(i, _)| i)
            .collect()
    }

    /// The layer where the signal from the input stops, if it does: none of its kept weights starts at a unit
    /// the input reaches (a layer with no weights at all, or one whose survivors all hang off
    /// units that lost every incoming weight). A network with such a layer computes a constant:
    /// layer collapse, untrainable. Conv layers are followed channel by channel (a channel the
    /// input reaches anywhere counts as reached everywhere).
    pub fn collapsed_layers_in(&self, spec: &NetSpec) -> Vec<usize> {
        let mut collapsed = Vec::new();
        // Which units (features) of the current activation the input reaches.
        let mut reached = vec![true; spec.input];
        for layer in spec.plan() {
            let channels_in = layer.input.channels.max(1);
            let channel_reached = |reached: &[bool]| {
                let mut by_channel = vec![false; channels_in];
                for (f, &r) in reached.iter().enumerate() {
                    by_channel[f % channels_in] |= r;
                }
                by_channel
            };
            reached = match layer.op {
                PlannedOp::Dense { fan_out, .. } => {
                    let m = &self.layers[layer.param.expect("dense layers have weights")];
                    (0..fan_out)
                        .map(|o| (0..m.nrows()).any(|i| reached[i] && m[(i, o)]))
                        .collect()
                }
                PlannedOp::Conv(_) => {
                    let m = &self.layers[layer.param.expect("conv layers have weights")];
                    let by_channel = channel_reached(&reached);
                    let out: Vec<bool> = (0..m.ncols())
                        .map(|o| (0..m.nrows()).any(|r| by_channel[r % channels_in] && m[(r, o)]))
                        .collect();
                    (0..layer.output.len())
                        .map(|f| out[f % out.len().max(1)])
                        .collect()
                }
                PlannedOp::MaxPool(_) => {
                    let by_channel = channel_reached(&reached);
                    (0..layer.output.len())
                        .map(|f| by_channel[f % channels_in])
                        .collect()
                }
                PlannedOp::Flatten => reached,
            };
            if let Some(p) = layer.param
                && !reached.iter().any(|&r| r)
            {
                // Where the signal stops; the layers after it have nothing to pass on either.
                collapsed.push(p);
                break;
            }
        }
        collapsed
    }

    /// Normalised Hamming distance: the fraction of positions where the masks differ.
    pub fn hamming_distance(&self, other: &Mask) -> f64 {
        let differ: usize = self
            .layers
            .iter()
            .zip(&other.layers)
            .map(|(a, b)| a.iter().zip(b.iter()).filter(|(x, y)| x != y).count())
            .sum();
        differ as f64 / self.size().max(1) as f64
    }

    /// Does every kept position of `self` also survive in `parent`? (Masks only shrink.)
    pub fn is_subset_of(&self, parent: &Mask) -> bool {
        self.layers
            .iter()
            .zip(&parent.layers)
            .all(|(a, b)| a.iter().zip(b.iter()).all(|(&x, &y)| !x || y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_layers;

    #[test]
    fn a_layer_is_collapsed_where_no_signal_from_the_input_passes() {
        let spec = NetSpec::mlp(3, &[2, 2], 2);
        let mut mask = Mask::dense(&spec);
        assert!(mask.collapsed_layers_in(&spec).is_empty());
        // Layer 1 feeds only unit 0; layer 2 keeps only weights from unit 1: cut at layer 2,
        // though no layer is empty.
        mask.layers[0].column_mut(1).fill(false);
        mask.layers[1].row_mut(0).fill(false);
        assert_eq!(mask.collapsed_layers_in(&spec), vec![1]);
        assert!(mask.kept_per_layer().iter().all(|&k| k > 0));
        // An empty first layer stops it there.
        mask.layers[0].fill(false);
        assert_eq!(mask.collapsed_layers_in(&spec), vec![0]);
        // A conv net: the second conv keeps only weights from channel 1, which the first
        // conv no longer feeds.
        let conv = NetSpec::new(
            crate::model::Shape {
                height: 4,
                width: 4,
                channels: 1,
            },
            &parse_layers("conv2k3p1,conv2k3p1,pool2,3").unwrap(),
            2,
        );
        let mut mask = Mask::dense(&conv);
        assert!(mask.collapsed_layers_in(&conv).is_empty());
        mask.layers[0].column_mut(1).fill(false);
        for row in (0..mask.layers[1].nrows()).filter(|r| r % 2 == 0) {
            mask.layers[1].row_mut(row).fill(false);
        }
        assert_eq!(mask.collapsed_layers_in(&conv), vec![1]);
    }
}

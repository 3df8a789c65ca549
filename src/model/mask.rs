//! Which weights survive: one boolean per weight, `true` = kept.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::NetSpec;

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

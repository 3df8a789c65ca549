//! Datasets: real MNIST digits (an asset of ours), MNIST-1D, 2-D toys and synthetic card
//! fraud. Every dataset is generated or split from a seed, so a config names its data.

// pub mod fraud;
pub mod mnist;
// pub mod mnist1d;
// pub mod toy2d;

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

/// Samples as rows: `features` is `[n, input_dim]`, `labels[i]` is the class of row `i`.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub features: Array2<f32>,
    pub labels: Vec<u8>,
}

impl Dataset {
    pub fn new(features: Array2<f32>, labels: Vec<u8>) -> Self {
        assert_eq!(features.nrows(), labels.len(), "one label per row");
        Self { features, labels }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn input_dim(&self) -> usize {
        self.features.ncols()
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            features: self.features.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}

/// What the samples are, so that views can draw them (a 28x28 image, a 1-D signal, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DataShape {
    Image { width: usize, height: usize },
    Signal { length: usize },
    Points2d,
    Tabular { feature_names: Vec<String> },
}

#[derive(Clone, Debug)]
pub struct DataSplits {
    pub name: String,
    pub shape: DataShape,
    pub n_classes: usize,
    /// Class whose score is ranked for ROC AUC (binary, imbalanced data such as fraud).
    pub positive_class: Option<u8>,
    pub train: Dataset,
    /// What early stopping reads.
    pub val: Dataset,
    pub test: Dataset,
}

impl DataSplits {
    pub fn input_dim(&self) -> usize {
        self.train.input_dim()
    }
}

/// Per-feature mean and standard deviation, measured on the training split only.
#[derive(Clone, Debug)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardizer {
    pub fn fit(train: &Dataset) -> Self {
        let n = train.len().max(1) as f32;
        let mean: Vec<f32> = train
            .features
            .axis_iter(Axis(1))
            .map(|col| col.sum() / n)
            .collect();
        let std = train
            .features
            .axis_iter(Axis(1))
            .zip(&mean)
            .map(|(col, &m)| {
                let var = col.iter().map(|&v| (v - m) * (v - m)).sum::<f32>() / n;
                // A constant feature (a blank pixel) keeps its scale instead of dividing by 0.
                if var > 1e-12 { var.sqrt() } else { 1.0 }
            })
            .collect();
        Self { mean, std }
    }

    pub fn apply(&self, data: &mut Dataset) {
        for mut row in data.features.axis_iter_mut(Axis(0)) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }
}

/// A seeded permutation of `0..n`.
pub fn permutation(n: usize, rng: &mut crate::rng::Rng) -> Vec<usize> {
    use rand::seq::SliceRandom as _;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    order
}

/// Split `data` into consecutive parts of the given sizes after a seeded shuffle.
pub fn shuffled_split(data: &Dataset, sizes: &[usize], seed: u64) -> Vec<Dataset> {
    let total: usize = sizes.iter().sum();
    assert!(total <= data.len(), "split sizes exceed the data");
    let order = permutation(data.len(), &mut crate::rng::rng(seed, "split"));
    let mut start = 0;
    sizes
        .iter()
        .map(|&size| {
            let part = data.select(&order[start..start + size]);
            start += size;
            part
        })
        .collect()
}

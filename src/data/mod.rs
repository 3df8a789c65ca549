//! Datasets: real MNIST digits (an asset of ours), MNIST-1D, 2-D toys and synthetic card
//! fraud. Every dataset is generated or split from a seed, so a config names its data.

pub mod csv;
pub mod fraud;
pub mod mnist;
pub mod mnist1d;
pub mod tasks;
pub mod toy2d;

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

/// Samples as rows: `features` is `[n, input_dim]`, `labels[i]` is the class of row `i`.
#[derive(Clone, Debug, PartialEq)]
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

impl DataShape {
    /// How many features a row of this shape has.
    pub fn features(&self) -> usize {
        match self {
            DataShape::Image { width, height } => width * height,
            DataShape::Signal { length } => *length,
            DataShape::Points2d => 2,
            DataShape::Tabular { feature_names } => feature_names.len(),
        }
    }
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

/// Which dataset an experiment trains on; plain data so it can live in a config or a URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DatasetConfig {
    /// The 10,000 real digits, split 7,000 / 1,000 / 2,000.
    Mnist,
    /// MNIST-1D: 4,000 train (of which 500 for validation) / 1,000 test.
    Mnist1d,
    /// A 2-D toy set, split 70 / 15 / 15 %.
    Toy2d {
        shape: toy2d::Toy2d,
        noise: f32,
        samples: usize,
    },
    /// Synthetic card fraud (about 1.5 % positives), split 70 / 15 / 15 %.
    Fraud { samples: usize },
    /// A CSV the user imported, split 70 / 15 / 15 %. Its rows are not in the config: it is
    /// named by file name and the fingerprint of its bytes.
    Imported { name: String, fingerprint: String },
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("the MNIST digits are not loaded yet")]
    DigitsMissing,
    #[error("{what} needs between {min} and {max} samples, not {got}")]
    SampleCount {
        what: &'static str,
        min: usize,
        max: usize,
        got: usize,
    },
    #[error("noise must be between 0 and 1, not {0}")]
    Noise(f32),
    #[error(
        "this experiment trains on the imported file '{name}', which is not loaded here: import that CSV first"
    )]
    ImportedMissing { name: String },
    #[error(
        "an imported dataset is named by a file name (at most 80 characters) and a 16-digit fingerprint"
    )]
    ImportedName,
}

impl DatasetConfig {
    pub fn name(&self) -> String {
        match self {
            DatasetConfig::Mnist => "MNIST digits".into(),
            DatasetConfig::Mnist1d => "MNIST-1D".into(),
            DatasetConfig::Toy2d { shape, .. } => format!("2-D {}", shape.name()),
            DatasetConfig::Fraud { .. } => "card fraud".into(),
            DatasetConfig::Imported { name, .. } => format!("imported {name}"),
        }
    }

    pub fn validate(&self) -> Result<(), DataError> {
        match *self {
            DatasetConfig::Toy2d { noise, samples, .. } => {
                if !(0.0..=1.0).contains(&noise) {
                    return Err(DataError::Noise(noise));
                }
                check_samples("a 2-D set", samples, 40, 100_000)
            }
            DatasetConfig::Fraud { samples } => {
                check_samples("the fraud set", samples, 1_000, 500_000)
            }
            DatasetConfig::Imported {
                ref name,
                ref fingerprint,
            } => {
                let ok = name.chars().count() <= 80
                    && fingerprint.len() == 16
                    && fingerprint.bytes().all(|b| b.is_ascii_hexdigit());
                if ok {
                    Ok(())
                } else {
                    Err(DataError::ImportedName)
                }
            }
            DatasetConfig::Mnist | DatasetConfig::Mnist1d => Ok(()),
        }
    }

    /// The inputs' shape and the number of classes, known without building the data (the
    /// setup panel sizes the network with it before a run). `None` for an imported file that
    /// is not loaded. A test holds it to what [`DatasetConfig::load_with`] builds.
    pub fn layout(&self, imported: Option<&csv::ImportedData>) -> Option<(DataShape, usize)> {
        Some(match self {
            DatasetConfig::Mnist => (
                DataShape::Image {
                    width: mnist::SIDE,
                    height: mnist::SIDE,
                },
                10,
            ),
            DatasetConfig::Mnist1d => (
                DataShape::Signal {
                    length: mnist1d::Mnist1dConfig::default().final_seq_length,
                },
                mnist1d::N_CLASSES,
            ),
            DatasetConfig::Toy2d { .. } => (DataShape::Points2d, 2),
            DatasetConfig::Fraud { .. } => (
                DataShape::Tabular {
                    feature_names: fraud::FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
                },
                2,
            ),
            DatasetConfig::Imported { fingerprint, .. } => {
                let data = imported.filter(|d| d.fingerprint == *fingerprint)?;
                (
                    DataShape::Tabular {
                        feature_names: data.feature_names.clone(),
                    },
                    data.class_names.len(),
                )
            }
        })
    }

    /// Build the seeded splits. `digits` is the decoded MNIST asset (needed for `Mnist` only).
    pub fn load(&self, seed: u64, digits: Option<&Dataset>) -> Result<DataSplits, DataError> {
        self.load_with(seed, digits, None)
    }

    /// [`DatasetConfig::load`], with the imported CSV an `Imported` config names (if loaded).
    pub fn load_with(
        &self,
        seed: u64,
        digits: Option<&Dataset>,
        imported: Option<&csv::ImportedData>,
    ) -> Result<DataSplits, DataError> {
        self.validate()?;
        let splits = match *self {
            DatasetConfig::Imported {
                ref name,
                ref fingerprint,
            } => match imported {
                Some(data) if data.fingerprint == *fingerprint => data.splits(seed),
                _ => return Err(DataError::ImportedMissing { name: name.clone() }),
            },
            DatasetConfig::Mnist => mnist::splits(digits.ok_or(DataError::DigitsMissing)?, seed),
            DatasetConfig::Mnist1d => {
                let (train_all, test) = mnist1d::splits(seed);
                let mut parts = shuffled_split(&train_all, &[3_500, 500], seed).into_iter();
                let (train, val) = (parts.next().unwrap(), parts.next().unwrap());
                standardized(DataSplits {
                    name: self.name(),
                    shape: DataShape::Signal {
                        length: train.input_dim(),
                    },
                    n_classes: 10,
                    positive_class: None,
                    train,
                    val,
                    test,
                })
            }
            DatasetConfig::Toy2d {
                shape,
                noise,
                samples,
            } => {
                let all = toy2d::generate(shape, samples, noise, seed);
                three_way(self.name(), DataShape::Points2d, 2, None, &all, seed)
            }
            DatasetConfig::Fraud { samples } => {
                let all = fraud::generate(samples, seed);
                let names = fraud::FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
                three_way(
                    self.name(),
                    DataShape::Tabular {
                        feature_names: names,
                    },
                    2,
                    Some(1),
                    &all,
                    seed,
                )
            }
        };
        Ok(splits)
    }
}

fn check_samples(what: &'static str, got: usize, min: usize, max: usize) -> Result<(), DataError> {
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(DataError::SampleCount {
            what,
            min,
            max,
            got,
        })
    }
}

/// 70 / 15 / 15 % split, standardised on the training part.
pub(crate) fn three_way(
    name: String,
    shape: DataShape,
    n_classes: usize,
    positive_class: Option<u8>,
    all: &Dataset,
    seed: u64,
) -> DataSplits {
    let n_val = all.len() * 15 / 100;
    let n_test = all.len() * 15 / 100;
    let n_train = all.len() - n_val - n_test;
    let mut parts = shuffled_split(all, &[n_train, n_val, n_test], seed).into_iter();
    let (train, val, test) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    standardized(DataSplits {
        name,
        shape,
        n_classes,
        positive_class,
        train,
        val,
        test,
    })
}

fn standardized(mut splits: DataSplits) -> DataSplits {
    let standardizer = Standardizer::fit(&splits.train);
    for part in [&mut splits.train, &mut splits.val, &mut splits.test] {
        standardizer.apply(part);
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_what_loading_builds() {
        let digits = mnist::decode(mnist::BUNDLED).unwrap();
        let rows: String = (0..60)
            .map(|i| format!("{i},{},{}\n", i % 7, ["a", "b", "c"][i % 3]))
            .collect();
        let imported = csv::parse("thirds.csv", &format!("x,y,label\n{rows}")).unwrap();
        let configs = [
            DatasetConfig::Mnist,
            DatasetConfig::Mnist1d,
            DatasetConfig::Toy2d {
                shape: toy2d::Toy2d::Spiral,
                noise: 0.1,
                samples: 200,
            },
            DatasetConfig::Fraud { samples: 2_000 },
            DatasetConfig::Imported {
                name: imported.name.clone(),
                fingerprint: imported.fingerprint.clone(),
            },
        ];
        for config in configs {
            let data = config.load_with(1, Some(&digits), Some(&imported)).unwrap();
            let (shape, classes) = config.layout(Some(&imported)).unwrap();
            assert_eq!(shape, data.shape, "{}", config.name());
            assert_eq!(classes, data.n_classes, "{}", config.name());
            assert_eq!(shape.features(), data.input_dim(), "{}", config.name());
        }
        let other = DatasetConfig::Imported {
            name: "other.csv".into(),
            fingerprint: "0123456789abcdef".into(),
        };
        assert_eq!(other.layout(Some(&imported)), None);
    }
}

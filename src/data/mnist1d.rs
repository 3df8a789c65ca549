//! MNIST-1D (Greydanus, 2020): ten hand-drawn 1-D "digit" templates pushed through random
//! padding, dilation, scaling, translation, noise and shear, then subsampled to 40 points.
//!
//! Why this dataset: it is small enough to train in the browser in seconds, yet — unlike the
//! 2-D toys — it separates model classes the way real MNIST does (a linear model gets about a
//! third right, an MLP about two thirds, a CNN more), which is exactly the regime where pruned
//! "winning tickets" are interesting.
//!
//! Written by us from the paper and the public reference implementation (greydanus/mnist1d,
//! `mnist1d/data.py` and `mnist1d/transform.py`); only the template numbers and the defaults
//! are taken from it. The order of the transforms and every distribution follow the reference.
//! What we do differently, on purpose:
//!
//! * **Random numbers** come from our seeded PCG streams, so the samples are *not* the ones in
//!   the reference's `mnist1d_data.pkl`; only the distribution is the same.
//! * **No global standardisation.** The reference centres the whole dataset and divides by one
//!   global standard deviation; here the caller fits a per-feature [`super::Standardizer`] on the
//!   training split only (which also keeps the test split from leaking into the scaling).
//! * **Labels** are `i % 10` for `i in 0..num_samples`, shuffled, so exactly `num_samples` rows
//!   come back; the reference makes `num_samples / 10` per class and drops the remainder.
//! * **The signal mask.** The reference adds `1e-8` to the template and later treats every
//!   non-zero value as "signal" (correlated noise is only written where the value is exactly 0,
//!   i.e. in the padding). We carry an explicit support mask through padding, dilation and
//!   translation instead, which marks the same positions without relying on float equality.
//! * **No `shuffle_seq` option** (the reference's permuted-sequence variant).
//!
//! Two details that are easy to get wrong: the scale jitter in the reference is *uniform*,
//! `1 + scale_coeff * (U(0,1) - 0.5)`, not Gaussian, and the padding is a random number of
//! zeros in `padding.0..=padding.1` appended to the 12-point template (so the padded length is
//! 48..=72) before it is dilated to `template_len + padding.1` = 72 points. We follow the
//! reference in both.

use ndarray::Array2;
use rand::Rng as _;
use rand::seq::SliceRandom as _;
use rand_distr::StandardNormal;

use super::Dataset;
use crate::rng::{Rng, rng};

/// The ten hand-drawn digit templates, raw, as in the reference (`get_templates`). Each starts
/// and ends at 5, the "baseline"; [`template`] whitens them before use.
pub const TEMPLATES: [[f32; 12]; 10] = [
    [5.0, 6.0, 6.5, 6.75, 7.0, 7.0, 7.0, 7.0, 6.75, 6.5, 6.0, 5.0],
    [5.0, 3.0, 3.0, 3.4, 3.8, 4.2, 4.6, 5.0, 5.4, 5.8, 5.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.25, 4.75, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.0, 5.0, 6.0, 6.5, 6.5, 6.0, 5.0],
    [5.0, 4.4, 3.8, 3.2, 2.6, 2.6, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
    [5.0, 3.0, 3.0, 3.0, 3.0, 5.0, 6.0, 6.5, 6.5, 6.0, 4.5, 5.0],
    [5.0, 4.0, 3.5, 3.25, 3.0, 3.0, 3.0, 3.0, 3.25, 3.5, 4.0, 5.0],
    [5.0, 7.0, 7.0, 6.6, 6.2, 5.8, 5.4, 5.0, 4.6, 4.2, 5.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 5.0, 5.0, 4.7, 4.3, 5.0],
];

/// Number of classes (digits).
pub const N_CLASSES: usize = TEMPLATES.len();

/// Training and test sizes of [`splits`]: the reference's 5,000 samples split 80 / 20.
pub const TRAIN_SIZE: usize = 4_000;
pub const TEST_SIZE: usize = 1_000;

/// Upper bound on `template_len` and the padding: they size intermediate buffers, and a typo
/// such as `usize::MAX` should give a strange dataset, not an out-of-memory abort.
const MAX_INTERMEDIATE_LEN: usize = 4_096;

/// Width of the Gaussian filter that turns white noise into the correlated background noise.
const CORR_NOISE_SIGMA: f32 = 2.0;

/// How to build the dataset. The defaults are the reference's `get_dataset_args()`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mnist1dConfig {
    pub num_samples: usize,
    /// Together with `padding.1`, the length the padded template is dilated to
    /// (`template_len + padding.1`, 72 by default).
    pub template_len: usize,
    /// Inclusive range of the number of zeros appended to the template before dilation: more
    /// zeros make the digit narrower.
    pub padding: (usize, usize),
    /// Amplitude jitter: the signal is multiplied by `1 + scale_coeff * (U(0,1) - 0.5)`.
    pub scale_coeff: f32,
    /// Circular shift, uniform in `0..max_translation` points of the dilated signal.
    pub max_translation: usize,
    /// Standard deviation of the white noise that is smoothed into background noise.
    pub corr_noise_scale: f32,
    /// Standard deviation of the white noise added everywhere.
    pub iid_noise_scale: f32,
    /// The slope of the linear ramp added to the signal is `shear_scale * (U(0,1) - 0.5)`.
    pub shear_scale: f32,
    /// Length of each sample (the input dimension of the model).
    pub final_seq_length: usize,
    pub seed: u64,
}

impl Default for Mnist1dConfig {
    fn default() -> Self {
        Self {
            num_samples: 5_000,
            template_len: 12,
            padding: (36, 60),
            scale_coeff: 0.4,
            max_translation: 48,
            corr_noise_scale: 0.25,
            iid_noise_scale: 2e-2,
            shear_scale: 0.75,
            final_seq_length: 40,
            seed: 42,
        }
    }
}

/// Template `digit` (0..=9), whitened as in the reference: zero mean, unit (population)
/// standard deviation, shifted so that it starts (and ends) at exactly 0, divided by 6. The
/// zero ends matter: the digit then blends into the zero padding without a step.
///
/// # Panics
/// If `digit >= 10`.
pub fn template(digit: usize) -> [f32; 12] {
    let raw = TEMPLATES[digit];
    let n = raw.len() as f32;
    let mean = raw.iter().sum::<f32>() / n;
    let std = (raw.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
    let first = (raw[0] - mean) / std;
    raw.map(|v| ((v - mean) / std - first) / 6.0)
}

/// Generate `cfg.num_samples` samples of length `cfg.final_seq_length`, labels `i % 10`
/// shuffled (so the classes are balanced to within one sample). Not standardised.
pub fn generate(cfg: &Mnist1dConfig) -> Dataset {
    let cfg = Sanitized::from(cfg);
    let n = cfg.num_samples;
    let len = cfg.final_seq_length;

    // Labels from their own stream, so that the class order does not depend on how many
    // numbers the transforms draw.
    let mut labels: Vec<u8> = (0..n).map(|i| (i % N_CLASSES) as u8).collect();
    labels.shuffle(&mut rng(cfg.seed, "mnist1d-labels"));

    let templates: Vec<[f32; 12]> = (0..N_CLASSES).map(template).collect();
    let mut draw = rng(cfg.seed, "mnist1d-transform");
    let mut features = Array2::<f32>::zeros((n, len));
    for (mut row, &label) in features.rows_mut().into_iter().zip(&labels) {
        let sample = transform(&templates[usize::from(label)], &cfg, &mut draw);
        for (dst, src) in row.iter_mut().zip(&sample) {
            *dst = *src;
        }
    }
    Dataset::new(features, labels)
}

/// The standard split: 4,000 training and 1,000 test samples from the default config with
/// `seed`. Not standardised: the caller fits a standardiser on the training split.
pub fn splits(seed: u64) -> (Dataset, Dataset) {
    let cfg = Mnist1dConfig {
        num_samples: TRAIN_SIZE + TEST_SIZE,
        seed,
        ..Mnist1dConfig::default()
    };
    let data = generate(&cfg);
    // The rows are already in random order, so the split is simply the first 80 %.
    let train: Vec<usize> = (0..TRAIN_SIZE).collect();
    let test: Vec<usize> = (TRAIN_SIZE..TRAIN_SIZE + TEST_SIZE).collect();
    (data.select(&train), data.select(&test))
}

/// A config with every user-controlled value made safe to use: an inverted padding range is
/// put in order, oversized lengths are capped, and non-finite scales become 0 (a NaN would
/// otherwise poison every sample). Negative scales are allowed: they mirror symmetric
/// distributions, as in the reference.
struct Sanitized {
    num_samples: usize,
    dilated_len: usize,
    padding: (usize, usize),
    scale_coeff: f32,
    max_translation: usize,
    corr_noise_scale: f32,
    iid_noise_scale: f32,
    shear_scale: f32,
    final_seq_length: usize,
    seed: u64,
}

impl From<&Mnist1dConfig> for Sanitized {
    fn from(cfg: &Mnist1dConfig) -> Self {
        let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
        let (lo, hi) = (
            cfg.padding.0.min(MAX_INTERMEDIATE_LEN),
            cfg.padding.1.min(MAX_INTERMEDIATE_LEN),
        );
        let padding = (lo.min(hi), lo.max(hi));
        Self {
            num_samples: cfg.num_samples,
            dilated_len: cfg.template_len.min(MAX_INTERMEDIATE_LEN) + padding.1,
            padding,
            scale_coeff: finite(cfg.scale_coeff),
            max_translation: cfg.max_translation,
            corr_noise_scale: finite(cfg.corr_noise_scale),
            iid_noise_scale: finite(cfg.iid_noise_scale),
            shear_scale: finite(cfg.shear_scale),
            final_seq_length: cfg.final_seq_length,
            seed: cfg.seed,
        }
    }
}

/// One sample: the reference's `transform`, step by step, with the random numbers drawn in the
/// same order (pad, scale, shift, correlated noise, iid noise, shear).
fn transform(template: &[f32], cfg: &Sanitized, rng: &mut Rng) -> Vec<f32> {
    // Pad: append a random number of zeros. `support` marks where the digit is.
    let pad = rng.random_range(cfg.padding.0..=cfg.padding.1);
    let mut x = template.to_vec();
    x.resize(template.len() + pad, 0.0);
    let mut support = vec![1.0_f32; template.len()];
    support.resize(template.len() + pad, 0.0);

    // Dilate: stretch to a fixed length, so more padding means a narrower digit.
    let mut x = resample(&x, cfg.dilated_len);
    let support = resample(&support, cfg.dilated_len);
    let is_digit: Vec<bool> = support.iter().map(|&s| s > 0.0).collect();

    // Scale the amplitude.
    let gain = 1.0 + cfg.scale_coeff * (rng.random::<f32>() - 0.5);
    x.iter_mut().for_each(|v| *v *= gain);

    // Translate: a circular shift to the right, so position alone cannot identify the digit.
    let shift = if cfg.max_translation == 0 {
        0
    } else {
        rng.random_range(0..cfg.max_translation)
    };
    let x = roll(&x, shift);
    let is_digit = roll(&is_digit, shift);

    // Correlated (smooth) noise in the background only, iid noise everywhere.
    let white: Vec<f32> = (0..x.len())
        .map(|_| cfg.corr_noise_scale * rng.sample::<f32, _>(StandardNormal))
        .collect();
    let smooth = gaussian_filter(&white, CORR_NOISE_SIGMA);
    let mut x: Vec<f32> = x
        .iter()
        .zip(&is_digit)
        .zip(&smooth)
        .map(|((&v, &digit), &noise)| if digit { v } else { noise })
        .collect();
    for v in &mut x {
        *v += cfg.iid_noise_scale * rng.sample::<f32, _>(StandardNormal);
    }

    // Shear: subtract a linear ramp from -0.5 to 0.5 (`numpy.linspace`) with a random slope.
    let slope = cfg.shear_scale * (rng.random::<f32>() - 0.5);
    let steps = x.len().saturating_sub(1);
    for (i, v) in x.iter_mut().enumerate() {
        let ramp = if steps == 0 {
            -0.5
        } else {
            i as f32 / steps as f32 - 0.5
        };
        *v -= slope * ramp;
    }

    // Subsample to the model's input length.
    resample(&x, cfg.final_seq_length)
}

/// Linear interpolation of `x`, read as samples at evenly spaced points of [0, 1], at `n`
/// evenly spaced points of [0, 1] (both ends included), like `scipy.interpolate.interp1d`.
/// An empty input gives zeros; a single point gives a constant.
fn resample(x: &[f32], n: usize) -> Vec<f32> {
    match x.len() {
        0 => return vec![0.0; n],
        1 => return vec![x[0]; n],
        _ => {}
    }
    if n == 1 {
        return vec![x[0]];
    }
    let steps = (x.len() - 1) as f64;
    let out_steps = n.saturating_sub(1).max(1) as f64;
    (0..n)
        .map(|j| {
            let pos = j as f64 * steps / out_steps;
            // Clamp so the last output point uses the last segment (frac = 1), never x[len].
            let i = (pos.floor() as usize).min(x.len() - 2);
            let frac = (pos - i as f64) as f32;
            x[i] * (1.0 - frac) + x[i + 1] * frac
        })
        .collect()
}

/// Circular shift to the right by `k`: `out[(i + k) % len] = x[i]` (`numpy.roll(x, k)`).
fn roll<T: Copy>(x: &[T], k: usize) -> Vec<T> {
    if x.is_empty() {
        return Vec::new();
    }
    let mut out = x.to_vec();
    out.rotate_right(k % x.len());
    out
}

/// A 1-D Gaussian filter with standard deviation `sigma`, the kernel truncated at 4 sigma and
/// the signal mirrored at its ends (`d c b a | a b c d | d c b a`): the defaults of
/// `scipy.ndimage.gaussian_filter`, which the reference uses.
fn gaussian_filter(x: &[f32], sigma: f32) -> Vec<f32> {
    let len = x.len();
    if len == 0 {
        return Vec::new();
    }
    let radius = (4.0 * sigma + 0.5) as usize;
    let weights: Vec<f32> = (0..=2 * radius)
        .map(|k| {
            let d = k as f32 - radius as f32;
            (-0.5 * d * d / (sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = weights.iter().sum();
    let period = 2 * len;
    (0..len)
        .map(|i| {
            weights
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    // Index i + k - radius, mirrored into 0..len (works for any len >= 1).
                    let j = (i + k + period * (radius / period + 1) - radius) % period;
                    let j = if j < len { j } else { period - 1 - j };
                    w * x[j]
                })
                .sum::<f32>()
                / total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> Mnist1dConfig {
        Mnist1dConfig {
            num_samples: 500,
            seed,
            ..Mnist1dConfig::default()
        }
    }

    #[test]
    fn defaults_match_the_reference() {
        let cfg = Mnist1dConfig::default();
        assert_eq!(cfg.num_samples, 5_000);
        assert_eq!(cfg.template_len + cfg.padding.1, 72);
        assert_eq!(cfg.final_seq_length, 40);
    }

    #[test]
    fn templates_are_whitened_and_start_and_end_at_zero() {
        for d in 0..N_CLASSES {
            let t = template(d);
            assert_eq!(t[0], 0.0);
            assert!(t[11].abs() < 1e-6, "digit {d} ends at {}", t[11]);
            // Whitened then shifted and divided by 6: the spread is 1/6.
            let mean = t.iter().sum::<f32>() / 12.0;
            let std = (t.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 12.0).sqrt();
            assert!((std - 1.0 / 6.0).abs() < 1e-5, "digit {d} std {std}");
        }
        // Digit 0 is a bump up, digit 6 a dip down.
        assert!(template(0)[5] > 0.0);
        assert!(template(6)[5] < 0.0);
    }

    #[test]
    fn shapes_labels_and_finiteness() {
        let data = generate(&small(1));
        assert_eq!(data.features.dim(), (500, 40));
        assert_eq!(data.labels.len(), 500);
        assert!(data.labels.iter().all(|&l| l < 10));
        assert!(data.features.iter().all(|v| v.is_finite()));
        let mut counts = [0usize; 10];
        data.labels
            .iter()
            .for_each(|&l| counts[usize::from(l)] += 1);
        assert_eq!(counts, [50; 10]);
        // Shuffled, not in class order.
        assert_ne!(&data.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn deterministic_per_seed() {
        let a = generate(&small(3));
        let b = generate(&small(3));
        let c = generate(&small(4));
        assert_eq!(a.features, b.features);
        assert_eq!(a.labels, b.labels);
        assert_ne!(a.features, c.features);
    }

    #[test]
    fn splits_have_the_standard_sizes() {
        let (train, test) = splits(0);
        assert_eq!(train.features.dim(), (TRAIN_SIZE, 40));
        assert_eq!(test.features.dim(), (TEST_SIZE, 40));
        let (train2, _) = splits(0);
        assert_eq!(train.features, train2.features);
    }

    #[test]
    fn per_class_means_differ_and_a_nearest_centroid_beats_chance() {
        let (train, test) = splits(5);
        let len = train.input_dim();
        let mut means = vec![vec![0.0_f32; len]; N_CLASSES];
        let mut counts = [0.0_f32; N_CLASSES];
        for (row, &l) in train.features.rows().into_iter().zip(&train.labels) {
            let l = usize::from(l);
            counts[l] += 1.0;
            means[l].iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        for (m, c) in means.iter_mut().zip(counts) {
            m.iter_mut().for_each(|v| *v /= c);
        }
        let dist = |a: &[f32], b: &[f32]| -> f32 {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        for a in 0..N_CLASSES {
            for b in a + 1..N_CLASSES {
                assert!(dist(&means[a], &means[b]) > 0.05, "classes {a} and {b}");
            }
        }
        // Translation makes class means blurry, but they still carry signal.
        let correct = test
            .features
            .rows()
            .into_iter()
            .zip(&test.labels)
            .filter(|(row, l)| {
                let row = row.to_vec();
                let best = (0..N_CLASSES)
                    .min_by(|&a, &b| dist(&row, &means[a]).total_cmp(&dist(&row, &means[b])))
                    .unwrap_or(0);
                best == usize::from(**l)
            })
            .count();
        let accuracy = correct as f32 / test.len() as f32;

        assert!(accuracy > 0.2, "nearest-centroid accuracy {accuracy}");
    }

    #[test]
    fn degenerate_configs_do_not_panic() {
        let empty = generate(&Mnist1dConfig {
            num_samples: 0,
            ..Mnist1dConfig::default()
        });
        assert_eq!(empty.features.dim(), (0, 40));
        let odd = generate(&Mnist1dConfig {
            num_samples: 13,
            template_len: 0,
            padding: (5, 0),
            scale_coeff: f32::NAN,
            max_translation: 1_000,
            corr_noise_scale: f32::INFINITY,
            iid_noise_scale: -1.0,
            shear_scale: 0.0,
            final_seq_length: 1,
            seed: 9,
        });
        assert_eq!(odd.features.dim(), (13, 1));
        assert!(odd.features.iter().all(|v| v.is_finite()));
        let tiny = generate(&Mnist1dConfig {
            num_samples: 3,
            template_len: 0,
            padding: (0, 0),
            final_seq_length: 0,
            ..Mnist1dConfig::default()
        });
        assert_eq!(tiny.features.dim(), (3, 0));
    }

    #[test]
    fn resample_roll_and_filter_match_numpy_conventions() {
        // interp1d on linspace grids: both ends kept, midpoints interpolated.
        assert_eq!(resample(&[0.0, 1.0, 2.0], 5), vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(resample(&[3.0, 1.0], 1), vec![3.0]);
        // numpy.roll(x, 1)
        assert_eq!(roll(&[1, 2, 3, 4], 1), vec![4, 1, 2, 3]);
        assert_eq!(roll(&[1, 2, 3, 4], 0), vec![1, 2, 3, 4]);
        // The filter preserves constants (mirrored edges) and the sum of an interior impulse.
        let flat = gaussian_filter(&[2.0; 30], 2.0);
        assert!(flat.iter().all(|v| (v - 2.0).abs() < 1e-5));
        let mut impulse = vec![0.0; 41];
        impulse[20] = 1.0;
        let blurred = gaussian_filter(&impulse, 2.0);
        assert!((blurred.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(blurred[20] > blurred[21] && blurred[21] > blurred[23]);
        // Short signals mirror more than once without going out of bounds.
        assert_eq!(gaussian_filter(&[1.0, 1.0, 1.0], 2.0).len(), 3);
    }
}

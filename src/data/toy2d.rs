//! The 2-D toy sets of the TensorFlow Playground (circle, XOR, two Gaussians, spiral) plus
//! the classic two half-moons.
//!
//! Why: with two inputs the whole decision surface of a network can be drawn, so one can
//! *see* a pruned ticket carve the same boundary as the dense network (or fail to).
//!
//! Conventions, and where we differ from the Playground (`dataset.ts`):
//!
//! * Coordinates are the Playground's divided by 5 (its shapes live in about [-5, 5]), so the
//!   clean shapes lie in about [-1, 1] and noise pushes points out to a unit or so beyond.
//! * Label 1 is the Playground's positive class (+1: the inner disc, the `x * y >= 0`
//!   quadrants, the Gaussian at (+, +), the arm starting at angle 0), and the upper moon;
//!   label 0 the other.
//! * Classes are balanced by construction: row `i` gets class `i % 2` before a seeded shuffle.
//! * `noise` is the Playground's 0–50 % slider as a fraction, clamped to [0, 1]; 0.5 is "very
//!   noisy". For the circle and XOR the Playground keeps the points clean and labels them by a
//!   noisy copy of the point; we instead keep the label and *move the point* by that same noise.
//!   The overlap of the classes is comparable, but the balance stays exact and what you see
//!   is what the label says.
//! * Points along the spiral arms are placed at random (uniform along the radius) rather than
//!   at evenly spaced steps, so that two seeds give different data even at zero noise.

use std::f32::consts::PI;

use ndarray::Array2;
use rand::Rng as _;
use rand::seq::SliceRandom as _;
use rand_distr::StandardNormal;

use super::Dataset;
use crate::rng::{Rng, rng};

/// The Playground's shapes are about 5 units across on each side of the origin.
const PLAYGROUND_UNIT: f32 = 5.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Toy2d {
    /// A disc (label 1) inside a ring (label 0): needs a non-linear boundary.
    Circle,
    /// Four quadrants, diagonal ones share a label: the classic "not linearly separable" set.
    Xor,
    /// Two Gaussian blobs: linearly separable; noise widens them until they overlap.
    Gaussians,
    /// Two interleaved spiral arms: the hardest, needs depth or many units.
    Spiral,
    /// Two interleaving half-circles.
    Moons,
}

impl Toy2d {
    pub const ALL: [Toy2d; 5] = [
        Toy2d::Circle,
        Toy2d::Xor,
        Toy2d::Gaussians,
        Toy2d::Spiral,
        Toy2d::Moons,
    ];

    /// The stable lowercase name used in configs and URLs.
    pub fn name(self) -> &'static str {
        match self {
            Toy2d::Circle => "circle",
            Toy2d::Xor => "xor",
            Toy2d::Gaussians => "gaussians",
            Toy2d::Spiral => "spiral",
            Toy2d::Moons => "moons",
        }
    }

    /// The inverse of [`Toy2d::name`]; ignores case and surrounding whitespace.
    pub fn from_name(s: &str) -> Option<Toy2d> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(s))
    }
}

/// `n` points of `kind` with `noise` in [0, 1] (clamped; NaN counts as 0), features `[n, 2]`,
/// labels 0 / 1, balanced to within one point, in random order.
pub fn generate(kind: Toy2d, n: usize, noise: f32, seed: u64) -> Dataset {
    let noise = if noise.is_nan() {
        0.0
    } else {
        noise.clamp(0.0, 1.0)
    };
    // Class of each row, shuffled, from its own stream so it does not depend on the shape.
    let mut labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    labels.shuffle(&mut rng(seed, "toy2d-labels"));

    // One stream per kind: the circle and the moons of one seed are unrelated draws.
    let stream = format!("toy2d-{}", kind.name());
    let mut draw = rng(seed, &stream);
    let mut features = Array2::<f32>::zeros((n, 2));
    for (mut row, &label) in features.rows_mut().into_iter().zip(&labels) {
        let positive = label == 1;
        let (x, y) = match kind {
            Toy2d::Circle => circle(positive, noise, &mut draw),
            Toy2d::Xor => xor(positive, noise, &mut draw),
            Toy2d::Gaussians => gaussians(positive, noise, &mut draw),
            Toy2d::Spiral => spiral(positive, noise, &mut draw),
            Toy2d::Moons => moons(positive, noise, &mut draw),
        };
        row[0] = x;
        row[1] = y;
    }
    Dataset::new(features, labels)
}

/// Uniform in `[lo, hi)`.
fn uniform(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

fn normal(rng: &mut Rng) -> f32 {
    rng.sample(StandardNormal)
}

/// Playground: the positive disc has radius in [0, 2.5], the negative ring [3.5, 5] (uniform
/// radius, so the disc is denser at its centre); noise is uniform in ±5·noise per axis.
fn circle(positive: bool, noise: f32, rng: &mut Rng) -> (f32, f32) {
    let radius = PLAYGROUND_UNIT;
    let r = if positive {
        uniform(rng, 0.0, radius * 0.5)
    } else {
        uniform(rng, radius * 0.7, radius)
    };
    let angle = uniform(rng, 0.0, 2.0 * PI);
    let dx = uniform(rng, -radius, radius) * noise;
    let dy = uniform(rng, -radius, radius) * noise;
    scaled(r * angle.sin() + dx, r * angle.cos() + dy)
}

/// Playground: coordinates uniform in ±5 pushed 0.3 away from the axes; label 1 where
/// `x * y >= 0`. Here the quadrant is picked to match the class; noise as for the circle.
fn xor(positive: bool, noise: f32, rng: &mut Rng) -> (f32, f32) {
    const GAP: f32 = 0.3;
    let x_sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
    let y_sign = if positive { x_sign } else { -x_sign };
    let x = x_sign * (uniform(rng, 0.0, PLAYGROUND_UNIT) + GAP);
    let y = y_sign * (uniform(rng, 0.0, PLAYGROUND_UNIT) + GAP);
    let dx = uniform(rng, -PLAYGROUND_UNIT, PLAYGROUND_UNIT) * noise;
    let dy = uniform(rng, -PLAYGROUND_UNIT, PLAYGROUND_UNIT) * noise;
    scaled(x + dx, y + dy)
}

/// Playground: blobs at (2, 2) and (-2, -2) with variance rising linearly from 0.5 at noise 0
/// to 4 at noise 0.5 (and on, to 7.5 at noise 1).
fn gaussians(positive: bool, noise: f32, rng: &mut Rng) -> (f32, f32) {
    let centre = if positive { 2.0 } else { -2.0 };
    let variance = 0.5 + (4.0 - 0.5) * noise / 0.5;
    let sd = variance.sqrt();
    scaled(centre + sd * normal(rng), centre + sd * normal(rng))
}

/// Playground: radius 0..5 over 1.75 turns, the negative arm rotated by half a turn; noise
/// uniform in ±noise per axis (the arms are about 1.4 apart, so noise 0.5 still leaves a gap
/// on average, noise 1 fills it).
fn spiral(positive: bool, noise: f32, rng: &mut Rng) -> (f32, f32) {
    let along = rng.random::<f32>();
    let r = along * PLAYGROUND_UNIT;
    let turn = if positive { 0.0 } else { PI };
    let t = 1.75 * along * 2.0 * PI + turn;
    let dx = uniform(rng, -1.0, 1.0) * noise;
    let dy = uniform(rng, -1.0, 1.0) * noise;
    scaled(r * t.sin() + dx, r * t.cos() + dy)
}

/// scikit-learn's `make_moons` shapes (unit radius), centred on the origin, with Gaussian
/// noise of standard deviation `0.6 * noise` (so 0.5 gives 0.3, already heavily overlapping).
/// Not a Playground set, hence already in our units.
fn moons(positive: bool, noise: f32, rng: &mut Rng) -> (f32, f32) {
    let t = uniform(rng, 0.0, PI);
    let (x, y) = if positive {
        (t.cos(), t.sin())
    } else {
        (1.0 - t.cos(), 0.5 - t.sin())
    };
    let sd = 0.6 * noise;
    (x - 0.5 + sd * normal(rng), y - 0.25 + sd * normal(rng))
}

fn scaled(x: f32, y: f32) -> (f32, f32) {
    (x / PLAYGROUND_UNIT, y / PLAYGROUND_UNIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accuracy on `test` of a k-nearest-neighbour vote over `train` (k odd, labels 0/1).
    fn knn_accuracy(train: &Dataset, test: &Dataset, k: usize) -> f32 {
        let correct = test
            .features
            .rows()
            .into_iter()
            .zip(&test.labels)
            .filter(|(q, label)| {
                let mut d: Vec<(f32, u8)> = train
                    .features
                    .rows()
                    .into_iter()
                    .zip(&train.labels)
                    .map(|(p, &l)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2), l))
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0));
                let votes = d.iter().take(k).filter(|(_, l)| *l == 1).count();
                u8::from(2 * votes > k) == **label
            })
            .count();
        correct as f32 / test.len() as f32
    }

    fn accuracy(kind: Toy2d, noise: f32) -> f32 {
        let train = generate(kind, 400, noise, 1);
        let test = generate(kind, 200, noise, 2);
        knn_accuracy(&train, &test, 5)
    }

    #[test]
    fn names_round_trip() {
        for kind in Toy2d::ALL {
            assert_eq!(Toy2d::from_name(kind.name()), Some(kind));
        }
        assert_eq!(Toy2d::from_name(" Spiral "), Some(Toy2d::Spiral));
        assert_eq!(Toy2d::from_name("square"), None);
        assert_eq!(Toy2d::from_name(""), None);
    }

    #[test]
    fn shapes_labels_balance_and_scale() {
        for kind in Toy2d::ALL {
            for noise in [0.0, 0.5, 1.0] {
                let data = generate(kind, 301, noise, 7);
                assert_eq!(data.features.dim(), (301, 2));
                assert!(data.labels.iter().all(|&l| l <= 1));
                let ones = data.labels.iter().filter(|&&l| l == 1).count();
                assert_eq!(ones, 150, "{kind:?}");
                assert!(data.features.iter().all(|v| v.is_finite()));
                // "A few units" at the very most, even at full noise.
                let max = data.features.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
                assert!(max < 4.0, "{kind:?} noise {noise}: max |x| {max}");
                if noise == 0.0 {
                    assert!(max <= 1.5, "{kind:?} clean: max |x| {max}");
                }
            }
        }
    }

    #[test]
    fn deterministic_per_seed() {
        for kind in Toy2d::ALL {
            let a = generate(kind, 100, 0.0, 3);
            let b = generate(kind, 100, 0.0, 3);
            let c = generate(kind, 100, 0.0, 4);
            assert_eq!(a.features, b.features);
            assert_eq!(a.labels, b.labels);
            assert_ne!(a.features, c.features, "{kind:?}");
        }
    }

    #[test]
    fn edge_cases_do_not_panic() {
        for kind in Toy2d::ALL {
            assert!(generate(kind, 0, 0.1, 0).is_empty());
            assert_eq!(generate(kind, 1, 0.1, 0).len(), 1);
            // Out-of-range noise is clamped, so these equal the clamped calls.
            let nan = generate(kind, 10, f32::NAN, 0);
            assert_eq!(nan.features, generate(kind, 10, 0.0, 0).features);
            let big = generate(kind, 10, 9.0, 0);
            assert_eq!(big.features, generate(kind, 10, 1.0, 0).features);
            let neg = generate(kind, 10, -1.0, 0);
            assert_eq!(neg.features, generate(kind, 10, 0.0, 0).features);
        }
    }

    #[test]
    fn circle_at_low_noise_is_learnable() {
        let acc = accuracy(Toy2d::Circle, 0.1);
        assert!(acc > 0.9, "circle k-NN accuracy {acc}");
    }

    #[test]
    fn every_set_is_learnable_when_clean() {
        for kind in Toy2d::ALL {
            let acc = accuracy(kind, 0.0);
            assert!(acc > 0.9, "{kind:?} k-NN accuracy {acc}");
        }
    }

    #[test]
    fn noise_makes_it_harder() {
        for kind in [Toy2d::Circle, Toy2d::Xor, Toy2d::Spiral, Toy2d::Moons] {
            let clean = accuracy(kind, 0.0);
            let noisy = accuracy(kind, 0.5);
            assert!(noisy < clean, "{kind:?}: clean {clean}, noisy {noisy}");
        }
    }

    #[test]
    fn spiral_is_not_linearly_obvious() {
        // The class means of the two arms nearly coincide, unlike the Gaussians': a linear
        // model has little to go on.
        let mean_gap = |kind| {
            let d = generate(kind, 2_000, 0.0, 11);
            let mut sums = [[0.0_f32; 2]; 2];
            for (row, &l) in d.features.rows().into_iter().zip(&d.labels) {
                sums[usize::from(l)][0] += row[0] / 1_000.0;
                sums[usize::from(l)][1] += row[1] / 1_000.0;
            }
            ((sums[0][0] - sums[1][0]).powi(2) + (sums[0][1] - sums[1][1]).powi(2)).sqrt()
        };
        assert!(mean_gap(Toy2d::Gaussians) > 0.8);
        assert!(mean_gap(Toy2d::Spiral) < 0.3);
    }
}

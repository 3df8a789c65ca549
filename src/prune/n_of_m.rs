//! N:M semi-structured sparsity (2:4 by default, what sparse tensor cores run): in every
//! group of M consecutive weights along the input dimension (a column of `[fan_in, fan_out]`,
//! rows `g·M .. g·M + M`) keep the N largest. A last, shorter group keeps at most N. The
//! density is fixed near N/M, so there are no rounds: one mask, from the trained dense
//! network (then fine-tuned, NVIDIA's recipe, or reset to θ₀: a ticket under the constraint).

use serde::{Deserialize, Serialize};

use crate::model::{Mask, Network};

/// How pruned weights are grouped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Granularity {
    /// Any weight on its own (unstructured).
    #[default]
    Weights,
    /// N of every M consecutive input weights.
    NOfM { n: usize, m: usize },
    /// Whole units: a dense layer's neurons, a conv layer's filters (`structured.rs`).
    Neurons,
}

impl Granularity {
    pub const TWO_FOUR: Granularity = Granularity::NOfM { n: 2, m: 4 };

    /// Its word in links and the CLI: `weights`, `neurons`, `2:4`.
    pub fn key(self) -> String {
        match self {
            Granularity::Weights => "weights".into(),
            Granularity::Neurons => "neurons".into(),
            Granularity::NOfM { n, m } => format!("{n}:{m}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "weights" => return Some(Granularity::Weights),
            "neurons" | "filters" | "units" => return Some(Granularity::Neurons),
            _ => {}
        }
        let (n, m) = key.split_once(':')?;
        let (n, m) = (n.trim().parse().ok()?, m.trim().parse().ok()?);
        Some(Granularity::NOfM { n, m })
    }

    pub fn label(self) -> String {
        match self {
            Granularity::Weights => "unstructured (any weight)".into(),
            Granularity::Neurons => "structured (neurons, filters)".into(),
            Granularity::NOfM { n, m } => format!("{n}:{m} (N of every M inputs)"),
        }
    }
}

/// Keep the `n` largest |w| of every `m` consecutive input weights, among those `current`
/// keeps. Ties go to the earlier row.
pub fn n_of_m_prune(net: &Network, current: &Mask, n: usize, m: usize) -> Mask {
    choose_in_groups(current, m, |l, rows, col| {
        let mut ranked: Vec<usize> = rows.collect();
        ranked.sort_by(|&a, &b| {
            let w = &net.layers[l].weight;
            w[(b, col)]
                .abs()
                .total_cmp(&w[(a, col)].abs())
                .then(a.cmp(&b))
        });
        ranked.truncate(n);
        ranked
    })
}

/// A random N:M pattern (the random control at the same structure).
pub fn random_n_of_m(current: &Mask, n: usize, m: usize, rng: &mut crate::rng::Rng) -> Mask {
    use rand::seq::SliceRandom as _;
    choose_in_groups(current, m, |_, rows, _| {
        let mut rows: Vec<usize> = rows.collect();
        rows.shuffle(rng);
        rows.truncate(n);
        rows
    })
}

/// For every group of `m` rows of every column, keep the rows `choose` returns among the
/// group's survivors.
fn choose_in_groups(
    current: &Mask,
    m: usize,
    mut choose: impl FnMut(usize, &mut dyn Iterator<Item = usize>, usize) -> Vec<usize>,
) -> Mask {
    let m = m.max(1);
    let mut mask = current.clone();
    for (l, layer) in mask.layers.iter_mut().enumerate() {
        let (rows, cols) = layer.dim();
        for col in 0..cols {
            for start in (0..rows).step_by(m) {
                let end = (start + m).min(rows);
                let survivors = (start..end).filter(|&r| current.layers[l][(r, col)]);
                let kept = choose(l, &mut survivors.into_iter(), col);
                for r in start..end {
                    layer[(r, col)] = kept.contains(&r);
                }
            }
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Init, NetSpec, parse_layers};

    /// Every group of m consecutive inputs of every output keeps exactly min(n, its size).
    fn assert_n_of_m(mask: &Mask, n: usize, m: usize) {
        for (l, layer) in mask.layers.iter().enumerate() {
            let (rows, cols) = layer.dim();
            for col in 0..cols {
                for start in (0..rows).step_by(m) {
                    let end = (start + m).min(rows);
                    let kept = (start..end).filter(|&r| layer[(r, col)]).count();
                    assert_eq!(
                        kept,
                        n.min(end - start),
                        "layer {l} column {col} rows {start}..{end}"
                    );
                }
            }
        }
    }

    #[test]
    fn n_of_m_masks_keep_exactly_n_of_every_m_and_the_largest() {
        // A conv net too: its first layer has 9 rows (3×3 taps, one channel), so a last group
        // of 1 keeps that one.
        for spec in [
            NetSpec::mlp(784, &[300, 100], 10),
            NetSpec::new(
                crate::model::Shape {
                    height: 8,
                    width: 8,
                    channels: 1,
                },
                &parse_layers("conv4k3,pool2,16").unwrap(),
                3,
            ),
        ] {
            let net = Network::init(&spec, Init::GlorotNormal, &mut crate::rng::rng(1, "init"));
            let dense = Mask::dense(&spec);
            for (n, m) in [(2, 4), (1, 4), (4, 8)] {
                let mask = n_of_m_prune(&net, &dense, n, m);
                assert_n_of_m(&mask, n, m);
                assert_n_of_m(
                    &random_n_of_m(&dense, n, m, &mut crate::rng::rng(2, "r")),
                    n,
                    m,
                );
                // Within a group, every kept weight is at least as large as every pruned one.
                let w = &net.layers[0].weight;
                for start in (0..w.nrows()).step_by(m) {
                    let end = (start + m).min(w.nrows());
                    let kept_min = (start..end)
                        .filter(|&r| mask.layers[0][(r, 0)])
                        .map(|r| w[(r, 0)].abs())
                        .fold(f32::INFINITY, f32::min);
                    let pruned_max = (start..end)
                        .filter(|&r| !mask.layers[0][(r, 0)])
                        .map(|r| w[(r, 0)].abs())
                        .fold(0.0, f32::max);
                    assert!(kept_min >= pruned_max);
                }
            }
            if spec.is_mlp() {
                assert_eq!(n_of_m_prune(&net, &dense, 2, 4).density(), 0.5);
            }
        }
        assert_eq!(Granularity::from_key("2:4"), Some(Granularity::TWO_FOUR));
        assert_eq!(Granularity::from_key("weights"), Some(Granularity::Weights));
        assert_eq!(Granularity::from_key("2-4"), None);
        assert_eq!(Granularity::TWO_FOUR.key(), "2:4");
    }
}

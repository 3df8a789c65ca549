//! Pruning: which weights to remove, and how many.
//!
//! How many is a [`PruneTarget`]: groups of layers, each with a number of weights to keep.
//! Layerwise pruning makes one group per layer; global pruning pools the hidden layers into
//! one group (ranked together by magnitude) and keeps the output layer in a group of its own
//! with its own rate (0 leaves it dense, as open_lth's global recipe does).
//!
//! Rounding rule: after `r` rounds at rate `p`, a group of `n` weights keeps
//! `round(n · (1 − p)^r)` (half away from zero). Counts are computed from the original size,
//! not from the previous round's count, so rounding never accumulates across rounds.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::model::{Mask, NetSpec, Network, ParamKind};

mod early_bird;
mod grasp;
mod method;
mod n_of_m;
mod snip;
mod structured;
mod synflow;

pub use early_bird::{
    DEFAULT_EPSILON as EARLY_BIRD_EPSILON, EarlyBirdTrace, MaskDistance,
    WINDOW as EARLY_BIRD_WINDOW,
};
pub use grasp::{RELATIVE_STEP as GRASP_RELATIVE_STEP, grasp_scores, step_size, stepped};
pub use method::{PruneMethod, Scores, keep_top_global};
pub use n_of_m::{Granularity, n_of_m_prune, random_n_of_m};
pub use snip::snip_scores;
pub use structured::{
    Shrunk, Units, first_units, narrower_counts, random_units, structured_density,
    structured_prune, unit_counts, unit_norms, unit_rounds_for_density,
};
pub use synflow::{STEPS as SYNFLOW_STEPS, SynflowPruning, synflow_scores};

/// |θ|: magnitude at initialisation's scores.
pub fn magnitude_scores(theta: &Network) -> Scores {
    theta
        .layers
        .iter()
        .map(|l| l.weight.mapv(f32::abs))
        .collect()
}

/// Uniform random scores (random pruning at initialisation, ranked like the others).
pub fn random_scores(spec: &NetSpec, rng: &mut crate::rng::Rng) -> Scores {
    use rand::Rng as _;
    spec.layer_shapes()
        .into_iter()
        .map(|shape| Array2::from_shape_simple_fn(shape, || rng.random::<f32>()))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Each layer loses the same fraction of its remaining weights.
    Layerwise,
    /// The hidden layers' weights are ranked together; small layers can lose more.
    Global,
}

/// How much each round prunes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneRates {
    pub scope: Scope,
    /// Fraction of the *remaining* weights pruned per round, for all but the output layer.
    pub rate: f64,
    /// The same for the output layer (the paper uses half the rate: 10% against 20%).
    pub output_rate: f64,
    /// The same for conv layers (the paper: 10-15% where dense layers lose 20%); `rate` when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_rate: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub layers: Vec<usize>,
    pub keep: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneTarget {
    pub groups: Vec<Group>,
}

impl PruneRates {
    /// The rate of each parametric layer's kind.
    pub fn rate_for(&self, kind: ParamKind) -> f64 {
        match kind {
            ParamKind::Dense => self.rate,
            ParamKind::Conv => self.conv_rate.unwrap_or(self.rate),
            ParamKind::Output => self.output_rate,
        }
    }

    fn groups(&self, kinds: &[ParamKind]) -> Vec<(Vec<usize>, f64)> {
        match self.scope {
            Scope::Layerwise => kinds
                .iter()
                .enumerate()
                .map(|(l, &kind)| (vec![l], self.rate_for(kind)))
                .collect(),
            // Ranked together: the hidden layers (conv layers apart when they have a rate of
            // their own), and the output layer alone.
            Scope::Global => {
                let pool_of = |kind: ParamKind| match kind {
                    ParamKind::Conv if self.conv_rate.is_none() => ParamKind::Dense,
                    other => other,
                };
                let mut groups: Vec<(ParamKind, Vec<usize>)> = Vec::new();
                for (l, &kind) in kinds.iter().enumerate() {
                    let pool = pool_of(kind);
                    match groups.iter_mut().find(|(p, _)| *p == pool) {
                        Some((_, members)) => members.push(l),
                        None => groups.push((pool, vec![l])),
                    }
                }
                groups
                    .into_iter()
                    .map(|(pool, members)| (members, self.rate_for(pool)))
                    .collect()
            }
        }
    }

    /// The target after `rounds` rounds (fractional rounds interpolate geometrically, which is
    /// how a one-shot target density is reached with the same per-layer proportions).
    pub fn target_after(&self, spec: &NetSpec, rounds: f64) -> PruneTarget {
        let params = spec.param_layers();
        let sizes: Vec<usize> = params.iter().map(|p| p.shape.0 * p.shape.1).collect();
        let kinds: Vec<ParamKind> = params.iter().map(|p| p.kind).collect();
        let groups = self
            .groups(&kinds)
            .into_iter()
            .map(|(layers, rate)| {
                let n: usize = layers.iter().map(|&l| sizes[l]).sum();
                let keep = (n as f64 * (1.0 - rate).powf(rounds)).round() as usize;
                Group {
                    layers,
                    keep: keep.min(n),
                }
            })
            .collect();
        PruneTarget { groups }
    }

    /// The (fractional) number of rounds after which the overall density is `density`,
    /// so a one-shot prune lands where the iterative schedule would have.
    pub fn rounds_for_density(&self, spec: &NetSpec, density: f64) -> f64 {
        let total = spec.weight_count() as f64;
        rounds_reaching(density, |r| {
            self.target_after(spec, r).kept() as f64 / total
        })
    }
}

/// The fewest (fractional) rounds after which `density_at` (falling with the rounds) is at or
/// below `density`, by bisection.
pub(crate) fn rounds_reaching(density: f64, density_at: impl Fn(f64) -> f64) -> f64 {
    if density >= 1.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while density_at(hi) > density && hi < 1e4 {
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if density_at(mid) > density {
            lo = mid
        } else {
            hi = mid
        }
    }
    hi
}

impl PruneTarget {
    pub fn kept(&self) -> usize {
        self.groups.iter().map(|g| g.keep).sum()
    }

    /// One group per layer keeping exactly what `mask` keeps (random pruning's target).
    pub fn like(mask: &Mask) -> Self {
        PruneTarget {
            groups: mask
                .kept_per_layer()
                .into_iter()
                .enumerate()
                .map(|(l, keep)| Group {
                    layers: vec![l],
                    keep,
                })
                .collect(),
        }
    }

    /// Every layer at the same density `density` (the sparsity slider).
    pub fn uniform(spec: &NetSpec, density: f64) -> Self {
        let density = density.clamp(0.0, 1.0);
        PruneTarget {
            groups: spec
                .layer_shapes()
                .iter()
                .enumerate()
                .map(|(l, (i, o))| Group {
                    layers: vec![l],
                    keep: ((i * o) as f64 * density).round() as usize,
                })
                .collect(),
        }
    }
}

/// Keep, in each group, the `keep` surviving weights of largest magnitude. Only weights that
/// survive in `current` are candidates, so masks only ever shrink. Ties go to the earlier
/// (layer, index), so the result is deterministic.
pub fn magnitude_prune(net: &Network, current: &Mask, target: &PruneTarget) -> Mask {
    // Each candidate is one u64 that sorts as the order below: |w| descending (the bits of a
    // non-negative f32 order as the float does, NaN last, as `total_cmp`), then its place in
    // the network ascending, (layer, index) flattened. One integer selection instead of tuples
    // under a comparator: a LeNet round's pruning takes about half the time on the thread that
    // draws (4.1-4.4 → 2.2-3.2 ms natively).
    let offsets: Vec<usize> = net
        .layers
        .iter()
        .scan(0, |start, layer| {
            let here = *start;
            *start += layer.weight.len();
            Some(here)
        })
        .collect();
    let mut mask = current.clone();
    for group in &target.groups {
        let mut keys: Vec<u64> = Vec::new();
        for &l in &group.layers {
            let weights = net.layers[l].weight.iter();
            for (i, (&w, &k)) in weights.zip(current.layers[l].iter()).enumerate() {
                if k {
                    let smaller_first = u64::from(0x7fff_ffff - w.abs().to_bits());
                    keys.push(smaller_first << PLACE_BITS | (offsets[l] + i) as u64);
                }
            }
        }
        if group.keep >= keys.len() {
            continue;
        }
        if group.keep > 0 {
            keys.select_nth_unstable(group.keep - 1);
        }
        for &key in &keys[group.keep..] {
            let place = (key & ((1 << PLACE_BITS) - 1)) as usize;
            let l = offsets.partition_point(|&start| start <= place) - 1;
            set(&mut mask.layers[l], place - offsets[l], false);
        }
    }
    mask
}

/// Bits for a weight's place in the network in [`magnitude_prune`]'s keys (8.6 billion
/// weights; the footprint guard stops networks far smaller).
const PLACE_BITS: u32 = 33;

/// [`magnitude_prune`] as first written, with tuples under a comparator: the reference the
/// fast one is tested against.
#[cfg(test)]
fn magnitude_prune_reference(net: &Network, current: &Mask, target: &PruneTarget) -> Mask {
    let mut mask = current.clone();
    for group in &target.groups {
        let mut survivors: Vec<(f32, u32, u32)> = Vec::new();
        for &l in &group.layers {
            let weights = net.layers[l].weight.iter();
            for (i, (&w, &k)) in weights.zip(current.layers[l].iter()).enumerate() {
                if k {
                    survivors.push((w.abs(), l as u32, i as u32));
                }
            }
        }
        keep_first(&mut mask, &mut survivors, group.keep, |a, b| {
            b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)))
        });
    }
    mask
}

/// Keep, in each group, `keep` surviving weights chosen uniformly at random.
pub fn random_prune(current: &Mask, target: &PruneTarget, rng: &mut crate::rng::Rng) -> Mask {
    use rand::seq::SliceRandom as _;
    let mut mask = current.clone();
    for group in &target.groups {
        let mut survivors: Vec<(f32, u32, u32)> = Vec::new();
        for &l in &group.layers {
            for (i, &k) in current.layers[l].iter().enumerate() {
                if k {
                    survivors.push((0.0, l as u32, i as u32));
                }
            }
        }
        survivors.shuffle(rng);
        let keep = group.keep.min(survivors.len());
        for &(_, l, i) in &survivors[keep..] {
            set(&mut mask.layers[l as usize], i as usize, false);
        }
    }
    mask
}

/// Drop every survivor outside the best `keep` under `order`.
fn keep_first(
    mask: &mut Mask,
    survivors: &mut [(f32, u32, u32)],
    keep: usize,
    order: impl Fn(&(f32, u32, u32), &(f32, u32, u32)) -> std::cmp::Ordering,
) {
    if keep >= survivors.len() {
        return;
    }
    if keep > 0 {
        survivors.select_nth_unstable_by(keep - 1, &order);
    }
    for &(_, l, i) in &survivors[keep..] {
        set(&mut mask.layers[l as usize], i as usize, false);
    }
}

fn set(layer: &mut Array2<bool>, flat_index: usize, value: bool) {
    let cols = layer.ncols();
    layer[(flat_index / cols, flat_index % cols)] = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Init;

    #[test]
    fn magnitude_pruning_by_integer_keys_is_the_reference_exactly() {
        let spec = NetSpec::mlp(20, &[16, 12], 5);
        let mut rng = crate::rng::rng(9, "keys");
        for trial in 0..40 {
            let mut net = Network::init(&spec, Init::GlorotNormal, &mut rng);
            // Ties across layers and signs, zeros, and (once) a NaN and infinities.
            for layer in &mut net.layers {
                for (i, w) in layer.weight.iter_mut().enumerate() {
                    if i % 5 == 0 {
                        *w = if i % 2 == 0 { 0.25 } else { -0.25 };
                    } else if i % 7 == 0 {
                        *w = 0.0;
                    }
                }
            }
            if trial == 0 {
                net.layers[1].weight[(0, 0)] = f32::NAN;
                net.layers[2].weight[(1, 1)] = f32::NEG_INFINITY;
            }
            let current = random_prune(
                &Mask::dense(&spec),
                &PruneTarget::uniform(&spec, 0.8),
                &mut rng,
            );
            let global = PruneTarget {
                groups: vec![Group {
                    layers: vec![2, 0, 1],
                    keep: 40 + trial * 5,
                }],
            };
            for target in [global, PruneTarget::uniform(&spec, 0.3)] {
                assert_eq!(
                    magnitude_prune(&net, &current, &target),
                    magnitude_prune_reference(&net, &current, &target),
                    "trial {trial}"
                );
            }
        }
    }

    fn lenet() -> NetSpec {
        NetSpec::mlp(784, &[300, 100], 10)
    }

    fn paper_rates() -> PruneRates {
        PruneRates {
            scope: Scope::Layerwise,
            rate: 0.2,
            output_rate: 0.1,
            conv_rate: None,
        }
    }

    #[test]
    fn layerwise_schedule_matches_the_papers_densities() {
        // science.md: 100, 80.0, 64.1, 51.3, 41.1, 32.9, 26.3, 21.1, 16.9, 13.5, 10.8, 8.7,
        // 7.0, 5.6, 4.5, 3.6, 2.9, 2.3, 1.9, 1.5, 1.2 %.
        let paper = [
            100.0, 80.0, 64.1, 51.3, 41.1, 32.9, 26.3, 21.1, 16.9, 13.5, 10.8, 8.7, 7.0, 5.6, 4.5,
            3.6, 2.9, 2.3, 1.9, 1.5, 1.2,
        ];
        let spec = lenet();
        for (round, &expected) in paper.iter().enumerate() {
            let target = paper_rates().target_after(&spec, round as f64);
            let density = 100.0 * target.kept() as f64 / spec.weight_count() as f64;
            assert!(
                (density - expected).abs() < 0.051,
                "round {round}: {density:.2} vs {expected}"
            );
            // Per layer: round(n (1-p)^r).
            for (group, (n, rate)) in
                target
                    .groups
                    .iter()
                    .zip([(235_200usize, 0.2f64), (30_000, 0.2), (1_000, 0.1)])
            {
                let exact = n as f64 * (1.0 - rate).powi(round as i32);
                assert_eq!(group.keep, exact.round() as usize);
            }
        }
    }

    #[test]
    fn magnitude_pruning_keeps_the_largest_and_only_shrinks() {
        let spec = NetSpec::mlp(20, &[10], 5);
        let net = Network::init(&spec, Init::GlorotNormal, &mut crate::rng::rng(1, "init"));
        let mut mask = Mask::dense(&spec);
        for round in 1..=6 {
            let target = paper_rates().target_after(&spec, round as f64);
            let next = magnitude_prune(&net, &mask, &target);
            assert!(next.is_subset_of(&mask));
            for (l, group) in target.groups.iter().enumerate() {
                assert_eq!(
                    next.kept_per_layer()[l],
                    group.keep,
                    "round {round} layer {l}"
                );
                // Every kept weight is at least as large as every pruned one in that layer.
                let w = &net.layers[l].weight;
                let kept_min = w
                    .iter()
                    .zip(&next.layers[l])
                    .filter(|(_, k)| **k)
                    .map(|(v, _)| v.abs())
                    .fold(f32::INFINITY, f32::min);
                let pruned_max = w
                    .iter()
                    .zip(&next.layers[l])
                    .filter(|(_, k)| !**k)
                    .map(|(v, _)| v.abs())
                    .fold(0.0, f32::max);
                assert!(kept_min >= pruned_max);
            }
            mask = next;
        }
    }

    #[test]
    fn global_pruning_ranks_hidden_layers_together_and_keeps_output_rate() {
        let spec = NetSpec::mlp(30, &[20, 10], 4);
        let mut net = Network::init(&spec, Init::GlorotNormal, &mut crate::rng::rng(2, "init"));
        // Make the second layer's weights all larger than the first's: global pruning must
        // then take everything it removes from the first layer.
        net.layers[1]
            .weight
            .mapv_inplace(|w| w.signum() * (10.0 + w.abs()));
        let rates = PruneRates {
            scope: Scope::Global,
            rate: 0.5,
            output_rate: 0.0,
            conv_rate: None,
        };
        let mask = magnitude_prune(&net, &Mask::dense(&spec), &rates.target_after(&spec, 1.0));
        let kept = mask.kept_per_layer();
        assert_eq!(
            kept[0] + kept[1],
            400,
            "half of the 600 + 200 pooled weights"
        );
        assert_eq!(kept[1], 200, "the large-magnitude layer is untouched");
        assert_eq!(kept[2], 40, "output rate 0 leaves the output layer dense");
    }

    #[test]
    fn one_shot_density_is_reached() {
        let spec = lenet();
        for density in [0.5, 0.2, 0.05, 0.012] {
            let r = paper_rates().rounds_for_density(&spec, density);
            let kept = paper_rates().target_after(&spec, r).kept() as f64;
            let got = kept / spec.weight_count() as f64;
            assert!((got - density).abs() < 1e-4, "{got} vs {density}");
        }
    }

    #[test]
    fn random_pruning_matches_counts_and_is_seeded() {
        let spec = NetSpec::mlp(20, &[10], 5);
        let target = paper_rates().target_after(&spec, 3.0);
        let a = random_prune(
            &Mask::dense(&spec),
            &target,
            &mut crate::rng::rng(4, "mask"),
        );
        let b = random_prune(
            &Mask::dense(&spec),
            &target,
            &mut crate::rng::rng(4, "mask"),
        );
        let c = random_prune(
            &Mask::dense(&spec),
            &target,
            &mut crate::rng::rng(5, "mask"),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a.kept_per_layer(),
            target.groups.iter().map(|g| g.keep).collect::<Vec<_>>()
        );
    }

    #[test]
    fn pruning_a_layer_to_nothing_collapses_it_without_panicking() {
        let spec = NetSpec::mlp(6, &[4], 3);
        let net = Network::init(&spec, Init::GlorotNormal, &mut crate::rng::rng(1, "init"));
        let target = PruneTarget {
            groups: vec![
                Group {
                    layers: vec![0],
                    keep: 0,
                },
                Group {
                    layers: vec![1],
                    keep: 12,
                },
            ],
        };
        let mask = magnitude_prune(&net, &Mask::dense(&spec), &target);
        assert_eq!(mask.collapsed_layers(), vec![0]);
    }
}

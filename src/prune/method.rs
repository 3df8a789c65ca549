//! How a round's weights are chosen: by magnitude after training (iterative magnitude
//! pruning, the ticket), or by a score at initialisation (SNIP, GraSP, SynFlow, magnitude at
//! θ₀, random). A new method is a file beside this one with its score, and one variant here.
//!
//! Methods at initialisation rank every layer's weights together (the output layer too), as
//! their papers do: a layer can lose more than others, and at extreme sparsity lose all of
//! its weights (layer collapse).

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::model::Mask;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PruneMethod {
    /// Train, prune the smallest weights, reset, retrain: the Lottery Ticket procedure.
    #[default]
    Magnitude,
    /// |θ₀|: the smallest initial weights, before any training (a baseline).
    InitMagnitude,
    /// Uniformly at random, before any training (a baseline).
    Random,
    /// SNIP (Lee et al. 2019): |g ⊙ θ₀| on a batch, the loss's sensitivity to each weight.
    Snip,
    /// GraSP (Wang et al. 2020): −θ₀ ⊙ Hg, prune the largest (the weights whose removal
    /// reduces the gradient flow least are kept).
    Grasp,
    /// SynFlow (Tanaka et al. 2020): data-free, |θ ⊙ ∂R/∂θ| for R = 1ᵀ(∏|θ|)1, iterated.
    Synflow,
}

impl PruneMethod {
    pub const ALL: [PruneMethod; 6] = [
        PruneMethod::Magnitude,
        PruneMethod::InitMagnitude,
        PruneMethod::Random,
        PruneMethod::Snip,
        PruneMethod::Grasp,
        PruneMethod::Synflow,
    ];

    /// Its word in links, the CLI and files.
    pub fn key(self) -> &'static str {
        match self {
            PruneMethod::Magnitude => "magnitude",
            PruneMethod::InitMagnitude => "init-magnitude",
            PruneMethod::Random => "random",
            PruneMethod::Snip => "snip",
            PruneMethod::Grasp => "grasp",
            PruneMethod::Synflow => "synflow",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }

    /// Its name on screen (the main run's legend).
    pub fn label(self) -> &'static str {
        match self {
            PruneMethod::Magnitude => "IMP (magnitude)",
            PruneMethod::InitMagnitude => "magnitude at init",
            PruneMethod::Random => "random at init",
            PruneMethod::Snip => "SNIP",
            PruneMethod::Grasp => "GraSP",
            PruneMethod::Synflow => "SynFlow",
        }
    }

    /// What it ranks, in a sentence for the setup panel and the README.
    pub fn explanation(self) -> &'static str {
        match self {
            PruneMethod::Magnitude => {
                "train, remove the smallest trained weights, reset the rest to θ₀, retrain (the lottery ticket)"
            }
            PruneMethod::InitMagnitude => {
                "keep the largest |θ₀|, chosen before training, all layers ranked together"
            }
            PruneMethod::Random => "keep weights chosen uniformly at random before training",
            PruneMethod::Snip => {
                "keep the largest |g × θ₀| (g: the loss's gradient on one batch at θ₀), all layers ranked together"
            }
            PruneMethod::Grasp => {
                "remove the largest -θ₀ × Hg (Hg by a central difference of two gradients), all layers ranked together"
            }
            PruneMethod::Synflow => {
                "data-free: keep the largest |θ × dR/dθ|, R the output of |θ| on an all-ones input, over 100 pruning steps; all layers ranked together"
            }
        }
    }

    /// Chosen before training, from θ₀ (not by IMP).
    pub fn at_init(self) -> bool {
        self != PruneMethod::Magnitude
    }

    /// Needs the loss's gradient at θ₀ (the engine's gradient job).
    pub fn needs_gradients(self) -> bool {
        matches!(self, PruneMethod::Snip | PruneMethod::Grasp)
    }
}

/// One score per weight, shaped like the weights (larger = keep).
pub type Scores = Vec<Array2<f32>>;

/// Keep the `keep` surviving weights of highest score, every layer ranked together. Ties (and
/// NaN scores, ranked lowest) go to the earlier (layer, index): deterministic.
pub fn keep_top_global(scores: &Scores, current: &Mask, keep: usize) -> Mask {
    let mut survivors: Vec<(f32, u32, u32)> = Vec::new();
    for (l, (layer, mask)) in scores.iter().zip(&current.layers).enumerate() {
        for (i, (&s, &k)) in layer.iter().zip(mask.iter()).enumerate() {
            if k {
                let s = if s.is_nan() { f32::NEG_INFINITY } else { s };
                survivors.push((s, l as u32, i as u32));
            }
        }
    }
    let mut mask = current.clone();
    super::keep_first(&mut mask, &mut survivors, keep, |a, b| {
        b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)))
    });
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetSpec;

    #[test]
    fn every_method_reads_back_its_key() {
        for m in PruneMethod::ALL {
            assert_eq!(PruneMethod::from_key(m.key()), Some(m));
        }
        assert_eq!(PruneMethod::from_key("sideways"), None);
    }

    #[test]
    fn global_ranking_keeps_the_top_scores_across_layers() {
        let spec = NetSpec::mlp(3, &[2], 2);
        let mut scores: Scores = spec.layer_shapes().into_iter().map(Array2::zeros).collect();
        // The four largest scores: three in the output layer, one in the first.
        scores[1].assign(&ndarray::array![[9.0, 8.0], [7.0, 0.5]]);
        scores[0][(2, 1)] = 5.0;
        scores[0][(0, 0)] = f32::NAN;
        let mask = keep_top_global(&scores, &Mask::dense(&spec), 4);
        assert_eq!(mask.kept_per_layer(), vec![1, 3]);
        assert!(mask.layers[0][(2, 1)] && !mask.layers[0][(0, 0)]);
        assert!(!mask.layers[1][(1, 1)]);
    }
}

//! The network: its layers ([`NetSpec`]), its parameters ([`Network`]), which weights survive
//! ([`Mask`]) and the one forward pass every view uses ([`infer`]). Weights are stored
//! `[fan_in, fan_out]` (conv layers: `[taps · in_channels, out_channels]`) so that the forward
//! product `x · W` needs no transpose.

pub mod attribution;
pub mod encoding;
pub mod footprint;
pub mod infer;
mod layers;
mod mask;
pub mod metrics;
pub mod ops;

pub use layers::{
    ConvGeometry, LayerSpec, LayerTokenError, NetSpec, ParamKind, ParamLayer, PlannedLayer,
    PlannedOp, PoolGeometry, Shape, SpecError, dense_layers, layers_text, parse_layers,
};
pub use mask::Mask;

use ndarray::{Array1, Array2};
use rand_distr::{Distribution as _, Normal};
use serde::{Deserialize, Serialize};

/// Weight initialisation. Biases start at zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// N(0, 2 / (fan_in + fan_out)): the Lottery Ticket paper's "Gaussian Glorot".
    GlorotNormal,
    /// N(0, 2 / fan_in): He et al., suited to ReLU.
    KaimingNormal,
}

impl Init {
    pub fn std(self, fan_in: usize, fan_out: usize) -> f32 {
        match self {
            Init::GlorotNormal => (2.0 / (fan_in + fan_out) as f32).sqrt(),
            Init::KaimingNormal => (2.0 / fan_in as f32).sqrt(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// `[fan_in, fan_out]`.
    #[serde(with = "encoding::array2_f32")]
    pub weight: Array2<f32>,
    #[serde(with = "encoding::array1_f32")]
    pub bias: Array1<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub spec: NetSpec,
    /// The parametric layers' weights, in the order of [`NetSpec::param_layers`].
    pub layers: Vec<Layer>,
}

impl Network {
    /// Fresh weights drawn from `init` with the generator `rng`.
    pub fn init(spec: &NetSpec, init: Init, rng: &mut crate::rng::Rng) -> Self {
        let layers = spec
            .param_layers()
            .into_iter()
            .map(|param| {
                let (fan_in, fan_out) = param.shape;
                let (init_in, init_out) = param.fans;
                // A zero fan (an unchecked spec) must not make the std infinite.
                let std = init.std(init_in.max(1), init_out.max(1));
                let normal =
                    Normal::new(0.0, std).unwrap_or(Normal::new(0.0, 0.0).expect("0 is a std"));
                Layer {
                    weight: Array2::from_shape_simple_fn((fan_in, fan_out), || normal.sample(rng)),
                    bias: Array1::zeros(fan_out),
                }
            })
            .collect();
        Self {
            spec: spec.clone(),
            layers,
        }
    }

    /// Zero the pruned weights (`w ⊙ m`).
    pub fn apply_mask(&mut self, mask: &Mask) {
        for (layer, keep) in self.layers.iter_mut().zip(&mask.layers) {
            ndarray::Zip::from(&mut layer.weight)
                .and(keep)
                .for_each(|w, &k| {
                    if !k {
                        *w = 0.0;
                    }
                });
        }
    }

    /// These weights with `mask` applied, leaving `self` untouched.
    pub fn masked(&self, mask: &Mask) -> Self {
        let mut net = self.clone();
        net.apply_mask(mask);
        net
    }

    pub fn is_finite(&self) -> bool {
        self.layers
            .iter()
            .all(|l| l.weight.iter().chain(l.bias.iter()).all(|v| v.is_finite()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenet_300_100_has_266200_weights() {
        let spec = NetSpec::mlp(784, &[300, 100], 10);
        assert_eq!(spec.weight_count(), 266_200);
        assert_eq!(spec.layer_shapes(), vec![(784, 300), (300, 100), (100, 10)]);
        assert_eq!(spec.label(), "784-300-100-10");
    }

    #[test]
    fn glorot_init_has_the_stated_spread_and_is_seeded() {
        let spec = NetSpec::mlp(784, &[300], 10);
        let a = Network::init(&spec, Init::GlorotNormal, &mut crate::rng::rng(3, "init"));
        let b = Network::init(&spec, Init::GlorotNormal, &mut crate::rng::rng(3, "init"));
        assert_eq!(a, b);
        let w = &a.layers[0].weight;
        let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
        let expected = (2.0f32 / (784.0 + 300.0)).sqrt();
        assert!(
            (std / expected - 1.0).abs() < 0.02,
            "std {std} vs {expected}"
        );
        assert!(a.layers[0].bias.iter().all(|&b| b == 0.0));
    }

    #[test]
    fn network_round_trips_through_json_bit_for_bit() {
        let spec = NetSpec::mlp(5, &[4], 3);
        let net = Network::init(&spec, Init::KaimingNormal, &mut crate::rng::rng(1, "init"));
        let json = serde_json::to_string(&net).unwrap();
        let back: Network = serde_json::from_str(&json).unwrap();
        assert_eq!(net, back);
    }
}

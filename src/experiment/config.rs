//! An experiment's whole config: with the seed it identifies the result.

use serde::{Deserialize, Serialize};

use crate::data::DatasetConfig;
use crate::model::{Init, LayerSpec, NetSpec, Shape};
use crate::prune::{Granularity, PruneMethod, PruneRates, Scope};
use crate::train::Optimizer;

/// Where the surviving weights start the next round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ResetMode {
    /// Back to theta_0: the winning-ticket procedure.
    Init,
    /// Back to theta_k, the weights after `iteration` steps of the dense run (late rewinding).
    Rewind { iteration: usize },
    /// Fresh random weights each round (the control, as the main procedure).
    Reinit,
    /// Keep the trained values and train on (fine-tuning).
    FineTune,
}

impl ResetMode {
    pub fn label(&self) -> String {
        match self {
            ResetMode::Init => "reset to θ₀".into(),
            ResetMode::Rewind { iteration } => format!("rewind to θ_{iteration}"),
            ResetMode::Reinit => "random re-init".into(),
            ResetMode::FineTune => "fine-tune (no reset)".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// `rounds` rounds, each pruning `rate` of the remaining weights.
    Iterative { rounds: usize },
    /// One round straight to `density` (fraction kept, e.g. 0.1).
    OneShot { density: f64 },
}

/// Which controls run beside the ticket, each round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controls {
    /// Same mask, fresh random weights.
    pub reinit: bool,
    /// Same per-layer density, random mask, the ticket's starting weights.
    pub random_prune: bool,
    /// Prune the dense trained network straight to this round's density, then reset.
    pub one_shot: bool,
    /// Beside structured or N:M pruning: the dense trained network's unstructured magnitude
    /// mask at the same per-layer densities, from the same start (absent in older files).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unstructured: bool,
    /// In round 1: the dense trained network's 2:4 mask from the ticket's start (its density
    /// is fixed at 50%), a point beside any curve (absent in older files).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub two_four: bool,
    /// A dense network with narrower hidden layers and as many weights as the ticket, freshly
    /// initialised ("search vs shrink": is the ticket better than a small net of its size?)
    /// (absent in older files).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub small_dense: bool,
}

impl Controls {
    pub const ALL: Controls = Controls {
        reinit: true,
        random_prune: true,
        one_shot: true,
        unstructured: false,
        two_four: false,
        small_dense: false,
    };
    pub const NONE: Controls = Controls {
        reinit: false,
        random_prune: false,
        one_shot: false,
        unstructured: false,
        two_four: false,
        small_dense: false,
    };
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    pub dataset: DatasetConfig,
    /// The hidden layers (dense widths, conv and pooling layers); input and output follow
    /// from the data. Written as tokens: `[300, 100]`, `["conv8k3", "pool2", 64]`.
    pub hidden: Vec<LayerSpec>,
    pub init: Init,
    pub optimizer: Optimizer,
    pub batch_size: usize,
    /// Training iterations per run (every round retrains this long).
    pub iterations: usize,
    /// Evaluate on validation and test every this many iterations.
    pub eval_every: usize,
    pub pruning: PruneRates,
    /// How each round's weights are chosen: IMP by magnitude (the default), or a score at
    /// initialisation; absent in files made before methods existed.
    #[serde(default, skip_serializing_if = "is_magnitude")]
    pub method: PruneMethod,
    /// How pruned weights are grouped: any weight (the default), or N of every M inputs
    /// (one round: the density is fixed near N/M).
    #[serde(default, skip_serializing_if = "is_unstructured")]
    pub granularity: Granularity,
    /// Search for an early-bird ticket at this density during the dense run (`None`: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_bird: Option<f64>,
    pub schedule: Schedule,
    pub reset: ResetMode,
    pub controls: Controls,
    pub seed: u64,
    /// Keep each run's trained weights in the record (heatmaps need them; files get large).
    pub keep_weights: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

fn check(
    ok: bool,
    field: &'static str,
    message: impl FnOnce() -> String,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError {
            field,
            message: message(),
        })
    }
}

pub const MAX_ROUNDS: usize = 40;
pub const MAX_WIDTH: usize = 4_096;
pub const MAX_CHANNELS: usize = 256;
pub const MAX_KERNEL: usize = 11;
pub const MAX_LAYERS: usize = 8;
pub const MAX_ITERATIONS: usize = 1_000_000;

impl ExperimentConfig {
    /// Every problem is reported by the field's name and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.dataset.validate().map_err(|e| ConfigError {
            field: "dataset",
            message: e.to_string(),
        })?;
        check(
            !self.hidden.is_empty() && self.hidden.len() <= MAX_LAYERS,
            "hidden",
            || {
                format!(
                    "between 1 and {MAX_LAYERS} hidden layers, not {}",
                    self.hidden.len()
                )
            },
        )?;
        for layer in &self.hidden {
            let ok = match *layer {
                LayerSpec::Dense { units } => (1..=MAX_WIDTH).contains(&units),
                LayerSpec::Conv {
                    channels,
                    kernel,
                    stride,
                    padding,
                } => {
                    (1..=MAX_CHANNELS).contains(&channels)
                        && (1..=MAX_KERNEL).contains(&kernel)
                        && (1..=kernel).contains(&stride)
                        && padding < kernel
                }
                LayerSpec::MaxPool { size } => (1..=MAX_KERNEL).contains(&size),
                LayerSpec::Flatten => true,
            };
            check(ok, "hidden", || {
                format!(
                    "{}: dense widths 1 to {MAX_WIDTH}; conv channels 1 to {MAX_CHANNELS}, kernel 1 to {MAX_KERNEL}, stride 1 to the kernel, padding below the kernel; pool 1 to {MAX_KERNEL}",
                    layer.token()
                )
            })?;
        }
        let lr = self.optimizer.lr();
        check(lr.is_finite() && lr > 0.0, "lr", || {
            format!("the learning rate must be a positive number, not {lr}")
        })?;
        match self.optimizer {
            Optimizer::Sgd { momentum, .. } => {
                check((0.0..1.0).contains(&momentum), "momentum", || {
                    format!("momentum must be in [0, 1), not {momentum}")
                })?;
            }
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => {
                check(
                    (0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2),
                    "betas",
                    || format!("Adam's betas must be in [0, 1), not {beta1}, {beta2}"),
                )?;
                check(eps.is_finite() && eps > 0.0, "eps", || {
                    format!("eps must be positive, not {eps}")
                })?;
            }
        }
        check((1..=4_096).contains(&self.batch_size), "batch", || {
            format!(
                "batch size must be between 1 and 4096, not {}",
                self.batch_size
            )
        })?;
        check(
            (1..=MAX_ITERATIONS).contains(&self.iterations),
            "iterations",
            || {
                format!(
                    "iterations must be between 1 and {MAX_ITERATIONS}, not {}",
                    self.iterations
                )
            },
        )?;
        check(self.eval_every >= 1, "eval-every", || {
            "must be at least 1".into()
        })?;
        let rates_ok = |r: f64| (0.0..1.0).contains(&r);
        check(
            rates_ok(self.pruning.rate)
                && rates_ok(self.pruning.output_rate)
                && self.pruning.conv_rate.is_none_or(rates_ok),
            "rate",
            || {
                format!(
                    "pruning rates are fractions in [0, 1), not {} / {}",
                    self.pruning.rate, self.pruning.output_rate
                )
            },
        )?;
        match self.schedule {
            Schedule::Iterative { rounds } => check(rounds <= MAX_ROUNDS, "rounds", || {
                format!("at most {MAX_ROUNDS} rounds, not {rounds}")
            })?,
            Schedule::OneShot { density } => {
                check(density > 0.0 && density <= 1.0, "density", || {
                    format!("the one-shot density must be in (0, 1], not {density}")
                })?
            }
        }
        check(
            !self.method.at_init()
                || matches!(self.reset, ResetMode::Init | ResetMode::Rewind { .. }),
            "method",
            || {
                format!(
                    "a mask chosen at initialisation ({}) is trained from θ₀ (reset=init) or θ_K (rewind), not with {}",
                    self.method.label(),
                    self.reset.label()
                )
            },
        )?;
        if let Granularity::NOfM { n, m } = self.granularity {
            check(
                (1..=32).contains(&m) && (1..m).contains(&n),
                "granularity",
                || format!("N:M sparsity keeps N of every M with 1 ≤ N < M ≤ 32, not {n}:{m}"),
            )?;
            check(!self.method.at_init(), "granularity", || {
                format!(
                    "N:M sparsity chooses by magnitude from the trained network, not with {}",
                    self.method.label()
                )
            })?;
        }
        if self.granularity == Granularity::Neurons {
            check(!self.method.at_init(), "granularity", || {
                format!(
                    "structured pruning ranks the trained network's units by their norm, not with {}",
                    self.method.label()
                )
            })?;
            check(
                self.pruning.scope == Scope::Layerwise,
                "granularity",
                || {
                    "structured pruning ranks units within each layer: scope must be layerwise"
                        .into()
                },
            )?;
        }
        if let Some(density) = self.early_bird {
            check(density > 0.0 && density < 1.0, "early_bird", || {
                format!("the early-bird density must be in (0, 1), not {density}")
            })?;
        }
        if let ResetMode::Rewind { iteration } = self.reset {
            check(iteration <= self.iterations, "rewind", || {
                format!("rewinding to iteration {iteration} needs at least that many iterations")
            })?;
        }
        Ok(())
    }

    /// The network for this config's data (input shape and classes from the dataset).
    pub fn spec(&self, data: &crate::data::DataSplits) -> NetSpec {
        NetSpec::new(input_shape(data), &self.hidden, data.n_classes)
    }

    /// The network for data of this layout ([`crate::data::DatasetConfig::layout`]).
    pub fn spec_for(&self, layout: &(crate::data::DataShape, usize)) -> NetSpec {
        let shape = shape_of(&layout.0, layout.0.features());
        NetSpec::new(shape, &self.hidden, layout.1)
    }

    /// The fraction of weights the pruning schedule leaves after its last round, each layer
    /// kind at its own rate.
    pub fn final_density(&self, spec: &NetSpec) -> f64 {
        if let Granularity::NOfM { n, m } = self.granularity {
            return n as f64 / m as f64;
        }
        let rounds = match self.schedule {
            Schedule::Iterative { rounds } => rounds as f64,
            Schedule::OneShot { density } if self.granularity == Granularity::Weights => {
                return density;
            }
            Schedule::OneShot { density } => {
                crate::prune::unit_rounds_for_density(spec, &self.pruning, density)
            }
        };
        if self.granularity == Granularity::Neurons {
            return crate::prune::structured_density(
                spec,
                &crate::prune::unit_counts(spec, &self.pruning, rounds),
            );
        }
        let total = spec.weight_count().max(1);
        self.pruning.target_after(spec, rounds).kept() as f64 / total as f64
    }

    /// The kinds of run this config trains (in some round), in the order views list them.
    pub fn run_kinds(&self) -> Vec<super::RunKind> {
        use super::RunKind;
        let c = self.controls;
        [
            (RunKind::Ticket, true),
            (RunKind::Reinit, c.reinit),
            (RunKind::RandomPrune, c.random_prune),
            (RunKind::OneShot, c.one_shot),
            (RunKind::EarlyBird, self.early_bird.is_some()),
            (
                RunKind::Unstructured,
                c.unstructured && self.granularity != Granularity::Weights,
            ),
            (
                RunKind::TwoFour,
                c.two_four && !matches!(self.granularity, Granularity::NOfM { .. }),
            ),
            (RunKind::SmallDense, c.small_dense),
        ]
        .into_iter()
        .filter_map(|(kind, runs)| runs.then_some(kind))
        .collect()
    }

    /// Whether runs of `kind` train a physically smaller dense network (structured pruning's
    /// runs, the small dense control): the engine gets the network cut down to its kept
    /// units, and views name that network.
    pub fn trains_smaller_network(&self, kind: super::RunKind) -> bool {
        self.granularity == Granularity::Neurons || kind == super::RunKind::SmallDense
    }

    pub fn rounds(&self) -> usize {
        if matches!(self.granularity, Granularity::NOfM { .. }) {
            return 1;
        }
        match self.schedule {
            Schedule::Iterative { rounds } => rounds,
            Schedule::OneShot { .. } => 1,
        }
    }

    /// The paper's LeNet-300-100 recipe on our 7,000 training digits.
    pub fn lenet_mnist() -> Self {
        Self {
            dataset: DatasetConfig::Mnist,
            hidden: vec![LayerSpec::dense(300), LayerSpec::dense(100)],
            init: Init::GlorotNormal,
            optimizer: Optimizer::adam(1.2e-3),
            batch_size: 60,
            // The paper trains 50,000 iterations on 55,000 digits (~55 epochs); the same
            // number of epochs on our 7,000 training digits is 6,400 iterations.
            iterations: 6_400,
            eval_every: 200,
            pruning: PruneRates {
                scope: Scope::Layerwise,
                rate: 0.2,
                output_rate: 0.1,
                conv_rate: None,
            },
            method: PruneMethod::Magnitude,
            granularity: Granularity::Weights,
            early_bird: None,
            schedule: Schedule::Iterative { rounds: 15 },
            reset: ResetMode::Init,
            controls: Controls::ALL,
            seed: 1,
            keep_weights: true,
        }
    }
}

fn is_unstructured(granularity: &Granularity) -> bool {
    *granularity == Granularity::Weights
}

fn is_magnitude(method: &PruneMethod) -> bool {
    *method == PruneMethod::Magnitude
}

/// What a conv layer slides over: digits are 28×28 images, MNIST-1D a 1-D signal; other data
/// is flat.
pub fn input_shape(data: &crate::data::DataSplits) -> Shape {
    shape_of(&data.shape, data.input_dim())
}

/// [`input_shape`] from a data shape alone (before the data is built).
pub fn shape_of(data: &crate::data::DataShape, features: usize) -> Shape {
    let shape = match *data {
        crate::data::DataShape::Image { width, height } => Shape {
            height,
            width,
            channels: 1,
        },
        crate::data::DataShape::Signal { length } => Shape {
            height: 1,
            width: length,
            channels: 1,
        },
        _ => Shape::flat(features),
    };
    // A shape that does not account for every feature is treated as flat.
    if shape.len() == features {
        shape
    } else {
        Shape::flat(features)
    }
}

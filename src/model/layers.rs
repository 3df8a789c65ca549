//! A network as a list of layers: [`LayerSpec`] (what a config, a link and the CLI name) and
//! [`NetSpec::plan`] (every layer's input and output shape, worked out once).
//!
//! Activations are stored channels-last (`[height, width, channels]` per sample, row-major),
//! so that an output position's channels are contiguous (one vector in the CPU kernels) and
//! a conv layer's weights are one matrix `[taps · in_channels, out_channels]`.
//! Every parametric layer (dense or conv) therefore keeps its weights as a matrix
//! `[fan_in, fan_out]`, and masks, pruning, encodings and heatmaps need no per-kind code.
//!
//! A convolution or pooling layer is 1-D when its input has height 1 (a signal such as
//! MNIST-1D: kernel `1 × k`) and 2-D otherwise (digits: kernel `k × k`).
//!
//! A layer is written as a short token, the same in JSON, links and the CLI: `300` (dense, 300
//! units), `conv16k3` (16 channels, kernel 3; `s2` stride, `p1` padding may follow), `pool2`
//! (max-pool 2, stride 2), `flatten`. A dense layer is written as a bare number, so an MLP's
//! `hidden: [300, 100]` reads the same as it always has.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One hidden layer. ReLU follows every dense and conv layer; the output layer (dense, one
/// unit per class, no ReLU) is not in the list: it follows from the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerSpec {
    Dense {
        units: usize,
    },
    Conv {
        channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// Max over `size × size` windows (`1 × size` on a signal), stride `size`.
    MaxPool {
        size: usize,
    },
    /// Marks where the spatial part ends; the memory layout needs no change (dense layers
    /// read any input as a flat vector).
    Flatten,
}

impl LayerSpec {
    pub fn dense(units: usize) -> Self {
        LayerSpec::Dense { units }
    }

    pub fn conv(channels: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        LayerSpec::Conv {
            channels,
            kernel,
            stride,
            padding,
        }
    }

    /// Does it look at space (needs an image or a signal as input)?
    pub fn is_spatial(&self) -> bool {
        matches!(self, LayerSpec::Conv { .. } | LayerSpec::MaxPool { .. })
    }

    /// The token: `300`, `conv16k3`, `conv25k5s2p2`, `pool2`, `flatten`.
    pub fn token(&self) -> String {
        match *self {
            LayerSpec::Dense { units } => units.to_string(),
            LayerSpec::Conv {
                channels,
                kernel,
                stride,
                padding,
            } => {
                let mut t = format!("conv{channels}k{kernel}");
                if stride != 1 {
                    t += &format!("s{stride}");
                }
                if padding != 0 {
                    t += &format!("p{padding}");
                }
                t
            }
            LayerSpec::MaxPool { size } => format!("pool{size}"),
            LayerSpec::Flatten => "flatten".into(),
        }
    }

    /// Reads a token (see [`LayerSpec::token`]); the error says what was expected.
    pub fn parse(token: &str) -> Result<Self, LayerTokenError> {
        let t = token.trim().to_ascii_lowercase();
        let expected = || LayerTokenError {
            token: token.chars().take(40).collect(),
        };
        if let Ok(units) = t.parse::<usize>() {
            return Ok(LayerSpec::Dense { units });
        }
        if t == "flatten" {
            return Ok(LayerSpec::Flatten);
        }
        if let Some(size) = t.strip_prefix("pool") {
            return size
                .parse()
                .map(|size| LayerSpec::MaxPool { size })
                .map_err(|_| expected());
        }
        let Some(rest) = t.strip_prefix("conv") else {
            return Err(expected());
        };
        // conv<c>k<k>[s<s>][p<p>]: numbers, each after its letter.
        let mut fields = [None::<usize>; 4]; // c, k, s, p
        let mut slot = 0;
        let mut digits = String::new();
        let flush = |slot: usize, digits: &mut String, fields: &mut [Option<usize>; 4]| {
            if digits.is_empty() || fields[slot].is_some() {
                return false;
            }
            fields[slot] = digits.parse().ok();
            digits.clear();
            fields[slot].is_some()
        };
        for ch in rest.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let next = match ch {
                'k' => 1,
                's' => 2,
                'p' => 3,
                _ => return Err(expected()),
            };
            if next <= slot || !flush(slot, &mut digits, &mut fields) {
                return Err(expected());
            }
            slot = next;
        }
        if !flush(slot, &mut digits, &mut fields) {
            return Err(expected());
        }
        match fields {
            [Some(channels), Some(kernel), stride, padding] => Ok(LayerSpec::Conv {
                channels,
                kernel,
                stride: stride.unwrap_or(1),
                padding: padding.unwrap_or(0),
            }),
            _ => Err(expected()),
        }
    }
}

/// A token that is not a layer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "'{token}' is not a layer: write a width (300), conv<channels>k<kernel>[s<stride>][p<padding>] (conv16k3), pool<size> (pool2) or flatten"
)]
pub struct LayerTokenError {
    pub token: String,
}

/// Dense layers of these widths (an MLP's hidden layers).
pub fn dense_layers(widths: &[usize]) -> Vec<LayerSpec> {
    widths
        .iter()
        .map(|&units| LayerSpec::dense(units))
        .collect()
}

/// Reads a comma-separated layer list (`conv16k3,pool2,64`), naming the first bad token.
pub fn parse_layers(text: &str) -> Result<Vec<LayerSpec>, LayerTokenError> {
    text.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(LayerSpec::parse)
        .collect()
}

/// The comma-separated form [`parse_layers`] reads.
pub fn layers_text(layers: &[LayerSpec]) -> String {
    layers
        .iter()
        .map(LayerSpec::token)
        .collect::<Vec<_>>()
        .join(",")
}

// A dense layer serialises as its width (old MLP files read unchanged), the others as tokens.
impl Serialize for LayerSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            LayerSpec::Dense { units } => s.serialize_u64(units as u64),
            _ => s.serialize_str(&self.token()),
        }
    }
}

impl<'de> Deserialize<'de> for LayerSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Units(usize),
            Token(String),
        }
        match Repr::deserialize(d)? {
            Repr::Units(units) => Ok(LayerSpec::Dense { units }),
            Repr::Token(t) => LayerSpec::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// A sample's shape, channels-last. Flat features are `1 × 1 × n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl Shape {
    pub fn flat(n: usize) -> Self {
        Self {
            height: 1,
            width: 1,
            channels: n,
        }
    }

    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Has it a spatial extent a kernel can slide over?
    pub fn is_spatial(&self) -> bool {
        self.height * self.width > 1
    }

    pub fn label(&self) -> String {
        match (self.height, self.width) {
            (1, 1) => format!("{}", self.channels),
            (1, w) => format!("{w}×{}", self.channels),
            (h, w) => format!("{h}×{w}×{}", self.channels),
        }
    }
}

/// How a convolution slides over its input (1-D convolutions have `kernel_h = 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub input: Shape,
    pub output: Shape,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}

impl ConvGeometry {
    /// Rows of the weight matrix: one per tap and input channel.
    pub fn taps(&self) -> usize {
        self.kernel_h * self.kernel_w * self.input.channels
    }

    /// Output positions per sample.
    pub fn positions(&self) -> usize {
        self.output.height * self.output.width
    }
}

/// Max-pooling windows (non-overlapping; a ragged edge is dropped, as PyTorch's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub input: Shape,
    pub output: Shape,
    pub size_h: usize,
    pub size_w: usize,
}

/// One layer of a planned network, with its shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlannedOp {
    /// `[fan_in, fan_out]` weights; `relu` on all but the output layer.
    Dense {
        fan_in: usize,
        fan_out: usize,
        relu: bool,
    },
    /// Followed by ReLU.
    Conv(ConvGeometry),
    MaxPool(PoolGeometry),
    Flatten,
}

/// A layer with its place in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedLayer {
    pub op: PlannedOp,
    pub input: Shape,
    pub output: Shape,
    /// Index of its weights among the network's parametric layers.
    pub param: Option<usize>,
}

/// Which kind of weights a parametric layer has: pruning rates differ per kind (conv layers
/// 10-15%, dense 20%, output 10% in the paper).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamKind {
    Dense,
    Conv,
    Output,
}

/// A parametric layer's weights: matrix shape and the fans its initialisation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamLayer {
    pub kind: ParamKind,
    /// `(fan_in, fan_out)` of the weight matrix (conv: `(taps · in_channels, out_channels)`).
    pub shape: (usize, usize),
    /// Glorot / Kaiming fans (conv: PyTorch's `in_channels · taps`, `out_channels · taps`).
    pub fans: (usize, usize),
    /// For conv layers: the geometry, so views can draw each filter as a tile.
    pub conv: Option<ConvGeometry>,
}

/// Why a layer list does not fit its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("layer {index} ({token}): {reason}")]
    Layer {
        index: usize,
        token: String,
        reason: String,
    },
    #[error("the network has no input features")]
    NoInput,
}

/// The whole network: its input, hidden layers and output width.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Input features per sample.
    pub input: usize,
    /// The features' spatial shape (images, signals); flat when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Shape>,
    pub hidden: Vec<LayerSpec>,
    pub output: usize,
}

impl NetSpec {
    /// A multilayer perceptron on flat features.
    pub fn mlp(input: usize, hidden: &[usize], output: usize) -> Self {
        Self {
            input,
            input_shape: None,
            hidden: dense_layers(hidden),
            output,
        }
    }

    /// Any layer list on input of the given shape.
    pub fn new(input: Shape, hidden: &[LayerSpec], output: usize) -> Self {
        Self {
            input: input.len(),
            input_shape: input.is_spatial().then_some(input),
            hidden: hidden.to_vec(),
            output,
        }
    }

    pub fn input_shape(&self) -> Shape {
        self.input_shape.unwrap_or(Shape::flat(self.input))
    }

    /// Only dense layers (the network every engine trains).
    pub fn is_mlp(&self) -> bool {
        self.hidden
            .iter()
            .all(|l| matches!(l, LayerSpec::Dense { .. } | LayerSpec::Flatten))
    }

    /// Every layer with its shapes, the output layer last. Never fails: a layer that does not
    /// fit gets an empty output, which [`NetSpec::check`] reports.
    pub fn plan(&self) -> Vec<PlannedLayer> {
        let mut shape = self.input_shape();
        let mut params = 0;
        let mut layers = Vec::with_capacity(self.hidden.len() + 1);
        let mut push = |op: PlannedOp, input: Shape, output: Shape, parametric: bool| {
            let param = parametric.then(|| {
                params += 1;
                params - 1
            });
            layers.push(PlannedLayer {
                op,
                input,
                output,
                param,
            });
            output
        };
        for layer in &self.hidden {
            let input = shape;
            // 1-D when the input is a signal (height 1).
            let one_d = input.height == 1;
            shape = match *layer {
                LayerSpec::Dense { units } => push(
                    PlannedOp::Dense {
                        fan_in: input.len(),
                        fan_out: units,
                        relu: true,
                    },
                    input,
                    Shape::flat(units),
                    true,
                ),
                LayerSpec::Conv {
                    channels,
                    kernel,
                    stride,
                    padding,
                } => {
                    let (kernel_h, stride_h, pad_h) = if one_d {
                        (1, 1, 0)
                    } else {
                        (kernel, stride, padding)
                    };
                    let out_len = |n: usize, k: usize, s: usize, p: usize| {
                        (n + 2 * p)
                            .checked_sub(k)
                            .map_or(0, |span| span / s.max(1) + 1)
                    };
                    let output = Shape {
                        height: out_len(input.height, kernel_h, stride_h, pad_h),
                        width: out_len(input.width, kernel, stride, padding),
                        channels,
                    };
                    let geometry = ConvGeometry {
                        input,
                        output,
                        kernel_h,
                        kernel_w: kernel,
                        stride_h: stride_h.max(1),
                        stride_w: stride.max(1),
                        pad_h,
                        pad_w: padding,
                    };
                    push(PlannedOp::Conv(geometry), input, output, true)
                }
                LayerSpec::MaxPool { size } => {
                    let size_h = if one_d { 1 } else { size };
                    let output = Shape {
                        height: input.height / size_h.max(1),
                        width: input.width / size.max(1),
                        channels: input.channels,
                    };
                    let geometry = PoolGeometry {
                        input,
                        output,
                        size_h: size_h.max(1),
                        size_w: size.max(1),
                    };
                    push(PlannedOp::MaxPool(geometry), input, output, false)
                }
                LayerSpec::Flatten => {
                    push(PlannedOp::Flatten, input, Shape::flat(input.len()), false)
                }
            };
        }
        push(
            PlannedOp::Dense {
                fan_in: shape.len(),
                fan_out: self.output,
                relu: false,
            },
            shape,
            Shape::flat(self.output),
            true,
        );
        layers
    }

    /// Does every layer fit what comes into it? The first one that does not is named.
    pub fn check(&self) -> Result<(), SpecError> {
        if self.input == 0 || self.input_shape().len() != self.input {
            return Err(SpecError::NoInput);
        }
        let mut spatial = self.input_shape().is_spatial();
        for (index, (layer, planned)) in self.hidden.iter().zip(self.plan()).enumerate() {
            let fail = |reason: String| {
                Err(SpecError::Layer {
                    index: index + 1,
                    token: layer.token(),
                    reason,
                })
            };
            match *layer {
                LayerSpec::Dense { units: 0 } => {
                    return fail("a dense layer needs at least one unit".into());
                }
                LayerSpec::Dense { .. } | LayerSpec::Flatten => spatial = false,
                LayerSpec::Conv {
                    channels,
                    kernel,
                    stride,
                    ..
                } => {
                    if channels == 0 || kernel == 0 || stride == 0 {
                        return fail("channels, kernel and stride must be at least 1".into());
                    }
                }
                LayerSpec::MaxPool { size: 0 } => {
                    return fail("the pool size must be at least 1".into());
                }
                LayerSpec::MaxPool { .. } => {}
            }
            if layer.is_spatial() && !spatial {
                return fail(format!(
                    "needs an image or a signal as input, not {} flat features (conv and pool layers come before dense layers, on digits or MNIST-1D)",
                    planned.input.len()
                ));
            }
            if planned.output.is_empty() {
                return fail(format!("does not fit its {} input", planned.input.label()));
            }
        }
        if self.output == 0 {
            return Err(SpecError::Layer {
                index: self.hidden.len() + 1,
                token: "output".into(),
                reason: "no classes".into(),
            });
        }
        Ok(())
    }

    /// The parametric layers in order: what masks, weights and pruning rates are indexed by.
    pub fn param_layers(&self) -> Vec<ParamLayer> {
        self.plan()
            .into_iter()
            .filter_map(|layer| match layer.op {
                PlannedOp::Dense {
                    fan_in,
                    fan_out,
                    relu,
                } => Some(ParamLayer {
                    kind: if relu {
                        ParamKind::Dense
                    } else {
                        ParamKind::Output
                    },
                    shape: (fan_in, fan_out),
                    fans: (fan_in, fan_out),
                    conv: None,
                }),
                PlannedOp::Conv(g) => {
                    let taps = g.kernel_h * g.kernel_w;
                    Some(ParamLayer {
                        kind: ParamKind::Conv,
                        shape: (g.taps(), g.output.channels),
                        fans: (g.input.channels * taps, g.output.channels * taps),
                        conv: Some(g),
                    })
                }
                PlannedOp::MaxPool(_) | PlannedOp::Flatten => None,
            })
            .collect()
    }

    /// `(fan_in, fan_out)` per weight matrix.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        self.param_layers().iter().map(|p| p.shape).collect()
    }

    /// Prunable weights (biases excluded).
    pub fn weight_count(&self) -> usize {
        self.layer_shapes().iter().map(|(i, o)| i * o).sum()
    }

    /// Floating-point operations of one sample's forward pass (multiply-adds count two).
    pub fn forward_flops(&self) -> usize {
        self.plan()
            .iter()
            .map(|l| match l.op {
                PlannedOp::Dense {
                    fan_in, fan_out, ..
                } => 2 * fan_in * fan_out,
                PlannedOp::Conv(g) => 2 * g.positions() * g.taps() * g.output.channels,
                PlannedOp::MaxPool(_) | PlannedOp::Flatten => 0,
            })
            .sum()
    }

    /// e.g. "784-300-100-10", or "28×28×1-conv8k3-pool2-64-10".
    pub fn label(&self) -> String {
        let mut parts = vec![self.input_shape().label()];
        if !self.input_shape().is_spatial() {
            parts[0] = self.input.to_string();
        }
        parts.extend(self.hidden.iter().map(LayerSpec::token));
        parts.push(self.output.to_string());
        parts.join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_named() {
        for token in [
            "300",
            "conv16k3",
            "conv25k5s2p2",
            "conv8k3p1",
            "pool2",
            "flatten",
        ] {
            let layer = LayerSpec::parse(token).unwrap();
            assert_eq!(layer.token(), token);
        }
        assert_eq!(
            LayerSpec::parse("Conv8K3S2").unwrap(),
            LayerSpec::conv(8, 3, 2, 0)
        );
        for bad in [
            "conv",
            "conv8",
            "convk3",
            "conv8k3x1",
            "conv8p1k3",
            "pool",
            "dense",
            "-3",
        ] {
            let err = LayerSpec::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        assert_eq!(
            parse_layers("conv8k3, pool2 ,64").unwrap(),
            vec![
                LayerSpec::conv(8, 3, 1, 0),
                LayerSpec::MaxPool { size: 2 },
                LayerSpec::dense(64)
            ]
        );
    }

    #[test]
    fn an_mlp_serialises_as_it_always_has() {
        let spec = NetSpec::mlp(784, &[300, 100], 10);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(json, r#"{"input":784,"hidden":[300,100],"output":10}"#);
        let back: NetSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
        let image = Shape {
            height: 28,
            width: 28,
            channels: 1,
        };
        let conv = NetSpec::new(image, &parse_layers("conv8k3,pool2,64").unwrap(), 10);
        let json = serde_json::to_string(&conv).unwrap();
        assert!(
            json.contains(r#""hidden":["conv8k3","pool2",64]"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<NetSpec>(&json).unwrap(), conv);
        assert!(serde_json::from_str::<NetSpec>(&json.replace("pool2", "pool")).is_err());
    }

    #[test]
    fn shapes_follow_the_layers_in_2d_and_1d() {
        let image = Shape {
            height: 28,
            width: 28,
            channels: 1,
        };
        let spec = NetSpec::new(
            image,
            &parse_layers("conv8k3p1,conv16k3s2,pool2,64").unwrap(),
            10,
        );
        spec.check().unwrap();
        let plan = spec.plan();
        assert_eq!(plan[0].output.label(), "28×28×8");
        assert_eq!(plan[1].output.label(), "13×13×16");
        assert_eq!(plan[2].output.label(), "6×6×16");
        assert_eq!(
            spec.layer_shapes(),
            vec![(9, 8), (72, 16), (576, 64), (64, 10)]
        );
        let kinds: Vec<_> = spec.param_layers().iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [
                ParamKind::Conv,
                ParamKind::Conv,
                ParamKind::Dense,
                ParamKind::Output
            ]
        );
        assert_eq!(spec.param_layers()[1].fans, (8 * 9, 16 * 9));

        // MNIST-1D's CNN: three 1-D convolutions of 25 channels, stride 2.
        let signal = Shape {
            height: 1,
            width: 40,
            channels: 1,
        };
        let cnn = NetSpec::new(
            signal,
            &parse_layers("conv25k5s2p1,conv25k3s2p1,conv25k3s2p1").unwrap(),
            10,
        );
        cnn.check().unwrap();
        let widths: Vec<usize> = cnn.plan().iter().map(|l| l.output.width).collect();
        assert_eq!(widths, [19, 10, 5, 1]);
        assert_eq!(cnn.layer_shapes()[0], (5, 25));
    }

    #[test]
    fn layers_that_do_not_fit_are_named() {
        let flat = NetSpec::new(Shape::flat(30), &parse_layers("conv8k3").unwrap(), 2);
        let err = flat.check().unwrap_err().to_string();
        assert!(
            err.contains("layer 1 (conv8k3)") && err.contains("image or a signal"),
            "{err}"
        );
        let small = Shape {
            height: 4,
            width: 4,
            channels: 1,
        };
        let too_big = NetSpec::new(small, &parse_layers("conv8k3,conv8k3,conv8k3").unwrap(), 2);
        let err = too_big.check().unwrap_err().to_string();
        assert!(
            err.contains("layer 2 (conv8k3)") && err.contains("2×2×8"),
            "{err}"
        );
        let after_dense = NetSpec::new(small, &parse_layers("16,pool2").unwrap(), 2);
        assert!(
            after_dense
                .check()
                .unwrap_err()
                .to_string()
                .contains("layer 2 (pool2)")
        );
        assert!(NetSpec::mlp(784, &[300, 0], 10).check().is_err());
    }
}

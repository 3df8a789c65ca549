//! Attributions: which input features a network's output for one example rests on, and how
//! many input→output paths a mask leaves. The lecture's "sparser models are easier to
//! explain" is measured with these, on the CPU (a view's work, like [`super::infer`]):
//!
//! - **Gradient × input**: x ⊙ ∂F/∂x, one backward pass.
//! - **Integrated gradients** (Sundararajan et al. 2017): (x − x′) ⊙ ∫₀¹ ∂F/∂x(x′ + α(x − x′)) dα
//!   from a baseline x′ (a blank input). Its attributions sum to F(x) − F(x′) (completeness):
//!   the trapezoid rule on nested grids is refined until the sum is within a tolerance of
//!   that difference, so the completeness error is measured, not assumed.
//!
//! F is the logit of the attributed class (probabilities saturate, logits do not).

use ndarray::{Array2, ArrayView2};

use super::ops::network::{Backward, Forward, zero_gradients};
use super::{Layer, Mask, Network};

/// Rows (interpolation points) per forward and backward pass: bounds the buffers and is the
/// unit of work a frame takes (LeNet-300-100: a few ms).
pub const ATTRIBUTION_CHUNK: usize = 64;
/// The integrated-gradient grid starts with this many intervals and doubles.
pub const FIRST_INTERVALS: usize = 16;
/// ... up to this many: a ReLU network's integrand is piecewise constant, so the error falls
/// roughly as 1/intervals.
pub const MAX_INTERVALS: usize = 1024;
/// Completeness the refinement aims for: |Σ attributions − (F(x) − F(x′))| over |F(x) − F(x′)|.
pub const COMPLETENESS_TOLERANCE: f32 = 0.005;

/// One example's attributions by one method.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attribution {
    /// One value per input feature.
    pub values: Vec<f32>,
    /// The class whose logit is attributed.
    pub class: usize,
    /// F(x): that logit at the input.
    pub output: f32,
    /// F(x′) at the baseline (gradient × input: F(0), for comparison only).
    pub baseline_output: f32,
    /// Intervals of the integration grid (gradient × input: 0).
    pub intervals: usize,
}

impl Attribution {
    /// |Σ values − (F(x) − F(x′))| / |F(x) − F(x′)|: 0 for exact completeness.
    pub fn completeness_error(&self) -> f32 {
        let sum: f64 = self.values.iter().map(|&v| f64::from(v)).sum();
        let difference = f64::from(self.output) - f64::from(self.baseline_output);
        ((sum - difference).abs() / difference.abs().max(1e-6)) as f32
    }

    /// The `k` features of largest |value|, most important first (ties: lower index first).
    pub fn top_features(&self, k: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.values.len()).collect();
        order.sort_by(|&a, &b| {
            self.values[b]
                .abs()
                .total_cmp(&self.values[a].abs())
                .then(a.cmp(&b))
        });
        order.truncate(k);
        order
    }

    /// The share of Σ|values| that the top `k` features carry: 1 = the explanation is all in
    /// `k` features, k/n = spread evenly.
    pub fn top_share(&self, k: usize) -> f64 {
        let total: f64 = self.values.iter().map(|v| f64::from(v.abs())).sum();
        if total == 0.0 {
            return 0.0;
        }
        let top: f64 = self
            .top_features(k)
            .iter()
            .map(|&i| f64::from(self.values[i].abs()))
            .sum();
        top / total
    }
}

/// How many of the top `k` features two attributions share, as a fraction of `k`.
pub fn top_k_agreement(a: &Attribution, b: &Attribution, k: usize) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let top_a = a.top_features(k);
    let top_b: std::collections::HashSet<usize> = b.top_features(k).into_iter().collect();
    top_a.iter().filter(|i| top_b.contains(i)).count() as f64 / k as f64
}

/// The top-k size used for agreement and share figures: 5% of the features, at least 3.
pub fn top_k_for(features: usize) -> usize {
    (features.div_ceil(20)).max(3).min(features)
}

/// Buffers for the gradient of one logit with respect to the input, reused across calls.
pub struct InputGradients {
    forward: Option<Forward>,
    backward: Option<Backward>,
    grads: Vec<Layer>,
}

impl InputGradients {
    pub fn new(net: &Network) -> Self {
        Self {
            forward: None,
            backward: None,
            grads: zero_gradients(net),
        }
    }

    /// For each row of `x`: ∂F_class/∂x into `out` (`[rows, input]`) and F_class into `logits`.
    pub fn run(
        &mut self,
        net: &Network,
        x: ArrayView2<f32>,
        class: usize,
        out: &mut Array2<f32>,
        logits: &mut Vec<f32>,
    ) {
        let rows = x.nrows();
        if !self
            .forward
            .as_ref()
            .is_some_and(|f| f.fits(&net.spec, rows))
        {
            let forward = Forward::new(&net.spec, rows);
            self.backward = Some(Backward::with_input_gradient(&forward));
            self.forward = Some(forward);
        }
        let forward = self.forward.as_mut().expect("just made");
        let backward = self
            .backward
            .as_mut()
            .expect("made with the forward buffers");
        forward.run(net, x);
        logits.clear();
        logits.extend(forward.logits().column(class).iter());
        let delta = backward.logits_delta();
        delta.fill(0.0);
        delta.column_mut(class).fill(1.0);
        backward.run(forward, net, x, &mut self.grads);
        out.assign(
            backward
                .input_delta()
                .expect("made with the input gradient"),
        );
    }
}

/// Gradient × input for `x` (one example) and `class`.
pub fn gradient_times_input(net: &Network, x: &[f32], class: usize) -> Attribution {
    let row = ArrayView2::from_shape((1, x.len()), x).expect("one row");
    let mut gradient = Array2::zeros((1, x.len()));
    let mut logits = Vec::new();
    let mut buffers = InputGradients::new(net);
    buffers.run(net, row, class, &mut gradient, &mut logits);
    let output = logits[0];
    let zero = vec![0.0; x.len()];
    let zero_row = ArrayView2::from_shape((1, x.len()), zero.as_slice()).expect("one row");
    let mut unused = Array2::zeros((1, x.len()));
    buffers.run(net, zero_row, class, &mut unused, &mut logits);
    Attribution {
        values: x.iter().zip(gradient.row(0)).map(|(x, g)| x * g).collect(),
        class,
        output,
        baseline_output: logits[0],
        intervals: 0,
    }
}

/// Integrated gradients of one example, computed a chunk of grid points per [`step`] call so
/// a frame is never held up; refined until complete within `tolerance` (or `MAX_INTERVALS`).
///
/// [`step`]: IntegratedGradients::step
pub struct IntegratedGradients {
    x: Vec<f32>,
    baseline: Vec<f32>,
    class: usize,
    tolerance: f32,
    buffers: InputGradients,
    /// Σ of ∂F/∂x at the grid's end points (α = 0, 1), and at the interior points so far.
    ends: Vec<f64>,
    interior: Vec<f64>,
    /// F at α = 0 and α = 1, once evaluated.
    outputs: Option<(f32, f32)>,
    intervals: usize,
    /// The α's of the current refinement still to evaluate.
    pending: Vec<f32>,
    rows: Array2<f32>,
    gradient: Array2<f32>,
    logits: Vec<f32>,
    done: Option<Attribution>,
    rows_evaluated: usize,
}

impl IntegratedGradients {
    pub fn new(net: &Network, x: &[f32], baseline: &[f32], class: usize, tolerance: f32) -> Self {
        assert_eq!(x.len(), baseline.len(), "the baseline is an input");
        Self {
            x: x.to_vec(),
            baseline: baseline.to_vec(),
            class,
            tolerance,
            buffers: InputGradients::new(net),
            ends: vec![0.0; x.len()],
            interior: vec![0.0; x.len()],
            outputs: None,
            intervals: 0,
            pending: vec![0.0, 1.0],
            rows: Array2::zeros((0, x.len())),
            gradient: Array2::zeros((0, x.len())),
            logits: Vec::new(),
            done: None,
            rows_evaluated: 0,
        }
    }

    /// Grid points evaluated so far (forward + backward passes of one row).
    pub fn rows_evaluated(&self) -> usize {
        self.rows_evaluated
    }

    /// The attribution once complete (or refined as far as allowed).
    pub fn result(&self) -> Option<&Attribution> {
        self.done.as_ref()
    }

    /// Evaluate up to [`ATTRIBUTION_CHUNK`] grid points; the attribution once it is done.
    pub fn step(&mut self, net: &Network) -> Option<&Attribution> {
        if self.done.is_some() {
            return self.done.as_ref();
        }
        let take = self.pending.len().min(ATTRIBUTION_CHUNK);
        let alphas: Vec<f32> = self.pending.drain(..take).collect();
        let n = self.x.len();
        if self.rows.nrows() != alphas.len() {
            self.rows = Array2::zeros((alphas.len(), n));
            self.gradient = Array2::zeros((alphas.len(), n));
        }
        for (mut row, &alpha) in self.rows.outer_iter_mut().zip(&alphas) {
            for ((r, &x), &b) in row.iter_mut().zip(&self.x).zip(&self.baseline) {
                *r = b + alpha * (x - b);
            }
        }
        self.buffers.run(
            net,
            self.rows.view(),
            self.class,
            &mut self.gradient,
            &mut self.logits,
        );
        self.rows_evaluated += alphas.len();
        let to_ends = self.intervals == 0;
        let sums = if to_ends {
            &mut self.ends
        } else {
            &mut self.interior
        };
        for row in self.gradient.outer_iter() {
            for (s, &g) in sums.iter_mut().zip(row) {
                *s += f64::from(g);
            }
        }
        if to_ends {
            self.outputs = Some((self.logits[0], self.logits[1]));
        }
        if self.pending.is_empty() {
            self.finish_level();
        }
        self.done.as_ref()
    }

    /// One grid is fully evaluated: check completeness, then stop or halve the spacing.
    fn finish_level(&mut self) {
        let intervals = if self.intervals == 0 {
            // The two ends alone are a first, coarse grid; the first refinement goes straight
            // to FIRST_INTERVALS below.
            1
        } else {
            self.intervals
        };
        self.intervals = intervals;
        let attribution = self.attribution(intervals);
        let complete = intervals > 1 && attribution.completeness_error() <= self.tolerance;
        if complete || intervals >= MAX_INTERVALS {
            self.done = Some(attribution);
            return;
        }
        // Nested grids: the next one's new points are the midpoints of this one's (the
        // first refinement adds all of FIRST_INTERVALS's interior points at once).
        let next = if intervals == 1 {
            FIRST_INTERVALS
        } else {
            intervals * 2
        };
        let old: std::collections::HashSet<usize> =
            (0..=intervals).map(|i| i * (next / intervals)).collect();
        self.pending = (1..next)
            .filter(|i| !old.contains(i))
            .map(|i| i as f32 / next as f32)
            .collect();
        self.intervals = next;
    }

    /// The trapezoid rule on the evaluated grid of `intervals` intervals.
    fn attribution(&self, intervals: usize) -> Attribution {
        let h = 1.0 / intervals as f64;
        let values = self
            .x
            .iter()
            .zip(&self.baseline)
            .zip(self.ends.iter().zip(&self.interior))
            .map(|((&x, &b), (&ends, &interior))| {
                let integral = h * (ends / 2.0 + interior);
                (f64::from(x - b) * integral) as f32
            })
            .collect();
        let (baseline_output, output) = self.outputs.expect("the ends are evaluated first");
        Attribution {
            values,
            class: self.class,
            output,
            baseline_output,
            intervals,
        }
    }

    /// Run to the end at once (tests, the CLI).
    pub fn run(mut self, net: &Network) -> Attribution {
        while self.step(net).is_none() {}
        self.done.expect("stepped to the end")
    }
}

/// Input→output connectivity of a masked network: how many paths of surviving weights join
/// an input feature to an output, and how many input features have one.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Connectivity {
    /// Paths of nonzero weights from any input to any output. For convolutions a path goes
    /// through one tap at one position; through max-pooling, through the window's best
    /// position (so for pooled nets it is a lower bound).
    pub paths: f64,
    /// Input features with at least one path to an output.
    pub live_inputs: usize,
    pub inputs: usize,
}

/// The connectivity of `mask` on `net`'s shape: the network with every surviving weight set
/// to 1 (biases 0) fed all-ones counts the paths into each output; the gradient of their sum
/// is nonzero exactly at the inputs that have one.
pub fn connectivity(net: &Network, mask: &Mask) -> Connectivity {
    let mut ones = net.masked(mask);
    for (layer, keep) in ones.layers.iter_mut().zip(&mask.layers) {
        ndarray::Zip::from(&mut layer.weight)
            .and(keep)
            .for_each(|w, &k| *w = if k { 1.0 } else { 0.0 });
        layer.bias.fill(0.0);
    }
    let inputs = net.spec.input;
    let x = Array2::<f32>::ones((1, inputs));
    let mut forward = Forward::new(&ones.spec, 1);
    forward.run(&ones, x.view());
    let paths: f64 = forward.logits().iter().map(|&v| f64::from(v)).sum();
    let mut backward = Backward::with_input_gradient(&forward);
    backward.logits_delta().fill(1.0);
    let mut grads = zero_gradients(&ones);
    backward.run(&mut forward, &ones, x.view(), &mut grads);
    let live_inputs = backward
        .input_delta()
        .expect("asked for")
        .iter()
        .filter(|&&g| g > 0.0)
        .count();
    Connectivity {
        paths,
        live_inputs,
        inputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Init, NetSpec};

    fn net(hidden: &[usize], seed: u64) -> Network {
        let spec = NetSpec::mlp(6, hidden, 3);
        let mut net = Network::init(
            &spec,
            Init::KaimingNormal,
            &mut crate::rng::rng(seed, "init"),
        );
        // Nonzero biases: gradient × input and integrated gradients then differ.
        for layer in &mut net.layers {
            layer
                .bias
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = 0.1 * (i as f32 - 1.0));
        }
        net
    }

    fn logit(net: &Network, x: &[f32], class: usize) -> f64 {
        let row = ArrayView2::from_shape((1, x.len()), x).unwrap();
        let mut forward = None;
        f64::from(super::super::infer::logits(net, row, &mut forward)[[0, class]])
    }

    #[test]
    fn the_input_gradient_matches_finite_differences() {
        let net = net(&[8, 5], 3);
        let x = [0.3, -0.2, 0.9, 0.1, -0.7, 0.5];
        let gxi = gradient_times_input(&net, &x, 1);
        for i in 0..x.len() {
            let (mut up, mut down) = (x, x);
            up[i] += 1e-3;
            down[i] -= 1e-3;
            let numeric = (logit(&net, &up, 1) - logit(&net, &down, 1)) / 2e-3;
            let analytic = f64::from(gxi.values[i] / x[i]);
            assert!(
                (numeric - analytic).abs() < 1e-2,
                "feature {i}: {numeric} vs {analytic}"
            );
        }
        assert!((f64::from(gxi.output) - logit(&net, &x, 1)).abs() < 1e-5);
    }

    #[test]
    fn integrated_gradients_are_complete_within_the_tolerance() {
        for seed in 0..5 {
            let net = net(&[16, 8], seed);
            let x = [1.0, -0.5, 0.25, 0.8, -1.2, 0.4];
            let ig =
                IntegratedGradients::new(&net, &x, &[0.0; 6], 2, COMPLETENESS_TOLERANCE).run(&net);
            assert!(ig.intervals >= FIRST_INTERVALS);
            assert!(
                ig.completeness_error() <= COMPLETENESS_TOLERANCE,
                "seed {seed}: error {} at {} intervals",
                ig.completeness_error(),
                ig.intervals
            );
            assert!((f64::from(ig.output) - logit(&net, &x, 2)).abs() < 1e-5);
            assert!((f64::from(ig.baseline_output) - logit(&net, &[0.0; 6], 2)).abs() < 1e-5);
        }
    }

    #[test]
    fn a_linear_network_is_integrated_exactly_at_the_first_grid() {
        // No hidden layer: F is linear, the integrand constant, IG = (x − x′) ⊙ w.
        let net = net(&[], 1);
        let x = [1.0, 2.0, 3.0, -1.0, 0.5, 0.0];
        let ig = IntegratedGradients::new(&net, &x, &[0.0; 6], 0, 1e-4).run(&net);
        assert_eq!(ig.intervals, FIRST_INTERVALS);
        for (i, v) in ig.values.iter().enumerate() {
            let expected = x[i] * net.layers[0].weight[[i, 0]];
            assert!((v - expected).abs() < 1e-5);
        }
    }

    #[test]
    fn connectivity_counts_the_paths_of_surviving_weights() {
        let net = net(&[2], 0);
        let mut mask = Mask::dense(&net.spec);
        // Dense 6-2-3: 6·2·3 = 36 paths, every input live.
        let dense = connectivity(&net, &mask);
        assert_eq!((dense.paths, dense.live_inputs, dense.inputs), (36.0, 6, 6));
        // Cut inputs 0-2 from hidden unit 0 and inputs 3-5 from everything; hidden unit 1
        // keeps only output 0.
        for i in 0..3 {
            mask.layers[0][[i, 0]] = false;
        }
        for i in 3..6 {
            mask.layers[0][[i, 0]] = false;
            mask.layers[0][[i, 1]] = false;
        }
        mask.layers[1][[1, 1]] = false;
        mask.layers[1][[1, 2]] = false;
        let pruned = connectivity(&net, &mask);
        // Inputs 0-2 reach hidden 1 only, which reaches output 0 only: 3 paths.
        assert_eq!((pruned.paths, pruned.live_inputs), (3.0, 3));
    }

    #[test]
    fn top_features_share_and_agreement() {
        let a = Attribution {
            values: vec![0.1, -3.0, 2.0, 0.0, 1.0],
            class: 0,
            output: 0.0,
            baseline_output: 0.0,
            intervals: 0,
        };
        assert_eq!(a.top_features(3), vec![1, 2, 4]);
        assert!((a.top_share(2) - 5.0 / 6.1).abs() < 1e-9);
        let mut b = a.clone();
        b.values = vec![5.0, -3.0, 0.0, 0.0, 1.0];
        assert!((top_k_agreement(&a, &b, 3) - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(top_k_for(784), 40);
        assert_eq!(top_k_for(2), 2);
    }
}

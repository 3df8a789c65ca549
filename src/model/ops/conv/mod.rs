//! Convolution on channels-last activations, computed directly ([`kernels`]: no patch
//! matrix), the CPU reference for `train/gpu/kernels/conv*.wgsl`.
//!
//! A batch is cut into tasks of [`SAMPLES_PER_TASK`] samples, run on every core natively
//! (Rayon) and one after another in the browser. The weight gradient is summed per task and
//! the tasks' sums are added in task order, so a step's result does not depend on how many
//! threads ran it.

mod kernels;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

use crate::model::ConvGeometry;
use kernels::Dims;

/// Samples per task: enough work per task (a 28×28 8-channel layer: ~0.5 M multiply-adds a
/// sample) and enough tasks for a small batch to use two or more cores.
const SAMPLES_PER_TASK: usize = 8;

/// What a conv layer reuses across calls: the weights laid out for the input gradient and
/// the tasks' weight-gradient sums.
#[derive(Default)]
pub struct ConvScratch {
    weight_t: Vec<f32>,
    partial_grads: Vec<Vec<f32>>,
}

/// Run `work` on each task, on every core natively.
#[cfg(not(target_arch = "wasm32"))]
fn run_tasks<T: Send>(tasks: &mut [T], work: impl Fn(&mut T) + Sync + Send) {
    use rayon::prelude::*;
    if tasks.len() > 1 {
        tasks.par_iter_mut().for_each(work);
    } else {
        tasks.iter_mut().for_each(work);
    }
}

#[cfg(target_arch = "wasm32")]
fn run_tasks<T: Send>(tasks: &mut [T], work: impl Fn(&mut T) + Sync + Send) {
    tasks.iter_mut().for_each(work);
}

/// `out = relu(conv(x, weight) + bias)` (`relu` optional), `out` `[samples, Ho·Wo·Cout]`.
pub fn forward(
    x: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    bias: ArrayView1<f32>,
    g: &ConvGeometry,
    relu: bool,
    out: &mut Array2<f32>,
    _scratch: &mut ConvScratch,
) {
    let d = Dims::of(g);
    let (x, weight, bias) = (
        x.as_standard_layout(),
        weight.as_standard_layout(),
        bias.as_standard_layout(),
    );
    let (x, weight, bias) = (
        x.as_slice().expect("standard layout"),
        weight.as_slice().expect("standard layout"),
        bias.as_slice().expect("standard layout"),
    );
    let out = out.as_slice_mut().expect("outputs are contiguous");
    let mut tasks: Vec<(&[f32], &mut [f32])> = x
        .chunks(SAMPLES_PER_TASK * d.input_len())
        .zip(out.chunks_mut(SAMPLES_PER_TASK * d.output_len()))
        .collect();
    run_tasks(&mut tasks, |(x, out)| {
        pulp::Arch::new().dispatch(kernels::Forward {
            dims: d,
            x,
            weight,
            bias,
            relu,
            out,
        })
    });
}

/// Given `delta` = dL/d(pre-activation) `[samples, Ho·Wo·Cout]`: the weight and bias
/// gradients (overwritten) and, when `dx` is given, dL/dx (overwritten).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    delta: ArrayView2<f32>,
    g: &ConvGeometry,
    grad_weight: &mut Array2<f32>,
    grad_bias: &mut Array1<f32>,
    dx: Option<ArrayViewMut2<f32>>,
    scratch: &mut ConvScratch,
) {
    let d = Dims::of(g);
    let (x, delta) = (x.as_standard_layout(), delta.as_standard_layout());
    let (x, delta) = (
        x.as_slice().expect("standard layout"),
        delta.as_slice().expect("standard layout"),
    );
    // Column sums over every position of every sample.
    let bias = grad_bias.as_slice_mut().expect("contiguous bias");
    bias.fill(0.0);
    for row in delta.chunks_exact(d.cout) {
        for (b, &v) in bias.iter_mut().zip(row) {
            *b += v;
        }
    }
    // dW: one sum per task, added in task order.
    let rows = g.taps() * d.cout;
    let task_count = delta.len().div_ceil(SAMPLES_PER_TASK * d.output_len());
    scratch.partial_grads.resize_with(task_count, Vec::new);
    // ((samples, their deltas), the task's weight-gradient sum)
    let mut tasks: Vec<_> = x
        .chunks(SAMPLES_PER_TASK * d.input_len())
        .zip(delta.chunks(SAMPLES_PER_TASK * d.output_len()))
        .zip(scratch.partial_grads.iter_mut())
        .collect();
    run_tasks(&mut tasks, |((x, delta), sum)| {
        sum.clear();
        sum.resize(rows, 0.0);
        pulp::Arch::new().dispatch(kernels::WeightGrad {
            dims: d,
            x,
            delta,
            grad_weight: sum,
        })
    });
    let grad_weight = grad_weight.as_slice_mut().expect("contiguous gradients");
    grad_weight.fill(0.0);
    for sum in &scratch.partial_grads[..task_count] {
        for (g, &s) in grad_weight.iter_mut().zip(sum) {
            *g += s;
        }
    }
    if let Some(mut dx) = dx {
        // weight_t[(tap·Cout + o)·Cin + c] = weight[(tap·Cin + c)·Cout + o]
        let taps = d.kernel_h * d.kernel_w;
        scratch.weight_t.resize(rows, 0.0);
        for tap in 0..taps {
            for c in 0..d.cin {
                for o in 0..d.cout {
                    scratch.weight_t[(tap * d.cout + o) * d.cin + c] =
                        weight[((tap * d.cin + c), o)];
                }
            }
        }
        let weight_t = scratch.weight_t.as_slice();
        let dx = dx.as_slice_mut().expect("input gradients are contiguous");
        let mut tasks: Vec<(&[f32], &mut [f32])> = delta
            .chunks(SAMPLES_PER_TASK * d.output_len())
            .zip(dx.chunks_mut(SAMPLES_PER_TASK * d.input_len()))
            .collect();
        run_tasks(&mut tasks, |(delta, dx)| {
            pulp::Arch::new().dispatch(kernels::InputGrad {
                dims: d,
                delta,
                weight_t,
                dx,
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NetSpec, PlannedOp, Shape, parse_layers};

    fn geometry(input: Shape, token: &str) -> ConvGeometry {
        let spec = NetSpec::new(input, &parse_layers(token).unwrap(), 2);
        match spec.plan()[0].op {
            PlannedOp::Conv(g) => g,
            _ => unreachable!(),
        }
    }

    /// The definition, one output at a time.
    fn naive(x: &Array2<f32>, w: &Array2<f32>, b: &[f32], g: &ConvGeometry) -> Array2<f32> {
        let (h, wd, c) = (g.input.height, g.input.width, g.input.channels);
        let (ho, wo, co) = (g.output.height, g.output.width, g.output.channels);
        Array2::from_shape_fn((x.nrows(), ho * wo * co), |(n, j)| {
            let (oy, ox, o) = (j / (wo * co), (j / co) % wo, j % co);
            let mut sum = b[o];
            for ky in 0..g.kernel_h {
                for kx in 0..g.kernel_w {
                    let iy = (oy * g.stride_h + ky) as isize - g.pad_h as isize;
                    let ix = (ox * g.stride_w + kx) as isize - g.pad_w as isize;
                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                        continue;
                    }
                    for ci in 0..c {
                        let xi = (iy as usize * wd + ix as usize) * c + ci;
                        sum += x[(n, xi)] * w[((ky * g.kernel_w + kx) * c + ci, o)];
                    }
                }
            }
            sum
        })
    }

    #[test]
    fn forward_matches_the_definition_over_odd_shapes() {
        let mut rng = crate::rng::rng(5, "test");
        let mut random = |r, c| {
            use rand::Rng as _;
            Array2::from_shape_simple_fn((r, c), || rng.random::<f32>() - 0.5)
        };
        let image = |h, w, c| Shape {
            height: h,
            width: w,
            channels: c,
        };
        for (input, token) in [
            (image(7, 6, 1), "conv3k3"),
            (image(9, 9, 2), "conv5k3s2p1"),
            (image(5, 8, 3), "conv1k2s2"),
            (image(1, 17, 1), "conv4k5s2p2"),
            (image(1, 9, 3), "conv2k3"),
        ] {
            let g = geometry(input, token);
            let x = random(3, input.len());
            let w = random(g.taps(), g.output.channels);
            let b: Vec<f32> = (0..g.output.channels).map(|i| i as f32 * 0.1).collect();
            let mut out = Array2::zeros((3, g.output.len()));
            forward(
                x.view(),
                w.view(),
                ArrayView1::from(&b),
                &g,
                false,
                &mut out,
                &mut ConvScratch::default(),
            );
            let expected = naive(&x, &w, &b, &g);
            let err = (&out - &expected)
                .iter()
                .fold(0.0f32, |e, v| e.max(v.abs()));
            assert!(err < 1e-5, "{token} on {input:?}: {err}");
        }
    }

    /// dL/dW and dL/dx of `sum(delta ⊙ conv(x))` by the definition.
    fn naive_grads(
        x: &Array2<f32>,
        w: &Array2<f32>,
        delta: &Array2<f32>,
        g: &ConvGeometry,
    ) -> (Array2<f32>, Array2<f32>) {
        let (h, wd, c) = (g.input.height, g.input.width, g.input.channels);
        let (ho, wo, co) = (g.output.height, g.output.width, g.output.channels);
        let mut dw = Array2::<f32>::zeros(w.dim());
        let mut dx = Array2::<f32>::zeros(x.dim());
        for n in 0..x.nrows() {
            for oy in 0..ho {
                for ox in 0..wo {
                    for o in 0..co {
                        let d = delta[(n, (oy * wo + ox) * co + o)];
                        for ky in 0..g.kernel_h {
                            for kx in 0..g.kernel_w {
                                let iy = (oy * g.stride_h + ky) as isize - g.pad_h as isize;
                                let ix = (ox * g.stride_w + kx) as isize - g.pad_w as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                for ci in 0..c {
                                    let xi = (iy as usize * wd + ix as usize) * c + ci;
                                    let wi = (ky * g.kernel_w + kx) * c + ci;
                                    dw[(wi, o)] += x[(n, xi)] * d;
                                    dx[(n, xi)] += w[(wi, o)] * d;
                                }
                            }
                        }
                    }
                }
            }
        }
        (dw, dx)
    }

    fn max_abs(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
        (a - b).iter().fold(0.0f32, |e, v| e.max(v.abs()))
    }

    #[test]
    fn backward_matches_the_definition_over_odd_shapes() {
        let mut rng = crate::rng::rng(6, "test");
        let mut random = |r, c| {
            use rand::Rng as _;
            Array2::from_shape_simple_fn((r, c), || rng.random::<f32>() - 0.5)
        };
        let image = |h, w, c| Shape {
            height: h,
            width: w,
            channels: c,
        };
        // Channel counts below, at and above a vector's width, samples over several tasks.
        for (input, token, samples) in [
            (image(7, 6, 1), "conv3k3", 3),
            (image(9, 9, 2), "conv5k3s2p1", 2),
            (image(5, 8, 3), "conv1k2s2", 4),
            (image(1, 17, 1), "conv4k5s2p2", 3),
            (image(6, 7, 9), "conv17k3p1", 19),
            (image(10, 10, 8), "conv8k3p1", 2),
            (image(1, 40, 1), "conv25k5s2p1", 3),
        ] {
            let g = geometry(input, token);
            let x = random(samples, input.len());
            let w = random(g.taps(), g.output.channels);
            let delta = random(samples, g.output.len());
            let (mut dw, mut db) = (
                Array2::zeros(w.dim()),
                ndarray::Array1::zeros(g.output.channels),
            );
            let mut dx = Array2::zeros(x.dim());
            backward(
                x.view(),
                w.view(),
                delta.view(),
                &g,
                &mut dw,
                &mut db,
                Some(dx.view_mut()),
                &mut ConvScratch::default(),
            );
            let (want_dw, want_dx) = naive_grads(&x, &w, &delta, &g);
            assert!(max_abs(&dw, &want_dw) < 1e-4, "dW {token} on {input:?}");
            assert!(max_abs(&dx, &want_dx) < 1e-4, "dx {token} on {input:?}");
            let want_db = delta
                .to_shape((samples * g.positions(), g.output.channels))
                .unwrap()
                .sum_axis(ndarray::Axis(0));
            let err = (&db - &want_db).iter().fold(0.0f32, |e, v| e.max(v.abs()));
            assert!(err < 1e-4, "db {token} on {input:?}");
        }
    }

    #[test]
    fn a_step_does_not_depend_on_how_the_batch_is_split_over_threads() {
        // One thread and every thread give the same bits (the tasks are fixed, not per thread).
        let g = geometry(
            Shape {
                height: 12,
                width: 12,
                channels: 3,
            },
            "conv8k3p1",
        );
        let mut rng = crate::rng::rng(7, "test");
        use rand::Rng as _;
        let x = Array2::from_shape_simple_fn((37, g.input.len()), || rng.random::<f32>() - 0.5);
        let w = Array2::from_shape_simple_fn((g.taps(), 8), || rng.random::<f32>() - 0.5);
        let delta =
            Array2::from_shape_simple_fn((37, g.output.len()), || rng.random::<f32>() - 0.5);
        let grads = || {
            let mut dw = Array2::zeros(w.dim());
            let mut db = ndarray::Array1::zeros(8);
            backward(
                x.view(),
                w.view(),
                delta.view(),
                &g,
                &mut dw,
                &mut db,
                None,
                &mut ConvScratch::default(),
            );
            dw
        };
        let everywhere = grads();
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(grads);
        assert_eq!(everywhere, one_thread);
    }
}

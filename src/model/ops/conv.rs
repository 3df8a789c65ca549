//! Convolution on channels-last activations, as matrix products of im2col patches: the
//! CPU reference for `train/gpu/kernels/conv.wgsl` once the GPU engine has conv layers.
//!
//! A batch is processed in blocks of samples so that the patch matrix stays small (about
//! [`BLOCK_FLOATS`] floats) whatever the batch: the patches are rebuilt in the backward pass
//! instead of being kept, which costs one cheap copy and saves `rows · positions · taps`
//! floats (115 MB for a 256-row evaluation of a 16-channel 3×3 layer on 28×28 digits).

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, s};

use super::matmul::matmul;
use crate::model::ConvGeometry;

/// Patch-matrix size per block.
const BLOCK_FLOATS: usize = 1 << 20;

/// A whole batch's patches up to this size are built in one block and kept from the forward
/// pass for the backward one (a training batch of the digits' conv nets: 3.4 M floats), so
/// they are built once per step instead of twice.
const KEEP_FLOATS: usize = 1 << 22;

/// Samples per block for this layer and batch.
pub fn block_rows(g: &ConvGeometry, samples: usize) -> usize {
    let per_sample = (g.positions() * g.taps()).max(1);
    if samples * per_sample <= KEEP_FLOATS {
        samples.max(1)
    } else {
        (BLOCK_FLOATS / per_sample).clamp(1, samples.max(1))
    }
}

/// Scratch space a conv layer reuses across calls: the patches and their gradient.
#[derive(Default)]
pub struct ConvScratch {
    cols: Array2<f32>,
    dcols: Array2<f32>,
    /// `cols` holds the patches of the last forward pass's whole input.
    whole_batch: bool,
}

fn ensure(buf: &mut Array2<f32>, rows: usize, cols: usize) {
    if buf.dim() != (rows, cols) {
        *buf = Array2::zeros((rows, cols));
    }
}

/// The taps `kx` of a kernel row at output column `ox` that land inside the input (the rest
/// read the zero padding), and the input column of the first of them.
fn valid_taps(g: &ConvGeometry, ox: usize) -> (usize, usize, usize) {
    let left = ox * g.stride_w;
    // Input column of tap kx: left + kx - pad_w, inside [0, width).
    let first = g.pad_w.saturating_sub(left).min(g.kernel_w);
    let last = (g.input.width + g.pad_w)
        .saturating_sub(left)
        .min(g.kernel_w);
    let last = last.max(first);
    (first, last, (left + first).saturating_sub(g.pad_w))
}

/// Copy a short run (a kernel row's taps × channels: 3 to a few dozen floats). A plain loop:
/// `copy_from_slice` calls memmove, which costs more than the copy at these lengths.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s;
    }
}

/// The patches of `x` (`[samples, H·W·C]`): one row per sample and output position, one
/// column per tap and input channel (`(ky·kw + kx)·C + c`), zeros where the kernel overhangs
/// the padded border. A kernel row's in-bounds taps are contiguous in the input (channels
/// last), so each is one run.
pub fn im2col(x: ArrayView2<f32>, g: &ConvGeometry, cols: &mut ArrayViewMut2<f32>) {
    let (h, w, c) = (g.input.height, g.input.width, g.input.channels);
    let (ho, wo) = (g.output.height, g.output.width);
    let positions = g.positions();
    let taps = g.taps();
    let row_len = g.kernel_w * c;
    // One slice for the whole patch matrix: a view per row costs more than its copy here.
    let cols = cols.as_slice_mut().expect("patch buffers are contiguous");
    for (n, sample) in x.outer_iter().enumerate() {
        let sample = sample.as_slice().expect("contiguous rows");
        for oy in 0..ho {
            for ox in 0..wo {
                let (first, last, ix) = valid_taps(g, ox);
                let p = n * positions + oy * wo + ox;
                let row = &mut cols[p * taps..(p + 1) * taps];
                for ky in 0..g.kernel_h {
                    let iy = (oy * g.stride_h + ky) as isize - g.pad_h as isize;
                    let dst = &mut row[ky * row_len..(ky + 1) * row_len];
                    if iy < 0 || iy >= h as isize || last == first {
                        dst.fill(0.0);
                        continue;
                    }
                    if first > 0 {
                        dst[..first * c].fill(0.0);
                    }
                    if last < g.kernel_w {
                        dst[last * c..].fill(0.0);
                    }
                    let src = (iy as usize * w + ix) * c;
                    let run = (last - first) * c;
                    copy_run(&mut dst[first * c..last * c], &sample[src..src + run]);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each patch gradient back onto the input positions it was
/// read from (`dx` is overwritten).
pub fn col2im(dcols: ArrayView2<f32>, g: &ConvGeometry, dx: &mut ArrayViewMut2<f32>) {
    dx.fill(0.0);
    let (h, w, c) = (g.input.height, g.input.width, g.input.channels);
    let (ho, wo) = (g.output.height, g.output.width);
    let positions = g.positions();
    let row_len = g.kernel_w * c;
    for (n, mut sample) in dx.outer_iter_mut().enumerate() {
        let sample = sample.as_slice_mut().expect("contiguous rows");
        for oy in 0..ho {
            for ox in 0..wo {
                let (first, last, ix) = valid_taps(g, ox);
                let row = dcols.row(n * positions + oy * wo + ox);
                let row = row.as_slice().expect("contiguous rows");
                for ky in 0..g.kernel_h {
                    let iy = (oy * g.stride_h + ky) as isize - g.pad_h as isize;
                    if iy < 0 || iy >= h as isize || last == first {
                        continue;
                    }
                    let src = &row[ky * row_len + first * c..ky * row_len + last * c];
                    let dst = (iy as usize * w + ix) * c;
                    for (d, &v) in sample[dst..dst + src.len()].iter_mut().zip(src) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// `out = relu(conv(x, weight) + bias)` (`relu` optional), `out` `[samples, Ho·Wo·Cout]`.
pub fn forward(
    x: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    bias: ArrayView1<f32>,
    g: &ConvGeometry,
    relu: bool,
    out: &mut Array2<f32>,
    scratch: &mut ConvScratch,
) {
    let samples = x.nrows();
    let (positions, taps, cout) = (g.positions(), g.taps(), g.output.channels);
    let block = block_rows(g, samples);
    scratch.whole_batch = block >= samples;
    for start in (0..samples).step_by(block) {
        let end = (start + block).min(samples);
        let n = end - start;
        ensure(&mut scratch.cols, n * positions, taps);
        im2col(x.slice(s![start..end, ..]), g, &mut scratch.cols.view_mut());
        let mut rows = out.slice_mut(s![start..end, ..]);
        let mut y = rows
            .view_mut()
            .into_shape_with_order((n * positions, cout))
            .expect("outputs are contiguous");
        y.assign(&bias.broadcast((n * positions, cout)).expect("bias fits"));
        matmul(scratch.cols.view(), weight, y.view_mut(), true);
        if relu {
            y.mapv_inplace(|v| v.max(0.0));
        }
    }
}

/// Given `delta` = dL/d(pre-activation) `[samples, Ho·Wo·Cout]`: the weight and bias
/// gradients (overwritten) and, when `dx` is given, dL/dx (overwritten). `x` must be the
/// input of the last [`forward`] with this scratch (its patches may be reused).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    delta: ArrayView2<f32>,
    g: &ConvGeometry,
    grad_weight: &mut Array2<f32>,
    grad_bias: &mut ndarray::Array1<f32>,
    mut dx: Option<ArrayViewMut2<f32>>,
    scratch: &mut ConvScratch,
) {
    let samples = x.nrows();
    let (positions, taps, cout) = (g.positions(), g.taps(), g.output.channels);
    let block = block_rows(g, samples);
    let reuse =
        scratch.whole_batch && block >= samples && scratch.cols.nrows() == samples * positions;
    grad_bias.fill(0.0);
    grad_weight.fill(0.0);
    for start in (0..samples).step_by(block) {
        let end = (start + block).min(samples);
        let n = end - start;
        let d = delta
            .slice(s![start..end, ..])
            .into_shape_with_order((n * positions, cout))
            .expect("deltas are contiguous");
        // Column sums over the block's positions, on plain slices (a view per row is slow
        // at tens of thousands of rows of a few channels).
        let bias = grad_bias.as_slice_mut().expect("contiguous bias");
        let rows = d.as_slice().expect("deltas are contiguous");
        for row in rows.chunks_exact(cout) {
            for (b, &v) in bias.iter_mut().zip(row) {
                *b += v;
            }
        }
        if !reuse {
            ensure(&mut scratch.cols, n * positions, taps);
            im2col(x.slice(s![start..end, ..]), g, &mut scratch.cols.view_mut());
        }
        // dW += patchesᵀ · delta
        matmul(scratch.cols.t(), d, grad_weight.view_mut(), true);
        if let Some(dx) = dx.as_mut() {
            ensure(&mut scratch.dcols, n * positions, taps);
            matmul(d, weight.t(), scratch.dcols.view_mut(), false);
            col2im(
                scratch.dcols.view(),
                g,
                &mut dx.slice_mut(s![start..end, ..]),
            );
        }
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

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> = <x, col2im(c)> for any x, c: what the input gradient relies on.
        let g = geometry(
            Shape {
                height: 6,
                width: 5,
                channels: 2,
            },
            "conv3k3s2p1",
        );
        let mut rng = crate::rng::rng(2, "test");
        use rand::Rng as _;
        let x = Array2::from_shape_simple_fn((2, g.input.len()), || rng.random::<f32>());
        let c = Array2::from_shape_simple_fn((2 * g.positions(), g.taps()), || rng.random::<f32>());
        let mut cols = Array2::zeros(c.dim());
        im2col(x.view(), &g, &mut cols.view_mut());
        let mut back = Array2::zeros(x.dim());
        col2im(c.view(), &g, &mut back.view_mut());
        let lhs: f32 = (&cols * &c).sum();
        let rhs: f32 = (&x * &back).sum();
        assert!(
            (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}

//! The three convolution loops, computed directly on a zero-padded copy of each sample and
//! vectorised over channels with `pulp` (AVX2/FMA natively when the CPU has it, simd128 in
//! the browser, scalar otherwise: chosen at run time).
//!
//! Why direct and not im2col + a matrix product: the digits' conv layers have 8 output
//! channels, so the patch matrix (72 floats per position, 13.5 MB for a batch of 60 on 28×28)
//! is written, read by a product that uses 8 of its lanes, and written again as the patch
//! gradient: the step was memory-bound. Here an output position's channels are one vector,
//! a block of positions is kept in registers, and nothing larger than a padded sample is
//! written.
//!
//! Every lane is one output value accumulated on its own in a fixed order (bias, then taps
//! row by row, input channels innermost), so the result does not depend on the vector width.
//! A multiply-add is fused where the instruction set has it (natively AVX2/FMA) and a multiply
//! then an add where it has not (the browser's simd128): `madd`.

use pulp::{Simd, WithSimd};

use crate::model::ConvGeometry;

/// The shape numbers the loops need, with the padded input's size.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub height: usize,
    pub width: usize,
    pub cin: usize,
    pub padded_h: usize,
    pub padded_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub cout: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}

impl Dims {
    pub fn of(g: &ConvGeometry) -> Self {
        Self {
            height: g.input.height,
            width: g.input.width,
            cin: g.input.channels,
            padded_h: g.input.height + 2 * g.pad_h,
            padded_w: g.input.width + 2 * g.pad_w,
            out_h: g.output.height,
            out_w: g.output.width,
            cout: g.output.channels,
            kernel_h: g.kernel_h,
            kernel_w: g.kernel_w,
            stride_h: g.stride_h,
            stride_w: g.stride_w,
            pad_h: g.pad_h,
            pad_w: g.pad_w,
        }
    }

    pub fn input_len(&self) -> usize {
        self.height * self.width * self.cin
    }

    pub fn output_len(&self) -> usize {
        self.out_h * self.out_w * self.cout
    }

    fn padded_len(&self) -> usize {
        self.padded_h * self.padded_w * self.cin
    }

    /// Where the padded input's row `y` starts.
    fn padded_row(&self, y: usize) -> usize {
        y * self.padded_w * self.cin
    }

    /// Floats of one kernel row's taps × input channels: contiguous in the padded input.
    fn kernel_row_len(&self) -> usize {
        self.kernel_w * self.cin
    }
}

/// Copy `sample` into the interior of `padded`, whose border stays as it is (zeros).
fn pad_into(sample: &[f32], d: &Dims, padded: &mut [f32]) {
    let row = d.width * d.cin;
    for y in 0..d.height {
        let at = d.padded_row(y + d.pad_h) + d.pad_w * d.cin;
        padded[at..at + row].copy_from_slice(&sample[y * row..(y + 1) * row]);
    }
}

/// `width` (1..=lanes) floats from `s` as a vector (the rest zero).
#[inline(always)]
fn load<S: Simd>(simd: S, s: &[f32]) -> S::f32s {
    if s.len() == S::F32_LANES {
        S::as_simd_f32s(s).0[0]
    } else {
        simd.partial_load_f32s(s)
    }
}

#[inline(always)]
fn store<S: Simd>(simd: S, s: &mut [f32], v: S::f32s) {
    if s.len() == S::F32_LANES {
        S::as_mut_simd_f32s(s).0[0] = v;
    } else {
        simd.partial_store_f32s(s, v);
    }
}

/// `a·b + c`, lane by lane: pulp's "estimate" form, one FMA where the instruction set has it
/// and a multiply and an add where it has not. Its exact form (`mul_add_f32s`) is the same
/// FMA natively, but in wasm (simd128 has no FMA) a software `fmaf` call per lane, which made
/// the conv net train at 212 samples/s in Chromium instead of thousands.
#[inline(always)]
fn madd<S: Simd>(simd: S, a: S::f32s, b: S::f32s, c: S::f32s) -> S::f32s {
    simd.mul_add_e_f32s(a, b, c)
}

/// Run `block::<P>` over `0..n` in blocks of 8, then 4, then 1.
macro_rules! in_blocks {
    ($n:expr, |$start:ident, $p:ident| $body:expr) => {{
        let n = $n;
        let mut $start = 0;
        while $start + 8 <= n {
            {
                const $p: usize = 8;
                $body;
            }
            $start += 8;
        }
        while $start + 4 <= n {
            {
                const $p: usize = 4;
                $body;
            }
            $start += 4;
        }
        while $start < n {
            {
                const $p: usize = 1;
                $body;
            }
            $start += 1;
        }
    }};
}

/// `out = conv(x, weight) + bias`, then `max(·, 0)` when `relu`, for whole samples.
pub struct Forward<'a> {
    pub dims: Dims,
    pub x: &'a [f32],
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub relu: bool,
    pub out: &'a mut [f32],
}

impl WithSimd for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            dims: d,
            x,
            weight,
            bias,
            relu,
            out,
        } = self;
        let lanes = S::F32_LANES;
        let mut padded = vec![0.0; d.padded_len()];
        for (sample, out) in x
            .chunks_exact(d.input_len())
            .zip(out.chunks_exact_mut(d.output_len()))
        {
            pad_into(sample, &d, &mut padded);
            for c0 in (0..d.cout).step_by(lanes) {
                let width = lanes.min(d.cout - c0);
                let b = load(simd, &bias[c0..c0 + width]);
                for oy in 0..d.out_h {
                    in_blocks!(d.out_w, |ox, P| forward_block::<S, P>(
                        simd, &d, &padded, weight, b, oy, ox, c0, width, out
                    ));
                }
            }
            if relu {
                for v in out.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
    }
}

/// `P` neighbouring output positions of row `oy` from `ox0`, channels `c0..c0 + width`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_block<S: Simd, const P: usize>(
    simd: S,
    d: &Dims,
    padded: &[f32],
    weight: &[f32],
    bias: S::f32s,
    oy: usize,
    ox0: usize,
    c0: usize,
    width: usize,
    out: &mut [f32],
) {
    let mut acc = [bias; P];
    let step = d.stride_w * d.cin;
    for ky in 0..d.kernel_h {
        let first = d.padded_row(oy * d.stride_h + ky) + ox0 * step;
        let taps = &padded[first..first + (P - 1) * step + d.kernel_row_len()];
        let w_rows = &weight[ky * d.kernel_row_len() * d.cout..];
        for (j, w_row) in w_rows
            .chunks_exact(d.cout)
            .take(d.kernel_row_len())
            .enumerate()
        {
            let w = load(simd, &w_row[c0..c0 + width]);
            for (p, acc) in acc.iter_mut().enumerate() {
                // SAFETY: p < P and j < kernel_row_len, so p·step + j < taps.len() by
                // taps' construction above (the bounds check cost a fifth of the loop).
                let x = unsafe { *taps.get_unchecked(p * step + j) };
                *acc = madd(simd, simd.splat_f32s(x), w, *acc);
            }
        }
    }
    for (p, acc) in acc.into_iter().enumerate() {
        let at = (oy * d.out_w + ox0 + p) * d.cout + c0;
        store(simd, &mut out[at..at + width], acc);
    }
}

/// dL/dx for whole samples from `delta` = dL/d(pre-activation), with the weights laid out
/// tap by tap and output channel by output channel (`weight_t[(tap·Cout + o)·Cin + c]`), so
/// that an input position's channels are one vector.
pub struct InputGrad<'a> {
    pub dims: Dims,
    pub delta: &'a [f32],
    pub weight_t: &'a [f32],
    pub dx: &'a mut [f32],
}

impl WithSimd for InputGrad<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            dims: d,
            delta,
            weight_t,
            dx,
        } = self;
        let lanes = S::F32_LANES;
        let mut padded = vec![0.0; d.padded_len()];
        for (delta, dx) in delta
            .chunks_exact(d.output_len())
            .zip(dx.chunks_exact_mut(d.input_len()))
        {
            padded.fill(0.0);
            for c0 in (0..d.cin).step_by(lanes) {
                let width = lanes.min(d.cin - c0);
                for oy in 0..d.out_h {
                    in_blocks!(d.out_w, |ox, P| input_grad_block::<S, P>(
                        simd,
                        &d,
                        delta,
                        weight_t,
                        oy,
                        ox,
                        c0,
                        width,
                        &mut padded
                    ));
                }
            }
            // The interior is the gradient; the border's sums fell on the zero padding.
            let row = d.width * d.cin;
            for y in 0..d.height {
                let at = d.padded_row(y + d.pad_h) + d.pad_w * d.cin;
                dx[y * row..(y + 1) * row].copy_from_slice(&padded[at..at + row]);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn input_grad_block<S: Simd, const P: usize>(
    simd: S,
    d: &Dims,
    delta: &[f32],
    weight_t: &[f32],
    oy: usize,
    ox0: usize,
    c0: usize,
    width: usize,
    padded: &mut [f32],
) {
    let deltas = &delta[(oy * d.out_w + ox0) * d.cout..(oy * d.out_w + ox0 + P) * d.cout];
    for ky in 0..d.kernel_h {
        for kx in 0..d.kernel_w {
            let tap = ky * d.kernel_w + kx;
            let mut acc = [simd.splat_f32s(0.0); P];
            let w_rows = &weight_t[tap * d.cout * d.cin..(tap + 1) * d.cout * d.cin];
            for (o, w_row) in w_rows.chunks_exact(d.cin).enumerate() {
                let w = load(simd, &w_row[c0..c0 + width]);
                for (p, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: p < P and o < cout: inside `deltas` (P positions × cout).
                    let g = unsafe { *deltas.get_unchecked(p * d.cout + o) };
                    *acc = madd(simd, simd.splat_f32s(g), w, *acc);
                }
            }
            for (p, acc) in acc.into_iter().enumerate() {
                let at =
                    d.padded_row(oy * d.stride_h + ky) + ((ox0 + p) * d.stride_w + kx) * d.cin + c0;
                let dst = &mut padded[at..at + width];
                let sum = simd.add_f32s(load(simd, dst), acc);
                store(simd, dst, sum);
            }
        }
    }
}

/// dL/dW for whole samples, added onto `grad_weight` (`[taps·Cin, Cout]`).
pub struct WeightGrad<'a> {
    pub dims: Dims,
    pub x: &'a [f32],
    pub delta: &'a [f32],
    pub grad_weight: &'a mut [f32],
}

impl WithSimd for WeightGrad<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            dims: d,
            x,
            delta,
            grad_weight,
        } = self;
        let lanes = S::F32_LANES;
        let mut padded = vec![0.0; d.padded_len()];
        for (sample, delta) in x
            .chunks_exact(d.input_len())
            .zip(delta.chunks_exact(d.output_len()))
        {
            pad_into(sample, &d, &mut padded);
            for c0 in (0..d.cout).step_by(lanes) {
                let width = lanes.min(d.cout - c0);
                for ky in 0..d.kernel_h {
                    in_blocks!(d.kernel_row_len(), |j, R| weight_grad_block::<S, R>(
                        simd,
                        &d,
                        &padded,
                        delta,
                        ky,
                        j,
                        c0,
                        width,
                        grad_weight
                    ));
                }
            }
        }
    }
}

/// Weight rows `ky·kw·Cin + j0 ..+ R` (neighbouring taps and channels of kernel row `ky`),
/// columns `c0..c0 + width`, summed over one sample's positions.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn weight_grad_block<S: Simd, const R: usize>(
    simd: S,
    d: &Dims,
    padded: &[f32],
    delta: &[f32],
    ky: usize,
    j0: usize,
    c0: usize,
    width: usize,
    grad_weight: &mut [f32],
) {
    let mut acc = [simd.splat_f32s(0.0); R];
    let step = d.stride_w * d.cin;
    for (oy, deltas) in delta.chunks_exact(d.out_w * d.cout).enumerate() {
        let row = d.padded_row(oy * d.stride_h + ky) + j0;
        let xs = &padded[row..row + (d.out_w - 1) * step + R];
        for (ox, g) in deltas.chunks_exact(d.cout).enumerate() {
            let g = load(simd, &g[c0..c0 + width]);
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: ox < out_w and r < R, so ox·step + r < xs.len() by its
                // construction above.
                let x = unsafe { *xs.get_unchecked(ox * step + r) };
                *acc = madd(simd, simd.splat_f32s(x), g, *acc);
            }
        }
    }
    for (r, acc) in acc.into_iter().enumerate() {
        let at = (ky * d.kernel_row_len() + j0 + r) * d.cout + c0;
        let dst = &mut grad_weight[at..at + width];
        let sum = simd.add_f32s(load(simd, dst), acc);
        store(simd, dst, sum);
    }
}

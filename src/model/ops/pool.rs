//! Max-pooling on channels-last activations (non-overlapping windows): the forward pass keeps
//! which input won each window, so the backward pass routes the gradient there alone.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::model::PoolGeometry;

/// `out[n, (oy·Wo + ox)·C + c]` = the window's maximum; `winners` (same shape) gets the
/// input index it came from. The first maximum wins a tie, as PyTorch's.
pub fn forward(
    x: ArrayView2<f32>,
    g: &PoolGeometry,
    out: &mut Array2<f32>,
    winners: &mut Vec<u32>,
) {
    let (w, c) = (g.input.width, g.input.channels);
    let (ho, wo) = (g.output.height, g.output.width);
    winners.resize(x.nrows() * g.output.len(), 0);
    for (n, (sample, mut dst)) in x.outer_iter().zip(out.outer_iter_mut()).enumerate() {
        let sample = sample.as_slice().expect("contiguous rows");
        let dst = dst.as_slice_mut().expect("contiguous rows");
        let won = &mut winners[n * g.output.len()..][..g.output.len()];
        for oy in 0..ho {
            for ox in 0..wo {
                // All channels of a window at once (contiguous, channels last): the window's
                // first position starts as the best, later ones replace it only when larger,
                // so the first maximum wins a tie; a NaN never replaces (nor is replaced).
                let j = (oy * wo + ox) * c;
                let (best, at) = (&mut dst[j..j + c], &mut won[j..j + c]);
                let start = ((oy * g.size_h) * w + ox * g.size_w) * c;
                best.copy_from_slice(&sample[start..start + c]);
                for (k, a) in at.iter_mut().enumerate() {
                    *a = (start + k) as u32;
                }
                for ky in 0..g.size_h {
                    for kx in 0..g.size_w {
                        if ky == 0 && kx == 0 {
                            continue;
                        }
                        let i = ((oy * g.size_h + ky) * w + ox * g.size_w + kx) * c;
                        for (k, ((b, a), &v)) in best
                            .iter_mut()
                            .zip(at.iter_mut())
                            .zip(&sample[i..i + c])
                            .enumerate()
                        {
                            // Selects, not branches: which input wins is data, and a
                            // mispredicted branch per channel cost more than the max.
                            let wins = v > *b;
                            *b = if wins { v } else { *b };
                            *a = if wins { (i + k) as u32 } else { *a };
                        }
                    }
                }
            }
        }
    }
}

/// dL/dx from dL/d(out): each window's gradient goes to its winner (`dx` is overwritten).
pub fn backward(
    delta: ArrayView2<f32>,
    g: &PoolGeometry,
    winners: &[u32],
    dx: &mut ArrayViewMut2<f32>,
) {
    dx.fill(0.0);
    let len = g.output.len();
    for (n, (d, mut dst)) in delta.outer_iter().zip(dx.outer_iter_mut()).enumerate() {
        let won = &winners[n * len..][..len];
        for (&v, &at) in d.iter().zip(won) {
            dst[at as usize] += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Shape;

    #[test]
    fn takes_each_windows_maximum_and_routes_the_gradient_back() {
        // One 4×5 image, 2 channels: the ragged last column is dropped.
        let g = PoolGeometry {
            input: Shape {
                height: 4,
                width: 5,
                channels: 2,
            },
            output: Shape {
                height: 2,
                width: 2,
                channels: 2,
            },
            size_h: 2,
            size_w: 2,
        };
        let x = Array2::from_shape_fn((1, 40), |(_, i)| ((i * 7) % 11) as f32);
        let mut out = Array2::zeros((1, 8));
        let mut winners = Vec::new();
        forward(x.view(), &g, &mut out, &mut winners);
        for (j, (&v, &at)) in out.iter().zip(&winners).enumerate() {
            let (oy, ox, c) = (j / 4, (j / 2) % 2, j % 2);
            let window: Vec<f32> = (0..2)
                .flat_map(|ky| (0..2).map(move |kx| ((oy * 2 + ky) * 5 + ox * 2 + kx) * 2 + c))
                .map(|i| x[(0, i)])
                .collect();
            assert_eq!(v, window.iter().copied().fold(f32::MIN, f32::max));
            assert_eq!(x[(0, at as usize)], v);
        }
        let delta = Array2::from_elem((1, 8), 1.0);
        let mut dx = Array2::zeros((1, 40));
        backward(delta.view(), &g, &winners, &mut dx.view_mut());
        assert_eq!(dx.sum(), 8.0);
        assert!(winners.iter().all(|&at| dx[(0, at as usize)] == 1.0));
    }
}

//! Matrix products for every CPU computation (training and inference), through the `gemm` crate: it reads any strides (so a
//! transposed view costs nothing extra) and, natively, splits large products over every
//! core (Rayon). Small products stay on one thread, where threads cost more than they give
//! (measured on a 2-core machine: LeNet's 60x300x100 product slows down on two).

use ndarray::{ArrayView2, ArrayViewMut2};

/// Products with at least this many multiply-adds use every core (natively).
const PARALLEL_MIN_MACS: usize = 4_000_000;

/// `c = a · b`, or `c += a · b` when `accumulate`.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>, accumulate: bool) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul shapes {:?} · {:?} -> {:?}",
        a.dim(),
        b.dim(),
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: the pointers and strides come from live ndarray views of the stated shapes;
    // `c` is borrowed mutably, so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            // gemm computes dst = alpha·dst + beta·(lhs·rhs).
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism(m * n * k),
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn parallelism(macs: usize) -> gemm::Parallelism {
    if macs >= PARALLEL_MIN_MACS {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

#[cfg(target_arch = "wasm32")]
fn parallelism(_macs: usize) -> gemm::Parallelism {
    let _ = PARALLEL_MIN_MACS;
    gemm::Parallelism::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn reference(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|k| a[(i, k)] * b[(k, j)]).sum()
        })
    }

    #[test]
    fn matches_the_naive_product_for_plain_and_transposed_views() {
        let mut rng = crate::rng::rng(1, "test");
        let mut random = |r, c| {
            use rand::Rng as _;
            Array2::from_shape_simple_fn((r, c), || rng.random::<f32>() - 0.5)
        };
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (60, 784, 300), (17, 33, 9)] {
            let a = random(m, k);
            let b = random(k, n);
            let expected = reference(&a, &b);
            let mut c = Array2::zeros((m, n));
            matmul(a.view(), b.view(), c.view_mut(), false);
            let err = (&c - &expected).iter().fold(0.0f32, |e, v| e.max(v.abs()));
            assert!(err < 1e-3, "{m}x{k}x{n}: {err}");
            // Transposed operands, and accumulation.
            let (at, bt) = (a.t().to_owned(), b.t().to_owned());
            matmul(at.t(), bt.t(), c.view_mut(), true);
            let err = (&c - &(&expected * 2.0))
                .iter()
                .fold(0.0f32, |e, v| e.max(v.abs()));
            assert!(err < 2e-3, "{m}x{k}x{n} transposed: {err}");
        }
    }
}

//! A dense layer: `out = x · W + b` with `W` `[fan_in, fan_out]` (no transpose in the forward
//! product). The CPU reference for `train/gpu/kernels/linear.wgsl`.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

use super::matmul::matmul;

/// `out = relu(x · weight + bias)` (`relu` optional).
pub fn forward(
    x: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    bias: ArrayView1<f32>,
    relu: bool,
    out: &mut Array2<f32>,
) {
    let dim = out.dim();
    out.assign(&bias.broadcast(dim).expect("bias fits the layer"));
    matmul(x, weight, out.view_mut(), true);
    if relu {
        out.mapv_inplace(|v| v.max(0.0));
    }
}

/// Given `delta` = dL/d(pre-activation): the weight and bias gradients (overwritten) and,
/// when `dx` is given, dL/dx = `delta · Wᵀ` (overwritten).
pub fn backward(
    x: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    delta: ArrayView2<f32>,
    grad_weight: &mut Array2<f32>,
    grad_bias: &mut Array1<f32>,
    dx: Option<ArrayViewMut2<f32>>,
) {
    // dW = xᵀ · delta, db = Σ_rows delta.
    matmul(x.t(), delta, grad_weight.view_mut(), false);
    grad_bias.fill(0.0);
    for row in delta.outer_iter() {
        *grad_bias += &row;
    }
    if let Some(dx) = dx {
        matmul(delta, weight.t(), dx, false);
    }
}

//! The math of each layer kind on the CPU, one file per kind (forward, and the backward pass
//! training needs), and the whole network's passes over its plan ([`network`]). The CPU
//! engine trains with these, [`crate::model::infer`] evaluates with them, and they are the
//! CPU references the GPU kernels are tested against.
//!
//! A new layer kind is a file here, a variant of [`crate::model::LayerSpec`] and
//! [`crate::model::PlannedOp`], and one arm in each of [`network`]'s two passes.

pub mod conv;
pub mod dense;
pub mod matmul;
pub mod network;
pub mod pool;

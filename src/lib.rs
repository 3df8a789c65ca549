//! Lottery Lab: train small networks, prune them, reset them to their initial weights and
//! retrain — the Lottery Ticket Hypothesis as an experiment you can watch.
//!
//! Data flows one way, and the modules follow it:
//! [`data`] → [`model`] (spec, init, masks) → [`train`] (engines) → [`prune`] →
//! [`experiment`] (the IMP state machine and its record) → [`app`] (the egui views, which
//! read the record only). [`web`] is the page's entry point.

pub mod app;
pub mod data;
pub mod experiment;
pub mod model;
pub mod platform;
pub mod prune;
pub mod rng;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;

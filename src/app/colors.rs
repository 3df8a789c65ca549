//! Colours: one per run kind everywhere, and the diverging map of weight values.

use egui::Color32;

use crate::experiment::RunKind;

pub fn run_color(kind: RunKind) -> Color32 {
    match kind {
        RunKind::Ticket => Color32::from_rgb(230, 120, 20),
        RunKind::Reinit => Color32::from_rgb(60, 130, 220),
        RunKind::RandomPrune => Color32::from_rgb(150, 150, 150),
        RunKind::OneShot => Color32::from_rgb(70, 170, 90),
        RunKind::EarlyBird => Color32::from_rgb(200, 90, 200),
        RunKind::Unstructured => Color32::from_rgb(40, 170, 170),
        RunKind::TwoFour => Color32::from_rgb(210, 180, 40),
        RunKind::SmallDense => Color32::from_rgb(160, 200, 60),
    }
}

/// A pruning method's colour where methods are compared side by side (the IMP ticket keeps
/// its run colour).
pub fn method_color(method: crate::prune::PruneMethod) -> Color32 {
    use crate::prune::PruneMethod;
    match method {
        PruneMethod::Magnitude => run_color(RunKind::Ticket),
        PruneMethod::Snip => Color32::from_rgb(60, 130, 220),
        PruneMethod::Grasp => Color32::from_rgb(200, 90, 200),
        PruneMethod::Synflow => Color32::from_rgb(70, 170, 90),
        PruneMethod::InitMagnitude => Color32::from_rgb(40, 170, 170),
        PruneMethod::Random => Color32::from_rgb(150, 150, 150),
    }
}

/// Blue (negative) — white (0) — red (positive), for `t` in [-1, 1].
pub fn diverging(t: f32) -> Color32 {
    let t = t.clamp(-1.0, 1.0);
    let lerp = |a: f32, b: f32, s: f32| (a + (b - a) * s) as u8;
    if t < 0.0 {
        let s = -t;
        Color32::from_rgb(
            lerp(245.0, 33.0, s),
            lerp(245.0, 102.0, s),
            lerp(245.0, 172.0, s),
        )
    } else {
        Color32::from_rgb(
            lerp(245.0, 178.0, t),
            lerp(245.0, 24.0, t),
            lerp(245.0, 43.0, t),
        )
    }
}

/// Pruned weights: the background the survivors stand out from.
pub const PRUNED: Color32 = Color32::from_rgb(28, 28, 32);

//! The views' computations, done in the frame's work (before drawing, inside the session's
//! per-frame budget) rather than inside a panel's `ui()`: the sparsity slider's network
//! pruned to the slider's density and evaluated on the test set, a few chunks per frame,
//! through the one inference path. Panels only read the results.

use web_time::Instant;

use super::ViewState;
use super::session::{Session, SliderJob, SliderResult};
use crate::experiment::ExperimentRecord;
use crate::model::infer;
use crate::prune::{Group, PruneTarget, magnitude_prune};

/// How long the slider's evaluation may take per frame: dragging the slider over a large
/// network never stalls a frame; the result shows when complete.
const SLIDER_SLICE_S: f64 = 0.004;

/// The slider's density for the selected run, and the key its result is cached under.
pub fn slider_target(record: &ExperimentRecord, view: &ViewState) -> Option<(SliderKey, f64)> {
    let round = record.rounds.get(view.round)?;
    let run = round.shown_run(view.run)?;
    run.trained.as_ref()?;
    let density = (1.0 - f64::from(view.sparsity_percent) / 100.0).min(run.density);
    let key = (round.round, run.kind, (density * 10_000.0).round() as u32);
    Some((key, density))
}

pub type SliderKey = (usize, crate::experiment::RunKind, u32);

/// Start or continue the slider's evaluation; true while it has work left (the frame then
/// leaves training its least slice, see `Session::tick`).
pub fn advance_slider(session: &mut Session, view: &ViewState) -> bool {
    let Some((key, density)) = slider_target(session.experiment.record(), view) else {
        session.cache.slider_job = None;
        return false;
    };
    let stale = session.cache.slider.as_ref().is_none_or(|s| s.key != key);
    let started_already = session
        .cache
        .slider_job
        .as_ref()
        .is_some_and(|j| j.key == key);
    if !stale {
        session.cache.slider_job = None;
        return false;
    }
    if !started_already {
        let started = Instant::now();
        let record = session.experiment.record();
        let Some(run) = record
            .rounds
            .get(view.round)
            .and_then(|r| r.shown_run(view.run))
        else {
            return false;
        };
        let Some(trained) = &run.trained else {
            return false;
        };
        // Every layer shrinks by the same factor, keeping the run's per-layer proportions
        // (at the run's own density nothing is pruned).
        let factor = density / run.density.max(1e-12);
        let target = PruneTarget {
            groups: run
                .mask
                .kept_per_layer()
                .iter()
                .enumerate()
                .map(|(l, &kept)| Group {
                    layers: vec![l],
                    keep: ((kept as f64 * factor).round() as usize).min(kept),
                })
                .collect(),
        };
        let mask = magnitude_prune(trained, &run.mask, &target);
        session.cache.slider_job = Some(SliderJob {
            key,
            pruned: trained.masked(&mask),
            density: mask.density(),
            partial: Default::default(),
            buffers: Default::default(),
            spent_ms: started.elapsed().as_secs_f64() * 1e3,
        });
    }
    let Some(job) = &mut session.cache.slider_job else {
        return false;
    };
    let started = Instant::now();
    let data = session.experiment.data();
    let done = loop {
        let chunk = infer::evaluate_chunk(
            &job.pruned,
            &data.test,
            data.positive_class,
            &mut job.buffers,
            &mut job.partial,
        );
        if chunk.is_some() || started.elapsed().as_secs_f64() > SLIDER_SLICE_S {
            break chunk;
        }
    };
    job.spent_ms += started.elapsed().as_secs_f64() * 1e3;
    let Some(eval) = done else {
        return true;
    };
    let metric = if data.positive_class.is_some() {
        eval.auc.map_or(0.5, f64::from)
    } else {
        f64::from(eval.accuracy)
    };
    session.cache.slider = Some(SliderResult {
        key: job.key,
        density: job.density,
        metric,
        elapsed_ms: job.spent_ms,
    });
    session.cache.slider_job = None;
    false
}

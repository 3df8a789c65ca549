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

/// The smallest chunk the slider evaluates (and its first, before a row has been timed).
const MIN_ROWS: usize = 8;

/// Rows for a chunk that fits `left_s` at `row_cost_s` a row: a power of two (the
/// evaluation's buffers are kept per size) between [`MIN_ROWS`] and [`infer::EVAL_CHUNK`].
fn chunk_rows(row_cost_s: Option<f64>, left_s: f64) -> usize {
    let Some(cost) = row_cost_s.filter(|c| *c > 0.0) else {
        return MIN_ROWS;
    };
    let fits = (left_s.max(0.0) / cost) as usize;
    let rows = if fits < 2 {
        1
    } else {
        1 << (usize::BITS - 1 - fits.leading_zeros())
    };
    rows.clamp(MIN_ROWS, infer::EVAL_CHUNK)
}

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

/// At a run's own density (where the slider rests while the hall follows the latest round)
/// nothing is pruned: the result is the run's last evaluation, of these very weights on the
/// same test set through the same inference path, so a new round costs its frames no test
/// set evaluation (2,000 LeNet rows: ~20 frames' slices under a software painter).
fn from_the_record(
    record: &ExperimentRecord,
    view: &ViewState,
    key: SliderKey,
    density: f64,
) -> Option<SliderResult> {
    let round = record.rounds.get(view.round)?;
    let run = round.shown_run(view.run)?;
    let last = run.final_point()?;
    let at_own_density = density >= run.density;
    // The weights kept are those of the last evaluation only when the run trained to its end.
    let trained_to_the_end = run.stopped.is_none() && last.iteration == record.config.iterations;
    if !(at_own_density && trained_to_the_end) {
        return None;
    }
    let metric = if record.data.positive_class.is_some() {
        last.test_auc.map_or(0.5, f64::from)
    } else {
        f64::from(last.test_accuracy)
    };
    Some(SliderResult {
        key,
        density: run.density,
        metric,
        elapsed_ms: None,
    })
}

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
        if let Some(result) = from_the_record(session.experiment.record(), view, key, density) {
            session.cache.slider = Some(result);
            session.cache.slider_job = None;
            return false;
        }
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
        // At the run's own density (where the slider starts) the mask is the run's: no
        // ranking of a quarter-million weights in the frame that shows a new round.
        let mask = if factor >= 1.0 {
            run.mask.clone()
        } else {
            magnitude_prune(trained, &run.mask, &target)
        };
        session.cache.slider_job = Some(SliderJob {
            key,
            pruned: trained.masked(&mask),
            density: mask.density(),
            partial: Default::default(),
            buffers: Default::default(),
            spent_ms: started.elapsed().as_secs_f64() * 1e3,
        });
        // Pruning took this frame's share; the evaluation starts next frame.
        return true;
    }
    let Some(job) = &mut session.cache.slider_job else {
        return false;
    };
    let started = Instant::now();
    let data = session.experiment.data();
    let row_cost = &mut session.cache.slider_row_cost_s;
    let done = loop {
        let rows = chunk_rows(*row_cost, SLIDER_SLICE_S - started.elapsed().as_secs_f64());
        let call = Instant::now();
        let chunk = infer::evaluate_rows(
            &job.pruned,
            &data.test,
            data.positive_class,
            rows,
            &mut job.buffers,
            &mut job.partial,
        );
        let cost = call.elapsed().as_secs_f64() / rows as f64;
        *row_cost = Some(row_cost.map_or(cost, |c| 0.7 * c + 0.3 * cost));
        let left = SLIDER_SLICE_S - started.elapsed().as_secs_f64();
        if chunk.is_some() || left < 2.0 * MIN_ROWS as f64 * row_cost.unwrap_or(0.0) {
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
        elapsed_ms: Some(job.spent_ms),
    });
    session.cache.slider_job = None;
    false
}

#[cfg(test)]
mod tests {
    use super::{MIN_ROWS, chunk_rows};
    use crate::model::infer::EVAL_CHUNK;

    #[test]
    fn chunks_fit_what_is_left_of_the_slice() {
        // Untimed: the smallest chunk, to time a row.
        assert_eq!(chunk_rows(None, 0.004), MIN_ROWS);
        // 60 us a row (LeNet under a software painter), 4 ms left: 66 rows fit, 64 taken.
        assert_eq!(chunk_rows(Some(60e-6), 0.004), 64);
        // Cheap rows: capped at the evaluation's chunk.
        assert_eq!(chunk_rows(Some(1e-7), 0.004), EVAL_CHUNK);
        // Nothing left, or rows dearer than the slice: still the smallest chunk (progress).
        assert_eq!(chunk_rows(Some(60e-6), -0.001), MIN_ROWS);
        assert_eq!(chunk_rows(Some(1.0), 0.004), MIN_ROWS);
    }
}

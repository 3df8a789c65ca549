//! The sparsity slider: drag the selected trained network down to 1% of its weights, pruned
//! by magnitude *without retraining*, and see its test accuracy next to the ticket's at the
//! nearest density the experiment reached — "pruning without retraining falls off a cliff,
//! the ticket does not".

use web_time::Instant;

use super::accuracy::metric;
use crate::app::LabApp;
use crate::app::session::{SliderJob, SliderResult};
use crate::experiment::RunKind;
use crate::model::infer;
use crate::prune::{Group, PruneTarget, magnitude_prune};

pub fn ui(app: &mut LabApp, ui: &mut egui::Ui) {
    let view = &mut app.view;
    let Some(session) = &mut app.session else {
        return;
    };
    let record = session.experiment.record();
    let Some(round) = record.rounds.get(view.round) else {
        ui.label("Sparsity slider: available once the first round has finished.");
        return;
    };
    let Some(run) = round.shown_run(view.run) else {
        return;
    };
    let kind = run.kind;
    let Some(trained) = &run.trained else {
        ui.label("Sparsity slider: this experiment does not keep trained weights.");
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.strong("Sparsity slider");
        ui.add(
            egui::Slider::new(&mut view.sparsity_percent, 0.0..=99.0)
                .suffix("% sparsity")
                .text(format!(
                    "prune round {} {} without retraining",
                    round.round,
                    kind.label()
                )),
        );
    });
    let density = (1.0 - f64::from(view.sparsity_percent) / 100.0).min(run.density);
    let key = (round.round, kind, (density * 10_000.0).round() as u32);
    let stale = session.cache.slider.as_ref().is_none_or(|s| s.key != key);
    let started_already = session
        .cache
        .slider_job
        .as_ref()
        .is_some_and(|j| j.key == key);
    if stale && !started_already {
        let started = Instant::now();
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
    // Evaluate on the test set a few chunks per frame (about 4 ms), so that dragging the
    // slider over a large network never stalls a frame; the result shows when complete.
    if let Some(job) = &mut session.cache.slider_job {
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
            if chunk.is_some() || started.elapsed().as_secs_f64() > 0.004 {
                break chunk;
            }
        };
        job.spent_ms += started.elapsed().as_secs_f64() * 1e3;
        match done {
            Some(eval) => {
                let value = if data.positive_class.is_some() {
                    eval.auc.map_or(0.5, f64::from)
                } else {
                    f64::from(eval.accuracy)
                };
                session.cache.slider = Some(SliderResult {
                    key: job.key,
                    density: job.density,
                    metric: value,
                    elapsed_ms: job.spent_ms,
                });
                session.cache.slider_job = None;
            }
            None => ui.ctx().request_repaint(),
        }
    }
    if session.cache.slider_job.is_some() {
        session.cache.view_work_pending = true;
    }
    let Some(result) = &session.cache.slider else {
        return;
    };
    if result.key != key {
        ui.weak("evaluating…");
    }
    let auc = record.data.positive_class.is_some();
    let show = |v: f64| {
        if auc {
            format!("AUC {v:.3}")
        } else {
            format!("{:.2}%", v * 100.0)
        }
    };
    // The ticket at the finished density nearest the slider's.
    let nearest = record
        .rounds
        .iter()
        .filter_map(|r| Some((r.density(), metric(record, r.run(RunKind::Ticket)?)?)))
        .min_by(|a, b| {
            (a.0.ln() - result.density.ln())
                .abs()
                .total_cmp(&(b.0.ln() - result.density.ln()).abs())
        });
    ui.horizontal_wrapped(|ui| {
        ui.label(
            egui::RichText::new(format!(
                "{:.1}% remaining, no retraining: {}",
                result.density * 100.0,
                show(result.metric)
            ))
            .size(18.0)
            .color(egui::Color32::from_rgb(220, 90, 70)),
        );
        if let Some((d, v)) = nearest {
            let v = if auc { v } else { v / 100.0 };
            ui.label(
                egui::RichText::new(format!(
                    "   ticket at {:.1}% (retrained from θ₀): {}",
                    d * 100.0,
                    show(v)
                ))
                .size(18.0)
                .color(crate::app::colors::run_color(RunKind::Ticket)),
            );
        }
        ui.weak(format!("({:.0} ms)", result.elapsed_ms));
    });
}

//! The sparsity slider: drag the selected trained network down to 1% of its weights, pruned
//! by magnitude *without retraining*, and see its test accuracy next to the ticket's at the
//! nearest density the experiment reached — "pruning without retraining falls off a cliff,
//! the ticket does not".

use super::accuracy::metric;
use super::{Action, PlotInput, PlotPanel};
use crate::app::view_work::slider_target;
use crate::experiment::RunKind;

/// See the module's documentation. The pruning and the evaluation run in the frame's work
/// (`app::view_work`), a few test chunks per frame; this panel shows the slider and the result.
pub struct Slider;

impl PlotPanel for Slider {
    fn name(&self) -> &'static str {
        "sparsity-slider"
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        show(input, ui)
    }
}

fn show(input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
    let (record, view) = (input.record, input.view);
    let Some(round) = record.rounds.get(view.round) else {
        ui.label("Sparsity slider: available once the first round has finished.");
        return None;
    };
    let run = round.shown_run(view.run)?;
    let kind = run.kind;
    if run.trained.is_none() {
        ui.label("Sparsity slider: this experiment does not keep trained weights.");
        return None;
    }
    let mut sparsity = view.sparsity_percent;
    ui.horizontal_wrapped(|ui| {
        ui.strong("Sparsity slider");
        ui.add(
            egui::Slider::new(&mut sparsity, 0.0..=99.0)
                .suffix("% sparsity")
                .text(format!(
                    "prune round {} {} without retraining",
                    round.round,
                    kind.name(record.config.method)
                )),
        );
    });
    let action = (sparsity != view.sparsity_percent).then_some(Action::SetSparsity(sparsity));
    let key = slider_target(input.record, view).map(|(key, _)| key);
    if input.cache.slider_job.is_some() {
        ui.ctx().request_repaint();
    }
    let Some(result) = &input.cache.slider else {
        return action;
    };
    if Some(result.key) != key {
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
        match result.elapsed_ms {
            Some(ms) => ui.weak(format!("({ms:.0} ms)")),
            None => ui.weak("(the run's last evaluation)"),
        };
    });
    action
}

//! Learning curves of the ticket, one per round, with the early-stop point marked, and the
//! paper's "tickets learn faster": early-stop iteration against density.

use egui_plot::{Legend, Line, MarkerShape, Plot, Points};

use super::accuracy::{density_x, metric_name};
use super::{Action, PlotInput, PlotPanel};
use crate::app::ViewState;
use crate::app::colors::run_color;
use crate::experiment::{ExperimentRecord, RunKind};
use crate::train::EvalPoint;

fn value(point: &EvalPoint, auc: bool) -> Option<f64> {
    if auc {
        point.test_auc.map(f64::from)
    } else {
        Some(f64::from(point.val_accuracy) * 100.0)
    }
}

/// See the module's documentation.
pub struct Curves;

impl PlotPanel for Curves {
    fn name(&self) -> &'static str {
        "learning-curves"
    }

    fn half_width(&self) -> bool {
        true
    }

    fn separated(&self) -> bool {
        false
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        show(input.record, input.live, input.view, ui);
        None
    }
}

fn show(
    record: &ExperimentRecord,
    live: Option<(RunKind, &[EvalPoint])>,
    view: &ViewState,
    ui: &mut egui::Ui,
) {
    let auc = record.data.positive_class.is_some();
    ui.strong(if auc {
        "Learning curves (test AUC), ticket per round"
    } else {
        "Learning curves (validation accuracy %), ticket per round"
    });
    let rounds = record.rounds.len().max(1) as f32;
    Plot::new("learning-curves")
        .height(170.0)
        .x_axis_label("iteration")
        .allow_scroll(false)
        .show(ui, |plot| {
            for round in &record.rounds {
                let Some(run) = round.run(RunKind::Ticket) else {
                    continue;
                };
                let selected = round.round == view.round;
                // Later rounds darker: the hall sees the curves move as the network thins.
                let shade = 1.0 - 0.7 * round.round as f32 / rounds;
                let color = run_color(RunKind::Ticket).gamma_multiply(if selected {
                    1.0
                } else {
                    shade * 0.6
                });
                let points: Vec<[f64; 2]> = run
                    .curve
                    .iter()
                    .filter_map(|p| Some([p.iteration as f64, value(p, auc)?]))
                    .collect();
                plot.line(
                    Line::new(format!("round {}", round.round), points)
                        .color(color)
                        .width(if selected { 3.0 } else { 1.0 }),
                );
                if let Some(stop) = &run.early_stop
                    && let Some(point) = run.curve.iter().find(|p| p.iteration == stop.iteration)
                    && let Some(v) = value(point, auc)
                {
                    plot.points(
                        Points::new("early stop", vec![[stop.iteration as f64, v]])
                            .shape(MarkerShape::Circle)
                            .radius(4.0)
                            .color(color),
                    );
                }
            }
            if let Some((kind, curve)) = live {
                let points: Vec<[f64; 2]> = curve
                    .iter()
                    .filter_map(|p| Some([p.iteration as f64, value(p, auc)?]))
                    .collect();
                plot.line(
                    Line::new(
                        format!("training now: {}", kind.name(record.config.method)),
                        points,
                    )
                    .color(egui::Color32::WHITE)
                    .width(2.0),
                );
            }
        });
    let _ = metric_name(record);
    ui.strong("Early-stop iteration vs weights remaining (tickets learn faster)");
    Plot::new("early-stop")
        .height(120.0)
        .legend(Legend::default())
        .x_axis_formatter(|mark, _| super::accuracy::percent_label(10f64.powf(-mark.value)))
        .include_x(density_x(1.0))
        .include_x(density_x(0.01))
        .allow_scroll(false)
        .show(ui, |plot| {
            for kind in [RunKind::Ticket, RunKind::Reinit] {
                let points: Vec<[f64; 2]> = record
                    .rounds
                    .iter()
                    .filter_map(|r| {
                        let run = r
                            .run(kind)
                            .or_else(|| (r.round == 0).then(|| r.run(RunKind::Ticket)).flatten())?;
                        Some([
                            density_x(run.density),
                            run.early_stop.as_ref()?.iteration as f64,
                        ])
                    })
                    .collect();
                plot.line(
                    Line::new(kind.name(record.config.method), points).color(run_color(kind)),
                );
            }
        });
}

//! Late rewinding, once the experiment is done: the ticket at the selected round's density
//! (one-shot magnitude pruning of the dense network) with its survivors reset to θ_k for a few
//! k, beside the same mask with fresh random weights and the dense network.

use egui_plot::{HLine, Legend, Line, MarkerShape, Plot, Points};

use super::{Action, PlotInput, PlotPanel};
use crate::app::colors::run_color;
use crate::experiment::studies::StudyRequest;
use crate::experiment::{RunKind, Status};

/// See the module's documentation.
pub struct Rewinding;

impl PlotPanel for Rewinding {
    fn name(&self) -> &'static str {
        "rewinding"
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        let record = input.record;
        if record.status != Status::Finished && input.rewinding.is_none() {
            return None;
        }
        ui.strong("Late rewinding: reset the survivors to θ_k, not θ₀");
        ui.label(
            "Frankle et al.: for larger networks resetting to θ₀ fails, and rewinding to an early \
             iteration k works. Each point prunes the dense network one-shot to the selected \
             round's density, resets the survivors to θ_k and retrains.",
        );
        let mut action = None;
        let round = input.view.round.min(record.rounds.len().saturating_sub(1));
        let density = record.rounds.get(round).map_or(1.0, |r| r.density());
        let text_id = ui.make_persistent_id("rewinding-k");
        let mut text = ui
            .data_mut(|d| d.get_temp::<String>(text_id))
            .unwrap_or_else(|| default_rewind_at(record.config.iterations));
        let running = input
            .rewinding
            .is_some_and(|(r, _)| r.status == Status::Running);
        ui.horizontal_wrapped(|ui| {
            ui.label("rewind to iterations");
            ui.add(egui::TextEdit::singleline(&mut text).desired_width(130.0))
                .on_hover_text("k, comma-separated: 0 = θ₀ (the original ticket)");
            let label = format!(
                "Sweep: rewind the ticket ({:.1}% of the weights) to each θ_k",
                density * 100.0
            );
            let usable = round > 0 && !running;
            let button = ui.add_enabled(usable, egui::Button::new(label));
            if round == 0 {
                button.on_disabled_hover_text("select a pruned round: its density is swept");
            } else if button.clicked() {
                action = Some(match super::stability::parse_iterations(&text) {
                    Ok(rewind_at) => Action::Study(StudyRequest::Rewinding { density, rewind_at }),
                    Err(e) => Action::Notice(format!("Rewinding: {e}")),
                });
            }
        });
        ui.data_mut(|d| d.insert_temp(text_id, text));
        let Some((sweep, progress)) = input.rewinding else {
            return action;
        };
        if let Status::Stopped { reason } = &sweep.status {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The sweep stopped: {reason}"),
            );
        }
        if running {
            ui.add(
                egui::ProgressBar::new(progress.fraction() as f32)
                    .text(format!(
                        "θ_{} · {} of {} points",
                        sweep.config.rewind_at[progress.points_done.min(progress.points - 1)],
                        progress.points_done,
                        progress.points
                    ))
                    .desired_width(420.0),
            );
        }
        let ticket: Vec<[f64; 2]> = sweep
            .points
            .iter()
            .filter_map(|p| Some([p.rewind_at as f64, f64::from(p.ticket_accuracy?) * 100.0]))
            .collect();
        let reinit = sweep.points.iter().find_map(|p| p.reinit_accuracy);
        let dense = sweep.points.iter().find_map(|p| p.dense_accuracy);
        Plot::new("rewinding")
            .height(170.0)
            .legend(Legend::default())
            .x_axis_label("rewind iteration k")
            .y_axis_label("test accuracy (%)")
            .allow_scroll(false)
            .show(ui, |plot| {
                let color = run_color(RunKind::Ticket);
                plot.line(Line::new("ticket reset to θ_k", ticket.clone()).color(color));
                plot.points(
                    Points::new("", ticket)
                        .shape(MarkerShape::Circle)
                        .radius(4.0)
                        .color(color),
                );
                if let Some(acc) = reinit {
                    plot.hline(
                        HLine::new("random re-init", f64::from(acc) * 100.0)
                            .color(run_color(RunKind::Reinit)),
                    );
                }
                if let Some(acc) = dense {
                    plot.hline(
                        HLine::new("dense", f64::from(acc) * 100.0).color(egui::Color32::GRAY),
                    );
                }
            });
        egui::Grid::new("rewinding-table")
            .striped(true)
            .show(ui, |ui| {
                for head in ["k", "ticket", "random re-init", "dense"] {
                    ui.strong(head);
                }
                ui.end_row();
                let percent =
                    |v: Option<f32>| v.map_or("-".into(), |v| format!("{:.2}%", v * 100.0));
                for p in &sweep.points {
                    ui.label(p.rewind_at.to_string());
                    ui.label(percent(p.ticket_accuracy));
                    ui.label(percent(p.reinit_accuracy));
                    ui.label(percent(p.dense_accuracy));
                    ui.end_row();
                }
            });
        ui.weak("Ours, on this run's config; test accuracy at the early-stop iteration.");
        if sweep.status == Status::Finished && ui.button("Export the sweep (JSON + CSV)").clicked()
        {
            action = Some(Action::ExportRewinding);
        }
        action
    }
}

/// θ₀ and a few early points: 1%, 5% and 12.5% of training.
fn default_rewind_at(iterations: usize) -> String {
    let mut ks = vec![0, iterations / 100, iterations / 20, iterations / 8];
    ks.dedup();
    ks.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_points_are_early_and_distinct() {
        assert_eq!(super::default_rewind_at(800), "0, 8, 40, 100");
        assert_eq!(super::default_rewind_at(20), "0, 1, 2");
    }
}

//! Ticket transfer, once the experiment is done: the selected round's ticket (or one a user
//! opened from a file) trained on a related task B, beside B's own ticket, a random mask and
//! the same mask with fresh weights. The task pairs are ours; the question is Morcos et al.'s.

use egui_plot::{Bar, BarChart, Legend, Plot};

use super::{Action, PlotInput, PlotPanel};
use crate::app::colors::run_color;
use crate::data::tasks::TransferTask;
use crate::experiment::studies::StudyRequest;
use crate::experiment::studies::{TransferRecord, TransferSubject};
use crate::experiment::{RunKind, Status};

/// See the module's documentation.
pub struct Transfer;

impl PlotPanel for Transfer {
    fn name(&self) -> &'static str {
        "transfer"
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        let record = input.record;
        if record.status != Status::Finished && input.transfer.is_none() {
            return None;
        }
        ui.strong("Does a ticket transfer? (our task pairs, after Morcos et al. 2019)");
        ui.label(
            "A ticket found on task A is trained on a related task B, beside B's own ticket \
             at the same round, a random mask of that density, and A's mask with fresh \
             weights (does the mask carry over without its initial values?). Every network \
             trains the same iterations; the score is B's test accuracy at the end.",
        );
        let mut action = None;
        let round = input.view.round.min(record.rounds.len().saturating_sub(1));
        let id = ui.make_persistent_id("transfer-task");
        let tasks: Vec<TransferTask> = TransferTask::ALL
            .into_iter()
            .filter(|t| t.unsuitable(input.data).is_none())
            .collect();
        let mut task = ui
            .data_mut(|d| d.get_temp::<TransferTask>(id))
            .filter(|t| tasks.contains(t))
            .or(tasks.first().copied());
        let running = input
            .transfer
            .is_some_and(|(r, _)| r.status == Status::Running);
        ui.horizontal_wrapped(|ui| {
            ui.label("task pair:");
            for t in &tasks {
                ui.selectable_value(&mut task, Some(*t), t.label());
            }
        });
        ui.horizontal_wrapped(|ui| {
            let Some(chosen) = task else {
                ui.label("(no task pair fits this data)");
                return;
            };
            if round > 0 {
                let what = format!(
                    "Transfer round {round}'s ticket ({:.1}% of the weights)",
                    record.rounds[round].density() * 100.0
                );
                if ui.add_enabled(!running, egui::Button::new(what)).clicked() {
                    action = Some(Action::Study(StudyRequest::Transfer {
                        task: chosen,
                        round,
                    }));
                }
            } else {
                ui.label("(select a pruned round for its ticket)");
            }
            if let Some(ticket) = input.brought_ticket {
                let what = format!(
                    "Transfer the opened ticket (round {}, {:.1}%)",
                    ticket.round,
                    ticket.density * 100.0
                );
                if ui.add_enabled(!running, egui::Button::new(what)).clicked() {
                    action = Some(Action::TransferOpenedTicket { task: chosen });
                }
            }
        });
        if let Some(task) = task {
            ui.data_mut(|d| d.insert_temp(id, task));
        }
        let Some((study, progress)) = input.transfer else {
            return action;
        };
        if let Status::Stopped { reason } = &study.status {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The study stopped: {reason}"),
            );
        }
        if running {
            ui.add(
                egui::ProgressBar::new(progress.fraction() as f32)
                    .text(progress.doing.clone())
                    .desired_width(420.0),
            );
        }
        ui.label(format!(
            "{}: A = {}, B = {}. A's ticket: {} ({:.1}% of the weights{}).",
            study.config.task.label(),
            study.source,
            study.target,
            study.ticket_from,
            study.ticket_density * 100.0,
            study
                .ticket_accuracy_on_a
                .map_or(String::new(), |a| format!(", {:.2}% on A", a * 100.0))
        ));
        chart(ui, study);
        egui::Grid::new("transfer-table")
            .striped(true)
            .show(ui, |ui| {
                for head in ["network on B", "density", "test accuracy"] {
                    ui.strong(head);
                }
                ui.end_row();
                for r in &study.results {
                    ui.label(r.subject.label());
                    ui.label(format!("{:.1}%", r.density * 100.0));
                    ui.label(format!("{:.2}%", r.test_accuracy * 100.0));
                    ui.end_row();
                }
            });
        if !running
            && ui
                .button("Export the transfer study (JSON + CSV)")
                .clicked()
        {
            action = Some(Action::ExportTransfer);
        }
        action
    }
}

fn subject_color(subject: TransferSubject, dense: egui::Color32) -> egui::Color32 {
    match subject {
        TransferSubject::TargetDense => dense.gamma_multiply(0.6),
        TransferSubject::TargetTicket => run_color(RunKind::Ticket),
        TransferSubject::TargetRandomPrune => run_color(RunKind::RandomPrune),
        TransferSubject::Transferred => egui::Color32::from_rgb(150, 90, 200),
        TransferSubject::MaskFreshWeights => run_color(RunKind::Reinit),
    }
}

/// B's test accuracy of each network, as bars.
fn chart(ui: &mut egui::Ui, study: &TransferRecord) {
    let dense = ui.visuals().strong_text_color();
    let lowest = study
        .results
        .iter()
        .map(|r| f64::from(r.test_accuracy) * 100.0)
        .fold(100.0, f64::min);
    let highest = study
        .results
        .iter()
        .map(|r| f64::from(r.test_accuracy) * 100.0)
        .fold(0.0, f64::max);
    // Bars from a few points under the lowest: differences of a point must show.
    let base = (lowest - 3.0).floor().max(0.0);
    Plot::new("transfer-chart")
        .height(170.0)
        .legend(Legend::default())
        .y_axis_label("test accuracy on B (%)")
        .include_y(base)
        .include_y((highest + 1.0).min(100.0))
        .show_axes([false, true])
        .allow_scroll(false)
        .show(ui, |plot| {
            for (i, r) in study.results.iter().enumerate() {
                let value = f64::from(r.test_accuracy) * 100.0;
                let bar = Bar::new(i as f64, value - base)
                    .base_offset(base)
                    .width(0.7)
                    .name(format!("{}: {value:.2}%", r.subject.label()));
                plot.bar_chart(
                    BarChart::new(r.subject.label(), vec![bar])
                        .color(subject_color(r.subject, dense)),
                );
            }
        });
}

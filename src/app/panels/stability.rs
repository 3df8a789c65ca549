//! Stability (linear mode connectivity, Frankle et al. 2020), once the experiment is done: two
//! copies of a network from θ_k trained with different data orders, and the test error along
//! the straight line between them; for the selected round, its ticket and random controls
//! beside the dense network.

use egui_plot::{HLine, Legend, Line, LineStyle, Plot, Points};

use super::{Action, PlotInput, PlotPanel};
use crate::app::colors::run_color;
use crate::experiment::studies::StudyRequest;
use crate::experiment::studies::lmc::STABLE_BARRIER;
use crate::experiment::studies::{LmcRecord, Subject};
use crate::experiment::{RunKind, Status};

/// See the module's documentation.
pub struct Stability;

impl PlotPanel for Stability {
    fn name(&self) -> &'static str {
        "stability"
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        let record = input.record;
        if record.status != Status::Finished && input.stability.is_none() {
            return None;
        }
        ui.strong("Stability: linear mode connectivity (Frankle et al. 2020)");
        ui.label(
            "Two copies of a network start from θ_k (its weights after k iterations) and train \
             on with different data orders. If the test error stays low on the straight line \
             between them, both found one valley: training is stable. Barrier = the highest \
             error on the line minus the mean of its two ends; under 2 points: stable.",
        );
        let mut action = None;
        let round = input.view.round.min(record.rounds.len().saturating_sub(1));
        let default_k = default_branch_at(record.config.iterations);
        let text_id = ui.make_persistent_id("stability-branch-at");
        let mut text = ui
            .data_mut(|d| d.get_temp::<String>(text_id))
            .unwrap_or(default_k);
        let running = input
            .stability
            .is_some_and(|(s, _)| s.status == Status::Running);
        ui.horizontal_wrapped(|ui| {
            ui.label("branch at iterations");
            ui.add(egui::TextEdit::singleline(&mut text).desired_width(110.0))
                .on_hover_text(
                    "k, comma-separated: 0 = θ₀; the paper tries a few early iterations",
                );
            let what = match record.rounds.get(round).filter(|_| round > 0) {
                Some(r) => format!(
                    "Measure: dense, and round {round}'s ticket ({:.1}% of the weights) with its controls",
                    r.density() * 100.0
                ),
                None => "Measure: the dense network (select a pruned round for its ticket)".into(),
            };
            if ui.add_enabled(!running, egui::Button::new(what)).clicked() {
                action = Some(match parse_iterations(&text) {
                    Ok(branch_at) => Action::Study(StudyRequest::Stability { round, branch_at }),
                    Err(e) => Action::Notice(format!("Stability: {e}")),
                });
            }
        });
        ui.data_mut(|d| d.insert_temp(text_id, text));
        let Some((study, progress)) = input.stability else {
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
                    .text(format!(
                        "{} · {} of {} paths",
                        progress.doing, progress.paths_done, progress.paths
                    ))
                    .desired_width(420.0),
            );
        }
        let dense_color = ui.visuals().strong_text_color();
        Plot::new("stability")
            .height(190.0)
            .legend(Legend::default())
            .x_axis_label("α: from copy A (0) to copy B (1)")
            .y_axis_label("test error (%)")
            .include_y(0.0)
            .allow_scroll(false)
            .show(ui, |plot| {
                for path in &study.paths {
                    let points: Vec<[f64; 2]> = path
                        .alphas
                        .iter()
                        .zip(&path.test_error)
                        .map(|(&a, &e)| [f64::from(a), f64::from(e) * 100.0])
                        .collect();
                    let mut line = Line::new(
                        format!("{} from θ_{}", path.subject.label(), path.branch_at),
                        points,
                    )
                    .color(subject_color(path.subject, dense_color));
                    if path.branch_at > 0 {
                        line = line.style(LineStyle::dashed_loose());
                    }
                    plot.line(line);
                }
            });
        instability_vs_k(ui, study, dense_color);
        egui::Grid::new("stability-table")
            .striped(true)
            .show(ui, |ui| {
                for head in ["network", "density", "k", "ends", "barrier", ""] {
                    ui.strong(head);
                }
                ui.end_row();
                for path in &study.paths {
                    let ends = (path.test_error[0], *path.test_error.last().unwrap_or(&0.0));
                    ui.label(path.subject.label());
                    ui.label(format!("{:.1}%", path.density * 100.0));
                    ui.label(path.branch_at.to_string());
                    ui.label(format!("{:.1}% / {:.1}%", ends.0 * 100.0, ends.1 * 100.0));
                    ui.label(format!("{:.2} points", path.barrier() * 100.0));
                    ui.label(if path.is_stable() {
                        "stable"
                    } else {
                        "unstable"
                    });
                    ui.end_row();
                }
            });
        ui.weak(format!(
            "Ours, on this run's config; stable: a barrier of at most {} points. The copies get a fresh optimiser state, as a rewound ticket does.",
            STABLE_BARRIER * 100.0
        ));
        if study.status == Status::Finished && ui.button("Export the study (JSON + CSV)").clicked()
        {
            action = Some(Action::ExportStability);
        }
        action
    }
}

/// The paper's second view: each network's barrier against the iteration k its copies
/// branched at (only with more than one k).
fn instability_vs_k(ui: &mut egui::Ui, study: &LmcRecord, dense_color: egui::Color32) {
    if study.config.branch_at.len() < 2 {
        return;
    }
    Plot::new("stability-vs-k")
        .height(130.0)
        .legend(Legend::default())
        .x_axis_label("k: the iteration the copies branch at")
        .y_axis_label("barrier (points)")
        .include_y(0.0)
        .include_y(f64::from(STABLE_BARRIER) * 100.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            for subject in Subject::ALL {
                let points: Vec<[f64; 2]> = study
                    .paths
                    .iter()
                    .filter(|p| p.subject == subject)
                    .map(|p| [p.branch_at as f64, f64::from(p.barrier()) * 100.0])
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let color = subject_color(subject, dense_color);
                plot.line(Line::new(subject.label(), points.clone()).color(color));
                plot.points(Points::new("", points).radius(3.5).color(color));
            }
            plot.hline(
                HLine::new("stable below", f64::from(STABLE_BARRIER) * 100.0)
                    .color(egui::Color32::GRAY)
                    .style(LineStyle::dashed_loose()),
            );
        });
}

/// A study network's colour: the runs' colours, the dense network in `dense`.
pub(super) fn subject_color(subject: Subject, dense: egui::Color32) -> egui::Color32 {
    match subject {
        Subject::Dense => dense,
        Subject::Ticket => run_color(RunKind::Ticket),
        Subject::RandomPrune => run_color(RunKind::RandomPrune),
        Subject::Reinit => run_color(RunKind::Reinit),
    }
}

/// θ₀ and one early point (an eighth of training, the paper's "early in training").
fn default_branch_at(iterations: usize) -> String {
    let early = (iterations / 8).max(1);
    if early < iterations {
        format!("0, {early}")
    } else {
        "0".into()
    }
}

pub(super) fn parse_iterations(text: &str) -> Result<Vec<usize>, String> {
    let values: Result<Vec<usize>, _> = text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::parse)
        .collect();
    let mut values =
        values.map_err(|_| format!("'{text}': give iterations as whole numbers, e.g. 0, 100"))?;
    values.sort_unstable();
    values.dedup();
    if values.is_empty() {
        return Err("give at least one iteration (0 = θ₀)".into());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    #[test]
    fn branch_points_parse_forgivingly_and_refuse_garbage() {
        assert_eq!(super::parse_iterations(" 100, 0,0 ,"), Ok(vec![0, 100]));
        assert!(super::parse_iterations("zero").is_err());
        assert!(super::parse_iterations(" , ").is_err());
        assert_eq!(super::default_branch_at(800), "0, 100");
    }
}

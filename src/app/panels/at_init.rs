//! Pruning at initialisation, once the experiment is done: masks chosen at θ₀ by SNIP, GraSP,
//! SynFlow, magnitude at init and at random, each trained from θ₀ at a few densities beside
//! its layer shuffle, against this experiment's IMP ticket (and its shuffle) at the same
//! density. The panel's sentence is computed from the figures it shows.

use egui_plot::{HLine, Legend, Line, LineStyle, MarkerShape, Plot, Points};

use super::accuracy::{density_x, percent_label};
use super::{Action, PlotInput, PlotPanel};
use crate::app::colors::method_color;
use crate::experiment::Status;
use crate::experiment::studies::StudyRequest;
use crate::experiment::studies::at_init::{
    AT_INIT_METHODS, AtInitRecord, DEFAULT_DENSITIES, parse_percentages,
};
use crate::prune::{Granularity, PruneMethod};

/// See the module's documentation.
pub struct AtInit;

/// The panel's editable state between frames: the densities' text and the methods ticked.
#[derive(Clone)]
struct Choice {
    densities: String,
    methods: Vec<PruneMethod>,
}

impl Default for Choice {
    fn default() -> Self {
        Self {
            densities: DEFAULT_DENSITIES
                .map(|d| percent_label(d * 100.0).trim_end_matches('%').to_string())
                .join(", "),
            methods: AT_INIT_METHODS.to_vec(),
        }
    }
}

impl PlotPanel for AtInit {
    fn name(&self) -> &'static str {
        "at-init"
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        let record = input.record;
        if record.status != Status::Finished && input.at_init.is_none() {
            return None;
        }
        ui.strong("Prune at initialisation: which weights, or how many per layer?");
        ui.label(
            "Frankle et al. 2021: masks chosen before training (SNIP, GraSP, SynFlow) lose \
             nothing when each layer's mask is shuffled (the same count per layer at random \
             positions), while the IMP ticket does. Each method's mask here trains from θ₀ \
             beside its shuffle, at the IMP rounds' densities.",
        );
        let imp = record.config.method == PruneMethod::Magnitude
            && record.config.granularity == Granularity::Weights;
        let running = input
            .at_init
            .is_some_and(|(r, _)| r.status == Status::Running);
        let id = ui.make_persistent_id("at-init-choice");
        let mut choice: Choice = ui.data_mut(|d| d.get_temp(id)).unwrap_or_default();
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("densities (%)");
            ui.add(egui::TextEdit::singleline(&mut choice.densities).desired_width(120.0))
                .labelled_by(label.id)
                .on_hover_text(
                    "percent of the weights kept, comma-separated; each moves to the IMP round \
                     nearest it",
                );
            for method in AT_INIT_METHODS {
                let mut on = choice.methods.contains(&method);
                if ui.checkbox(&mut on, method.label()).changed() {
                    choice.methods.retain(|m| *m != method);
                    if on {
                        choice.methods.push(method);
                    }
                }
            }
            let usable = imp && !running && !choice.methods.is_empty();
            let button = ui.add_enabled(usable, egui::Button::new("Compare with the ticket"));
            if !imp {
                button.on_disabled_hover_text(
                    "the study compares the methods with IMP's tickets: run an experiment with \
                     method magnitude, weight by weight",
                );
            } else if button.clicked() {
                // The methods in the study's own order, whatever order they were ticked in.
                let methods = AT_INIT_METHODS
                    .into_iter()
                    .filter(|m| choice.methods.contains(m))
                    .collect();
                action = Some(match parse_percentages(&choice.densities) {
                    Ok(densities) => Action::Study(StudyRequest::AtInit { densities, methods }),
                    Err(e) => Action::Notice(format!("Prune at init: {e}")),
                });
            }
        });
        ui.data_mut(|d| d.insert_temp(id, choice));
        let Some((study, progress)) = input.at_init else {
            return action;
        };
        if let Status::Stopped { reason } = &study.status {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The study stopped: {reason}"),
            );
        }
        for note in &study.notes {
            ui.weak(format!("Note: {note}"));
        }
        if running {
            let doing = progress
                .training
                .map_or("starting".to_string(), |(m, _)| m.label().to_string());
            ui.add(
                egui::ProgressBar::new(progress.fraction() as f32)
                    .text(format!(
                        "{doing} · {} of {} masks",
                        progress.points_done, progress.points
                    ))
                    .desired_width(420.0),
            );
        }
        plot(ui, study);
        table(ui, study);
        if let Some(finding) = study.finding() {
            ui.label(finding);
        }
        ui.weak(format!(
            "Ours, on this run's config; {} at the early-stop iteration. Dashed: each mask's \
             layer shuffle.",
            study.metric_name()
        ));
        if study.status == Status::Finished && ui.button("Export the study (JSON + CSV)").clicked()
        {
            action = Some(Action::ExportAtInit);
        }
        action
    }
}

/// The series of the plot and rows of the table: the IMP ticket, then the methods.
fn masks(study: &AtInitRecord) -> impl Iterator<Item = PruneMethod> + '_ {
    std::iter::once(PruneMethod::Magnitude).chain(study.config.methods.iter().copied())
}

fn mask_name(method: PruneMethod) -> &'static str {
    if method == PruneMethod::Magnitude {
        "IMP ticket"
    } else {
        method.label()
    }
}

fn plot(ui: &mut egui::Ui, study: &AtInitRecord) {
    let point = |density: f64, score: Option<f64>| Some([density_x(density), score?]);
    Plot::new("at-init")
        .height(220.0)
        .legend(Legend::default())
        .x_axis_label("weights remaining (log scale)")
        .x_axis_formatter(|mark, _| percent_label(10f64.powf(-mark.value)))
        .y_axis_label(study.metric_name())
        .allow_scroll(false)
        .show(ui, |plot| {
            for method in masks(study) {
                let color = method_color(method);
                let name = mask_name(method);
                let trained: Vec<[f64; 2]> = study
                    .points_of(method)
                    .filter_map(|p| point(p.density, study.score(p)))
                    .collect();
                let shuffled: Vec<[f64; 2]> = study
                    .points_of(method)
                    .filter_map(|p| point(p.density, study.shuffled_score(p)))
                    .collect();
                let width = if method == PruneMethod::Magnitude {
                    2.5
                } else {
                    1.5
                };
                plot.line(Line::new(name, trained.clone()).color(color).width(width));
                plot.points(
                    Points::new(name, trained)
                        .shape(MarkerShape::Circle)
                        .radius(3.5)
                        .color(color),
                );
                plot.line(
                    Line::new(name, shuffled)
                        .color(color)
                        .style(LineStyle::dashed_loose()),
                );
            }
            if let Some(dense) = study.dense_score() {
                plot.hline(HLine::new("dense", dense).color(egui::Color32::GRAY));
            }
        });
}

fn table(ui: &mut egui::Ui, study: &AtInitRecord) {
    let figure = if study.by_auc { "AUC" } else { "accuracy" };
    egui::Grid::new("at-init-table")
        .striped(true)
        .show(ui, |ui| {
            for head in ["mask", "density", figure, "shuffled", "shuffle cost", ""] {
                ui.strong(head);
            }
            ui.end_row();
            for method in masks(study) {
                for p in study.points_of(method) {
                    ui.colored_label(method_color(method), mask_name(method));
                    ui.label(percent_label(p.density * 100.0));
                    ui.label(study.score_label(study.score(p)));
                    ui.label(study.score_label(study.shuffled_score(p)));
                    ui.label(
                        study
                            .shuffle_cost(p)
                            .map_or("-".into(), |c| study.difference_label(c)),
                    );
                    match (&p.untrainable, p.round) {
                        (Some(why), _) => ui.weak(why.as_str()).on_hover_text(why.as_str()),
                        (None, Some(round)) => ui.weak(format!("round {round}")),
                        (None, None) => ui.weak(""),
                    };
                    ui.end_row();
                }
            }
        });
}

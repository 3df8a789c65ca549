//! Accuracy (or AUC) against density, on a log axis from 100% to ~1%: the paper's figure.
//! Each run kind is a series, the dense network a line, the selected round a marker.

use egui_plot::{HLine, Legend, Line, LineStyle, MarkerShape, Plot, Points, Polygon, VLine};

use super::{Action, PlotInput, PlotPanel};
use crate::app::ViewState;
use crate::app::colors::run_color;
use crate::experiment::seeds::{RoundSpread, spread_by_round};
use crate::experiment::{ExperimentRecord, RunKind, RunRecord};

/// x for a density (fraction kept): -log10(percent), so 100% is at -2 and 1% at 0.
pub fn density_x(density: f64) -> f64 {
    -(density.max(1e-6) * 100.0).log10()
}

/// The figure every panel reports: test accuracy at early stop, or AUC where that counts.
pub fn metric(record: &ExperimentRecord, run: &RunRecord) -> Option<f64> {
    crate::experiment::seeds::run_metric(record, run)
}

pub fn metric_name(record: &ExperimentRecord) -> &'static str {
    if record.data.positive_class.is_some() {
        "test ROC AUC"
    } else {
        "test accuracy (%) at early stop"
    }
}

/// "21.1%", "1.2%", "100%": as many decimals as the value needs, no trailing zeros.
pub fn percent_label(percent: f64) -> String {
    let text = format!("{percent:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// See the module's documentation.
pub struct Accuracy;

impl PlotPanel for Accuracy {
    fn name(&self) -> &'static str {
        "accuracy-vs-density"
    }

    fn half_width(&self) -> bool {
        true
    }

    fn separated(&self) -> bool {
        false
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        show(
            input.record,
            input.in_progress,
            input.view,
            input.seed_records,
            ui,
        );
        if input.seeds.1 > 1 {
            seeds_table(input.record, input.seed_records, input.seeds, ui);
        }
        None
    }
}

fn show(
    record: &ExperimentRecord,
    in_progress: Option<(usize, &[RunRecord])>,
    view: &ViewState,
    others: &[ExperimentRecord],
    ui: &mut egui::Ui,
) {
    ui.strong(format!("{} vs weights remaining", metric_name(record)));
    let dense = record
        .rounds
        .first()
        .and_then(|r| r.run(RunKind::Ticket))
        .and_then(|r| metric(record, r));
    Plot::new("accuracy-vs-density")
        .height(260.0)
        .legend(Legend::default())
        .x_axis_label("weights remaining (log scale)")
        .x_axis_formatter(|mark, _| percent_label(10f64.powf(-mark.value)))
        .include_x(density_x(1.0))
        .include_x(density_x(0.01))
        .allow_scroll(false)
        .show(ui, |plot| {
            for kind in RunKind::ALL {
                let mut points: Vec<[f64; 2]> = record
                    .rounds
                    .iter()
                    .filter_map(|round| {
                        // The dense round belongs to every series.
                        let run = round.run(kind).or_else(|| {
                            (round.round == 0)
                                .then(|| round.run(RunKind::Ticket))
                                .flatten()
                        })?;
                        Some([density_x(run.density), metric(record, run)?])
                    })
                    .collect();
                // The round still training: each run's point as soon as the run ends.
                if let Some((_, runs)) = in_progress {
                    points.extend(
                        runs.iter()
                            .filter(|run| run.kind == kind)
                            .filter_map(|run| Some([density_x(run.density), metric(record, run)?])),
                    );
                }
                if points.len() < 2 && kind != RunKind::Ticket {
                    continue;
                }
                if !others.is_empty() {
                    band(plot, record, others, kind);
                }
                plot.line(
                    Line::new(kind.name(record.config.method), points.clone())
                        .color(run_color(kind))
                        .width(2.0),
                );
                plot.points(
                    Points::new(kind.name(record.config.method), points)
                        .color(run_color(kind))
                        .radius(3.0),
                );
            }
            // Runs a layer collapse made untrainable: where the curve ends, and why.
            let collapsed: Vec<[f64; 2]> = record
                .rounds
                .iter()
                .flat_map(|round| &round.runs)
                .filter(|run| !run.collapsed_layers.is_empty())
                .filter_map(|run| Some([density_x(run.density), metric(record, run)?]))
                .collect();
            if !collapsed.is_empty() {
                plot.points(
                    Points::new("layer collapse (untrainable)", collapsed)
                        .shape(MarkerShape::Cross)
                        .radius(8.0)
                        .color(egui::Color32::from_rgb(230, 60, 60)),
                );
            }
            if let Some(dense) = dense {
                plot.hline(HLine::new("dense", dense).color(egui::Color32::GRAY));
            }
            if let Some(round) = record.rounds.get(view.round) {
                plot.vline(
                    VLine::new("", density_x(round.density()))
                        .color(egui::Color32::from_white_alpha(60)),
                );
                if let Some(v) = round.run(view.run).and_then(|r| metric(record, r)) {
                    plot.points(
                        Points::new("", vec![[density_x(round.density()), v]])
                            .shape(MarkerShape::Diamond)
                            .radius(7.0)
                            .color(run_color(view.run)),
                    );
                }
            }
        });
}

/// Over seeds: the range of `kind`'s figure (min to max, shaded) and its mean (dashed), under
/// the same legend entry as the first seed's curve.
fn band(
    plot: &mut egui_plot::PlotUi<'_>,
    record: &ExperimentRecord,
    others: &[ExperimentRecord],
    kind: RunKind,
) {
    let records: Vec<&ExperimentRecord> = std::iter::once(record).chain(others).collect();
    let rounds: Vec<_> = spread_by_round(&records, kind)
        .into_iter()
        .filter(|r| r.metric.n > 1)
        .collect();
    if rounds.len() < 2 {
        return;
    }
    let name = kind.name(record.config.method);
    let color = run_color(kind);
    let mut outline: Vec<[f64; 2]> = rounds
        .iter()
        .map(|r| [density_x(r.density), r.metric.max])
        .collect();
    outline.extend(
        rounds
            .iter()
            .rev()
            .map(|r| [density_x(r.density), r.metric.min]),
    );
    plot.polygon(
        Polygon::new(name, outline)
            .fill_color(color.gamma_multiply(0.18))
            .stroke(egui::Stroke::NONE),
    );
    let mean: Vec<[f64; 2]> = rounds
        .iter()
        .map(|r| [density_x(r.density), r.metric.mean])
        .collect();
    plot.line(
        Line::new(name, mean)
            .color(color)
            .width(1.5)
            .style(LineStyle::dashed_loose()),
    );
}

/// Each round's figure over the seeds: mean ± s.d. (n), a column per run kind.
fn seeds_table(
    record: &ExperimentRecord,
    others: &[ExperimentRecord],
    (done, planned): (usize, usize),
    ui: &mut egui::Ui,
) {
    ui.label(format!(
        "Over {done} of {planned} seeds (seeds {}-{}): the band is their range, the dashed line their mean.",
        record.config.seed,
        record.config.seed + planned as u64 - 1
    ));
    let records: Vec<&ExperimentRecord> = std::iter::once(record).chain(others).collect();
    let columns: Vec<(RunKind, Vec<RoundSpread>)> = RunKind::ALL
        .into_iter()
        .map(|kind| (kind, spread_by_round(&records, kind)))
        .filter(|(kind, rounds)| *kind == RunKind::Ticket || rounds.len() > 1)
        .collect();
    egui::Grid::new("seeds-table").striped(true).show(ui, |ui| {
        ui.strong("density");
        for (kind, _) in &columns {
            ui.strong(kind.name(record.config.method));
        }
        ui.end_row();
        let rounds = columns.first().map_or(0, |(_, r)| r.len());
        for i in 0..rounds {
            let density = columns[0].1[i].density;
            ui.label(percent_label(density * 100.0));
            for (_, spreads) in &columns {
                match spreads.iter().find(|s| s.round == columns[0].1[i].round) {
                    Some(s) => ui.label(format!(
                        "{:.2} ± {:.2} ({})",
                        s.metric.mean, s.metric.sd, s.metric.n
                    )),
                    None => ui.label("-"),
                };
            }
            ui.end_row();
        }
    });
}

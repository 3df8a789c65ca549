//! Explanations, once the experiment is done: for one test example, what the dense network
//! and the selected round's ticket (and its random-pruning control) look at, as integrated
//! gradients and gradient × input side by side, with each network's live paths and how
//! concentrated and stable its explanation is. The figures are measured on this run; the
//! lecture's "sparser models are easier to explain" is a claim they can test.

use egui_plot::{Bar, BarChart, Legend, Plot};

use super::stability::subject_color;
use super::{Action, PlotInput, PlotPanel};
use crate::app::colors::diverging;
use crate::experiment::Status;
use crate::experiment::studies::StudyRequest;
use crate::experiment::studies::{ExplainRecord, ExplainedExample, ExplainedNetwork};
use crate::model::attribution::{Attribution, top_k_for};

/// See the module's documentation.
pub struct Explanations;

/// One of an example's attributions (integrated gradients, gradient × input).
type Method = fn(&ExplainedExample) -> &Attribution;

/// Pixels per input pixel of a digit's attribution map (28 × 5 = 140 points).
const IMAGE_SCALE: f32 = 5.0;

impl PlotPanel for Explanations {
    fn name(&self) -> &'static str {
        "explanations"
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        let record = input.record;
        if record.status != Status::Finished && input.explanation.is_none() {
            return None;
        }
        ui.strong("Explanations: what does each network look at? (our measurement)");
        ui.label(
            "Integrated gradients: how much each input feature moves the class's score, from a \
             blank input to this one (they add up to the score's change: checked). Red pushes \
             towards the class, blue away. Beside the dense network, the selected round's \
             ticket and the same number of weights pruned at random.",
        );
        let mut action = None;
        let round = input.view.round.min(record.rounds.len().saturating_sub(1));
        let test_len = input.test.len();
        let id = ui.make_persistent_id("explain-example");
        let mut example = ui
            .data_mut(|d| d.get_temp::<usize>(id))
            .unwrap_or(0)
            .min(test_len.saturating_sub(1));
        let running = input
            .explanation
            .is_some_and(|(r, _)| r.status == Status::Running);
        ui.horizontal_wrapped(|ui| {
            ui.label("test example");
            ui.add(egui::DragValue::new(&mut example).range(0..=test_len.saturating_sub(1)))
                .on_hover_text("its index in the test split");
            let what = if round > 0 {
                format!("Explain: dense vs round {round}'s ticket")
            } else {
                "Explain: the dense network (select a pruned round for its ticket)".into()
            };
            let mut go = ui.add_enabled(!running, egui::Button::new(what)).clicked();
            if ui
                .add_enabled(!running, egui::Button::new("Next example"))
                .clicked()
            {
                example = (example + 1) % test_len.max(1);
                go = true;
            }
            if go {
                action = Some(Action::Study(StudyRequest::Explain { round, example }));
            }
        });
        ui.data_mut(|d| d.insert_temp(id, example));
        let Some((study, progress)) = input.explanation else {
            return action;
        };
        if let Status::Stopped { reason } = &study.status {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The explanation stopped: {reason}"),
            );
        }
        if running {
            ui.add(
                egui::ProgressBar::new(progress.fraction() as f32)
                    .text(progress.doing.clone())
                    .desired_width(420.0),
            );
            ui.ctx().request_repaint();
        }
        let Some(shown) = study
            .networks
            .first()
            .and_then(|n| n.examples.last())
            .map(|e| e.index)
        else {
            return action;
        };
        ui.label(format!(
            "Test example {shown} (label {}), as explained by the networks of round {}:",
            study.networks[0].example(shown).map_or(0, |e| e.label),
            study.config.round
        ));
        let image = study.input.height > 1 && study.input.width > 1 && study.input.channels == 1;
        if image {
            maps(ui, input, study, shown);
        } else {
            bars(ui, study, shown);
        }
        figures(ui, study, shown);
        if !running && ui.button("Export explanations (JSON + CSV)").clicked() {
            action = Some(Action::ExportExplanation);
        }
        action
    }
}

/// The largest |value| of `method` over the networks' attributions of `index`: one colour
/// scale for all of them, so that a fainter map is a weaker explanation.
fn scale_of(study: &ExplainRecord, index: usize, method: Method) -> f32 {
    study
        .networks
        .iter()
        .filter_map(|n| n.example(index))
        .flat_map(|e| method(e).values.iter().map(|v| v.abs()))
        .fold(1e-12, f32::max)
}

fn attribution_image(values: &[f32], width: usize, height: usize, scale: f32) -> egui::ColorImage {
    let pixels = values.iter().map(|&v| diverging(v / scale)).collect();
    egui::ColorImage::new([width, height], pixels)
}

/// Per network a column: the integrated gradients' map over the gradient × input map.
fn maps(ui: &mut egui::Ui, input: &mut PlotInput<'_>, study: &ExplainRecord, index: usize) {
    let (w, h) = (study.input.width, study.input.height);
    let methods: [(&str, Method); 2] = [
        ("integrated gradients", |e| &e.integrated),
        ("gradient × input", |e| &e.gradient_input),
    ];
    let size = egui::vec2(w as f32 * IMAGE_SCALE, h as f32 * IMAGE_SCALE);
    ui.horizontal_wrapped(|ui| {
        // The input itself, for reference.
        ui.vertical(|ui| {
            ui.label("the input");
            let key = format!("explain-input-{index}");
            let x = input.test.features.row(index).to_vec();
            let tex = texture(ui, input, key, || {
                let pixels = x
                    .iter()
                    .map(|&v| {
                        let g = (v.clamp(0.0, 1.0) * 255.0) as u8;
                        egui::Color32::from_gray(255 - g)
                    })
                    .collect();
                egui::ColorImage::new([w, h], pixels)
            });
            ui.image((tex.id(), size));
        });
        for net in &study.networks {
            let Some(example) = net.example(index) else {
                continue;
            };
            ui.vertical(|ui| {
                ui.colored_label(
                    subject_color(net.subject, ui.visuals().strong_text_color()),
                    heading(net, example),
                );
                for (name, method) in methods {
                    let key = format!(
                        "explain-{}-{}-{index}-{name}-{}",
                        study.config.round,
                        net.subject.label(),
                        study.experiment.seed
                    );
                    let values = &method(example).values;
                    // The scale is only needed when the map is built (once per study).
                    let tex = texture(ui, input, key, || {
                        attribution_image(values, w, h, scale_of(study, index, method))
                    });
                    ui.image((tex.id(), size)).on_hover_text(name);
                }
            });
        }
    });
    ui.small(
        "top row: integrated gradients; bottom row: gradient × input; one colour scale per row",
    );
}

fn texture(
    ui: &egui::Ui,
    input: &mut PlotInput<'_>,
    key: String,
    make: impl FnOnce() -> egui::ColorImage,
) -> egui::TextureHandle {
    if let Some(tex) = input.cache.textures.get(&key) {
        return tex;
    }
    let tex = ui
        .ctx()
        .load_texture(key.clone(), make(), egui::TextureOptions::NEAREST);
    input.cache.textures.insert(key, tex.clone());
    tex
}

/// Features that are not an image (fraud's columns, MNIST-1D's signal): the integrated
/// gradients as bars, a series per network.
fn bars(ui: &mut egui::Ui, study: &ExplainRecord, index: usize) {
    let count = study.networks.len().max(1) as f64;
    let dense = ui.visuals().strong_text_color();
    Plot::new("explanations-bars")
        .height(200.0)
        .legend(Legend::default())
        .x_axis_label("input feature")
        .y_axis_label("integrated gradients")
        .allow_scroll(false)
        .show(ui, |plot| {
            for (n, net) in study.networks.iter().enumerate() {
                let Some(example) = net.example(index) else {
                    continue;
                };
                let width = 0.8 / count;
                let offset = (n as f64 - (count - 1.0) / 2.0) * width;
                let bars = example
                    .integrated
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Bar::new(i as f64 + offset, f64::from(v)).width(width))
                    .collect();
                plot.bar_chart(
                    BarChart::new(net.subject.label(), bars)
                        .color(subject_color(net.subject, dense)),
                );
            }
        });
}

fn heading(net: &ExplainedNetwork, example: &ExplainedExample) -> String {
    let verdict = if example.predicted == usize::from(example.label) {
        "right"
    } else {
        "wrong"
    };
    format!(
        "{} ({:.1}%): says {} ({verdict})",
        net.subject.label(),
        net.density * 100.0,
        example.predicted
    )
}

/// The measured figures of each network, for the example shown.
fn figures(ui: &mut egui::Ui, study: &ExplainRecord, index: usize) {
    let k = top_k_for(study.input.len());
    egui::Grid::new("explanations-table")
        .striped(true)
        .show(ui, |ui| {
            for head in [
                "network",
                "live paths",
                "live inputs",
                "Σ IG vs F(x) − F(blank)",
                "top-5% share",
                "agreement under noise",
            ] {
                ui.strong(head);
            }
            ui.end_row();
            for net in &study.networks {
                let Some(e) = net.example(index) else {
                    continue;
                };
                let sum: f32 = e.integrated.values.iter().sum();
                ui.label(net.subject.label());
                ui.label(format!("{:.3e}", net.connectivity.paths));
                ui.label(format!(
                    "{} of {}",
                    net.connectivity.live_inputs, net.connectivity.inputs
                ));
                ui.label(format!(
                    "{sum:.3} vs {:.3} ({:.2}% off, {} intervals)",
                    e.integrated.output - e.integrated.baseline_output,
                    e.integrated.completeness_error() * 100.0,
                    e.integrated.intervals
                ));
                ui.label(format!("{:.0}%", e.top_share() * 100.0));
                ui.label(format!("{:.2}", e.mean_neighbour_agreement()));
                ui.end_row();
            }
        });
    ui.small(format!(
        "live paths: chains of surviving weights from an input to an output; top-5% share: of all |IG| in the {k} most attributed features; agreement: the share of those {k} that stay on top when the input gets a little noise (σ = {}, {} copies). More concentrated or more stable for the ticket is a finding only if it holds over seeds: `lottery-lab explain --seeds 3`.",
        study.config.noise, study.config.neighbours
    ));
}

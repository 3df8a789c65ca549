//! The early-bird search of the dense run: the distance between successive epochs' masks, the
//! detector's window, the threshold ε, and where the ticket was found.

use egui_plot::{HLine, Legend, Line, MarkerShape, Plot, Points, VLine};

use super::{Action, PlotInput, PlotPanel};
use crate::app::colors::run_color;
use crate::experiment::RunKind;

/// See the module's documentation.
pub struct EarlyBird;

impl PlotPanel for EarlyBird {
    fn name(&self) -> &'static str {
        "early-bird"
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        let record = input.record;
        let trace = record.early_bird.as_ref()?;
        ui.strong(format!(
            "Early-bird search: the dense run's mask at {:.1}% after each epoch",
            trace.density * 100.0
        ));
        let found = match trace.found_at {
            Some(at) => {
                let trained = record
                    .rounds
                    .get(1)
                    .and_then(|r| r.run(RunKind::EarlyBird))
                    .and_then(|r| r.accuracy())
                    .map_or(String::new(), |a| {
                        format!("; trained from θ₀: {:.1}% test accuracy", a * 100.0)
                    });
                format!(
                    "found at iteration {at}: {at} iterations of training to find it, where the ticket costs the full {} (and a retraining per round){trained}",
                    record.config.iterations
                )
            }
            None => "not found yet".into(),
        };
        ui.label(format!(
            "Detector (You et al. 2020): the newest mask within ε = {} of each of the previous 5. The largest distance possible at this density is {:.2}. {found}.",
            trace.epsilon, trace.max_distance
        ));
        let to_previous: Vec<[f64; 2]> = trace
            .points
            .iter()
            .filter_map(|p| Some([p.iteration as f64, p.to_previous?]))
            .collect();
        let window: Vec<[f64; 2]> = trace
            .points
            .iter()
            .filter_map(|p| Some([p.iteration as f64, p.window_max?]))
            .collect();
        Plot::new("early-bird")
            .height(150.0)
            .legend(Legend::default())
            .x_axis_label("iteration of the dense run")
            .include_y(0.0)
            .allow_scroll(false)
            .show(ui, |plot| {
                let color = run_color(RunKind::EarlyBird);
                plot.line(
                    Line::new("distance to the previous epoch's mask", to_previous).color(color),
                );
                plot.line(
                    Line::new("largest distance to the previous 5", window)
                        .color(color.gamma_multiply(0.5))
                        .width(2.0),
                );
                plot.hline(HLine::new("ε", trace.epsilon).color(egui::Color32::GRAY));
                if let Some(at) = trace.found_at {
                    plot.vline(VLine::new("found", at as f64).color(color));
                    if let Some(p) = trace.points.iter().find(|p| p.iteration == at) {
                        plot.points(
                            Points::new("", vec![[at as f64, p.window_max.unwrap_or(0.0)]])
                                .shape(MarkerShape::Diamond)
                                .radius(6.0)
                                .color(color),
                        );
                    }
                }
            });
        None
    }
}

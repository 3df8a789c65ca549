//! The debug overlay: frame times and training throughput, for the budgets we report.

use crate::app::LabApp;

pub fn ui(app: &LabApp, ctx: &egui::Context) {
    egui::Window::new("Debug")
        .anchor(egui::Align2::RIGHT_BOTTOM, [-8.0, -48.0])
        .resizable(false)
        .show(ctx, |ui| {
            ui.label(format!(
                "frame: mean {:.1} ms, p95 {:.1} ms",
                app.stats.mean_ms(),
                app.stats.p95_ms()
            ));
            if let Some(s) = &app.session {
                ui.label(format!("training: {:.0} samples/s", s.samples_per_s));
                ui.label(format!("engine: {}", s.experiment.record().engine.name));
            }
        });
}

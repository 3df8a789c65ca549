//! The debug overlay: frame times and training throughput, for the budgets we report.

use super::SideInput;

pub fn ui(input: &SideInput<'_>, ctx: &egui::Context) {
    egui::Window::new("Debug")
        .anchor(egui::Align2::RIGHT_BOTTOM, [-8.0, -48.0])
        .resizable(false)
        .show(ctx, |ui| {
            let stats = input.stats;
            ui.label(format!(
                "frame time: p50 {:.1} ms, p95 {:.1} ms (budget {:.0})",
                stats.cpu_p50_ms(),
                stats.cpu_p95_ms(),
                crate::app::stats::BUDGET_MS
            ))
            .on_hover_text(
                "CPU time per frame while training, as eframe measures it: our code, \
                 tessellation and the painting calls",
            );
            ui.label(format!(
                "our code: p50 {:.1} ms, p95 {:.1} ms",
                stats.work_p50_ms(),
                stats.work_p95_ms()
            ))
            .on_hover_text("The training slice and the panels");
            ui.label(format!(
                "interval: mean {:.1} ms, p95 {:.1} ms",
                stats.mean_ms(),
                stats.p95_ms()
            ))
            .on_hover_text("Time between frames: the browser's painting too (slow without a GPU)");
            if let Some(s) = &input.session {
                ui.label(format!("training: {:.0} samples/s", s.samples_per_s));
                ui.label(format!("engine: {}", s.record.engine.name));
            }
        });
}

//! Run / Pause / Step one round / Reset, progress, and the backend in use.

use crate::app::LabApp;
use crate::experiment::Status;

pub fn ui(app: &mut LabApp, ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        ui.heading("Lottery Lab");
        ui.separator();
        let running = app
            .session
            .as_ref()
            .is_some_and(|s| !s.experiment.is_done());
        let paused = app.session.as_ref().is_some_and(|s| s.paused);
        if !running {
            if ui
                .button("Run")
                .on_hover_text("Start the experiment set up on the left")
                .clicked()
            {
                app.start();
            }
        } else if paused {
            if ui.button("Resume").clicked()
                && let Some(s) = &mut app.session
            {
                s.paused = false;
            }
        } else if ui.button("Pause").clicked()
            && let Some(s) = &mut app.session
        {
            s.paused = true;
        }
        if ui
            .button("Step one round")
            .on_hover_text("Run until one more round is finished, then pause")
            .clicked()
        {
            if app.session.as_ref().is_none_or(|s| s.experiment.is_done()) {
                app.start();
            }
            if let Some(s) = &mut app.session {
                s.pause_at_rounds = Some(s.experiment.record().rounds.len() + 1);
                s.paused = false;
            }
        }
        if ui.button("Reset").clicked() {
            app.reset();
        }
        ui.separator();
        if let Some(session) = &app.session {
            let progress = &session.last_progress;
            let label = match &session.experiment.record().status {
                Status::Finished => "finished".to_string(),
                Status::Stopped { .. } => "stopped".to_string(),
                Status::Running => format!(
                    "round {}/{} · {} · iteration {}/{}",
                    progress.round,
                    progress.rounds,
                    progress
                        .run
                        .map_or("", |k| k.name(session.experiment.config().method)),
                    progress.iteration,
                    progress.iterations
                ),
            };
            ui.add(
                egui::ProgressBar::new(progress.fraction() as f32)
                    .desired_width(180.0)
                    .text(label),
            );
            // The engine in a word, the reason on hover (it can be long).
            let engine = session.choice.reason.split(':').next().unwrap_or("engine");
            let engine = if engine.len() > 40 {
                &engine[..engine.floor_char_boundary(40)]
            } else {
                engine
            };
            ui.label(engine).on_hover_text(&session.choice.reason);
        } else {
            match &app.gpu {
                Ok(gpu) => ui
                    .label("GPU available")
                    .on_hover_text(gpu.adapter.describe()),
                Err(why) => ui.label("CPU engine").on_hover_text(why),
            };
        }
        ui.separator();
        ui.toggle_value(&mut app.view.show_setup, "Setup");
        ui.toggle_value(&mut app.view.show_overlay, "Debug overlay");
    });
}

//! Run / Pause / Step one round / Reset, progress, and the backend in use.

use super::{Action, SideInput};
use crate::experiment::Status;

pub fn ui(input: SideInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
    let SideInput {
        session, gpu, view, ..
    } = input;
    let mut action = None;
    ui.horizontal_wrapped(|ui| {
        ui.heading("Lottery Lab");
        ui.separator();
        let running = session.as_ref().is_some_and(|s| s.running);
        let paused = session.as_ref().is_some_and(|s| s.paused);
        if !running {
            if ui
                .button("Run")
                .on_hover_text("Start the experiment set up on the left")
                .clicked()
            {
                action = Some(Action::Start);
            }
        } else if paused {
            if ui.button("Resume").clicked() {
                action = Some(Action::SetPaused(false));
            }
        } else if ui.button("Pause").clicked() {
            action = Some(Action::SetPaused(true));
        }
        if ui
            .button("Step one round")
            .on_hover_text("Run until one more round is finished, then pause")
            .clicked()
        {
            action = Some(Action::StepOneRound);
        }
        if ui.button("Reset").clicked() {
            action = Some(Action::Reset);
        }
        ui.separator();
        if let Some(session) = &session {
            let progress = session.progress;
            let label = match &session.record.status {
                Status::Finished => "finished".to_string(),
                Status::Stopped { .. } => "stopped".to_string(),
                Status::Running => format!(
                    "round {}/{} · {} · iteration {}/{}",
                    progress.round,
                    progress.rounds,
                    progress
                        .run
                        .map_or("", |k| k.name(session.record.config.method)),
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
            let engine = session.engine_reason.split(':').next().unwrap_or("engine");
            let engine = if engine.len() > 40 {
                &engine[..engine.floor_char_boundary(40)]
            } else {
                engine
            };
            ui.label(engine).on_hover_text(session.engine_reason);
        } else {
            match gpu {
                Ok(gpu) => ui
                    .label("GPU available")
                    .on_hover_text(gpu.adapter.describe()),
                Err(why) => ui.label("CPU engine").on_hover_text(why),
            };
        }
        ui.separator();
        ui.toggle_value(&mut view.show_setup, "Setup");
        ui.toggle_value(&mut view.show_overlay, "Debug overlay");
    });
    action
}

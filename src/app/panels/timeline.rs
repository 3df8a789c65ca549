//! The timeline of finished rounds: play / pause / scrub; everything else follows the
//! selected round.

use super::SideInput;
use crate::app::colors::run_color;

/// Only the view state changes here (the round shown, playback).
pub fn ui(input: SideInput<'_>, ui: &mut egui::Ui) {
    let Some(session) = &input.session else {
        ui.label("Rounds will appear here.");
        return;
    };
    let record = session.record;
    let view = input.view;
    ui.horizontal(|ui| {
        let label = if view.playing { "Pause" } else { "Play rounds" };
        if ui.button(label).clicked() {
            view.playing = !view.playing;
            view.follow_latest = false;
        }
        if ui
            .selectable_label(view.follow_latest, "follow live")
            .clicked()
        {
            view.follow_latest = !view.follow_latest;
        }
        ui.separator();
        for kind in record.config.run_kinds() {
            let exists = record
                .rounds
                .get(view.round)
                .is_some_and(|r| r.run(kind).is_some());
            let text = egui::RichText::new(kind.name(record.config.method)).color(run_color(kind));
            if ui
                .add_enabled(exists, egui::Button::selectable(view.run == kind, text))
                .clicked()
            {
                view.run = kind;
            }
        }
        if record.rounds.len() > 1 {
            ui.separator();
            let mut round = view.round;
            if ui
                .add(egui::Slider::new(&mut round, 0..=record.rounds.len() - 1).text("round"))
                .changed()
            {
                view.round = round;
                view.follow_latest = false;
            }
        }
    });
    // One button per finished round; scrolls sideways when there are many.
    egui::ScrollArea::horizontal().show(ui, |ui| {
        ui.horizontal(|ui| {
            for round in &record.rounds {
                let text = format!("{}: {:.1}%", round.round, round.density() * 100.0);
                if ui
                    .selectable_label(view.round == round.round, text)
                    .clicked()
                {
                    view.round = round.round;
                    view.follow_latest = false;
                    view.playing = false;
                }
            }
        });
    });
}

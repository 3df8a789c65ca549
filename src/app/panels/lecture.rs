//! For the hall: keyboard control (space, arrows, R, F, ?), the help overlay that lists it,
//! and the view settings (UI scale, light / dark, high contrast) readable from the back row.

use super::{Action, SideInput};
use crate::app::ViewState;

/// Keys, read once per frame (never while a text field has the keyboard): the view state's
/// changes made here, the rest returned.
pub fn keys(input: &mut SideInput<'_>, ctx: &egui::Context) -> Vec<Action> {
    let mut actions = Vec::new();
    if ctx.text_edit_focused() {
        return actions;
    }
    use egui::Key;
    let pressed = |key| ctx.input(|i| i.key_pressed(key));
    let view = &mut *input.view;
    if pressed(Key::Space) {
        actions.push(match &input.session {
            Some(s) if s.running => Action::SetPaused(!s.paused),
            _ => Action::Start,
        });
    }
    let rounds = input.session.as_ref().map_or(0, |s| s.record.rounds.len());
    if rounds > 0 && pressed(Key::ArrowLeft) {
        view.round = view.round.saturating_sub(1);
        view.follow_latest = false;
    }
    if rounds > 0 && pressed(Key::ArrowRight) {
        view.round = (view.round + 1).min(rounds - 1);
        view.follow_latest = false;
    }
    if pressed(Key::R) {
        actions.push(Action::Reset);
    }
    if pressed(Key::F) {
        view.plots_only = !view.plots_only;
    }
    if pressed(Key::Questionmark) {
        view.show_help = !view.show_help;
    }
    actions
}

pub const SHORTCUTS: [(&str, &str); 5] = [
    ("space", "run / pause"),
    ("left, right", "previous / next round"),
    ("R", "reset"),
    ("F", "plots only (hide setup and timeline)"),
    ("?", "this help"),
];

pub fn help(view: &mut ViewState, ctx: &egui::Context) {
    let mut open = view.show_help;
    egui::Window::new("Keyboard")
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                for (key, what) in SHORTCUTS {
                    ui.strong(key);
                    ui.label(what);
                    ui.end_row();
                }
            });
        });
    view.show_help = open;
}

/// UI scale, theme and contrast, applied every frame from the view state.
pub fn view_menu(view: &mut ViewState, ui: &mut egui::Ui) {
    ui.menu_button("View", |ui| {
        ui.add(egui::Slider::new(&mut view.ui_scale, 0.75..=2.5).text("UI scale"));
        ui.horizontal(|ui| {
            ui.selectable_value(&mut view.dark, true, "dark");
            ui.selectable_value(&mut view.dark, false, "light");
        });
        ui.checkbox(&mut view.high_contrast, "high contrast");
        if ui.button("keyboard shortcuts (?)").clicked() {
            view.show_help = true;
        }
    });
}

pub fn apply_view(view: &mut ViewState, ctx: &egui::Context) {
    let scale = view.ui_scale.clamp(0.5, 3.0);
    if (ctx.zoom_factor() - scale).abs() > 1e-3 {
        ctx.set_zoom_factor(scale);
    }
    let look = (view.dark, view.high_contrast);
    if view.applied_look == Some(look) {
        return;
    }
    view.applied_look = Some(look);
    let mut visuals = if view.dark {
        egui::Visuals::dark()
    } else {
        egui::Visuals::light()
    };
    if view.high_contrast {
        // Pure text colour, heavier lines: readable from the back of a hall on a projector.
        let (text, background) = if view.dark {
            (egui::Color32::WHITE, egui::Color32::BLACK)
        } else {
            (egui::Color32::BLACK, egui::Color32::WHITE)
        };
        visuals.override_text_color = Some(text);
        visuals.panel_fill = background;
        visuals.window_fill = background;
        visuals.extreme_bg_color = background;
        for w in [
            &mut visuals.widgets.noninteractive,
            &mut visuals.widgets.inactive,
            &mut visuals.widgets.hovered,
            &mut visuals.widgets.active,
        ] {
            w.fg_stroke.width = 2.0;
            w.bg_stroke.width = 1.5;
        }
    }
    ctx.set_visuals(visuals);
}

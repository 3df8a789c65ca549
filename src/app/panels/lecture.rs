//! For the hall: keyboard control (space, arrows, R, F, ?), the help overlay that lists it,
//! and the view settings (UI scale, light / dark, high contrast) readable from the back row.

use crate::app::LabApp;

/// Keys, read once per frame (never while a text field has the keyboard).
pub fn keys(app: &mut LabApp, ctx: &egui::Context) {
    if ctx.text_edit_focused() {
        return;
    }
    use egui::Key;
    let pressed = |key| ctx.input(|i| i.key_pressed(key));
    if pressed(Key::Space) {
        match &mut app.session {
            Some(s) if !s.experiment.is_done() => s.paused = !s.paused,
            _ => app.start(),
        }
    }
    let rounds = app
        .session
        .as_ref()
        .map_or(0, |s| s.experiment.record().rounds.len());
    if rounds > 0 && pressed(Key::ArrowLeft) {
        app.view.round = app.view.round.saturating_sub(1);
        app.view.follow_latest = false;
    }
    if rounds > 0 && pressed(Key::ArrowRight) {
        app.view.round = (app.view.round + 1).min(rounds - 1);
        app.view.follow_latest = false;
    }
    if pressed(Key::R) {
        app.reset();
    }
    if pressed(Key::F) {
        app.view.plots_only = !app.view.plots_only;
    }
    if pressed(Key::Questionmark) {
        app.view.show_help = !app.view.show_help;
    }
}

pub const SHORTCUTS: [(&str, &str); 5] = [
    ("space", "run / pause"),
    ("left, right", "previous / next round"),
    ("R", "reset"),
    ("F", "plots only (hide setup and timeline)"),
    ("?", "this help"),
];

pub fn help(app: &mut LabApp, ctx: &egui::Context) {
    let mut open = app.view.show_help;
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
    app.view.show_help = open;
}

/// UI scale, theme and contrast, applied every frame from the view state.
pub fn view_menu(app: &mut LabApp, ui: &mut egui::Ui) {
    ui.menu_button("View", |ui| {
        ui.add(egui::Slider::new(&mut app.view.ui_scale, 0.75..=2.5).text("UI scale"));
        ui.horizontal(|ui| {
            ui.selectable_value(&mut app.view.dark, true, "dark");
            ui.selectable_value(&mut app.view.dark, false, "light");
        });
        ui.checkbox(&mut app.view.high_contrast, "high contrast");
        if ui.button("keyboard shortcuts (?)").clicked() {
            app.view.show_help = true;
        }
    });
}

pub fn apply_view(app: &mut LabApp, ctx: &egui::Context) {
    let scale = app.view.ui_scale.clamp(0.5, 3.0);
    if (ctx.zoom_factor() - scale).abs() > 1e-3 {
        ctx.set_zoom_factor(scale);
    }
    let look = (app.view.dark, app.view.high_contrast);
    if app.view.applied_look == Some(look) {
        return;
    }
    app.view.applied_look = Some(look);
    let mut visuals = if app.view.dark {
        egui::Visuals::dark()
    } else {
        egui::Visuals::light()
    };
    if app.view.high_contrast {
        // Pure text colour, heavier lines: readable from the back of a hall on a projector.
        let (text, background) = if app.view.dark {
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

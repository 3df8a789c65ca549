//! The File menu: export the record (CSV, JSON), the ticket, the plots (PNG); open a results
//! file or a CSV of data; copy the link. Natively also the Open window (a path to read).

use super::{Action, SideInput};
use crate::app::ViewState;

pub fn menu(input: &SideInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
    let mut action = None;
    ui.menu_button("File", |ui| {
        let has_record = input
            .session
            .as_ref()
            .is_some_and(|s| !s.record.rounds.is_empty());
        let item = |ui: &mut egui::Ui, enabled: bool, text: &str, hover: &str| {
            ui.add_enabled(enabled, egui::Button::new(text))
                .on_hover_text(hover)
                .on_disabled_hover_text("Run an experiment first")
                .clicked()
        };
        if item(ui, has_record, "Export results (CSV)", "One row per round and run") {
            action = Some(Action::ExportCsv);
            ui.close();
        }
        if item(
            ui,
            has_record,
            "Export results (JSON)",
            "The whole record with its config: open it again later without re-running",
        ) {
            action = Some(Action::ExportJson);
            ui.close();
        }
        let round = input.view.round;
        if item(
            ui,
            has_record,
            &format!("Export the ticket of round {round}"),
            "Its masks and θ₀: everything needed to train it again elsewhere",
        ) {
            action = Some(Action::ExportTicket);
            ui.close();
        }
        if item(ui, has_record, "Export plots (PNG)", "Each plot on screen as a PNG image") {
            action = Some(Action::ExportPlots);
            ui.close();
        }
        ui.separator();
        if ui
            .button("Open results (JSON) or data (CSV)…")
            .on_hover_text("A results file shows a finished experiment again; a CSV of numeric columns and a label column becomes the data to train on. Dropping a file on the window works too.")
            .clicked()
        {
            action = Some(Action::PickFile);
            ui.close();
        }
        if ui.button("Copy link").clicked() {
            action = Some(Action::CopyLink);
            ui.close();
        }
    });
    action
}

/// Natively, where there is no browser picker: type or paste a path.
pub fn open_window(view: &mut ViewState, ctx: &egui::Context) -> Option<Action> {
    let mut open = view.show_open;
    let mut chosen = None;
    egui::Window::new("Open a file")
        .open(&mut open)
        .collapsible(false)
        .show(ctx, |ui| {
            ui.label(
                "A results file (.json) or data (.csv). Dropping a file on the window works too.",
            );
            ui.horizontal(|ui| {
                let label = ui.label("Path");
                let edit =
                    ui.add(egui::TextEdit::singleline(&mut view.open_path).desired_width(360.0));
                let edit = edit.labelled_by(label.id);
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui.button("Open").clicked() || enter {
                    chosen = Some(view.open_path.clone());
                }
            });
        });
    view.show_open = open && chosen.is_none();
    chosen.map(Action::OpenPath)
}

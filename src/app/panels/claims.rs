//! What the preset's text claims, listed under its explanation: each claim is checked over
//! seeds 1-3 by `lottery-lab check-presets`, and once this run of the preset has finished, on
//! this run too, so the hall sees whether the run on the screen showed it.

use crate::experiment::presets::Preset;
use crate::experiment::{ExperimentRecord, Status};

/// The claims and, for a finished run of the preset's own config (any seed), whether each
/// held in it.
pub fn show(ui: &mut egui::Ui, preset: &Preset, record: Option<&ExperimentRecord>) {
    if preset.claims.is_empty() {
        return;
    }
    let finished = record.filter(|r| r.status == Status::Finished);
    let own_run = finished.filter(|r| preset.is_its_run(&r.config));
    egui::CollapsingHeader::new(format!("What it claims ({})", preset.claims.len()))
        .id_salt("claims")
        .show(ui, |ui| {
            ui.small(
                "Each checked on the preset's runs over seeds 1-3 (`lottery-lab check-presets`). \
                 The figures are test accuracy (ROC AUC for fraud) at each run's early stop, its \
                 lowest validation loss, as on the accuracy plot.",
            );
            for claim in preset.claims {
                match own_run {
                    Some(record) => {
                        let verdict = (claim.check)(std::slice::from_ref(record));
                        let (word, color) = if verdict.holds {
                            ("holds", egui::Color32::from_rgb(90, 180, 90))
                        } else {
                            ("does not hold", egui::Color32::from_rgb(230, 90, 70))
                        };
                        ui.horizontal_wrapped(|ui| {
                            ui.colored_label(color, format!("this run: {word}"));
                            ui.label(claim.says);
                        })
                        .response
                        .on_hover_text(verdict.figures);
                    }
                    None => {
                        ui.label(format!("• {}", claim.says));
                    }
                }
            }
            if finished.is_some() && own_run.is_none() {
                ui.small(
                    "This run's setup differs from the preset's: its claims are not checked on it.",
                );
            }
        });
}

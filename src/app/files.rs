//! Files in and out of the app. Exports download on the web and are written to a folder
//! natively; imports come from a file picker (web), a path (native) or a drop on the window
//! (both). Every import is checked completely before it touches the app's state.

use std::sync::{Arc, Mutex};

use super::LabApp;
use crate::experiment::studies::at_init::AT_INIT_FORMAT;
use crate::experiment::studies::explain::EXPLAIN_FORMAT;
use crate::experiment::studies::lmc::LMC_FORMAT;
use crate::experiment::studies::rewind::REWIND_FORMAT;
use crate::experiment::studies::transfer::TRANSFER_FORMAT;
use crate::experiment::studies::{
    AtInitRecord, AtInitStudy, ExplainRecord, ExplainStudy, LmcRecord, LmcStudy, RewindRecord,
    RewindSweep, TransferRecord, TransferStudy,
};
use crate::experiment::{Status, io};
use crate::platform::Picking;

/// Filled by the screenshot callback, read on the next frame.
pub type Slot<T> = Arc<Mutex<Option<T>>>;

/// How many frames a requested screenshot may take before the export gives up with a notice.
/// The picture is read back from the GPU asynchronously, and the readback only completes on a
/// later frame: an idle app must keep painting until it arrives.
const SCREENSHOT_FRAMES: u32 = 600;

/// Plots and their place on screen (points), recorded while drawing, for the PNG export.
pub type PlotRects = Vec<(&'static str, egui::Rect)>;

impl LabApp {
    /// Save `bytes` as `name`: a download on the web, a file in the export folder natively.
    /// The notice says where it went (or why not).
    pub fn save_file(&mut self, name: &str, mime: &str, bytes: &[u8]) {
        let result = self.platform.save_file(name, mime, bytes);
        self.notices
            .retain(|n| !n.starts_with("Saved ") && !n.starts_with("Downloaded "));
        match result {
            Ok(message) => self.notices.push(message),
            Err(e) => self.notices.push(format!("Could not save {name}: {e}")),
        }
    }

    fn export_name(&self, suffix: &str, ext: &str) -> String {
        let seed = self
            .session
            .as_ref()
            .map_or(self.config.seed, |s| s.experiment.config().seed);
        io::file_name(&self.preset, seed, suffix, ext)
    }

    pub fn export_csv(&mut self) {
        let Some(session) = &self.session else { return };
        let csv = session.experiment.record().to_csv();
        let name = self.export_name("", "csv");
        self.save_file(&name, "text/csv", csv.as_bytes());
    }

    /// The whole record, config embedded (with every weight when the config keeps them).
    pub fn export_json(&mut self) {
        let Some(session) = &self.session else { return };
        let json = match serde_json::to_string(session.experiment.record()) {
            Ok(json) => json,
            Err(e) => {
                return self
                    .notices
                    .push(format!("Could not write the record: {e}"));
            }
        };
        let name = self.export_name("", "json");
        self.save_file(&name, "application/json", json.as_bytes());
    }

    /// The stability study (linear mode connectivity): its record as JSON, a row per point
    /// of each path as CSV.
    pub fn export_stability(&mut self) {
        let Some((study, _)) = self.session.as_ref().and_then(|s| s.stability.as_ref()) else {
            return;
        };
        let record = study.record();
        let (json, csv) = (serde_json::to_string(record), record.to_csv());
        self.export_json_and_csv("-stability", "study", json, &csv);
    }

    /// The late-rewinding sweep: its record as JSON, a row per rewind point as CSV.
    pub fn export_rewinding(&mut self) {
        let Some((sweep, _)) = self.session.as_ref().and_then(|s| s.rewinding.as_ref()) else {
            return;
        };
        let record = sweep.record();
        let (json, csv) = (serde_json::to_string(record), record.to_csv());
        self.export_json_and_csv("-rewinding", "sweep", json, &csv);
    }

    /// The explanations: their record (attribution maps included) as JSON, a row per
    /// network and example as CSV.
    pub fn export_explanation(&mut self) {
        let Some((study, _)) = self.session.as_ref().and_then(|s| s.explanation.as_ref()) else {
            return;
        };
        let record = study.record();
        let (json, csv) = (serde_json::to_string(record), record.to_csv());
        self.export_json_and_csv("-explanations", "explanations", json, &csv);
    }

    /// The transfer study: its record as JSON, a row per network as CSV.
    pub fn export_transfer(&mut self) {
        let Some((study, _)) = self.session.as_ref().and_then(|s| s.transfer.as_ref()) else {
            return;
        };
        let record = study.record();
        let (json, csv) = (serde_json::to_string(record), record.to_csv());
        self.export_json_and_csv("-transfer", "transfer study", json, &csv);
    }

    /// Pruning at initialisation: its record as JSON, a row per mask and density as CSV.
    pub fn export_at_init(&mut self) {
        let Some((study, _)) = self.session.as_ref().and_then(|s| s.at_init.as_ref()) else {
            return;
        };
        let record = study.record();
        let (json, csv) = (serde_json::to_string(record), record.to_csv());
        self.export_json_and_csv("-at-init", "study", json, &csv);
    }

    fn export_json_and_csv(
        &mut self,
        suffix: &str,
        what: &str,
        json: serde_json::Result<String>,
        csv: &str,
    ) {
        let json = match json {
            Ok(json) => json,
            Err(e) => {
                return self
                    .notices
                    .push(format!("Could not write the {what}: {e}"));
            }
        };
        let name = self.export_name(suffix, "json");
        self.save_file(&name, "application/json", json.as_bytes());
        let name = self.export_name(suffix, "csv");
        self.save_file(&name, "text/csv", csv.as_bytes());
    }

    /// The ticket of the selected round: its mask and θ₀.
    pub fn export_ticket(&mut self) {
        let Some(session) = &self.session else { return };
        let round = self.view.round;
        let json = io::ticket(session.experiment.record(), round)
            .and_then(|t| Ok(serde_json::to_string(&t)?));
        match json {
            Ok(json) => {
                let name = self.export_name(&format!("ticket-round{round}"), "json");
                self.save_file(&name, "application/json", json.as_bytes());
            }
            Err(e) => self.notices.push(format!("No ticket to export: {e}")),
        }
    }

    /// Ask for a screenshot; each plot is cut out of it on a later frame and saved as PNG.
    pub fn export_plots(&mut self, ctx: &egui::Context) {
        let slot = self.screenshot.clone();
        let repaint = ctx.clone();
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
            egui::ScreenshotCallback::new(move |image| {
                *slot.lock().expect("not poisoned") = Some(image);
                repaint.request_repaint();
            }),
        ));
        self.screenshot_wait = Some(0);
        ctx.request_repaint();
    }

    /// Per frame: files dropped on the window (they arrive through the platform's inbox) and
    /// a screenshot to cut into plots.
    pub(super) fn receive_files(&mut self, ctx: &egui::Context) {
        for file in ctx.input(|i| i.raw.dropped_files.clone()) {
            self.platform.read_dropped(file);
        }
        let shot = self.screenshot.lock().expect("not poisoned").take();
        if shot.is_none()
            && let Some(waited) = self.screenshot_wait.as_mut()
        {
            *waited += 1;
            if *waited > SCREENSHOT_FRAMES {
                self.screenshot_wait = None;
                self.notices
                    .push("The plots were not exported: the screen could not be read back.".into());
            } else {
                ctx.request_repaint_after(std::time::Duration::from_millis(16));
            }
        }
        if let Some(image) = shot {
            self.screenshot_wait = None;
            let ppp = ctx.pixels_per_point();
            let rects = self.view.plot_rects.clone();
            if rects.is_empty() {
                self.notices.push("No plots on screen to export.".into());
            }
            for (plot, rect) in rects {
                match crop_png(&image, rect, ppp) {
                    Ok(png) => {
                        let name = self.export_name(plot, "png");
                        self.save_file(&name, "image/png", &png);
                    }
                    Err(e) => self.notices.push(format!("Could not export {plot}: {e}")),
                }
            }
        }
    }

    /// Open a picked or dropped file: a results JSON, or a CSV of data to train on.
    pub fn open_file(&mut self, name: &str, bytes: &[u8]) {
        if bytes.len() > io::MAX_FILE_BYTES {
            self.notices.push(format!("{name}: the file is too large"));
            return;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                self.notices.push(format!("{name}: not a text file ({e})"));
                return;
            }
        };
        if name.to_ascii_lowercase().ends_with(".csv") {
            self.import_csv(name, text);
            return;
        }
        match study_format(text).as_deref() {
            Some(LMC_FORMAT) => return self.open_stability(name, text),
            Some(EXPLAIN_FORMAT) => return self.open_explanation(name, text),
            Some(TRANSFER_FORMAT) => return self.open_transfer(name, text),
            Some(REWIND_FORMAT) => return self.open_rewinding(name, text),
            Some(AT_INIT_FORMAT) => return self.open_at_init(name, text),
            Some(io::TICKET_FORMAT) => return self.open_ticket(name, text),
            _ => {}
        }
        match io::parse_record(text) {
            Ok(record) => self.open_record(record),
            Err(e) => self
                .notices
                .push(format!("{name} was not opened (nothing changed): {e}")),
        }
    }

    /// A stability study saved from the panel: shown beside its own experiment, which has to
    /// be the one on screen (the study measured that experiment's masks).
    fn open_stability(&mut self, name: &str, text: &str) {
        let refusal = "is a stability study of another experiment";
        self.open_study(
            name,
            LmcRecord::parse(text),
            |r| &r.config.base,
            refusal,
            |s, r| {
                let paths = r.paths.len();
                let mut study = LmcStudy::reopened(r, s.experiment.data().clone());
                let progress = study.advance(0);
                let state = match &study.record().status {
                    Status::Finished => "finished".to_string(),
                    Status::Stopped { reason } => format!("stopped: {reason}"),
                    Status::Running => "running".to_string(),
                };
                s.stability = Some((study, progress));
                format!("Opened the stability study: {paths} paths ({state}).")
            },
        );
    }

    /// Explanations saved from the panel: shown beside their own experiment.
    fn open_explanation(&mut self, name: &str, text: &str) {
        let refusal = "explains another experiment's networks";
        self.open_study(
            name,
            ExplainRecord::parse(text),
            |r| &r.experiment,
            refusal,
            |s, r| {
                let examples = r.config.examples.len();
                let mut study = ExplainStudy::reopened(r, s.experiment.data().clone());
                let progress = study.advance(0);
                s.explanation = Some((study, progress));
                format!("Opened the explanations: {examples} test example(s).")
            },
        );
    }

    /// A late-rewinding sweep saved from the panel: shown beside its experiment.
    fn open_rewinding(&mut self, name: &str, text: &str) {
        let refusal = "is a rewinding sweep of another experiment";
        self.open_study(
            name,
            RewindRecord::parse(text),
            |r| &r.config.base,
            refusal,
            |s, r| {
                let points = r.points.len();
                let mut sweep = RewindSweep::reopened(r, s.experiment.data().clone());
                let progress = sweep.advance(0);
                s.rewinding = Some((sweep, progress));
                format!("Opened the rewinding sweep: {points} rewind points.")
            },
        );
    }

    /// A transfer study saved from the panel: shown beside the experiment it started from.
    fn open_transfer(&mut self, name: &str, text: &str) {
        let refusal = "is a transfer study of another experiment";
        self.open_study(
            name,
            TransferRecord::parse(text),
            |r| &r.config.base,
            refusal,
            |s, r| {
                let results = r.results.len();
                let mut study = TransferStudy::reopened(r, s.experiment.data().clone());
                let progress = study.advance(0);
                s.transfer = Some((study, progress));
                format!("Opened the transfer study: {results} networks on B.")
            },
        );
    }

    /// A study of pruning at initialisation saved from the panel: shown beside the IMP
    /// experiment whose tickets it compares.
    fn open_at_init(&mut self, name: &str, text: &str) {
        let refusal = "compares another experiment's tickets";
        self.open_study(
            name,
            AtInitRecord::parse(text),
            |r| &r.config.base,
            refusal,
            |s, r| {
                let points = r.points.len();
                let mut study = AtInitStudy::reopened(r, s.experiment.data().clone());
                let progress = study.advance(0);
                s.at_init = Some((study, progress));
                format!("Opened the study of pruning at initialisation: {points} masks.")
            },
        );
    }

    /// A study's file: parsed and checked, then shown beside its own experiment (`config_of`)
    /// by `install`, which says what was opened; else a notice of why not (nothing changes).
    fn open_study<R>(
        &mut self,
        name: &str,
        parsed: Result<R, String>,
        config_of: fn(&R) -> &crate::experiment::ExperimentConfig,
        refusal: &str,
        install: impl FnOnce(&mut super::Session, R) -> String,
    ) {
        let Some(record) = self.parsed(name, parsed) else {
            return;
        };
        let beside = self
            .session
            .as_mut()
            .filter(|s| s.experiment.config() == config_of(&record));
        let notice = match beside {
            Some(session) => install(session, record),
            None => {
                format!("{name} {refusal}: open or run that experiment first (nothing changed)")
            }
        };
        self.notices.push(notice);
    }

    /// A ticket file ("bring a ticket from home"): kept for the transfer panel, which trains
    /// it on another task once an experiment on the ticket's data has finished.
    fn open_ticket(&mut self, name: &str, text: &str) {
        let parsed = io::parse_ticket(text);
        let Some(ticket) = self.parsed(name, parsed) else {
            return;
        };
        self.notices.push(format!(
            "Opened the ticket {name} (round {}, {:.1}% of the weights, found on {}): the \"Does a ticket transfer?\" panel trains it on another task once an experiment on {} has finished.",
            ticket.round,
            ticket.density * 100.0,
            ticket.config.dataset.name(),
            ticket.config.dataset.name()
        ));
        self.brought_ticket = Some(ticket);
    }

    /// A study file's record, or a notice of why `name` was not opened.
    fn parsed<R>(&mut self, name: &str, parsed: Result<R, impl std::fmt::Display>) -> Option<R> {
        parsed
            .map_err(|e| {
                self.notices
                    .push(format!("{name} was not opened (nothing changed): {e}"))
            })
            .ok()
    }

    /// Read a file by its path (the native Open window).
    pub fn open_path(&mut self, path: &str) {
        match self.platform.read_path(path) {
            Ok((name, bytes)) => self.open_file(&name, &bytes),
            Err(e) => self.notices.push(format!("Could not open the file: {e}")),
        }
    }

    /// Ask the user for a file: the browser's picker, or (natively) the Open window.
    pub fn pick_file(&mut self) {
        if self.platform.pick_file(".json,.csv") == Picking::AskForAPath {
            self.view.show_open = true;
        }
    }
}

/// Cut `rect` (points) out of a screenshot and encode it as PNG.
pub fn crop_png(image: &egui::ColorImage, rect: egui::Rect, ppp: f32) -> Result<Vec<u8>, String> {
    let [w, h] = image.size;
    let to_px = |v: f32, max: usize| ((v * ppp).round().max(0.0) as usize).min(max);
    let (x0, x1) = (to_px(rect.min.x, w), to_px(rect.max.x, w));
    let (y0, y1) = (to_px(rect.min.y, h), to_px(rect.max.y, h));
    if x1 <= x0 || y1 <= y0 {
        return Err("the plot is not on screen".into());
    }
    let mut rgba = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for y in y0..y1 {
        for px in &image.pixels[y * w + x0..y * w + x1] {
            rgba.extend_from_slice(&px.to_srgba_unmultiplied());
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, (x1 - x0) as u32, (y1 - y0) as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&rgba).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// A JSON file's `format` (a study's file says which study; the rest is skipped unread).
fn study_format(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Format {
        format: Option<String>,
    }
    serde_json::from_str::<Format>(text).ok()?.format
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_cuts_the_right_pixels_and_decodes() {
        let mut image = egui::ColorImage::filled([40, 30], egui::Color32::BLACK);
        for y in 10..20 {
            for x in 4..24 {
                image.pixels[y * 40 + x] = egui::Color32::RED;
            }
        }
        // 2 pixels per point: points (2, 5)-(12, 10) are pixels (4, 10)-(24, 20).
        let rect = egui::Rect::from_min_max(egui::pos2(2.0, 5.0), egui::pos2(12.0, 10.0));
        let png = crop_png(&image, rect, 2.0).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (20, 10));
        assert!(buf.chunks(4).all(|p| p == [255, 0, 0, 255]));
        // Off screen: a message, not a panic.
        let off = egui::Rect::from_min_max(egui::pos2(100.0, 100.0), egui::pos2(200.0, 200.0));
        assert!(crop_png(&image, off, 2.0).is_err());
    }
}

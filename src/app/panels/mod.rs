//! Screen layout: the top bar (run controls), the setup panel, the timeline at the bottom,
//! and the plots in the middle. One file per panel; a panel reads what it is given (the
//! record, the view state) and returns what it wants changed as an [`Action`], which
//! `actions::apply` carries out once every panel is drawn. Only this file sees the app.

mod accuracy;
mod actions;
mod at_init;
mod boundary;
mod claims;
mod controls;
mod curves;
mod early_bird;
mod explanations;
mod file_menu;
pub mod heatmaps;
mod lecture;
mod overlay;
mod rewinding;
mod setup;
mod slider;
mod stability;
mod timeline;
mod transfer;

pub use actions::Action;

use super::session::ViewCache;
use super::{FrameStats, LabApp, ViewState};
use crate::data::Dataset;
use crate::experiment::studies::{
    AtInitProgress, AtInitRecord, ExplainProgress, ExplainRecord, LmcProgress, LmcRecord,
    RewindProgress, RewindRecord, TransferProgress, TransferRecord,
};
use crate::experiment::{ExperimentRecord, RunKind, RunRecord};
use crate::train::EvalPoint;

/// What a plot panel reads: the record, the run in flight's curve, the test points, the view
/// state, and the session's view caches (textures; the slider's result, computed in the
/// frame's work by `app::view_work`, never in a panel).
pub struct PlotInput<'a> {
    pub record: &'a ExperimentRecord,
    pub live: Option<(RunKind, &'a [EvalPoint])>,
    /// The round still training: its number and the runs already finished.
    pub in_progress: Option<(usize, &'a [RunRecord])>,
    pub test: &'a Dataset,
    /// All of the experiment's data (what the studies derive their tasks from).
    pub data: &'a crate::data::DataSplits,
    pub view: &'a ViewState,
    pub cache: &'a mut ViewCache,
    /// The stability study of the finished experiment, and where it stands.
    pub stability: Option<(&'a LmcRecord, &'a LmcProgress)>,
    /// The late-rewinding sweep, and where it stands.
    pub rewinding: Option<(&'a RewindRecord, &'a RewindProgress)>,
    /// The explanations of a test example, and where they stand.
    pub explanation: Option<(&'a ExplainRecord, &'a ExplainProgress)>,
    /// The transfer study, and where it stands.
    pub transfer: Option<(&'a TransferRecord, &'a TransferProgress)>,
    /// Pruning at initialisation, and where it stands.
    pub at_init: Option<(&'a AtInitRecord, &'a AtInitProgress)>,
    /// A run over several seeds: the other seeds' finished records, and (done, planned).
    pub seed_records: &'a [ExperimentRecord],
    pub seeds: (usize, usize),
    /// A ticket file the user opened, which the transfer study can train on another task.
    pub brought_ticket: Option<&'a crate::experiment::io::TicketFile>,
}

/// What the side panels (the top bar, the timeline, the File menu, the keys, the overlay and
/// the windows) read. They change the view state's settings themselves and return the rest
/// as actions.
pub struct SideInput<'a> {
    pub session: Option<SessionSummary<'a>>,
    /// eframe's device when it can run compute shaders, or why not.
    pub gpu: &'a Result<std::sync::Arc<crate::train::gpu::GpuContext>, String>,
    pub stats: &'a FrameStats,
    pub view: &'a mut ViewState,
}

/// The experiment on screen, in the figures the side panels show.
pub struct SessionSummary<'a> {
    pub record: &'a ExperimentRecord,
    pub progress: &'a crate::experiment::Progress,
    /// Not finished or stopped yet.
    pub running: bool,
    pub paused: bool,
    /// Why this engine trains it (long: shown on hover).
    pub engine_reason: &'a str,
    pub samples_per_s: f64,
}

/// What the setup panel reads, and the settings it edits for the next Run.
pub struct SetupInput<'a> {
    pub preset: &'a str,
    /// The experiment on screen (the preset's claims are checked against it).
    pub record: Option<&'a ExperimentRecord>,
    pub imported: Option<&'a crate::data::csv::ImportedData>,
    pub config: &'a mut crate::experiment::ExperimentConfig,
    pub seeds: &'a mut usize,
    pub backend: &'a mut crate::train::gpu::BackendPreference,
    /// Where training runs in workers: what they are called, the cores the platform
    /// reports, and the runs trained at once now.
    pub workers: Option<(&'static str, usize, usize)>,
    pub view: &'a mut ViewState,
}

fn side(app: &mut LabApp) -> SideInput<'_> {
    let LabApp {
        session,
        gpu,
        stats,
        view,
        ..
    } = app;
    SideInput {
        session: session.as_ref().map(|s| SessionSummary {
            record: s.experiment.record(),
            progress: &s.last_progress,
            running: !s.experiment.is_done(),
            paused: s.paused,
            engine_reason: &s.choice.reason,
            samples_per_s: s.samples_per_s,
        }),
        gpu,
        stats,
        view,
    }
}

fn setup_input(app: &mut LabApp) -> SetupInput<'_> {
    let workers = app.platform.training_workers().map(|w| {
        let runs = app.parallel_runs(Some(&w));
        (w.place, w.cores, runs)
    });
    let LabApp {
        preset,
        session,
        imported,
        config,
        seeds,
        backend,
        view,
        ..
    } = app;
    SetupInput {
        preset,
        record: session.as_ref().map(|s| s.experiment.record()),
        imported: imported.as_deref(),
        config,
        seeds,
        backend,
        workers,
        view,
    }
}

/// A plot in the middle of the screen.
pub trait PlotPanel: Sync {
    /// Its name in the PNG export (`…-<name>.png`).
    fn name(&self) -> &'static str;
    /// Two half-width plots in a row share it on a wide screen.
    fn half_width(&self) -> bool {
        false
    }
    /// A separator above it (when something is drawn before it).
    fn separated(&self) -> bool {
        true
    }
    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action>;
}

/// The plots, top to bottom: a new plot is one file and one line here.
static PLOTS: &[&dyn PlotPanel] = &[
    &accuracy::Accuracy,
    &curves::Curves,
    &slider::Slider,
    &boundary::Boundary,
    &early_bird::EarlyBird,
    &heatmaps::Heatmaps,
    &stability::Stability,
    &rewinding::Rewinding,
    &explanations::Explanations,
    &transfer::Transfer,
    &at_init::AtInit,
];

pub fn show(app: &mut LabApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    let mut actions = lecture::keys(&mut side(app), &ctx);
    lecture::apply_view(&mut app.view, &ctx);
    app.view.plot_rects.clear();
    let side_frame = background(egui::Frame::side_top_panel(ui.style()));
    let middle = background(egui::Frame::central_panel(ui.style()));
    egui::Panel::top("controls")
        .frame(side_frame)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                let input = side(app);
                actions.extend(file_menu::menu(&input, ui));
                lecture::view_menu(&mut *input.view, ui);
                actions.extend(controls::ui(input, ui));
            });
        });
    if app.view.show_setup && !app.view.plots_only {
        egui::Panel::left("setup")
            .resizable(true)
            .default_size(330.0)
            .frame(side_frame)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .show(ui, |ui| actions.extend(setup::ui(setup_input(app), ui)));
            });
    }
    if !app.view.plots_only {
        egui::Panel::bottom("timeline")
            .frame(side_frame)
            .show(ui, |ui| timeline::ui(side(app), ui));
    }
    egui::CentralPanel::default().frame(middle).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| actions.extend(central(app, ui)));
    });
    if app.view.show_overlay {
        overlay::ui(&side(app), &ctx);
    }
    if app.view.show_open {
        actions.extend(file_menu::open_window(&mut app.view, &ctx));
    }
    if app.view.show_help {
        lecture::help(&mut app.view, &ctx);
    }
    actions::apply(app, actions, &ctx);
}

/// A panel's frame, without its background fill on the web: there the clear colour
/// (`LabApp::clear_color`, the same colour) shows through. A browser with no usable GPU paints
/// with a software rasteriser, where these fills — the whole screen once more — made every
/// frame ~3x slower (105 -> 35 ms at 1280x720, Chromium/SwiftShader). Natively the fills stay:
/// egui_kittest renders its snapshots over transparency, not over the clear colour.
fn background(frame: egui::Frame) -> egui::Frame {
    if cfg!(target_arch = "wasm32") {
        frame.fill(egui::Color32::TRANSPARENT)
    } else {
        frame
    }
}

fn central(app: &mut LabApp, ui: &mut egui::Ui) -> Vec<Action> {
    let mut actions = notices(app, ui);
    if !app.view.show_setup || app.view.plots_only {
        // The setup panel (and its explanation) is hidden: say what the hall is watching.
        if let Some(preset) = crate::experiment::presets::find(&app.preset) {
            // Open before the first Run (what the hall is about to see), folded after.
            egui::CollapsingHeader::new(format!("About: {}", preset.title))
                .id_salt("about")
                .default_open(app.session.is_none())
                .show(ui, |ui| {
                    ui.label(preset.explanation);
                    let record = app.session.as_ref().map(|s| s.experiment.record());
                    claims::show(ui, preset, record);
                });
        }
    }
    if app.session.is_none() {
        ui.add_space(20.0);
        ui.heading("Press Run to watch the lottery ticket hypothesis happen.");
        ui.label(
            "The network trains, loses its smallest weights, resets the survivors to their \
             initial values and trains again — round by round — while the controls \
             (random re-initialisation, random pruning, one-shot pruning) train beside it.",
        );
        return actions;
    };
    let LabApp {
        session,
        view,
        brought_ticket,
        ..
    } = app;
    let Some(session) = session else {
        return actions;
    };
    let seeds = session.seeds_done();
    let record = session.experiment.record();
    let mut input = PlotInput {
        record,
        live: session.experiment.live_curve(),
        in_progress: session.experiment.round_in_progress(),
        test: &session.experiment.data().test,
        data: session.experiment.data(),
        view,
        cache: &mut session.cache,
        stability: session
            .stability
            .as_ref()
            .map(|(study, progress)| (study.record(), progress)),
        rewinding: session
            .rewinding
            .as_ref()
            .map(|(sweep, progress)| (sweep.record(), progress)),
        explanation: session
            .explanation
            .as_ref()
            .map(|(study, progress)| (study.record(), progress)),
        transfer: session
            .transfer
            .as_ref()
            .map(|(study, progress)| (study.record(), progress)),
        at_init: session
            .at_init
            .as_ref()
            .map(|(study, progress)| (study.record(), progress)),
        brought_ticket: brought_ticket.as_ref(),
        seed_records: &session.seed_records,
        seeds,
    };
    let mut rects = Vec::new();
    let mut slowest = crate::app::stats::SlowestPanel::default();
    // Two columns when there is room (a projector), one on a narrow screen.
    let wide = ui.available_width() > 900.0;
    let mut plots = PLOTS.iter().peekable();
    while let Some(plot) = plots.next() {
        if plot.separated() && !rects.is_empty() {
            ui.separator();
        }
        let pair = plots
            .peek()
            .filter(|next| wide && plot.half_width() && next.half_width());
        if let Some(&&next) = pair {
            let both: [&dyn PlotPanel; 2] = [*plot, next];
            ui.columns(2, |cols| {
                for (col, plot) in cols.iter_mut().zip(both) {
                    let started = web_time::Instant::now();
                    let r = col.scope(|ui| plot.ui(&mut input, ui));
                    slowest.keep(plot.name(), started);
                    actions.extend(r.inner);
                    rects.push((plot.name(), r.response.rect));
                }
            });
            plots.next();
        } else {
            let started = web_time::Instant::now();
            let r = ui.scope(|ui| plot.ui(&mut input, ui));
            slowest.keep(plot.name(), started);
            actions.extend(r.inner);
            rects.push((plot.name(), r.response.rect));
        }
    }
    app.stats.slowest_panel(slowest);
    // Only what is visible can be cut out of a screenshot.
    let visible = ui.clip_rect();
    view.plot_rects = rects
        .into_iter()
        .map(|(name, rect)| (name, rect.intersect(visible)))
        .filter(|(_, rect)| rect.width() > 1.0 && rect.height() > 1.0)
        .collect();
    actions
}

fn notices(app: &LabApp, ui: &mut egui::Ui) -> Vec<Action> {
    let mut dismiss = None;
    for (i, notice) in app.notices.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.colored_label(egui::Color32::from_rgb(230, 170, 40), format!("! {notice}"));
            if ui.small_button("dismiss").clicked() {
                dismiss = Some(i);
            }
        });
    }
    let actions = dismiss.map(Action::DismissNotice).into_iter().collect();
    if let Some(session) = &app.session {
        if let Some(why) = &session.seed_notice {
            ui.colored_label(
                egui::Color32::from_rgb(230, 170, 40),
                format!("The run over seeds stopped short: {why}"),
            );
        }
        for note in &session.experiment.record().notes {
            ui.colored_label(
                egui::Color32::from_rgb(230, 170, 40),
                format!("Note: {note}"),
            );
        }
        if let crate::experiment::Status::Stopped { reason } = &session.experiment.record().status {
            ui.colored_label(
                egui::Color32::from_rgb(230, 80, 60),
                format!("Stopped: {reason}"),
            );
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::{Action, FrameStats, SideInput, ViewState, controls, timeline};

    /// A panel is drawn from what it is given and answers with actions: no app, no engine.
    #[test]
    fn the_top_bar_asks_for_a_run_and_changes_only_the_view_itself() {
        let gpu = Err("no device in this test".to_string());
        let stats = FrameStats::default();
        let mut view = ViewState::default();
        let mut asked = Vec::new();
        {
            let mut harness = Harness::new_ui(|ui| {
                let input = SideInput {
                    session: None,
                    gpu: &gpu,
                    stats: &stats,
                    view: &mut view,
                };
                asked.extend(controls::ui(input, ui));
            });
            harness.get_by_label("Run").click();
            harness.run();
            harness.get_by_label("Debug overlay").click();
            harness.run();
            harness.get_by_label("CPU engine");
        }
        assert_eq!(asked, vec![Action::Start]);
        assert!(
            view.show_overlay,
            "the overlay's toggle is the view's own setting"
        );
    }

    #[test]
    fn the_timeline_waits_for_rounds_without_a_session() {
        let gpu = Err("none".to_string());
        let stats = FrameStats::default();
        let mut view = ViewState::default();
        let harness = Harness::new_ui(|ui| {
            timeline::ui(
                SideInput {
                    session: None,
                    gpu: &gpu,
                    stats: &stats,
                    view: &mut view,
                },
                ui,
            );
        });
        harness.get_by_label("Rounds will appear here.");
    }
}

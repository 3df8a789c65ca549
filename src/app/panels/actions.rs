//! What a panel wants changed, and the one place that changes it: panels read and draw, and
//! what they ask for is applied here once every panel is drawn.

use crate::app::LabApp;

/// A change a panel asks for (the view state's own settings a panel changes itself).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start the experiment set up (Run).
    Start,
    /// Pause or resume the experiment in flight.
    SetPaused(bool),
    /// Train until one more round is finished, then pause (starting first if need be).
    StepOneRound,
    Reset,
    SelectPreset(&'static str),
    /// Where training runs in workers: how many of a round's runs train at once.
    SetParallelRuns(usize),
    ExportCsv,
    ExportJson,
    ExportTicket,
    ExportPlots,
    /// Open the platform's file picker (results JSON or data CSV).
    PickFile,
    /// Natively: read the file at this path.
    OpenPath(String),
    CopyLink,
    DismissNotice(usize),
    SetSparsity(f32),
    /// Start a study of the finished experiment (as a link's `study=` does).
    Study(crate::experiment::studies::StudyRequest),
    ExportStability,
    ExportRewinding,
    ExportExplanation,
    /// Train the ticket file the user opened on `task`'s B.
    TransferOpenedTicket {
        task: crate::data::tasks::TransferTask,
    },
    ExportTransfer,
    ExportAtInit,
    /// Tell the user something (bad input in a panel).
    Notice(String),
}

/// Apply what the panels asked for this frame, in the order they asked.
pub fn apply(app: &mut LabApp, actions: Vec<Action>, ctx: &egui::Context) {
    for action in actions {
        apply_one(app, action, ctx);
    }
}

fn apply_one(app: &mut LabApp, action: Action, ctx: &egui::Context) {
    match action {
        Action::Start => app.start(),
        Action::SetPaused(paused) => {
            if let Some(s) = &mut app.session {
                s.paused = paused;
            }
        }
        Action::StepOneRound => {
            if app.session.as_ref().is_none_or(|s| s.experiment.is_done()) {
                app.start();
            }
            if let Some(s) = &mut app.session {
                s.pause_at_rounds = Some(s.experiment.record().rounds.len() + 1);
                s.paused = false;
            }
        }
        Action::Reset => app.reset(),
        Action::SelectPreset(id) => app.select_preset(id),
        Action::SetParallelRuns(runs) => app.parallel_runs = Some(runs),
        Action::ExportCsv => app.export_csv(),
        Action::ExportJson => app.export_json(),
        Action::ExportTicket => app.export_ticket(),
        Action::ExportPlots => app.export_plots(ctx),
        Action::PickFile => app.pick_file(),
        Action::OpenPath(path) => app.open_path(&path),
        Action::CopyLink => app.copy_link(ctx),
        Action::DismissNotice(i) => {
            if i < app.notices.len() {
                app.notices.remove(i);
            }
        }
        Action::SetSparsity(percent) => app.view.sparsity_percent = percent,
        Action::Study(request) => app.start_study(request),
        Action::ExportStability => app.export_stability(),
        Action::ExportRewinding => app.export_rewinding(),
        Action::ExportExplanation => app.export_explanation(),
        Action::TransferOpenedTicket { task } => {
            let file = app.brought_ticket.clone();
            let round = file.as_ref().map_or(0, |t| t.round);
            app.start_study_with("Transfer", |s| s.start_transfer(task, round, file));
        }
        Action::ExportTransfer => app.export_transfer(),
        Action::ExportAtInit => app.export_at_init(),
        Action::Notice(text) => {
            app.notices.retain(|n| *n != text);
            app.notices.push(text);
        }
    }
}

//! The lecture app: an eframe/egui view of an experiment. It owns the setup, one running
//! [`Session`] and what the user is looking at; every panel reads the experiment's record.
//!
//! The UI never blocks: each frame gives the experiment a slice of work sized from the
//! measured cost of a step (about 8 ms), and a GPU engine simply answers on a later frame.

mod colors;
pub mod files;
mod panels;
pub mod saved;
mod session;
pub mod stats;
pub mod textures;
mod view_work;

use std::sync::Arc;

pub use session::{Engines, Handed, Session};
pub use stats::FrameStats;

use crate::data::csv::ImportedData;
use crate::data::{DataSplits, Dataset, DatasetConfig, mnist};
use crate::experiment::ExperimentRecord;
use crate::experiment::link::LinkState;
use crate::experiment::{ExperimentConfig, RunKind, presets};
use crate::platform::{Delivery, Platform};
use crate::train::gpu::{BackendPreference, GpuContext};

/// The real digits: bundled natively, fetched after the first frame on the web.
pub enum Digits {
    NotRequested,
    Loading,
    Ready(Arc<Dataset>),
    Failed(String),
}

/// What the user is looking at.
pub struct ViewState {
    /// The round whose heatmaps, slider and boundary are shown.
    pub round: usize,
    /// Follow the newest finished round while the experiment runs.
    pub follow_latest: bool,
    pub run: RunKind,
    /// Timeline playback.
    pub playing: bool,
    pub last_flip: f64,
    /// The sparsity slider, in percent.
    pub sparsity_percent: f32,
    pub show_overlay: bool,
    pub show_setup: bool,
    /// Keyboard help (`?`), plots only (`F`), and the view settings for the hall.
    pub show_help: bool,
    pub plots_only: bool,
    pub ui_scale: f32,
    pub dark: bool,
    pub high_contrast: bool,
    /// The (dark, high contrast) look last applied, so visuals are set only on a change.
    pub applied_look: Option<(bool, bool)>,
    /// The round shown before the last change, and when it changed: heatmaps cross-fade.
    pub previous_round: usize,
    pub shown_round: usize,
    pub round_changed_at: f64,
    /// Where each plot was drawn this frame (for the PNG export).
    pub plot_rects: files::PlotRects,
    /// Natively: the Open window and its path.
    pub show_open: bool,
    pub open_path: String,
}

impl ViewState {
    /// How far the cross-fade from `previous_round` has come, in [0, 1].
    pub fn fade(&self, now: f64) -> f32 {
        ((now - self.round_changed_at) / 0.5).clamp(0.0, 1.0) as f32
    }
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            round: 0,
            follow_latest: true,
            run: RunKind::Ticket,
            playing: false,
            last_flip: 0.0,
            sparsity_percent: 0.0,
            show_overlay: false,
            show_setup: true,
            show_help: false,
            plots_only: false,
            ui_scale: 1.0,
            dark: true,
            high_contrast: false,
            applied_look: None,
            previous_round: 0,
            shown_round: 0,
            round_changed_at: f64::NEG_INFINITY,
            plot_rects: Vec::new(),
            show_open: false,
            open_path: String::new(),
        }
    }
}

/// Where the web build fetches the digits (natively they are bundled).
const DIGITS_ASSET: &str = "assets/mnist-digits.bin.gz";

/// What the page opens with: real digits, the first ticket in about a minute and a half on a
/// 2-core CPU (dense run and ticket, ~40 s each), sooner on a GPU.
pub const DEFAULT_PRESET: &str = "digits-quick";

/// While workers train, frames come when they answer; this one at least, whatever happens (a
/// missed wake-up must not stall the run).
const ANSWER_HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(250);

pub struct LabApp {
    pub config: ExperimentConfig,
    pub preset: String,
    pub backend: BackendPreference,
    /// A round's runs trained at once where training runs in workers; `None`: the
    /// platform's default (one per core but the page's, at least one, up to four).
    pub parallel_runs: Option<usize>,
    pub digits: Digits,
    /// eframe's device when it can run compute shaders, or why not.
    pub gpu: Result<Arc<GpuContext>, String>,
    pub session: Option<Session>,
    pub view: ViewState,
    /// Readable notices (bad input, fallbacks, errors), newest last.
    pub notices: Vec<String>,
    pub stats: FrameStats,
    /// Frames are drawn and measured until this time (egui's clock) even with nothing to
    /// train: the benchmark's "drawing only" figures, set by `measure_frames`.
    measure_frames_until: f64,
    /// Seeds the experiment runs over (from its own on).
    pub seeds: usize,
    /// The study a link asked for, or the last one started from a panel: the link shares
    /// it, and it runs once the experiment has finished.
    pub study: Option<crate::experiment::studies::StudyRequest>,
    /// Whether `study` has run for the experiment on screen.
    study_started: bool,
    /// A ticket file the user opened ("bring a ticket from home"): the transfer panel trains
    /// it on another task.
    pub brought_ticket: Option<crate::experiment::io::TicketFile>,
    /// A CSV the user brought (the `Imported` dataset).
    pub imported: Option<Arc<ImportedData>>,
    /// What to do once the digits arrive.
    pending: Pending,
    /// What differs between the browser and a window (files, the address bar, assets).
    pub platform: Box<dyn Platform>,
    /// Screenshots for the PNG export land here.
    screenshot: files::Slot<Arc<egui::ColorImage>>,
    /// Frames waited so far for a requested screenshot (`None`: none requested).
    screenshot_wait: Option<u32>,
    /// Where the experiment is saved as it grows, so that a reload keeps it (`None`: not
    /// saved, as in tests), and what has been written.
    pub store: Option<Box<dyn saved::Store>>,
    saver: saved::Saver,
    /// Changes whenever a different experiment is shown (start, open, reset).
    session_id: u64,
    /// The URL fragment last written to (or read from) the address bar.
    url_written: String,
    /// The link the page was opened with, until the saved experiment has been read (a
    /// different link than the saved one is not overridden by it).
    opened_with: Option<String>,
}

impl LabApp {
    /// The app with a device to share, or `gpu = Err(why not)`.
    pub fn new(gpu: Result<Arc<GpuContext>, String>) -> Self {
        let preset = DEFAULT_PRESET;
        let mut app = Self {
            config: (presets::find(preset)
                .expect("the default preset exists")
                .config)(),
            preset: preset.into(),
            backend: BackendPreference::Auto,
            parallel_runs: None,
            digits: Digits::NotRequested,
            gpu,
            session: None,
            view: ViewState::default(),
            notices: Vec::new(),
            stats: FrameStats::default(),
            measure_frames_until: f64::NEG_INFINITY,
            seeds: 1,
            study: None,
            study_started: false,
            brought_ticket: None,
            imported: None,
            store: None,
            saver: Default::default(),
            session_id: 0,
            pending: Pending::Nothing,
            platform: crate::platform::this_platform(),
            screenshot: Default::default(),
            screenshot_wait: None,
            url_written: String::new(),
            opened_with: None,
        };
        if let Err(why) = &app.gpu {
            app.notices.push(format!(
                "No GPU compute here ({why}): experiments run on the CPU engine."
            ));
        }
        app
    }

    /// How a session makes its engines: the backend chosen, the device, the platform's
    /// training workers.
    fn engines(&self) -> session::Engines {
        let workers = self.platform.training_workers();
        session::Engines {
            preference: self.backend,
            gpu: self.gpu.clone(),
            parallel_runs: self.parallel_runs(workers.as_ref()),
            workers,
        }
    }

    /// How many of a round's runs train at once: the setting, or the platform's default;
    /// 1 where training does not run in workers.
    pub fn parallel_runs(&self, workers: Option<&crate::train::worker::Workers>) -> usize {
        workers.map_or(1, |w| {
            self.parallel_runs
                .unwrap_or_else(|| w.default_parallel_runs())
                .clamp(1, crate::train::worker::MAX_PARALLEL_RUNS)
        })
    }

    /// From eframe's creation context: share its wgpu device if it can run compute.
    pub fn from_creation_context(cc: &eframe::CreationContext<'_>) -> Self {
        let gpu = match &cc.wgpu_render_state {
            None => Err("eframe is not running on wgpu".to_string()),
            Some(rs) => {
                let info = rs.adapter.get_info();
                let compute = rs
                    .adapter
                    .get_downlevel_capabilities()
                    .flags
                    .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
                if info.backend == wgpu::Backend::Gl || !compute {
                    Err(format!(
                        "the browser gave WebGL ({:?}), which has no compute shaders",
                        info.backend
                    ))
                } else {
                    Ok(Arc::new(GpuContext::from_device(
                        rs.device.clone(),
                        rs.queue.clone(),
                        &info,
                    )))
                }
            }
        };
        let mut app = Self::new(gpu);
        // The hall's view settings (scale, theme, contrast) survive a reload.
        if let Some((ui_scale, dark, high_contrast)) = cc
            .storage
            .and_then(|s| eframe::get_value::<(f32, bool, bool)>(s, VIEW_SETTINGS))
        {
            app.view.ui_scale = ui_scale.clamp(0.5, 3.0);
            app.view.dark = dark;
            app.view.high_contrast = high_contrast;
        }
        app.platform.inbox().set_waker(&cc.egui_ctx);
        app.sync_url();
        // Where the platform keeps the running experiment (the page's IndexedDB), it comes
        // back after a reload; the native window sets its store itself (`lottery-lab`).
        if let Some(store) = app.platform.saved_store() {
            app.opened_with = Some(app.platform.address().unwrap_or_default());
            app.store = Some(store);
            app.platform.read_saved();
        }
        app
    }

    /// What a link to the current setup carries.
    pub fn link(&self) -> LinkState {
        LinkState {
            preset: self.preset.clone(),
            config: self.config.clone(),
            backend: self.backend,
            lecture: !self.view.show_setup,
            study: self.study.clone(),
            seeds: self.seeds,
        }
    }

    /// Start `request` on the finished experiment; a refusal is a notice headed with the
    /// study's name (replacing its previous one). Started, it is the study the link shares.
    pub fn start_study(&mut self, request: crate::experiment::studies::StudyRequest) {
        if self.start_study_with(request.name(), |s| s.start_request(&request)) {
            self.study = Some(request);
            self.study_started = true;
        }
    }

    /// Start a study of the session's experiment with `start`; a refusal is a notice headed
    /// `name`, replacing that study's previous one. Whether it started.
    pub fn start_study_with(
        &mut self,
        name: &str,
        start: impl FnOnce(&mut Session) -> Result<(), String>,
    ) -> bool {
        let started = self.session.as_mut().map(start);
        let head = format!("{name}: ");
        self.notices.retain(|n| !n.starts_with(&head));
        match started {
            Some(Err(e)) => {
                self.notices.push(format!("{head}{e}"));
                false
            }
            Some(Ok(())) => true,
            None => false,
        }
    }

    /// The whole link to share: the page's address with this setup's fragment (natively,
    /// where there is no address, the fragment alone: `lottery-lab --link '#…'` opens it).
    pub fn share_url(&self) -> String {
        let fragment = format!("#{}", self.link().to_fragment());
        match self.platform.page_url() {
            Some(base) => format!("{base}{fragment}"),
            None => fragment,
        }
    }

    /// Put the share link on the clipboard, and say so.
    pub fn copy_link(&mut self, ctx: &egui::Context) {
        ctx.copy_text(self.share_url());
        self.notices.retain(|n| !n.starts_with("Copied"));
        self.notices
            .push("Copied the link to this experiment.".into());
    }

    /// Take the setup from a link (a whole URL or just its fragment). Fields the link gets
    /// wrong keep the preset's values, and each is named in a notice.
    pub fn apply_link(&mut self, link: &str) {
        let fragment = link.split_once('#').map_or(link, |(_, f)| f);
        let (state, problems) = LinkState::parse(fragment, DEFAULT_PRESET);
        self.preset = state.preset;
        self.config = state.config;
        self.backend = state.backend;
        self.view.show_setup = !state.lecture;
        self.study = state.study;
        self.study_started = false;
        self.seeds = state.seeds;
        self.notices.retain(|n| !n.starts_with("Link: "));
        self.notices
            .extend(problems.into_iter().map(|p| format!("Link: {p}")));
    }

    /// Keep the address bar and the setup in step: a fragment typed or pasted by the user is
    /// read, and every edit of the setup is written back (without adding history entries).
    /// Nothing where there is no address bar.
    fn sync_url(&mut self) {
        let Some(hash) = self.platform.address() else {
            return;
        };
        if hash != self.url_written && hash.len() > 1 {
            self.apply_link(&hash);
        }
        let fragment = format!("#{}", self.link().to_fragment());
        if fragment != self.url_written {
            self.platform.set_address(&fragment);
            self.url_written = fragment;
        }
    }

    pub fn select_preset(&mut self, id: &str) {
        match presets::find(id) {
            Some(preset) => {
                self.config = (preset.config)();
                self.preset = id.into();
                // A study preset runs its study after the experiment; others run none.
                self.study = preset
                    .study
                    .and_then(crate::experiment::studies::StudyRequest::parse);
                self.study_started = false;
            }
            None => self.notices.push(format!("Unknown preset '{id}'.")),
        }
    }

    /// Start the configured experiment (or wait for the digits and then start).
    pub fn start(&mut self) {
        if let Err(e) = self.config.validate() {
            self.notices.push(format!("Cannot start: {e}"));
            return;
        }
        let Some(data) = self.load_data(&self.config.clone(), || Pending::Start) else {
            return;
        };
        match Session::start(self.config.clone(), data, self.engines()) {
            Ok(mut session) => {
                if self.seeds > 1 {
                    session.run_over_seeds(self.seeds, self.seed_data(&self.config));
                }
                self.notices.retain(|n| !n.starts_with("Cannot"));
                self.session = Some(session);
                self.session_id += 1;
                self.study_started = false;
                self.view.round = 0;
                self.view.follow_latest = true;
            }
            Err(e) => self.notices.push(format!("Cannot start: {e}")),
        }
    }

    /// The data of `config` under another seed, for the seeds after the first: what it needs
    /// (the digits, an imported CSV) is already loaded, since the first seed's data is.
    fn seed_data(&self, config: &ExperimentConfig) -> session::SeedData {
        let dataset = config.dataset.clone();
        let digits = match &self.digits {
            Digits::Ready(d) => Some(d.clone()),
            _ => None,
        };
        let imported = self.imported.clone();
        Box::new(move |seed| {
            dataset
                .load_with(seed, digits.as_deref(), imported.as_deref())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
    }

    /// The data `config` trains on, or `None` with a notice (or, while the digits are still
    /// downloading, with `then` remembered for when they arrive).
    fn load_data(
        &mut self,
        config: &ExperimentConfig,
        then: impl FnOnce() -> Pending,
    ) -> Option<Arc<DataSplits>> {
        let digits = match (&config.dataset, &self.digits) {
            (DatasetConfig::Mnist, Digits::Ready(d)) => Some(d.clone()),
            (DatasetConfig::Mnist, Digits::Failed(why)) => {
                self.notices
                    .push(format!("The MNIST digits could not be loaded: {why}"));
                return None;
            }
            (DatasetConfig::Mnist, _) => {
                self.request_digits();
                self.pending = then();
                return None;
            }
            _ => None,
        };
        match config
            .dataset
            .load_with(config.seed, digits.as_deref(), self.imported.as_deref())
        {
            Ok(data) => Some(Arc::new(data)),
            Err(e) => {
                self.notices.push(format!("Cannot load the data: {e}"));
                None
            }
        }
    }

    /// Show a saved record (an imported results file, or the state saved before a reload):
    /// its rounds on screen, and if it was still running, Run continues it.
    pub fn open_record(&mut self, record: ExperimentRecord) {
        let config = record.config.clone();
        let rounds = record.rounds.len();
        // The record is copied only if it has to wait for the digits (it can be large).
        let waiting = || Pending::Open(Box::new(record.clone()));
        let Some(data) = self.load_data(&config, waiting) else {
            return;
        };
        match Session::resume(record, data, self.engines()) {
            Ok(mut session) => {
                let done = session.experiment.is_done();
                session.paused = !done;
                self.preset = presets::ALL
                    .iter()
                    .find(|p| (p.config)() == config)
                    .map_or(self.preset.clone(), |p| p.id.to_string());
                self.config = config;
                self.session = Some(session);
                self.session_id += 1;
                self.view.follow_latest = false;
                self.view.round = rounds.saturating_sub(1);
                self.notices.push(if done {
                    format!("Opened a finished experiment: {rounds} rounds.")
                } else {
                    format!("Opened an experiment at round {rounds}: press Resume (or space) to continue it.")
                });
            }
            Err(e) => self.notices.push(format!(
                "The results were not opened (nothing changed): {e}"
            )),
        }
    }

    /// Make an imported CSV the data of the next Run.
    pub fn import_csv(&mut self, name: &str, text: &str) {
        match crate::data::csv::parse(name, text) {
            Ok(data) => {
                self.notices.push(format!(
                    "Imported {name}: {} rows, {} features, {} classes. Run trains on it.",
                    data.all.len(),
                    data.feature_names.len(),
                    data.class_names.len()
                ));
                self.config.dataset = DatasetConfig::Imported {
                    name: data.name.clone(),
                    fingerprint: data.fingerprint.clone(),
                };
                self.imported = Some(Arc::new(data));
            }
            Err(e) => self
                .notices
                .push(format!("{name} was not imported (nothing changed): {e}")),
        }
    }

    pub fn reset(&mut self) {
        self.session = None;
        self.session_id += 1;
        // Keep how the user set up the screen; forget what was selected.
        let ViewState {
            show_setup,
            show_overlay,
            plots_only,
            ui_scale,
            dark,
            high_contrast,
            ..
        } = self.view;
        self.view = ViewState {
            show_setup,
            show_overlay,
            plots_only,
            ui_scale,
            dark,
            high_contrast,
            ..Default::default()
        };
    }

    /// Begin loading the digits (the web fetches them next to the page; natively they are
    /// bundled and arrive at once, through the same inbox).
    pub fn request_digits(&mut self) {
        if !matches!(self.digits, Digits::NotRequested) {
            return;
        }
        self.digits = Digits::Loading;
        self.platform.fetch_asset(DIGITS_ASSET);
    }

    /// Per frame: what the platform delivered (fetched digits, files, the saved experiment).
    fn receive_deliveries(&mut self, ctx: &egui::Context) {
        self.platform.inbox().set_waker(ctx);
        for delivery in self.platform.inbox().take() {
            match delivery {
                Delivery::Asset { bytes, .. } => {
                    self.digits = match bytes
                        .and_then(|bytes| mnist::decode(&bytes).map_err(|e| e.to_string()))
                    {
                        Ok(d) => Digits::Ready(Arc::new(d)),
                        Err(e) => Digits::Failed(e),
                    };
                }
                Delivery::File(Ok((name, bytes))) => self.open_file(&name, &bytes),
                Delivery::File(Err(e)) => {
                    self.notices.push(format!("Could not read the file: {e}"))
                }
                Delivery::Saved(pieces) => {
                    let opened_with = self.opened_with.take();
                    self.restore(&pieces, opened_with.as_deref());
                }
                Delivery::StoreFailed(why) => {
                    // Once, however many writes fail after it.
                    if !self.notices.iter().any(|n| n.starts_with(STORE_FAILED)) {
                        self.notices.push(format!(
                            "{STORE_FAILED} ({why}). The experiment goes on in memory; a \
                             reload would lose it, so export it from the File menu to keep it."
                        ));
                    }
                }
            }
        }
    }

    /// Start the frame figures afresh and, for `seconds`, draw frames continuously whether or
    /// not anything trains: with nothing training this measures what drawing alone costs.
    pub fn measure_frames(&mut self, ctx: &egui::Context, seconds: f64) {
        self.stats.reset();
        self.measure_frames_until = ctx.input(|i| i.time) + seconds.clamp(0.0, 600.0);
        ctx.request_repaint();
    }

    /// Per frame, before drawing: receive fetched data, then give the experiment its slice.
    pub fn tick(&mut self, ctx: &egui::Context) {
        self.sync_url();
        self.receive_deliveries(ctx);
        self.receive_files(ctx);
        let digits_settled = !matches!(self.digits, Digits::Loading | Digits::NotRequested);
        if digits_settled {
            match std::mem::replace(&mut self.pending, Pending::Nothing) {
                Pending::Nothing => {}
                Pending::Start => self.start(),
                Pending::Open(record) => self.open_record(*record),
            }
        }
        if matches!(self.digits, Digits::Loading) || !matches!(self.pending, Pending::Nothing) {
            ctx.request_repaint();
        }
        let now = ctx.input(|i| i.time);
        if self.measure_frames_until > now {
            ctx.request_repaint();
        }
        // The views' work goes first (new heatmaps left for this frame, the slider's
        // evaluation, a few chunks now); a frame with such work trains only its least slice.
        let view_started = web_time::Instant::now();
        let view_busy = self.session.as_mut().is_some_and(|s| {
            let slider_busy = view_work::advance_slider(s, &self.view);
            std::mem::take(&mut s.cache.view_work_pending) || slider_busy
        });
        // Then saving (a LeNet run is ~9 ms of JSON in wasm): training gets what is left.
        let saving_started = web_time::Instant::now();
        if self.store.is_some() && !view_busy {
            let fragment = self.link().to_fragment();
            self.save_link(&fragment);
            if self.save_progress() {
                ctx.request_repaint();
            }
        }
        let spent_s = saving_started.elapsed().as_secs_f64();
        self.stats.tick_parts(stats::TickParts {
            view_ms: (saving_started - view_started).as_secs_f32() * 1000.0,
            save_ms: spent_s as f32 * 1000.0,
        });
        if let Some(session) = &mut self.session {
            let other_s = if view_busy {
                f64::INFINITY // training's least slice (`MIN_TRAINING_S`)
            } else {
                spent_s + self.stats.other_work_s()
            };
            if session.tick(other_s) {
                if session.driven_by_answers() {
                    // Workers' answers ask for the frames that show them (`answer_arrived`);
                    // painting between them would only take cores from the workers.
                    ctx.request_repaint_after(ANSWER_HEARTBEAT);
                } else {
                    ctx.request_repaint();
                }
            }
            if let Some(notice) = session.new_engine_switch() {
                self.notices.push(notice);
            }
            let finished_rounds = session.experiment.record().rounds.len();
            if self.view.follow_latest && finished_rounds > 0 {
                self.view.round = finished_rounds - 1;
            }
        }
        // The link's study, once its experiment has finished.
        let finished = self
            .session
            .as_ref()
            .is_some_and(|s| s.experiment.record().status == crate::experiment::Status::Finished);
        if finished
            && !self.study_started
            && let Some(request) = self.study.clone()
        {
            self.study_started = true;
            self.start_study(request);
            ctx.request_repaint();
        }
        if self.view.round != self.view.shown_round {
            self.view.previous_round = self.view.shown_round;
            self.view.shown_round = self.view.round;
            self.view.round_changed_at = now;
        }
        if self.view.fade(now) < 1.0 {
            ctx.request_repaint();
        }
        if self.view.playing {
            let rounds = self
                .session
                .as_ref()
                .map_or(0, |s| s.experiment.record().rounds.len());
            if rounds > 0 && now - self.view.last_flip > 1.2 {
                self.view.last_flip = now;
                self.view.follow_latest = false;
                self.view.round = (self.view.round + 1) % rounds;
            }
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// A training worker answered between frames (the page's hook, `worker::web::on_reply`):
    /// its lane gets the next job now.
    pub fn answer_arrived(&mut self) -> session::Handed {
        self.session
            .as_mut()
            .map_or(session::Handed::Nothing, |s| s.answer_arrived())
    }

    /// An experiment is running (not paused, not finished).
    pub fn is_training(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| !s.paused && !s.experiment.is_done())
    }

    /// The state the page's test interface reports (`window.lotteryLab.status()`).
    pub fn status(&self) -> serde_json::Value {
        let session = self.session.as_ref();
        let record = session.map(|s| s.experiment.record());
        let rounds: Vec<serde_json::Value> = record
            .map(|r| {
                r.rounds
                    .iter()
                    .map(|round| {
                        let runs: serde_json::Map<String, serde_json::Value> = round
                            .runs
                            .iter()
                            .map(|run| (run.kind.label().to_string(), serde_json::json!(run.accuracy())))
                            .collect();
                        serde_json::json!({ "round": round.round, "density": round.density(), "accuracy": runs })
                    })
                    .collect()
            })
            .unwrap_or_default();
        serde_json::json!({
            "backend": session.map(|s| serde_json::json!({
                "kind": s.experiment.record().engine.kind,
                "name": s.experiment.record().engine.name,
                "reason": s.choice.reason,
                "parallel_runs": s.experiment.lanes(),
            })),
            "adapter": self.gpu.as_ref().map(|g| g.adapter.describe()).map_err(|e| e.clone()).ok(),
            "gpu": match &self.gpu { Ok(_) => "available".to_string(), Err(why) => format!("unavailable: {why}") },
            "running": session.is_some_and(|s| !s.experiment.is_done() && !s.paused),
            "paused": session.is_some_and(|s| s.paused),
            "saving": self.saving(),
            "finished": session.is_some_and(|s| s.experiment.is_done()),
            "status": record.map(|r| serde_json::to_value(&r.status).unwrap_or_default()),
            "preset": self.preset,
            "config": self.config,
            "link": self.link().to_fragment(),
            "lecture_view": !self.view.show_setup,
            "overlay": self.view.show_overlay,
            "current_round": session.map(|s| s.last_progress.round),
            "rounds": rounds,
            "notices": self.notices,
            "notes": record.map(|r| r.notes.clone()).unwrap_or_default(),
            "digits": match &self.digits {
                Digits::NotRequested => "not requested".to_string(),
                Digits::Loading => "loading".to_string(),
                Digits::Ready(d) => format!("ready ({} digits)", d.len()),
                Digits::Failed(why) => format!("failed: {why}"),
            },
            "frame_ms": {
                "mean": self.stats.mean_ms(),
                "p95": self.stats.p95_ms(),
                "cpu_p50": self.stats.cpu_p50_ms(),
                "cpu_p95": self.stats.cpu_p95_ms(),
                "work_p50": self.stats.work_p50_ms(),
                "work_p95": self.stats.work_p95_ms(),
                "tick_max": self.stats.tick_max_ms(),
                "frames": self.stats.count(),
                "samples": self.stats.samples(),
                "slow": self.stats.slow,
            },
            "samples_per_s": session.map(|s| s.samples_per_s),
            "slider": session.and_then(|s| s.cache.slider.as_ref()).map(|r| serde_json::json!({
                "density": r.density, "metric": r.metric, "elapsed_ms": r.elapsed_ms,
            })),
        })
    }

    /// Start an experiment from a JSON object: `{"preset": id, "config": {field overrides},
    /// "backend": "auto" | "gpu" | "cpu", "parallel_runs": 1-8}`, every key optional. Bad input
    /// changes nothing.
    pub fn run_json(&mut self, json: &str) -> Result<(), String> {
        let request: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let request = request.as_object().ok_or("expected a JSON object")?;
        let preset_id = request
            .get("preset")
            .and_then(|p| p.as_str())
            .unwrap_or(&self.preset)
            .to_string();
        let preset =
            presets::find(&preset_id).ok_or_else(|| format!("unknown preset '{preset_id}'"))?;
        let mut config = serde_json::to_value((preset.config)()).map_err(|e| e.to_string())?;
        if let Some(overrides) = request.get("config") {
            merge(&mut config, overrides);
        }
        let config: ExperimentConfig =
            serde_json::from_value(config).map_err(|e| format!("config: {e}"))?;
        config.validate().map_err(|e| e.to_string())?;
        let backend = match request.get("backend").and_then(|b| b.as_str()) {
            None => self.backend,
            Some(b) => serde_json::from_value(serde_json::json!(b))
                .map_err(|_| format!("backend must be auto, gpu or cpu, not '{b}'"))?,
        };
        let parallel_runs = match request.get("parallel_runs") {
            None => self.parallel_runs,
            Some(n) => Some(
                n.as_u64()
                    .map(|n| n as usize)
                    .filter(|n| (1..=crate::train::worker::MAX_PARALLEL_RUNS).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "parallel_runs must be a whole number from 1 to {}, not {n}",
                            crate::train::worker::MAX_PARALLEL_RUNS
                        )
                    })?,
            ),
        };
        self.preset = preset_id;
        self.config = config;
        self.backend = backend;
        self.parallel_runs = parallel_runs;
        self.start();
        Ok(())
    }
}

/// How the notice begins when the browser's storage refuses to keep the experiment.
const STORE_FAILED: &str = "This browser's storage refused to save the experiment for a reload";

/// Where eframe keeps the view settings (local storage on the web).
const VIEW_SETTINGS: &str = "view-settings";

/// Work that waits for the digits to arrive.
enum Pending {
    Nothing,
    Start,
    Open(Box<ExperimentRecord>),
}

/// Overlay `patch` onto `base`, object fields recursively.
fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (key, value) in p {
                merge(
                    b.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
        (b, p) => *b = p.clone(),
    }
}

impl eframe::App for LabApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let started = web_time::Instant::now();
        let ctx = ui.ctx().clone();
        // Frames are measured while training (or for the frame benchmark); eframe reports the
        // previous frame's CPU time now.
        let now = ctx.input(|i| i.time);
        let measured = self.is_training() || self.measure_frames_until > now;
        self.stats.frame(now, measured, frame.info().cpu_usage);
        self.tick(&ctx);
        let ticked = started.elapsed().as_secs_f32() * 1000.0;
        panels::show(self, ui);
        let drawn = started.elapsed().as_secs_f32() * 1000.0 - ticked;
        self.stats.work(ticked, drawn, measured);
        // The digits are fetched once the first frame is on screen.
        if matches!(self.digits, Digits::NotRequested) && self.stats.count() > 1 {
            self.request_digits();
        }
    }

    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        let v = &self.view;
        eframe::set_value(
            storage,
            VIEW_SETTINGS,
            &(v.ui_scale, v.dark, v.high_contrast),
        );
    }

    #[cfg(target_arch = "wasm32")]
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(&mut *self)
    }
}

//! Reloading keeps the experiment. Its record is saved piece by piece as it grows: each run of
//! each finished round once, one piece per frame (`run/<round>/<run>`, JSON without the
//! weights, then its trained weights as raw bytes, `run/<round>/<run>/weights`: a LeNet run's
//! 1 MB is a copy, where its JSON took 10-25 ms of a frame in wasm), and a small `head`
//! (config, status, notes, which rounds are complete) whenever it changes — never the whole
//! record in one frame. On the web the pieces go to IndexedDB
//! (web/store.js), natively to files in the app's data folder. A fresh start or Reset clears
//! them. Restoring goes through the same checks as opening a results file.

use serde::{Deserialize, Serialize};

use super::LabApp;
use crate::experiment::{ExperimentRecord, RoundRecord, RunRecord, Status};
use crate::model::encoding::raw_network;
use crate::train::gpu::BackendPreference;

pub const SAVED_FORMAT: &str = "lottery-lab-saved/2";
/// The format before a run's weights became a bytes piece (they were inside its JSON): still
/// restored.
const SAVED_FORMAT_1: &str = "lottery-lab-saved/1";

/// The record without its rounds, and what else the app needs to show it again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Head {
    pub format: String,
    pub preset: String,
    pub backend: BackendPreference,
    /// How many runs each saved round has (`run/<i>/<j>` for `j < runs[i]`).
    pub runs: Vec<usize>,
    /// `rounds` empty; θ₀ left out (the seed gives it again), θ_k in the `theta_rewind`
    /// piece (format 1 kept it here).
    pub record: ExperimentRecord,
    /// The imported CSV's file name, when the experiment trains on one (its text is `csv`).
    #[serde(default)]
    pub csv_name: Option<String>,
}

pub use crate::platform::{SavedPieces, Store};

/// What has been written for the current session.
#[derive(Default)]
pub struct Saver {
    session: u64,
    /// Rounds written completely (the head counts them), and runs written of the next one.
    rounds: usize,
    runs: usize,
    status: Option<Status>,
    notes: usize,
    wrote_anything: bool,
    link: String,
    rewind_written: bool,
    /// The next run's JSON is written, its weights not yet.
    run_json_written: bool,
    /// The last save left pieces to write.
    pieces_left: bool,
}

/// The bytes piece holding θ_k, the weights late rewinding resets to.
const REWIND_KEY: &str = "theta_rewind";

impl Saver {
    /// The state just restored is already saved.
    pub fn restored(session: u64, record: &ExperimentRecord) -> Self {
        Self {
            session,
            rounds: record.rounds.len(),
            runs: 0,
            status: Some(record.status.clone()),
            notes: record.notes.len(),
            wrote_anything: true,
            link: String::new(),
            rewind_written: record.theta_rewind.is_some(),
            run_json_written: false,
            pieces_left: false,
        }
    }
}

impl LabApp {
    /// Per frame: write what changed since the last save (usually nothing). True while
    /// pieces are left to write (the caller asks for another frame, even when idle).
    pub(super) fn save_progress(&mut self) -> bool {
        let left = self.save_next_piece();
        self.saver.pieces_left = left;
        left
    }

    /// Pieces are still to be written (the page's status says so: a test reloads once saved).
    pub fn saving(&self) -> bool {
        self.saver.pieces_left
    }

    fn save_next_piece(&mut self) -> bool {
        let Some(store) = &self.store else {
            return false;
        };
        let Some(session) = &self.session else {
            if self.saver.wrote_anything {
                store.clear();
                self.saver = Saver::default();
            }
            return false;
        };
        let record = session.experiment.record();
        if self.saver.session != self.session_id {
            store.clear();
            self.saver = Saver {
                session: self.session_id,
                ..Saver::default()
            };
            // Cleared with the rest: write the link again.
            store.put("link", self.link().to_fragment());
            self.saver.link = self.link().to_fragment();
            if let (crate::data::DatasetConfig::Imported { .. }, Some(data)) =
                (&record.config.dataset, &self.imported)
            {
                store.put("csv", data.source.to_string());
            }
        }
        let saver = &mut self.saver;
        // One piece per frame, then the head that counts its round as saved.
        if let Some(round) = record.rounds.get(saver.rounds)
            && let Some(run) = round.runs.get(saver.runs)
        {
            let key = format!("run/{}/{}", saver.rounds, saver.runs);
            // The run's JSON in one frame, its weights in the next.
            if !saver.run_json_written {
                match serde_json::to_string(&run.without_weights()) {
                    Ok(json) => store.put(&key, json),
                    Err(e) => log::warn!("a run was not saved: {e}"),
                }
                saver.run_json_written = true;
                if run.trained.is_some() {
                    saver.wrote_anything = true;
                    return true;
                }
            } else if let Some(trained) = &run.trained {
                store.put_bytes(&format!("{key}/weights"), raw_network::to_bytes(trained));
            }
            saver.run_json_written = false;
            saver.runs += 1;
            saver.wrote_anything = true;
            return true;
        }
        let round_complete = saver.rounds < record.rounds.len();
        if round_complete {
            saver.rounds += 1;
            saver.runs = 0;
        }
        let all_written = saver.rounds == record.rounds.len();
        // Until every round is written, the saved state says running (it can continue).
        let status = if all_written {
            record.status.clone()
        } else {
            crate::experiment::Status::Running
        };
        let changed = round_complete
            || saver.status.as_ref() != Some(&status)
            || saver.notes != record.notes.len()
            || !saver.wrote_anything;
        if !changed {
            return false;
        }
        // θ_k (late rewinding) is a bytes piece of its own, written once.
        if !saver.rewind_written
            && let Some(rewind) = &record.theta_rewind
        {
            store.put_bytes(REWIND_KEY, raw_network::to_bytes(rewind));
            saver.rewind_written = true;
        }
        let mut head_record = record.head_without_weights();
        head_record.status = status.clone();
        let head = Head {
            format: SAVED_FORMAT.into(),
            preset: self.preset.clone(),
            backend: self.backend,
            runs: record.rounds[..saver.rounds]
                .iter()
                .map(|r| r.runs.len())
                .collect(),
            record: head_record,
            csv_name: match &record.config.dataset {
                crate::data::DatasetConfig::Imported { name, .. } => Some(name.clone()),
                _ => None,
            },
        };
        if let Ok(json) = serde_json::to_string(&head) {
            store.put("head", json);
        }
        saver.status = Some(status);
        saver.notes = record.notes.len();
        saver.wrote_anything = true;
        !all_written
    }

    /// Remember the setup's link beside the pieces: a reload restores the saved experiment
    /// only if the page opens with that link (a different link is a different experiment).
    pub(super) fn save_link(&mut self, fragment: &str) {
        if let Some(store) = &self.store
            && self.saver.link != fragment
        {
            store.put("link", fragment.to_string());
            self.saver.link = fragment.to_string();
        }
    }

    /// Pieces read back (by key): reassemble, check and show them, paused. `opened_with` is
    /// the link the page or window was opened with, if any.
    pub fn restore(&mut self, pieces: &impl SavedPieces, opened_with: Option<&str>) {
        let read = |key: &str| pieces.text(key);
        if self.session.is_some() {
            // The user started something before the saved state was read: theirs wins.
            return;
        }
        if let Some(link) = opened_with.map(|l| l.trim_start_matches('#'))
            && !link.is_empty()
            && read("link").as_deref().map(|l| l.trim_start_matches('#')) != Some(link)
        {
            return;
        }
        let Some(head) = read("head") else { return };
        let head = match serde_json::from_str::<Head>(&head) {
            Ok(head) if head.format == SAVED_FORMAT || head.format == SAVED_FORMAT_1 => head,
            Ok(_) | Err(_) => {
                self.notices
                    .push("The experiment saved before the reload was made by another version and was not restored.".into());
                return;
            }
        };
        let mut rounds: Vec<RoundRecord> = Vec::new();
        'rounds: for (i, &n) in head.runs.iter().enumerate().take(1_000) {
            let mut runs = Vec::new();
            for j in 0..n.min(16) {
                let key = format!("run/{i}/{j}");
                match read(&key).map(|json| serde_json::from_str::<RunRecord>(&json)) {
                    Some(Ok(mut run)) => {
                        if let Some(bytes) = pieces.bytes(&format!("{key}/weights")) {
                            match raw_network::from_bytes(&bytes) {
                                Ok(trained) => run.trained = Some(trained),
                                Err(e) => {
                                    log::warn!("{key}'s weights were not restored: {e}");
                                    break 'rounds;
                                }
                            }
                        }
                        runs.push(run);
                    }
                    // A piece missing or torn (the page closed while writing): keep the rounds
                    // before it; the experiment continues from there.
                    _ => break 'rounds,
                }
            }
            rounds.push(RoundRecord { round: i, runs });
        }
        if let (Some(name), Some(text)) = (head.csv_name.clone(), read("csv")) {
            self.import_csv(&name, &text);
        }
        let mut record = head.record;
        if let Some(bytes) = pieces.bytes(REWIND_KEY) {
            match raw_network::from_bytes(&bytes) {
                Ok(rewind) => record.theta_rewind = Some(rewind),
                // Without θ_k the experiment cannot continue as it began: not restored.
                Err(e) => {
                    self.notices.push(format!(
                        "The experiment saved before the reload was not restored: its rewind weights are unreadable ({e})."
                    ));
                    return;
                }
            }
        }
        if rounds.len() < head.runs.len() && record.status != Status::Running {
            record.status = Status::Running;
        }
        record.rounds = rounds;
        self.preset = head.preset;
        self.backend = head.backend;
        self.notices.retain(|n| !n.starts_with("Imported "));
        self.open_record(record);
        if let Some(session) = &self.session {
            self.saver = Saver::restored(self.session_id, session.experiment.record());
            if let Some(notice) = self.notices.last_mut()
                && notice.starts_with("Opened")
            {
                *notice = notice.replacen("Opened", "Restored from before the reload:", 1);
            }
        }
    }
}

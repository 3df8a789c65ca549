//! Reloading keeps the experiment. Its record is saved piece by piece as it grows: each run of
//! each finished round once (`run/<round>/<run>`, at most one per frame: a LeNet run with its
//! weights is ~1.4 MB of JSON), and a small `head` (config, status, notes, which rounds are
//! complete) whenever it changes — never the whole record in one frame. On the web the pieces go to IndexedDB
//! (web/store.js), natively to files in the app's data folder. A fresh start or Reset clears
//! them. Restoring goes through the same checks as opening a results file.

use serde::{Deserialize, Serialize};

use super::LabApp;
use crate::experiment::{ExperimentRecord, RoundRecord, Status};
use crate::train::gpu::BackendPreference;

pub const SAVED_FORMAT: &str = "lottery-lab-saved/1";

/// The record without its rounds, and what else the app needs to show it again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Head {
    pub format: String,
    pub preset: String,
    pub backend: BackendPreference,
    /// How many runs each saved round has (`run/<i>/<j>` for `j < runs[i]`).
    pub runs: Vec<usize>,
    /// `rounds` empty; theta_0 left out (the seed gives it again).
    pub record: ExperimentRecord,
    /// The imported CSV's file name, when the experiment trains on one (its text is `csv`).
    #[serde(default)]
    pub csv_name: Option<String>,
}

pub use crate::platform::Store;

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
}

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
        }
    }
}

impl LabApp {
    /// Per frame: write what changed since the last save (usually nothing). True while
    /// pieces are left to write (the caller asks for another frame, even when idle).
    pub(super) fn save_progress(&mut self) -> bool {
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
        // One run per frame, then the head that counts its round as saved.
        if let Some(round) = record.rounds.get(saver.rounds)
            && let Some(run) = round.runs.get(saver.runs)
        {
            match serde_json::to_string(run) {
                Ok(json) => store.put(&format!("run/{}/{}", saver.rounds, saver.runs), json),
                Err(e) => log::warn!("a run was not saved: {e}"),
            }
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
        let mut head_record = record.clone_without_rounds();
        head_record.theta_init = None;
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
    pub fn restore(&mut self, read: impl Fn(&str) -> Option<String>, opened_with: Option<&str>) {
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
            Ok(head) if head.format == SAVED_FORMAT => head,
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
                match read(&format!("run/{i}/{j}")).map(|json| serde_json::from_str(&json)) {
                    Some(Ok(run)) => runs.push(run),
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

//! What differs between the browser and a native window, behind one trait: the address bar,
//! handing files to the user (downloads / an export folder), picking and dropping files,
//! fetching assets, and the store that keeps a running experiment across a reload.
//!
//! The app talks to a `Box<dyn Platform>` and never to `web_sys` or the file system directly.
//! What arrives later (a picked file, a fetched asset, the saved experiment) is put in the
//! platform's [`Inbox`] and taken by the app at its next frame, the same way on both sides:
//! natively it is simply there at once. This module imports nothing from the app.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
mod web;

#[cfg(not(target_arch = "wasm32"))]
pub use native::{DirStore, NativePlatform, default_export_dir};
#[cfg(target_arch = "wasm32")]
pub use web::WebPlatform;

/// A file that arrived (picked, dropped or read from a path): its name and bytes.
pub type Arrival = Result<(String, Vec<u8>), String>;

/// Something the platform delivers after the call that asked for it.
#[derive(Debug)]
pub enum Delivery {
    File(Arrival),
    Asset {
        path: &'static str,
        bytes: Result<Vec<u8>, String>,
    },
    /// The saved experiment's pieces, by key (empty when nothing was saved).
    Saved(Pieces),
    /// The saved-experiment store refused a write or a clear (a full quota, blocked storage).
    StoreFailed(String),
}

/// Where deliveries wait for the app's next frame; a delivery asks egui for that frame.
#[derive(Clone, Default)]
pub struct Inbox {
    queue: Arc<Mutex<Vec<Delivery>>>,
    waker: Arc<Mutex<Option<egui::Context>>>,
}

impl Inbox {
    /// The context whose frame a delivery asks for (the app sets it every frame).
    pub fn set_waker(&self, ctx: &egui::Context) {
        if let Ok(mut waker) = self.waker.lock()
            && waker.is_none()
        {
            *waker = Some(ctx.clone());
        }
    }

    /// Leave `delivery` for the next frame, and ask for that frame.
    pub fn deliver(&self, delivery: Delivery) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.push(delivery);
        }
        if let Ok(waker) = self.waker.lock()
            && let Some(ctx) = waker.as_ref()
        {
            ctx.request_repaint();
        }
    }

    /// What has arrived since the last call.
    pub fn take(&self) -> Vec<Delivery> {
        self.queue
            .lock()
            .map(|mut queue| std::mem::take(&mut *queue))
            .unwrap_or_default()
    }
}

/// Where the saved experiment's pieces go (IndexedDB in the browser, files natively).
pub trait Store {
    fn put(&self, key: &str, value: String);
    /// A piece of raw bytes (a run's weights: copied as they are, no text encoding, so a
    /// LeNet run costs the frame that saves it a millisecond instead of ~20 ms of JSON).
    fn put_bytes(&self, key: &str, value: Vec<u8>);
    fn clear(&self);
}

/// The saved pieces as they are read back: text (the head, runs, link, CSV) or bytes.
pub trait SavedPieces {
    fn text(&self, key: &str) -> Option<String>;
    fn bytes(&self, key: &str) -> Option<Vec<u8>>;
}

/// Pieces read back all at once (the browser reads IndexedDB before the app needs them).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pieces {
    pub text: HashMap<String, String>,
    pub bytes: HashMap<String, Vec<u8>>,
}

impl Pieces {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.bytes.is_empty()
    }
}

impl SavedPieces for Pieces {
    fn text(&self, key: &str) -> Option<String> {
        self.text.get(key).cloned()
    }

    fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.bytes.get(key).cloned()
    }
}

/// A file that could not be handed to the user.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the browser refused the download: {0}")]
    Download(String),
}

/// What picking a file does.
#[derive(Debug, PartialEq, Eq)]
pub enum Picking {
    /// The platform's own picker is open; the file will arrive in the inbox.
    Started,
    /// There is no picker: show the app's Open window, which asks for a path.
    AskForAPath,
}

/// See the module's documentation.
pub trait Platform {
    /// The address bar's fragment (`#…`), or `None` where there is no address bar.
    fn address(&self) -> Option<String>;
    /// Write the fragment to the address bar without adding a history entry.
    fn set_address(&self, fragment: &str);
    /// The page's address without its fragment, for a share link (`None`: a bare fragment,
    /// which `lottery-lab --link` opens).
    fn page_url(&self) -> Option<String>;
    /// Hand `bytes` to the user as the file `name`; the answer says where it went.
    fn save_file(&self, name: &str, mime: &str, bytes: &[u8]) -> Result<String, SaveError>;
    /// Ask the user for a file of these types (`.json,.csv`).
    fn pick_file(&self, accept: &str) -> Picking;
    /// Read a file dropped on the window; it arrives in the inbox.
    fn read_dropped(&self, file: egui::DroppedFileHandle);
    /// Read a file by its path (natively; the browser has no paths).
    fn read_path(&self, path: &str) -> Arrival;
    /// Fetch an asset that ships with the app (`assets/…`); it arrives in the inbox.
    fn fetch_asset(&self, path: &'static str);
    /// Read the saved experiment's pieces; they arrive in the inbox.
    fn read_saved(&self);
    /// Where the running experiment is saved (`None`: it is not).
    fn saved_store(&self) -> Option<Box<dyn Store>>;
    /// Where what was asked for arrives.
    fn inbox(&self) -> &Inbox;
    /// Where the CPU engine trains off the painting thread: workers and what they are called
    /// ("a Web Worker", "a thread"); `None` trains in the app's thread, sliced per frame.
    fn training_workers(&self) -> Option<crate::train::worker::Workers>;
}

/// The platform this build runs on, with its defaults (natively: no saved store; the window
/// gives it one in the app's data folder).
pub fn this_platform() -> Box<dyn Platform> {
    #[cfg(not(target_arch = "wasm32"))]
    return Box::new(NativePlatform::default());
    #[cfg(target_arch = "wasm32")]
    return Box::new(WebPlatform::default());
}

//! A native window: exports go to a folder, files come by path or drop, assets are bundled
//! in the binary, the saved experiment lives in files.

use std::path::PathBuf;

use super::{Arrival, Delivery, Inbox, Picking, Pieces, Platform, SaveError, SavedPieces, Store};

/// The assets the web build fetches next to the page, bundled here.
fn bundled(path: &str) -> Option<&'static [u8]> {
    match path {
        "assets/mnist-digits.bin.gz" => Some(crate::data::mnist::BUNDLED),
        _ => None,
    }
}

/// Where native exports go: `$LOTTERY_LAB_EXPORTS`, else `~/Downloads/lottery-lab`, else the
/// working folder.
pub fn default_export_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LOTTERY_LAB_EXPORTS") {
        return dir.into();
    }
    match std::env::home_dir() {
        Some(home) => home.join("Downloads").join("lottery-lab"),
        None => PathBuf::from("lottery-lab-exports"),
    }
}

#[derive(Default)]
pub struct NativePlatform {
    /// Where exports are written (`None`: [`default_export_dir`]).
    pub export_dir: Option<PathBuf>,
    /// Where the running experiment is saved (`None`: it is not, as in tests).
    pub saved_dir: Option<PathBuf>,
    /// Train the CPU engine in a thread (the window); off, it trains in the frame's slice
    /// (the UI tests, whose frames then see the same progress every time).
    pub training_threads: bool,
    inbox: Inbox,
}

impl NativePlatform {
    pub fn exporting_to(dir: PathBuf) -> Self {
        Self {
            export_dir: Some(dir),
            ..Self::default()
        }
    }

    /// The window's platform: the CPU engine trains in a thread while the window paints.
    pub fn training_in_threads() -> Self {
        Self {
            training_threads: true,
            ..Self::default()
        }
    }
}

impl Platform for NativePlatform {
    fn training_workers(&self) -> Option<crate::train::worker::Workers> {
        self.training_threads
            .then(crate::train::worker::thread::workers)
    }

    fn address(&self) -> Option<String> {
        None
    }

    fn set_address(&self, _fragment: &str) {}

    fn page_url(&self) -> Option<String> {
        None
    }

    fn save_file(&self, name: &str, _mime: &str, bytes: &[u8]) -> Result<String, SaveError> {
        let dir = self.export_dir.clone().unwrap_or_else(default_export_dir);
        let failed = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| SaveError::Write { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(failed(&dir))?;
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(failed(&path))?;
        Ok(format!("Saved {}", path.display()))
    }

    fn pick_file(&self, _accept: &str) -> Picking {
        Picking::AskForAPath
    }

    fn read_dropped(&self, file: egui::DroppedFileHandle) {
        let name = file
            .path()
            .file_name()
            .map_or("the dropped file".into(), |n| {
                n.to_string_lossy().into_owned()
            });
        let arrival = file
            .bytes()
            .map(|bytes| (name.clone(), bytes))
            .map_err(|e| format!("could not read {name}: {e}"));
        self.inbox.deliver(Delivery::File(arrival));
    }

    fn read_path(&self, path: &str) -> Arrival {
        let path = path.trim();
        let name = std::path::Path::new(path)
            .file_name()
            .map_or(path.to_string(), |n| n.to_string_lossy().into_owned());
        match std::fs::metadata(path) {
            Ok(meta) if meta.len() > crate::experiment::io::MAX_FILE_BYTES as u64 => {
                Err(format!("{name}: the file is too large"))
            }
            Ok(_) => std::fs::read(path)
                .map(|bytes| (name, bytes))
                .map_err(|e| format!("could not read {path}: {e}")),
            Err(e) => Err(format!("could not open {path}: {e}")),
        }
    }

    fn fetch_asset(&self, path: &'static str) {
        let bytes = bundled(path)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| format!("{path} is not bundled with this build"));
        self.inbox.deliver(Delivery::Asset { path, bytes });
    }

    fn read_saved(&self) {
        let pieces = match &self.saved_dir {
            Some(dir) => DirStore { dir: dir.clone() }.read_all(),
            None => Pieces::default(),
        };
        self.inbox.deliver(Delivery::Saved(pieces));
    }

    fn saved_store(&self) -> Option<Box<dyn Store>> {
        self.saved_dir
            .clone()
            .map(|dir| Box::new(DirStore { dir }) as Box<dyn Store>)
    }

    fn inbox(&self) -> &Inbox {
        &self.inbox
    }
}

/// One file per piece in a folder.
pub struct DirStore {
    pub dir: PathBuf,
}

impl DirStore {
    /// A text piece is `<key>.json`, a bytes piece `<key>.bin` (`/` written as `-`).
    fn path(&self, key: &str, extension: &str) -> PathBuf {
        self.dir
            .join(format!("{}.{extension}", key.replace('/', "-")))
    }

    pub fn read(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.path(key, "json")).ok()
    }

    /// Every piece there is, by key (`run-1-0.json` is `run/1/0`).
    pub fn read_all(&self) -> Pieces {
        let mut pieces = Pieces::default();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return pieces;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_suffix(".json") {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    pieces.text.insert(key.replace('-', "/"), text);
                }
            } else if let Some(key) = name.strip_suffix(".bin")
                && let Ok(bytes) = std::fs::read(entry.path())
            {
                pieces.bytes.insert(key.replace('-', "/"), bytes);
            }
        }
        pieces
    }

    /// Write then rename: a crash mid-write leaves the previous piece, not a torn one.
    fn write(&self, path: PathBuf, value: &[u8]) {
        let tmp = path.with_extension("tmp");
        let result = std::fs::create_dir_all(&self.dir)
            .and_then(|_| std::fs::write(&tmp, value))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            log::warn!("could not save {}: {e}", path.display());
        }
    }
}

impl SavedPieces for DirStore {
    fn text(&self, key: &str) -> Option<String> {
        self.read(key)
    }

    fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(key, "bin")).ok()
    }
}

impl Store for DirStore {
    fn put(&self, key: &str, value: String) {
        self.write(self.path(key, "json"), value.as_bytes());
    }

    fn put_bytes(&self, key: &str, value: Vec<u8>) {
        self.write(self.path(key, "bin"), &value);
    }

    fn clear(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file dropped on the window, as eframe hands it over.
    #[derive(Debug)]
    struct PathDrop(PathBuf);

    impl egui::DroppedFile for PathDrop {
        fn path(&self) -> &std::path::Path {
            &self.0
        }

        fn bytes(&self) -> Result<Vec<u8>, String> {
            std::fs::read(&self.0).map_err(|e| e.to_string())
        }
    }

    fn temp_dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lottery-lab-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn exports_are_written_to_the_folder_and_say_where() {
        let dir = temp_dir("exports");
        let platform = NativePlatform::exporting_to(dir.clone());
        let message = platform.save_file("a.csv", "text/csv", b"x,y\n").unwrap();
        assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"x,y\n");
        assert!(message.contains("a.csv"), "{message}");
        // A folder that cannot be made: an error naming it, nothing panics.
        let blocked = NativePlatform::exporting_to(dir.join("a.csv").join("sub"));
        let err = blocked.save_file("b.csv", "text/csv", b"").unwrap_err();
        assert!(err.to_string().contains("a.csv"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn assets_files_and_saved_pieces_arrive_in_the_inbox_as_on_the_web() {
        let dir = temp_dir("inbox");
        let platform = NativePlatform {
            saved_dir: Some(dir.clone()),
            ..NativePlatform::default()
        };
        platform.fetch_asset("assets/mnist-digits.bin.gz");
        platform.fetch_asset("assets/nothing.bin");
        let store = platform.saved_store().unwrap();
        store.put("head", "{}".into());
        store.put("run/0/1", "[]".into());
        store.put_bytes("run/0/1/weights", vec![1, 2, 255]);
        platform.read_saved();
        std::fs::write(dir.join("dropped.csv"), "a,b\n").unwrap();
        platform.read_dropped(std::sync::Arc::new(PathDrop(dir.join("dropped.csv"))));
        let deliveries = platform.inbox().take();
        assert_eq!(deliveries.len(), 4, "{deliveries:?}");
        match &deliveries[0] {
            Delivery::Asset { bytes: Ok(b), .. } => assert_eq!(b, crate::data::mnist::BUNDLED),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&deliveries[1], Delivery::Asset { bytes: Err(e), .. } if e.contains("nothing.bin"))
        );
        match &deliveries[2] {
            Delivery::Saved(pieces) => {
                assert_eq!(pieces.text("head").as_deref(), Some("{}"));
                assert_eq!(pieces.text("run/0/1").as_deref(), Some("[]"));
                assert_eq!(pieces.bytes("run/0/1/weights"), Some(vec![1, 2, 255]));
            }
            other => panic!("{other:?}"),
        }
        match &deliveries[3] {
            Delivery::File(Ok((name, bytes))) => {
                assert_eq!(
                    (name.as_str(), bytes.as_slice()),
                    ("dropped.csv", &b"a,b\n"[..])
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(platform.inbox().take().is_empty());
        store.clear();
        assert!(DirStore { dir: dir.clone() }.read_all().is_empty());
        assert!(
            platform
                .read_path(&dir.join("missing.json").to_string_lossy())
                .is_err()
        );
        assert_eq!(platform.pick_file(".csv"), Picking::AskForAPath);
        assert_eq!(platform.address(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

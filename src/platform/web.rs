//! The browser: the address bar, downloads, the file picker, fetches next to the page and
//! IndexedDB (web/store.js) for the saved experiment.

use wasm_bindgen::prelude::*;

use super::{Arrival, Delivery, Inbox, Picking, Pieces, Platform, SaveError, Store};

#[derive(Default)]
pub struct WebPlatform {
    inbox: Inbox,
}

impl Platform for WebPlatform {
    fn training_workers(&self) -> Option<crate::train::worker::Workers> {
        crate::train::worker::web::workers()
    }

    fn address(&self) -> Option<String> {
        Some(location_hash())
    }

    fn set_address(&self, fragment: &str) {
        replace_hash(fragment);
    }

    fn page_url(&self) -> Option<String> {
        let href = web_sys::window()?.location().href().ok()?;
        Some(
            href.split_once('#')
                .map_or(href.as_str(), |(b, _)| b)
                .to_string(),
        )
    }

    fn save_file(&self, name: &str, mime: &str, bytes: &[u8]) -> Result<String, SaveError> {
        download(name, mime, bytes).map_err(SaveError::Download)?;
        Ok(format!("Downloaded {name}."))
    }

    fn pick_file(&self, accept: &str) -> Picking {
        pick_file(accept, self.inbox.clone());
        Picking::Started
    }

    fn read_dropped(&self, file: egui::DroppedFileHandle) {
        // The browser reads files asynchronously: the bytes arrive in the inbox.
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let name = file
                .path()
                .file_name()
                .map_or("the dropped file".into(), |n| {
                    n.to_string_lossy().into_owned()
                });
            let result = file.bytes_async().await.map(|bytes| (name, bytes));
            inbox.deliver(Delivery::File(result));
        });
    }

    fn read_path(&self, path: &str) -> Arrival {
        Err(format!(
            "{path}: a browser opens files with its picker, not by path"
        ))
    }

    fn fetch_asset(&self, path: &'static str) {
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let bytes = fetch_bytes(path).await;
            inbox.deliver(Delivery::Asset { path, bytes });
        });
    }

    fn read_saved(&self) {
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let pieces = WebStore::read_all().await;
            inbox.deliver(Delivery::Saved(pieces));
        });
    }

    fn saved_store(&self) -> Option<Box<dyn Store>> {
        Some(Box::new(WebStore {
            inbox: self.inbox.clone(),
        }))
    }

    fn inbox(&self) -> &Inbox {
        &self.inbox
    }
}

/// The address bar's fragment, `#…` (empty when there is none).
fn location_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// Replace the fragment without adding a history entry (every edit would otherwise be one).
fn replace_hash(fragment: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        // Failing to update the address bar loses nothing: the setup itself is unchanged.
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(fragment));
    }
}

/// Fetch a file next to the page, as bytes.
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    use wasm_bindgen::JsCast as _;
    let window = web_sys::window().ok_or("no window")?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("fetching {url}: {e:?}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "not a response")?;
    if !response.ok() {
        return Err(format!("fetching {url}: HTTP {}", response.status()));
    }
    let buffer = wasm_bindgen_futures::JsFuture::from(
        response.array_buffer().map_err(|e| format!("{e:?}"))?,
    )
    .await
    .map_err(|e| format!("reading {url}: {e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Offer `bytes` as a download named `name`.
fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    use wasm_bindgen::JsCast as _;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|e| format!("{e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not an anchor")?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // The click has started the download; the blob's URL can go once it has been read.
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(window) = web_sys::window() {
        let _ = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
    }
    Ok(())
}

/// Open the browser's file picker; the chosen file's name and bytes land in `slot`.
fn pick_file(accept: &str, inbox: Inbox) {
    use wasm_bindgen::JsCast as _;
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(input) = document
        .create_element("input")
        .map(|e| e.unchecked_into::<web_sys::HtmlInputElement>())
    else {
        return;
    };
    input.set_type("file");
    input.set_accept(accept);
    let picked = input.clone();
    let on_change = Closure::once_into_js(move || {
        let Some(file) = picked.files().and_then(|files| files.get(0)) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let name = file.name();
            let result = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
                .await
                .map(|buffer| (name, js_sys::Uint8Array::new(&buffer).to_vec()))
                .map_err(|e| format!("{e:?}"));
            inbox.deliver(Delivery::File(result));
        });
    });
    input.set_onchange(Some(on_change.unchecked_ref()));
    input.click();
}

#[wasm_bindgen(module = "/web/store.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn store_put(key: &str, value: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch)]
    fn store_put_bytes(key: &str, value: &[u8]) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch)]
    fn store_get(key: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch)]
    fn store_clear() -> Result<js_sys::Promise, JsValue>;
}

/// The saved experiment's pieces in the browser's IndexedDB (see web/store.js).
pub struct WebStore {
    /// Where a refused write is reported (the app says so once, in a notice).
    inbox: Inbox,
}

impl WebStore {
    async fn get(key: &str) -> Option<JsValue> {
        let promise = store_get(key).ok()?;
        wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    async fn get_text(key: &str) -> Option<String> {
        Self::get(key).await?.as_string()
    }

    async fn get_bytes(key: &str) -> Option<Vec<u8>> {
        use wasm_bindgen::JsCast as _;
        let value = Self::get(key).await?;
        let bytes = value.dyn_ref::<js_sys::Uint8Array>()?;
        Some(bytes.to_vec())
    }

    /// Every piece there is: `link`, `head`, `csv`, `theta_rewind` and the runs of the rounds
    /// the head counts (each with its weights, when it has them).
    pub async fn read_all() -> Pieces {
        let mut pieces = Pieces::default();
        for key in ["link", "head", "csv"] {
            if let Some(value) = Self::get_text(key).await {
                pieces.text.insert(key.to_string(), value);
            }
        }
        if let Some(bytes) = Self::get_bytes("theta_rewind").await {
            pieces.bytes.insert("theta_rewind".into(), bytes);
        }
        let runs: Vec<u64> = pieces
            .text
            .get("head")
            .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
            .and_then(|h| serde_json::from_value(h["runs"].clone()).ok())
            .unwrap_or_default();
        for (i, &n) in runs.iter().enumerate().take(1_000) {
            for j in 0..n.min(16) {
                let key = format!("run/{i}/{j}");
                let Some(value) = Self::get_text(&key).await else {
                    return pieces;
                };
                pieces.text.insert(key.clone(), value);
                let key = format!("{key}/weights");
                if let Some(bytes) = Self::get_bytes(&key).await {
                    pieces.bytes.insert(key, bytes);
                }
            }
        }
        pieces
    }

    fn settle(&self, what: &'static str, promise: Result<js_sys::Promise, JsValue>) {
        use wasm_bindgen::JsCast as _;
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = match promise {
                Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await.map(|_| ()),
                Err(e) => Err(e),
            };
            // Saving is a convenience: a full or blocked storage loses only the reload, and
            // the app says so.
            if let Err(e) = result {
                log::warn!("could not {what} the saved experiment: {e:?}");
                let why = e
                    .dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
                    .or_else(|| e.as_string())
                    .unwrap_or_else(|| format!("{e:?}"));
                inbox.deliver(Delivery::StoreFailed(format!("could not {what}: {why}")));
            }
        });
    }
}

impl Store for WebStore {
    fn put(&self, key: &str, value: String) {
        self.settle("write", store_put(key, &value));
    }

    fn put_bytes(&self, key: &str, value: Vec<u8>) {
        self.settle("write", store_put_bytes(key, &value));
    }

    fn clear(&self) {
        self.settle("clear", store_clear());
    }
}

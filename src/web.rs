//! The page's entry point: `WebHandle` starts the app on a canvas and answers the page's test
//! interface (`window.lotteryLab`, set up by web/main.js).

use wasm_bindgen::prelude::*;

use crate::app::LabApp;

#[wasm_bindgen]
pub struct WebHandle {
    runner: eframe::WebRunner,
}

#[wasm_bindgen]
impl WebHandle {
    #[wasm_bindgen(constructor)]
    #[expect(clippy::new_without_default)]
    pub fn new() -> Self {
        // Panics go to the console and to has_panicked(), which the page turns into a message.
        eframe::WebLogger::init(log::LevelFilter::Warn).ok();
        Self {
            runner: eframe::WebRunner::new(),
        }
    }

    /// Start the app on `canvas`.
    pub async fn start(&self, canvas: web_sys::HtmlCanvasElement) -> Result<(), JsValue> {
        self.runner
            .start(
                canvas,
                eframe::WebOptions::default(),
                Box::new(|cc| Ok(Box::new(LabApp::from_creation_context(cc)))),
            )
            .await
    }

    pub fn destroy(&self) {
        self.runner.destroy();
    }

    pub fn has_panicked(&self) -> bool {
        self.runner.has_panicked()
    }

    pub fn panic_message(&self) -> Option<String> {
        self.runner.panic_summary().map(|s| s.message())
    }

    /// The app's state as JSON (see `LabApp::status`).
    pub fn status(&self) -> String {
        match self.runner.app_mut::<LabApp>() {
            Some(app) => app.status().to_string(),
            None => r#"{"error":"the app is not running"}"#.into(),
        }
    }

    /// Start an experiment: `{"preset": id, "config": {...}, "backend": "auto"|"gpu"|"cpu"}`.
    pub fn run(&self, request_json: &str) -> Result<(), JsValue> {
        let mut app = self
            .runner
            .app_mut::<LabApp>()
            .ok_or_else(|| JsValue::from_str("the app is not running"))?;
        app.run_json(request_json)
            .map_err(|e| JsValue::from_str(&e))
    }
}

/// Fetch a file next to the page, as bytes.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
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

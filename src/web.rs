//! The page's entry point: `WebHandle` starts the app on a canvas and answers the page's test
//! interface (`window.lotteryLab`, set up by web/main.js).

use wasm_bindgen::prelude::*;

use crate::app::LabApp;

#[wasm_bindgen]
pub struct WebHandle {
    runner: eframe::WebRunner,
    /// egui's context, kept so that calls from the page can wake the (reactive) frame loop.
    ctx: std::rc::Rc<std::cell::RefCell<Option<egui::Context>>>,
    gpu_bench: std::cell::RefCell<Option<crate::train::throughput::AsyncThroughput>>,
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
            ctx: Default::default(),
            gpu_bench: Default::default(),
        }
    }

    /// Start the app on `canvas`.
    pub async fn start(&self, canvas: web_sys::HtmlCanvasElement) -> Result<(), JsValue> {
        let ctx = self.ctx.clone();
        self.runner
            .start(
                canvas,
                eframe::WebOptions::default(),
                Box::new(move |cc| {
                    *ctx.borrow_mut() = Some(cc.egui_ctx.clone());
                    Ok(Box::new(LabApp::from_creation_context(cc)))
                }),
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
        let mut app = self.app()?;
        app.run_json(request_json)
            .map_err(|e| JsValue::from_str(&e))?;
        // The app repaints only on input or when it asks to: an idle app would never take
        // its first step of a run started from the page.
        self.wake();
        Ok(())
    }
}

/// Benchmarks for the page's scripted runs (the browser's training throughput budgets).
#[wasm_bindgen]
impl WebHandle {
    /// CPU engine samples/s on LeNet-300-100 at `batch` (blocks for `seconds`).
    pub fn bench_cpu(&self, batch: usize, seconds: f64) -> Result<f64, JsValue> {
        let (spec, cfg) = crate::train::throughput::lenet_config(batch.max(1));
        crate::train::throughput::cpu_samples_per_s(&spec, &cfg, seconds)
            .map_err(|e| JsValue::from_str(&e.to_string()))
    }

    /// Start measuring the GPU engine (on the page's WebGPU device) on LeNet-300-100, with
    /// the matrix-product kernels the engine picks for this adapter or, to compare, `matmul`
    /// ("tiled" or "direct").
    pub fn bench_gpu_start(
        &self,
        batch: usize,
        steps_per_job: usize,
        jobs: usize,
        matmul: Option<String>,
    ) -> Result<(), JsValue> {
        use crate::train::gpu::kernels::Matmul;
        use crate::train::throughput::{AsyncThroughput, lenet_config, synthetic_splits};
        let app = self.app()?;
        let ctx = app
            .gpu
            .clone()
            .map_err(|why| JsValue::from_str(&format!("no WebGPU compute: {why}")))?;
        let (spec, cfg) = lenet_config(batch.max(1));
        let data = std::sync::Arc::new(synthetic_splits(&spec, 2_000.max(batch * 4)));
        let matmul = match matmul.as_deref() {
            None => Matmul::for_adapter(&ctx.adapter),
            Some(name) => Matmul::from_name(name)
                .ok_or_else(|| JsValue::from_str("matmul must be tiled or direct"))?,
        };
        let engine = crate::train::gpu::GpuEngine::with_matmul(ctx, data, matmul)
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let bench = AsyncThroughput::start(
            Box::new(engine),
            &spec,
            &cfg,
            steps_per_job.max(1),
            jobs.max(1),
        )
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
        *self.gpu_bench.borrow_mut() = Some(bench);
        Ok(())
    }

    /// The GPU figure once it is measured (samples/s), `undefined` until then.
    pub fn bench_gpu_poll(&self) -> Result<Option<f64>, JsValue> {
        let mut slot = self.gpu_bench.borrow_mut();
        let bench = slot
            .as_mut()
            .ok_or_else(|| JsValue::from_str("no GPU benchmark started"))?;
        bench.poll().map_err(|e| JsValue::from_str(&e.to_string()))
    }

    /// Draw and measure frames for `seconds` whether or not anything trains, with the frame
    /// figures in `status().frame_ms` started afresh (the frame benchmark's two phases).
    pub fn measure_frames(&self, seconds: f64) -> Result<(), JsValue> {
        let mut app = self.app()?;
        let ctx = self.ctx.borrow().clone();
        if let Some(ctx) = ctx {
            app.measure_frames(&ctx, seconds);
        }
        Ok(())
    }

    /// Show or hide the debug overlay (frame time, interval, throughput), as its toggle does.
    pub fn show_overlay(&self, on: bool) -> Result<(), JsValue> {
        let mut app = self.app()?;
        app.view.show_overlay = on;
        drop(app);
        self.wake();
        Ok(())
    }

    /// Move the sparsity slider (percent), as a user dragging it would.
    pub fn set_sparsity(&self, percent: f32) -> Result<(), JsValue> {
        let mut app = self.app()?;
        app.view.sparsity_percent = percent.clamp(0.0, 99.0);
        drop(app);
        self.wake();
        Ok(())
    }
}

#[wasm_bindgen]
impl WebHandle {
    /// What the File menu does: `"csv"`, `"json"`, `"ticket"` (of the selected round) or
    /// `"plots"` (PNG, on a later frame). On the web each is a download.
    pub fn export(&self, what: &str) -> Result<(), JsValue> {
        let mut app = self.app()?;
        if app.session.is_none() {
            return Err(JsValue::from_str(
                "nothing to export: run an experiment first",
            ));
        }
        match what {
            "csv" => app.export_csv(),
            "json" => app.export_json(),
            "ticket" => app.export_ticket(),
            "plots" => {
                let ctx = self.ctx.borrow().clone().ok_or("no context")?;
                app.export_plots(&ctx);
            }
            _ => return Err(JsValue::from_str("export csv, json, ticket or plots")),
        }
        drop(app);
        self.wake();
        Ok(())
    }

    /// Open a file's contents as if picked in the File menu (a results JSON or a data CSV).
    pub fn open_file(&self, name: &str, bytes: &[u8]) -> Result<(), JsValue> {
        let mut app = self.app()?;
        app.open_file(name, bytes);
        drop(app);
        self.wake();
        Ok(())
    }
}

impl WebHandle {
    /// The running app, or why the page's call cannot reach it.
    fn app(&self) -> Result<std::cell::RefMut<'_, LabApp>, JsValue> {
        self.runner
            .app_mut::<LabApp>()
            .ok_or_else(|| JsValue::from_str("the app is not running"))
    }

    /// An idle app does not repaint: a change made from the page asks for a frame.
    fn wake(&self) {
        if let Some(ctx) = self.ctx.borrow().as_ref() {
            ctx.request_repaint();
        }
    }
}

/// The address bar's fragment, `#…` (empty when there is none).
pub fn location_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// Replace the fragment without adding a history entry (every edit would otherwise be one).
pub fn replace_hash(fragment: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        // Failing to update the address bar loses nothing: the setup itself is unchanged.
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(fragment));
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

/// Offer `bytes` as a download named `name`.
pub fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
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
pub fn pick_file(
    accept: &str,
    slot: crate::app::files::Slot<crate::app::files::Arrival>,
    ctx: egui::Context,
) {
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
            *slot.lock().expect("not poisoned") = Some(result);
            ctx.request_repaint();
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
    fn store_get(key: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch)]
    fn store_clear() -> Result<js_sys::Promise, JsValue>;
}

/// The saved experiment's pieces in the browser's IndexedDB (see web/store.js).
pub struct WebStore;

impl WebStore {
    async fn get(key: &str) -> Option<String> {
        let promise = store_get(key).ok()?;
        wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .ok()?
            .as_string()
    }

    /// Every piece there is: `link`, `head`, `csv` and the runs of the rounds the head counts.
    pub async fn read_all() -> std::collections::HashMap<String, String> {
        let mut pieces = std::collections::HashMap::new();
        for key in ["link", "head", "csv"] {
            if let Some(value) = Self::get(key).await {
                pieces.insert(key.to_string(), value);
            }
        }
        let runs: Vec<u64> = pieces
            .get("head")
            .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
            .and_then(|h| serde_json::from_value(h["runs"].clone()).ok())
            .unwrap_or_default();
        for (i, &n) in runs.iter().enumerate().take(1_000) {
            for j in 0..n.min(16) {
                let key = format!("run/{i}/{j}");
                match Self::get(&key).await {
                    Some(value) => pieces.insert(key, value),
                    None => return pieces,
                };
            }
        }
        pieces
    }

    fn settle(what: &'static str, promise: Result<js_sys::Promise, JsValue>) {
        wasm_bindgen_futures::spawn_local(async move {
            let result = match promise {
                Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await.map(|_| ()),
                Err(e) => Err(e),
            };
            // Saving is a convenience: a full or blocked storage loses only the reload.
            if let Err(e) = result {
                log::warn!("could not {what} the saved experiment: {e:?}");
            }
        });
    }
}

impl crate::app::saved::Store for WebStore {
    fn put(&self, key: &str, value: String) {
        Self::settle("write", store_put(key, &value));
    }

    fn clear(&self) {
        Self::settle("clear", store_clear());
    }
}

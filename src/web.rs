//! The page's entry points: `WebHandle` starts the app on a canvas and answers the page's test
//! interface (`window.lotteryLab`, set up by web/main.js); `WorkerHost` is the training
//! worker's side (web/worker.js), the CPU engine answering the app's requests.

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
        // A training worker's answer hands out the next job at once and asks for a frame.
        let (runner, wake) = (self.runner.clone(), self.ctx.clone());
        crate::train::worker::web::on_reply(std::rc::Rc::new(move || {
            use crate::app::Handed;
            let handed = match runner.app_mut::<LabApp>() {
                Some(mut app) => app.answer_arrived(),
                // Inside a frame (or not started): that frame's tick reads the answer.
                None => Handed::Nothing,
            };
            if handed == Handed::MoreToHand {
                crate::train::worker::web::call_again_soon();
            }
            if handed != Handed::Nothing
                && let Some(ctx) = wake.borrow().as_ref()
            {
                ctx.request_repaint();
            }
        }));
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

    /// CPU engine samples/s on the "Conv-2 on the digits" net at `batch` (blocks for
    /// `seconds`): the conv figure the bench holds against TF.js's wasm backend.
    pub fn bench_cpu_conv(&self, batch: usize, seconds: f64) -> Result<f64, JsValue> {
        let (spec, cfg) = crate::train::throughput::conv_digits_config(batch.max(1));
        crate::train::throughput::cpu_samples_per_s(&spec, &cfg, seconds)
            .map_err(|e| JsValue::from_str(&e.to_string()))
    }

    /// One digit's explanation (integrated gradients to completeness + gradient × input) on
    /// LeNet-300-100: median milliseconds of `repeats`, and the intervals it needed.
    pub fn bench_attributions(&self, repeats: usize) -> Vec<f64> {
        let (ms, intervals) = crate::train::throughput::attribution_ms(repeats);
        vec![ms, intervals as f64]
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

    /// Fault drill: the GPU engine's device reports itself lost (as a driver reset or a
    /// `device.destroy()` would; the app's painting goes on). The experiment finishes on the
    /// CPU engine. Whether there was a device to lose.
    pub fn simulate_gpu_loss(&self) -> Result<bool, JsValue> {
        let app = self.app()?;
        let Ok(gpu) = &app.gpu else {
            return Ok(false);
        };
        gpu.faults
            .simulate_device_loss("fault drill: the WebGPU device was lost");
        drop(app);
        self.wake();
        Ok(true)
    }

    /// The wasm module's memory in bytes (the soak test's figure; it grows, never shrinks).
    pub fn memory_bytes(&self) -> f64 {
        wasm_bindgen::memory()
            .dyn_into::<js_sys::WebAssembly::Memory>()
            .map_or(0.0, |m| {
                m.buffer()
                    .dyn_into::<js_sys::ArrayBuffer>()
                    .map_or(0.0, |b| b.byte_length() as f64)
            })
    }

    /// Each live training worker's wasm memory in bytes, as it reported it after its last
    /// answer (the soak's figure for the workers; their count shows none is left behind).
    pub fn workers_memory_bytes(&self) -> Vec<f64> {
        crate::train::worker::web::live_workers_memory()
            .into_iter()
            .map(|b| b as f64)
            .collect()
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

    /// Fault drill: every training worker is told to crash; returns how many were. The
    /// engine replaces each and replays its run to where it was (the record is unchanged).
    pub fn crash_workers(&self) -> usize {
        let told = crate::train::worker::web::crash_workers();
        self.wake();
        told
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

/// The training worker's side (web/worker.js): each request's bytes in, the reply's out.
#[wasm_bindgen]
pub struct WorkerHost {
    host: crate::train::worker::EngineHost,
}

#[wasm_bindgen]
impl WorkerHost {
    #[wasm_bindgen(constructor)]
    #[expect(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            host: crate::train::worker::EngineHost::new(),
        }
    }

    /// The CPU engine's samples/s on LeNet-300-100 at `batch` over `rows` training samples,
    /// measured in this worker for `seconds` (the bench runs one worker, then two at once:
    /// what the platform's cores give two runs side by side).
    pub fn bench_cpu(&self, batch: usize, rows: usize, seconds: f64) -> Result<f64, JsValue> {
        let (spec, cfg) = crate::train::throughput::lenet_config(batch.max(1));
        crate::train::throughput::cpu_samples_per_s_on(&spec, &cfg, rows, seconds)
            .map_err(|e| JsValue::from_str(&e.to_string()))
    }

    pub fn handle(&mut self, message: &[u8]) -> Vec<u8> {
        self.host.handle(message)
    }
}

//! The GPU device the engine runs on, what it is (hardware or software), and the faults it
//! reports. Natively the engine asks for its own adapter; in the app it shares eframe's device.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::train::EngineError;

/// What the user sees of the adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    /// "discrete GPU", "integrated GPU", "software (CPU)", ...
    pub device_type: String,
    /// A software rasteriser (lavapipe, SwiftShader, WARP): slower than our CPU engine.
    pub is_software: bool,
}

impl AdapterSummary {
    pub fn from_info(info: &wgpu::AdapterInfo) -> Self {
        let device_type = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete GPU",
            wgpu::DeviceType::IntegratedGpu => "integrated GPU",
            wgpu::DeviceType::VirtualGpu => "virtual GPU",
            wgpu::DeviceType::Cpu => "software (CPU)",
            wgpu::DeviceType::Other => "unknown type",
        };
        let name_says_software = ["llvmpipe", "lavapipe", "swiftshader", "warp", "software"]
            .iter()
            .any(|s| info.name.to_lowercase().contains(s));
        Self {
            name: if info.name.is_empty() {
                "unnamed adapter".into()
            } else {
                info.name.clone()
            },
            backend: format!("{:?}", info.backend),
            device_type: device_type.into(),
            is_software: info.device_type == wgpu::DeviceType::Cpu || name_says_software,
        }
    }

    pub fn describe(&self) -> String {
        format!("{} ({}, {})", self.name, self.device_type, self.backend)
    }
}

/// What went wrong on the device for the engine: validation errors and out of memory caught
/// by the error scopes around the engine's own work ([`GpuContext::scoped`]), and device loss.
/// They are recorded here and turned into an `EngineError` at the engine's next call.
#[derive(Default)]
pub struct Faults {
    error: Mutex<Option<String>>,
    lost: Mutex<Option<String>>,
}

impl Faults {
    pub fn take(&self) -> Option<EngineError> {
        if let Some(reason) = self.lost.lock().ok()?.clone() {
            return Some(EngineError::DeviceLost(reason));
        }
        self.error.lock().ok()?.take().map(EngineError::Gpu)
    }

    fn record(&self, error: &wgpu::Error) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert_with(|| error.to_string());
        }
    }

    /// For tests: pretend the device was lost.
    pub fn simulate_device_loss(&self, reason: &str) {
        if let Ok(mut lost) = self.lost.lock() {
            *lost = Some(reason.to_string());
        }
    }
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub faults: Arc<Faults>,
}

impl GpuContext {
    /// Wrap a device someone else created (eframe's). Its uncaptured-error handler stays
    /// theirs: the engine catches its own errors with error scopes ([`GpuContext::scoped`]),
    /// so a renderer's error cannot pass for an engine fault, nor an engine fault vanish.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: &wgpu::AdapterInfo) -> Self {
        let faults = Arc::new(Faults::default());
        let on_lost = faults.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = on_lost.lost.lock() {
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });
        Self {
            device,
            queue,
            adapter: AdapterSummary::from_info(info),
            faults,
        }
    }

    /// Natively: the best adapter wgpu finds (a hardware GPU before a software one).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_native() -> Result<Self, EngineError> {
        Self::new_native_with(|limits| limits)
    }

    /// [`GpuContext::new_native`] asking the device for `limits` of the adapter's (tests: a
    /// device that binds less than the adapter could).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_native_with(
        limits: impl FnOnce(wgpu::Limits) -> wgpu::Limits,
    ) -> Result<Self, EngineError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| EngineError::Gpu(format!("no GPU adapter: {e}")))?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("lottery-lab compute"),
            required_limits: limits(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| EngineError::Gpu(format!("the adapter refused a device: {e}")))?;
        let ctx = Self::from_device(device, queue, &info);
        // This device is the engine's alone, so whatever escapes a scope is its fault too
        // (wgpu's default handler would panic).
        let faults = ctx.faults.clone();
        ctx.device
            .on_uncaptured_error(Arc::new(move |error: wgpu::Error| faults.record(&error)));
        Ok(ctx)
    }

    /// Run the engine's `work` on the device (creating buffers and pipelines, encoding,
    /// submitting) inside out-of-memory and validation error scopes; what they catch lands
    /// in [`Faults`] for the engine's next call.
    pub fn scoped<R>(&self, work: impl FnOnce() -> R) -> R {
        let out_of_memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work();
        // Popped innermost first; each pop takes effect at once, its answer may come later.
        let caught = (validation.pop(), out_of_memory.pop());
        let faults = self.faults.clone();
        let report = async move {
            for error in [caught.0.await, caught.1.await].into_iter().flatten() {
                faults.record(&error);
            }
        };
        // Natively the answers are ready at once; in the browser they are promises.
        #[cfg(not(target_arch = "wasm32"))]
        pollster::block_on(report);
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_futures::spawn_local(report);
        result
    }
}

/// Which engine to train on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendPreference {
    /// The GPU if it is a hardware one, else the CPU engine.
    #[default]
    Auto,
    Gpu,
    Cpu,
}

/// The engine chosen and why, in words for the user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendChoice {
    pub use_gpu: bool,
    pub reason: String,
}

/// Decide between the engines. A software adapter (lavapipe, SwiftShader) runs our kernels
/// 10-20x slower than the CPU engine on the same machine (`cargo xtask bench` shows both), so `auto`
/// never picks it; `gpu` does, on request.
pub fn choose_backend(
    preference: BackendPreference,
    adapter: Result<&AdapterSummary, &str>,
) -> BackendChoice {
    match (preference, adapter) {
        (BackendPreference::Cpu, _) => BackendChoice {
            use_gpu: false,
            reason: "CPU engine, as chosen".into(),
        },
        (_, Err(why)) => BackendChoice {
            use_gpu: false,
            reason: format!("CPU engine: no usable GPU ({why})"),
        },
        (BackendPreference::Gpu, Ok(a)) => BackendChoice {
            use_gpu: true,
            reason: format!("GPU engine on {}, as chosen", a.describe()),
        },
        (BackendPreference::Auto, Ok(a)) if a.is_software => BackendChoice {
            use_gpu: false,
            reason: format!(
                "CPU engine: the only GPU adapter is a software one ({}), which is slower than the CPU engine",
                a.describe()
            ),
        },
        (BackendPreference::Auto, Ok(a)) => BackendChoice {
            use_gpu: true,
            reason: format!("GPU engine on {}", a.describe()),
        },
    }
}

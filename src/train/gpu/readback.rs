//! Every GPU → CPU read goes through here (the poll API moves between wgpu releases, and the
//! web completes mappings on its own while native code must poll the device).
//!
//! A read is started with the copies it needs, then checked with `try_take`, which never
//! blocks: on the web the browser maps the buffer between frames; natively `try_take` gives
//! the device one non-blocking poll.

use std::sync::{Arc, Mutex};

use crate::train::EngineError;

type MapState = Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>;

pub struct PendingRead {
    staging: wgpu::Buffer,
    state: MapState,
}

impl PendingRead {
    /// Copy `sources` (buffer, bytes) into one staging buffer at the end of `encoder`, submit,
    /// and ask for the mapping.
    pub fn start(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        mut encoder: wgpu::CommandEncoder,
        sources: &[(&wgpu::Buffer, u64)],
    ) -> Self {
        let total: u64 = sources.iter().map(|(_, size)| size).sum();
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback staging"),
            size: total.max(4),
            // MAP_READ buffers may only be copy destinations: the one way back from the GPU.
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut offset = 0;
        for (source, size) in sources {
            encoder.copy_buffer_to_buffer(source, 0, &staging, offset, *size);
            offset += size;
        }
        queue.submit([encoder.finish()]);
        let state: MapState = Arc::new(Mutex::new(None));
        let done = state.clone();
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |result| {
                if let Ok(mut slot) = done.lock() {
                    *slot = Some(result);
                }
            });
        Self { staging, state }
    }

    /// The bytes, once the GPU is done; `Ok(None)` until then. Never blocks.
    pub fn try_take(&self, device: &wgpu::Device) -> Result<Option<Vec<u8>>, EngineError> {
        #[cfg(not(target_arch = "wasm32"))]
        device
            .poll(wgpu::PollType::Poll)
            .map_err(|e| EngineError::DeviceLost(format!("polling the device failed: {e}")))?;
        #[cfg(target_arch = "wasm32")]
        let _ = device;
        let finished = self.state.lock().ok().and_then(|mut s| s.take());
        match finished {
            None => Ok(None),
            Some(Err(e)) => Err(EngineError::Gpu(format!(
                "reading results back failed: {e}"
            ))),
            Some(Ok(())) => {
                let bytes = self
                    .staging
                    .get_mapped_range(..)
                    .map_err(|e| EngineError::Gpu(format!("mapped range: {e:?}")))?
                    .to_vec();
                self.staging.unmap();
                Ok(Some(bytes))
            }
        }
    }

    /// Natively, for tests and benchmarks only: wait for the bytes.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(self, device: &wgpu::Device) -> Result<Vec<u8>, EngineError> {
        loop {
            if let Some(bytes) = self.try_take(device)? {
                return Ok(bytes);
            }
            device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| {
                    EngineError::DeviceLost(format!("waiting for the device failed: {e}"))
                })?;
        }
    }
}

/// Little-endian f32s from bytes.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

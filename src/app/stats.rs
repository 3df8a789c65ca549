//! Frame times for the debug overlay and the page's status (p95 is the budget we report).

use std::collections::VecDeque;

const WINDOW: usize = 240;

#[derive(Default)]
pub struct FrameStats {
    last: Option<f64>,
    times_ms: VecDeque<f32>,
    frames: usize,
}

impl FrameStats {
    /// Call once per frame with egui's clock (seconds).
    pub fn frame(&mut self, now: f64) {
        if let Some(last) = self.last {
            if self.times_ms.len() == WINDOW {
                self.times_ms.pop_front();
            }
            self.times_ms.push_back(((now - last) * 1000.0) as f32);
        }
        self.last = Some(now);
        self.frames += 1;
    }

    pub fn count(&self) -> usize {
        self.frames
    }

    pub fn mean_ms(&self) -> f32 {
        if self.times_ms.is_empty() {
            0.0
        } else {
            self.times_ms.iter().sum::<f32>() / self.times_ms.len() as f32
        }
    }

    pub fn p95_ms(&self) -> f32 {
        let mut sorted: Vec<f32> = self.times_ms.iter().copied().collect();
        if sorted.is_empty() {
            return 0.0;
        }
        sorted.sort_by(f32::total_cmp);
        sorted[((sorted.len() as f32 * 0.95) as usize).min(sorted.len() - 1)]
    }
}

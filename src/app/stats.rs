//! Frame timings for the debug overlay and the page's status, measured only while an
//! experiment trains (an idle app does not repaint, and its gaps are not frame times).
//! Two figures: the interval between frames (what the hall sees) and the time our own code
//! spends inside a frame (what we control; drawing by a software rasteriser is not ours).

use std::collections::VecDeque;

const WINDOW: usize = 240;

#[derive(Default)]
pub struct FrameStats {
    last: Option<f64>,
    intervals_ms: VecDeque<f32>,
    work_ms: VecDeque<f32>,
    frames: usize,
    /// The last frames over budget (16 ms of our own work), with where the time went.
    pub slow: VecDeque<SlowFrame>,
}

/// A frame whose own work took over 16 ms: the training slice (`tick`) or the panels.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct SlowFrame {
    pub frame: usize,
    pub tick_ms: f32,
    pub draw_ms: f32,
}

fn push(window: &mut VecDeque<f32>, value: f32) {
    if window.len() == WINDOW {
        window.pop_front();
    }
    window.push_back(value);
}

fn percentile(window: &VecDeque<f32>, p: f32) -> f32 {
    let mut sorted: Vec<f32> = window.iter().copied().collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f32::total_cmp);
    sorted[((sorted.len() as f32 * p) as usize).min(sorted.len() - 1)]
}

impl FrameStats {
    /// A frame began at `now` (egui's clock, seconds); `active` while training.
    pub fn frame(&mut self, now: f64, active: bool) {
        self.frames += 1;
        if !active {
            self.last = None;
            return;
        }
        if let Some(last) = self.last {
            push(&mut self.intervals_ms, ((now - last) * 1000.0) as f32);
        }
        self.last = Some(now);
    }

    /// Time our code spent in the frame just drawn: the training slice and the panels.
    pub fn work(&mut self, tick_ms: f32, draw_ms: f32, active: bool) {
        if active {
            push(&mut self.work_ms, tick_ms + draw_ms);
            if tick_ms + draw_ms > 16.0 {
                if self.slow.len() == 20 {
                    self.slow.pop_front();
                }
                self.slow.push_back(SlowFrame {
                    frame: self.frames,
                    tick_ms,
                    draw_ms,
                });
            }
        }
    }

    /// Frames drawn since start (idle ones included).
    pub fn count(&self) -> usize {
        self.frames
    }

    /// The interval between frames while training, last seconds.
    pub fn last_interval_ms(&self) -> Option<f32> {
        self.intervals_ms.back().copied()
    }

    pub fn mean_ms(&self) -> f32 {
        if self.intervals_ms.is_empty() {
            0.0
        } else {
            self.intervals_ms.iter().sum::<f32>() / self.intervals_ms.len() as f32
        }
    }

    pub fn p95_ms(&self) -> f32 {
        percentile(&self.intervals_ms, 0.95)
    }

    pub fn work_p50_ms(&self) -> f32 {
        percentile(&self.work_ms, 0.5)
    }

    pub fn work_p95_ms(&self) -> f32 {
        percentile(&self.work_ms, 0.95)
    }

    pub fn samples(&self) -> usize {
        self.intervals_ms.len()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn idle_gaps_are_not_frame_times() {
        let mut stats = super::FrameStats::default();
        stats.frame(0.0, true);
        stats.frame(0.016, true);
        stats.frame(5.0, false); // idle for seconds
        stats.frame(5.5, true);
        stats.frame(5.52, true);
        assert_eq!(stats.samples(), 2);
        assert!(stats.p95_ms() < 21.0, "{}", stats.p95_ms());
    }
}

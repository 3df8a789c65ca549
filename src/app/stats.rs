//! Frame timings for the debug overlay and the page's status, measured only while an
//! experiment trains or a benchmark asks for frames (an idle app does not repaint, and its
//! gaps are not frame times).
//!
//! Three figures:
//! - **frame time**: the CPU time of a whole frame as eframe measures it (our update, egui's
//!   tessellation and handing the meshes to the GPU) — the number egui's own demo calls
//!   "frame time", and the one the 16 ms budget is about;
//! - **our work**: the part of it in our code, split into the training slice and the panels;
//! - **interval**: the time between frames, what the hall sees. It also contains the
//!   browser's painting, which a software rasteriser (no GPU) makes ~100 ms at 1280x720
//!   whatever we do; compare it with the interval of frames that only draw.
//!
//! The pacing reads one more figure from here: what a frame costs besides training, so the
//! training slice fills the rest of the frame-time target and no more.

use std::collections::VecDeque;

const WINDOW: usize = 240;

#[derive(Default)]
pub struct FrameStats {
    last: Option<f64>,
    intervals_ms: VecDeque<f32>,
    work_ms: VecDeque<f32>,
    /// The tick alone (our main-thread work besides drawing: messages from the workers, the
    /// views' work, saving), the part a round's end loads.
    tick_ms: VecDeque<f32>,
    cpu_ms: VecDeque<f32>,
    frames: usize,
    /// The frame just drawn, waiting for eframe's measure of it (reported one frame later).
    previous: Option<Previous>,
    /// Smoothed cost of a frame besides its training slice, in ms.
    other_ms: Option<f32>,
    /// The last frames over budget (16 ms of frame time), with where the time went.
    pub slow: VecDeque<SlowFrame>,
    /// The current frame's tick, in parts (`tick_parts`), until `work` files them.
    parts: TickParts,
    /// The current frame's slowest panel, until `work` files it.
    slowest: SlowestPanel,
}

/// The panel that took longest to draw in a frame, and how long (for the slow frames' list).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct SlowestPanel {
    pub panel: &'static str,
    pub panel_ms: f32,
}

impl SlowestPanel {
    /// `panel` was drawn from `started` until now: kept if it is the slowest so far.
    pub fn keep(&mut self, panel: &'static str, started: web_time::Instant) {
        let ms = started.elapsed().as_secs_f32() * 1000.0;
        if ms > self.panel_ms {
            *self = Self {
                panel,
                panel_ms: ms,
            };
        }
    }
}

/// Where a frame's tick went besides training: the views' work (the slider's pruning and
/// evaluation, new heatmaps) and saving the record.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct TickParts {
    pub view_ms: f32,
    pub save_ms: f32,
}

#[derive(Clone, Copy)]
struct Previous {
    frame: usize,
    tick_ms: f32,
    draw_ms: f32,
    parts: TickParts,
    slowest: SlowestPanel,
    measured: bool,
}

/// A frame whose frame time was over 16 ms: the tick (views' work, saving, training), its
/// parts, the panels (`draw`) and the whole frame as eframe measured it (`cpu`, with
/// tessellation).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct SlowFrame {
    pub frame: usize,
    pub tick_ms: f32,
    #[serde(flatten)]
    pub parts: TickParts,
    pub draw_ms: f32,
    #[serde(flatten)]
    pub slowest: SlowestPanel,
    pub cpu_ms: f32,
}

/// The frame-time budget the overlay and the benchmark hold us to.
pub const BUDGET_MS: f32 = 16.0;

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
    /// A frame began at `now` (egui's clock, seconds); `measured` while training (or while a
    /// benchmark asks for frames). `cpu_s` is eframe's frame time of the previous frame.
    pub fn frame(&mut self, now: f64, measured: bool, cpu_s: Option<f32>) {
        self.frames += 1;
        if let Some(previous) = self.previous.take() {
            // Without eframe's figure (tests, first frame), our own work stands in for it.
            let cpu_ms = cpu_s.map_or(previous.tick_ms + previous.draw_ms, |s| s * 1000.0);
            let other = (cpu_ms - previous.tick_ms).max(previous.draw_ms);
            self.other_ms = Some(match self.other_ms {
                Some(o) => 0.8 * o + 0.2 * other,
                None => other,
            });
            if previous.measured {
                push(&mut self.cpu_ms, cpu_ms);
                if cpu_ms > BUDGET_MS {
                    if self.slow.len() == 20 {
                        self.slow.pop_front();
                    }
                    self.slow.push_back(SlowFrame {
                        frame: previous.frame,
                        tick_ms: previous.tick_ms,
                        parts: previous.parts,
                        draw_ms: previous.draw_ms,
                        slowest: previous.slowest,
                        cpu_ms,
                    });
                }
            }
        }
        if !measured {
            self.last = None;
            return;
        }
        if let Some(last) = self.last {
            push(&mut self.intervals_ms, ((now - last) * 1000.0) as f32);
        }
        self.last = Some(now);
    }

    /// The current frame's tick, in parts (filed with the frame by `work`).
    pub fn tick_parts(&mut self, parts: TickParts) {
        self.parts = parts;
    }

    /// The current frame's slowest panel (filed with the frame by `work`).
    pub fn slowest_panel(&mut self, slowest: SlowestPanel) {
        self.slowest = slowest;
    }

    /// Time our code spent in the frame just drawn: the tick and the panels.
    pub fn work(&mut self, tick_ms: f32, draw_ms: f32, measured: bool) {
        if measured {
            push(&mut self.work_ms, tick_ms + draw_ms);
            push(&mut self.tick_ms, tick_ms);
        }
        self.previous = Some(Previous {
            frame: self.frames,
            tick_ms,
            draw_ms,
            parts: std::mem::take(&mut self.parts),
            slowest: std::mem::take(&mut self.slowest),
            measured,
        });
    }

    /// What a frame costs besides training (panels, tessellation, painting calls), smoothed:
    /// the pacing leaves this much of the frame-time target to the rest.
    pub fn other_work_s(&self) -> f64 {
        f64::from(self.other_ms.unwrap_or(4.0)) / 1000.0
    }

    /// Frames drawn since start (idle ones included).
    pub fn count(&self) -> usize {
        self.frames
    }

    /// Forget the figures so far (a benchmark measuring one phase).
    pub fn reset(&mut self) {
        *self = Self {
            frames: self.frames,
            other_ms: self.other_ms,
            ..Self::default()
        };
    }

    pub fn mean_ms(&self) -> f32 {
        if self.intervals_ms.is_empty() {
            0.0
        } else {
            self.intervals_ms.iter().sum::<f32>() / self.intervals_ms.len() as f32
        }
    }

    /// The interval between frames.
    pub fn p95_ms(&self) -> f32 {
        percentile(&self.intervals_ms, 0.95)
    }

    pub fn work_p50_ms(&self) -> f32 {
        percentile(&self.work_ms, 0.5)
    }

    pub fn work_p95_ms(&self) -> f32 {
        percentile(&self.work_ms, 0.95)
    }

    /// The slowest tick in the window: a round's end handled on the main thread shows here.
    pub fn tick_max_ms(&self) -> f32 {
        self.tick_ms.iter().copied().fold(0.0, f32::max)
    }

    /// Frame time (eframe's CPU time per frame).
    pub fn cpu_p50_ms(&self) -> f32 {
        percentile(&self.cpu_ms, 0.5)
    }

    pub fn cpu_p95_ms(&self) -> f32 {
        percentile(&self.cpu_ms, 0.95)
    }

    pub fn samples(&self) -> usize {
        self.intervals_ms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::FrameStats;

    #[test]
    fn idle_gaps_are_not_frame_times() {
        let mut stats = FrameStats::default();
        stats.frame(0.0, true, None);
        stats.frame(0.016, true, None);
        stats.frame(5.0, false, None); // idle for seconds
        stats.frame(5.5, true, None);
        stats.frame(5.52, true, None);
        assert_eq!(stats.samples(), 2);
        assert!(stats.p95_ms() < 21.0, "{}", stats.p95_ms());
    }

    #[test]
    fn frame_time_is_eframes_figure_for_the_previous_frame() {
        let mut stats = FrameStats::default();
        // Frame 1 trains 8 ms and draws 2 ms; eframe reports 13 ms for it on frame 2
        // (3 ms of tessellation and painting calls).
        stats.frame(0.0, true, None);
        stats.work(8.0, 2.0, true);
        stats.frame(0.016, true, Some(0.013));
        assert_eq!(stats.cpu_p95_ms(), 13.0);
        assert!(
            (stats.other_work_s() - 0.005).abs() < 1e-6,
            "{}",
            stats.other_work_s()
        );
        // Frame 2 is slow (30 ms of training): listed with its parts.
        stats.work(30.0, 2.0, true);
        stats.frame(0.05, true, Some(0.035));
        assert_eq!(stats.slow.len(), 1);
        assert_eq!(stats.slow[0].cpu_ms, 35.0);
        assert_eq!(stats.slow[0].tick_ms, 30.0);
        assert_eq!(stats.tick_max_ms(), 30.0);
        // An idle frame counts toward the drawing cost but not toward frame times.
        stats.work(0.0, 1.0, false);
        stats.frame(9.0, false, Some(0.002));
        // (13 and 35 ms: the upper one is the median of two; with 2 ms added it would be 13.)
        assert_eq!(stats.cpu_p50_ms(), 35.0);
        assert_eq!(stats.slow.len(), 1);
    }
}

//! Which weights survive: per dense layer a texture of the weight values (diverging colours,
//! pruned weights as background), per conv layer its filters as a grid of small tiles (pruned
//! taps dark), for digits under a dense first layer the input-pixel survival map, and for small
//! MLPs a diagram whose edges thin out round by round.

use super::{Action, PlotInput, PlotPanel};
use crate::app::ViewState;
use crate::app::colors::{PRUNED, diverging, run_color};
use crate::app::session::ViewCache;
use crate::data::DataShape;
use crate::model::{ConvGeometry, Mask, Network};

/// What a frame does about a picture: show the cached one, build it (its turn), or wait.
enum Turn {
    Cached(egui::TextureHandle),
    Build,
    Wait,
}

/// One picture is built per frame; a picture waiting for its turn asks for the next frame.
fn turn(cache: &mut ViewCache, builds_left: &mut usize, ui: &egui::Ui, key: &str) -> Turn {
    if let Some(tex) = cache.textures.get(key) {
        return Turn::Cached(tex);
    }
    if *builds_left == 0 {
        cache.view_work_pending = true;
        ui.ctx().request_repaint();
        return Turn::Wait;
    }
    *builds_left -= 1;
    Turn::Build
}

/// The cached texture for `key`, or a new one if this frame may still build one. A round
/// change needs a texture per layer (LeNet's first is 235,200 pixels): one is built per frame,
/// and until its turn a layer shows the previous round's.
fn texture(
    cache: &mut ViewCache,
    builds_left: &mut usize,
    ui: &egui::Ui,
    key: String,
    make: impl FnOnce() -> egui::ColorImage,
) -> Option<egui::TextureHandle> {
    match turn(cache, builds_left, ui, &key) {
        Turn::Cached(tex) => return Some(tex),
        Turn::Wait => return None,
        Turn::Build => {}
    }
    let tex = ui
        .ctx()
        .load_texture(key.clone(), make(), egui::TextureOptions::NEAREST);
    cache.textures.insert(key, tex.clone());
    Some(tex)
}

/// How long a frame may spend building a dense layer's picture: LeNet's first layer (235,200
/// pixels) took a whole frame of 30-50 ms under a software painter; in bands of rows it is
/// ready a few frames later, the previous round's picture shown meanwhile.
const IMAGE_SLICE_S: f64 = 0.002;

/// Rows of a picture filled per call between looks at the clock.
const BAND_ROWS: usize = 8;

/// A dense layer's picture being built over frames, a band of rows at a time.
pub struct PendingImage {
    key: String,
    image: egui::ColorImage,
    /// The colour scale (the layer's largest |w|), found once.
    scale: f32,
    next_row: usize,
}

/// [`texture`] for a dense layer's weights, built in bands over frames.
fn layer_texture(
    cache: &mut ViewCache,
    builds_left: &mut usize,
    ui: &egui::Ui,
    key: String,
    weight: &ndarray::Array2<f32>,
    keep: &ndarray::Array2<bool>,
) -> Option<egui::TextureHandle> {
    match turn(cache, builds_left, ui, &key) {
        Turn::Cached(tex) => return Some(tex),
        Turn::Wait => return None,
        Turn::Build => {}
    }
    let (fan_in, fan_out) = weight.dim();
    let mut pending = match cache.pending_image.take() {
        Some(p) if p.key == key => p,
        _ => PendingImage {
            key: key.clone(),
            image: egui::ColorImage::new([fan_in, fan_out], vec![PRUNED; fan_in * fan_out]),
            scale: weight.iter().fold(1e-12f32, |m, w| m.max(w.abs())),
            next_row: 0,
        },
    };
    let started = web_time::Instant::now();
    while pending.next_row < fan_out && started.elapsed().as_secs_f64() < IMAGE_SLICE_S {
        let rows = pending.next_row..(pending.next_row + BAND_ROWS).min(fan_out);
        fill_layer_rows(
            weight,
            keep,
            pending.scale,
            &mut pending.image.pixels,
            rows.clone(),
        );
        pending.next_row = rows.end;
    }
    if pending.next_row < fan_out {
        cache.pending_image = Some(pending);
        cache.view_work_pending = true;
        ui.ctx().request_repaint();
        return None;
    }
    let tex = ui
        .ctx()
        .load_texture(key.clone(), pending.image, egui::TextureOptions::NEAREST);
    cache.textures.insert(key, tex.clone());
    Some(tex)
}

/// Draw `current` in `rect`, cross-fading from `previous` while a round change settles.
fn cross_fade(
    ui: &egui::Ui,
    rect: egui::Rect,
    previous: Option<&egui::TextureHandle>,
    current: Option<&egui::TextureHandle>,
    fade: f32,
) {
    let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    let painter = ui.painter_at(rect);
    let Some(current) = current else {
        // Not built yet (next frame): the previous round's, as it was.
        if let Some(previous) = previous {
            painter.image(previous.id(), rect, uv, egui::Color32::WHITE);
        }
        return;
    };
    if let Some(previous) = previous.filter(|_| fade < 1.0) {
        painter.image(
            previous.id(),
            rect,
            uv,
            egui::Color32::WHITE.gamma_multiply(1.0 - fade),
        );
    }
    painter.image(
        current.id(),
        rect,
        uv,
        egui::Color32::WHITE.gamma_multiply(fade.max(0.05)),
    );
}

/// See the module's documentation.
pub struct Heatmaps;

impl PlotPanel for Heatmaps {
    fn name(&self) -> &'static str {
        "heatmaps"
    }

    fn separated(&self) -> bool {
        false
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        show(input.record, input.view, input.cache, ui);
        None
    }
}

fn show(
    record: &crate::experiment::ExperimentRecord,
    view: &ViewState,
    cache: &mut ViewCache,
    ui: &mut egui::Ui,
) {
    let fade = view.fade(ui.input(|i| i.time));
    let mut builds_left = 1;
    let Some(round) = record.rounds.get(view.round) else {
        return;
    };
    let Some(run) = round.shown_run(view.run) else {
        return;
    };
    let kind = run.kind;
    let Some(trained) = &run.trained else {
        return;
    };
    let mask = &run.mask;
    let shape = record.data.shape.clone();
    let (round_index, density) = (round.round, run.density);
    ui.strong(
        egui::RichText::new(format!(
            "Surviving weights — round {round_index}, {} ({:.1}% remaining)",
            kind.name(record.config.method),
            density * 100.0
        ))
        .color(run_color(kind)),
    );
    let small = (record.config.trains_smaller_network(kind))
        .then(|| crate::prune::Shrunk::of(&record.spec, mask))
        .filter(|small| small.units.removes_any());
    if let Some(small) = small {
        // Whole units went: say what smaller network this is.
        ui.label(format!(
            "{}: a smaller dense network, {} (from {})",
            if kind == crate::experiment::RunKind::SmallDense {
                "Small dense net"
            } else {
                "Structured"
            },
            small.spec.label(),
            record.spec.label()
        ));
    }
    if let Some(reason) = run
        .stopped
        .as_ref()
        .filter(|_| !run.collapsed_layers.is_empty())
    {
        ui.colored_label(egui::Color32::from_rgb(230, 60, 60), reason);
    }

    let params = trained.spec.param_layers();
    // The survival map needs the input's pixels as the first layer's rows (a dense layer).
    let dense_first = params.first().is_some_and(|p| p.conv.is_none());
    if let DataShape::Image { width, height } = shape
        && dense_first
        && mask
            .layers
            .first()
            .is_some_and(|m| m.nrows() == width * height)
    {
        let key = format!("pixels {round_index} {kind:?}");
        let tex = texture(cache, &mut builds_left, ui, key, || {
            pixel_survival(mask, width, height)
        });
        let previous = cache
            .textures
            .get(&format!("pixels {} {kind:?}", view.previous_round));
        ui.horizontal(|ui| {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(width as f32 * 6.0, height as f32 * 6.0), egui::Sense::hover());
            cross_fade(ui, rect, previous.as_ref(), tex.as_ref(), fade);
            ui.label("Input pixels by how many of their\noutgoing weights survive:\nthe border empties first.");
        });
    }

    for (l, (layer, keep)) in trained.layers.iter().zip(&mask.layers).enumerate() {
        let (fan_in, fan_out) = layer.weight.dim();
        let conv = params.get(l).and_then(|p| p.conv);
        let key = format!("layer {l} {round_index} {kind:?}");
        let tex = match &conv {
            Some(g) => texture(cache, &mut builds_left, ui, key, || {
                filter_tiles(&layer.weight, keep, g)
            }),
            None => layer_texture(cache, &mut builds_left, ui, key, &layer.weight, keep),
        };
        let previous = cache
            .textures
            .get(&format!("layer {l} {} {kind:?}", view.previous_round));
        let kept = keep.iter().filter(|&&k| k).count();
        let what = match &conv {
            Some(g) => format!(
                "conv {}×{}, {} to {} channels: a tile per filter and input channel",
                g.kernel_h, g.kernel_w, g.input.channels, g.output.channels
            ),
            None => format!("{fan_in} to {fan_out}"),
        };
        ui.label(format!(
            "layer {} ({what}): {kept} of {} kept ({:.1}%)",
            l + 1,
            keep.len(),
            100.0 * kept as f64 / keep.len().max(1) as f64
        ));
        let (width, height) = match &conv {
            Some(g) => {
                // Square taps, as large as fit (at most 12 points each).
                let [cols, rows] = tiles_size(g);
                let px = (ui.available_width().min(900.0) / cols as f32).clamp(1.0, 12.0);
                (cols as f32 * px, (rows as f32 * px).min(400.0))
            }
            None => {
                let width = ui.available_width().min(900.0);
                (
                    width,
                    (width * fan_out as f32 / fan_in.max(1) as f32).clamp(8.0, 220.0),
                )
            }
        };
        let (rect, response) =
            ui.allocate_exact_size(egui::vec2(width, height), egui::Sense::hover());
        cross_fade(ui, rect, previous.as_ref(), tex.as_ref(), fade);
        // Named for screen readers (and tests): the picture is the layer's weights.
        response.widget_info(|| {
            let mut info = egui::WidgetInfo::new(egui::Role::Image);
            info.label = Some(format!("weights of layer {}", l + 1));
            info
        });
        if conv.is_none() {
            let group = match record.config.granularity {
                crate::prune::Granularity::NOfM { m, .. } => Some(m),
                _ if kind == crate::experiment::RunKind::TwoFour => Some(4),
                _ => None,
            };
            response.on_hover_ui_at_pointer(|ui| {
                lens(ui, rect, &layer.weight, keep, group);
            });
        }
    }

    if trained.spec.is_mlp()
        && trained.spec.weight_count() <= 20_000
        && trained.layers.iter().all(|l| l.weight.ncols() <= 128)
    {
        diagram(trained, mask, ui);
    }
}

/// Rows `rows` (output units) of a dense layer's picture, `[fan_out rows, fan_in columns]`:
/// one pixel per weight, coloured by `w / scale`, pruned ones left as the background.
fn fill_layer_rows(
    weight: &ndarray::Array2<f32>,
    keep: &ndarray::Array2<bool>,
    scale: f32,
    pixels: &mut [egui::Color32],
    rows: std::ops::Range<usize>,
) {
    let fan_in = weight.nrows();
    let band = ndarray::s![.., rows.clone()];
    // Input by input, with the mask's row beside it: no 2-D index per weight.
    for (i, (weights, kept)) in weight
        .slice(band)
        .rows()
        .into_iter()
        .zip(keep.slice(band).rows())
        .enumerate()
    {
        for (o, (&w, &k)) in (rows.start..).zip(weights.iter().zip(kept.iter())) {
            if k {
                pixels[o * fan_in + i] = diverging(w / scale);
            }
        }
    }
}

/// Weights the magnifier shows around the pointer: inputs across, outputs down.
const LENS_INPUTS: usize = 32;
const LENS_OUTPUTS: usize = 12;
const LENS_CELL: f32 = 9.0;

/// The weights under the pointer, one square each (a heatmap pixel is often smaller than a
/// weight's share of the screen allows to see): pruned ones dark, and with N:M sparsity a line
/// after every group of M inputs, so "2 of every 4" can be counted.
fn lens(
    ui: &mut egui::Ui,
    rect: egui::Rect,
    weight: &ndarray::Array2<f32>,
    keep: &ndarray::Array2<bool>,
    group: Option<usize>,
) {
    let Some(pointer) = ui.ctx().pointer_hover_pos() else {
        return;
    };
    let (fan_in, fan_out) = weight.dim();
    let fraction = (pointer - rect.min) / rect.size();
    let at = |f: f32, n: usize| ((f.clamp(0.0, 1.0) * n as f32) as usize).min(n.saturating_sub(1));
    let (i, o) = (at(fraction.x, fan_in), at(fraction.y, fan_out));
    // A window around the pointer, aligned to the groups so each group is whole.
    let align = group.unwrap_or(1).max(1);
    let first_in = (i.saturating_sub(LENS_INPUTS / 2) / align * align)
        .min(fan_in.saturating_sub(LENS_INPUTS) / align * align);
    let first_out = o
        .saturating_sub(LENS_OUTPUTS / 2)
        .min(fan_out.saturating_sub(LENS_OUTPUTS));
    let inputs = first_in..(first_in + LENS_INPUTS).min(fan_in);
    let outputs = first_out..(first_out + LENS_OUTPUTS).min(fan_out);
    ui.label(format!(
        "inputs {}-{}, units {}-{}",
        inputs.start,
        inputs.end - 1,
        outputs.start,
        outputs.end - 1
    ));
    let size = egui::vec2(
        inputs.len() as f32 * LENS_CELL,
        outputs.len() as f32 * LENS_CELL,
    );
    let (area, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(area);
    let scale = weight.iter().fold(1e-12f32, |m, w| m.max(w.abs()));
    for (y, o) in outputs.clone().enumerate() {
        for (x, i) in inputs.clone().enumerate() {
            let cell = egui::Rect::from_min_size(
                area.min + egui::vec2(x as f32, y as f32) * LENS_CELL,
                egui::vec2(LENS_CELL - 1.0, LENS_CELL - 1.0),
            );
            let color = if keep[(i, o)] {
                diverging(weight[(i, o)] / scale)
            } else {
                PRUNED
            };
            painter.rect_filled(cell, 0.0, color);
        }
    }
    if let Some(m) = group {
        for x in (0..inputs.len()).filter(|x| (inputs.start + x) % m == 0 && *x > 0) {
            let left = area.left() + x as f32 * LENS_CELL - 1.0;
            painter.line_segment(
                [
                    egui::pos2(left, area.top()),
                    egui::pos2(left, area.bottom()),
                ],
                egui::Stroke::new(1.0, egui::Color32::YELLOW),
            );
        }
        ui.small(format!("a yellow line after every {m} inputs"));
    }
}

/// Pixels of the tile grid: a column of tiles per filter (output channel), a row per input
/// channel, one pixel per tap and a one-pixel gap between tiles.
fn tiles_size(g: &ConvGeometry) -> [usize; 2] {
    [
        g.output.channels * (g.kernel_w + 1),
        g.input.channels * (g.kernel_h + 1),
    ]
}

/// A conv layer's weights `[taps · in_channels, out_channels]` as tiles (see [`tiles_size`]).
pub fn filter_tiles(
    weight: &ndarray::Array2<f32>,
    keep: &ndarray::Array2<bool>,
    g: &ConvGeometry,
) -> egui::ColorImage {
    let [cols, rows] = tiles_size(g);
    let scale = weight.iter().fold(1e-12f32, |m, w| m.max(w.abs()));
    let gap = egui::Color32::from_gray(24);
    let mut pixels = vec![gap; cols * rows];
    let channels = g.input.channels;
    for ((row, o), &w) in weight.indexed_iter() {
        let (tap, c) = (row / channels, row % channels);
        let (ky, kx) = (tap / g.kernel_w, tap % g.kernel_w);
        let (x, y) = (o * (g.kernel_w + 1) + kx, c * (g.kernel_h + 1) + ky);
        pixels[y * cols + x] = if keep[(row, o)] {
            diverging(w / scale)
        } else {
            PRUNED
        };
    }
    egui::ColorImage::new([cols, rows], pixels)
}

fn pixel_survival(mask: &Mask, width: usize, height: usize) -> egui::ColorImage {
    let first = &mask.layers[0];
    let pixels = first
        .rows()
        .into_iter()
        .map(|row| {
            let frac = row.iter().filter(|&&k| k).count() as f32 / row.len().max(1) as f32;
            let v = (frac * 255.0) as u8;
            egui::Color32::from_rgb(v, (f32::from(v) * 0.55) as u8, 20)
        })
        .collect();
    egui::ColorImage::new([width, height], pixels)
}

/// Nodes in columns, one line per surviving weight (width and opacity from |w|).
fn diagram(net: &Network, mask: &Mask, ui: &mut egui::Ui) {
    let widths: Vec<usize> = std::iter::once(net.spec.input)
        .chain(net.layers.iter().map(|l| l.bias.len()))
        .collect();
    let size = egui::vec2(ui.available_width().min(700.0), 220.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let node = |layer: usize, index: usize| {
        let x = rect.left()
            + 20.0
            + (rect.width() - 40.0) * layer as f32 / (widths.len() - 1).max(1) as f32;
        let n = widths[layer];
        let y = rect.top() + 10.0 + (rect.height() - 20.0) * (index as f32 + 0.5) / n as f32;
        egui::pos2(x, y)
    };
    for (l, (layer, keep)) in net.layers.iter().zip(&mask.layers).enumerate() {
        let scale = layer.weight.iter().fold(1e-12f32, |m, w| m.max(w.abs()));
        for ((i, o), &w) in layer.weight.indexed_iter() {
            if keep[(i, o)] {
                let t = w.abs() / scale;
                let color = diverging(w / scale).gamma_multiply(0.25 + 0.75 * t);
                painter.line_segment(
                    [node(l, i), node(l + 1, o)],
                    egui::Stroke::new(0.3 + 1.5 * t, color),
                );
            }
        }
    }
    // A layer with no weight left: the gap where its lines would be, marked.
    let collapse = egui::Color32::from_rgb(230, 60, 60);
    for l in mask.collapsed_layers_in(&net.spec) {
        let (a, b) = (node(l, 0), node(l + 1, 0));
        let gap = egui::Rect::from_x_y_ranges(a.x + 6.0..=b.x - 6.0, rect.y_range());
        painter.rect_stroke(
            gap,
            4.0,
            egui::Stroke::new(2.0, collapse),
            egui::StrokeKind::Inside,
        );
        painter.text(
            gap.center(),
            egui::Align2::CENTER_CENTER,
            format!("layer {}: no signal\n(layer collapse)", l + 1),
            egui::FontId::proportional(13.0),
            collapse,
        );
    }
    // Units no kept weight reaches or leaves are gone (all of them, after structured pruning):
    // drawn dark, so the network is seen to shrink.
    let units = crate::prune::Units::of_mask(mask);
    for (layer, &n) in widths.iter().enumerate() {
        let alive = layer
            .checked_sub(1)
            .and_then(|hidden| units.kept.get(hidden));
        for i in 0..n {
            let gone = alive.is_some_and(|kept| kept.binary_search(&i).is_err());
            let color = if gone {
                egui::Color32::from_gray(70)
            } else {
                egui::Color32::LIGHT_GRAY
            };
            painter.circle_filled(node(layer, i), 2.5, color);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PRUNED, diverging, fill_layer_rows};
    use ndarray::Array2;

    #[test]
    fn a_layer_picture_built_in_bands_is_the_picture_built_at_once() {
        let (fan_in, fan_out) = (7, 13);
        let weight = Array2::from_shape_fn((fan_in, fan_out), |(i, o)| {
            (i as f32 - 3.0) * 0.1 + o as f32 * 0.01
        });
        let keep = Array2::from_shape_fn((fan_in, fan_out), |(i, o)| (i + o) % 3 != 0);
        let scale = 0.5;
        let mut at_once = vec![PRUNED; fan_in * fan_out];
        fill_layer_rows(&weight, &keep, scale, &mut at_once, 0..fan_out);
        // Output unit o is image row o, input i its column i.
        for ((i, o), &w) in weight.indexed_iter() {
            let expected = if keep[(i, o)] {
                diverging(w / scale)
            } else {
                PRUNED
            };
            assert_eq!(at_once[o * fan_in + i], expected, "weight ({i}, {o})");
        }
        let mut banded = vec![PRUNED; fan_in * fan_out];
        for rows in [0..5, 5..6, 6..13] {
            fill_layer_rows(&weight, &keep, scale, &mut banded, rows);
        }
        assert_eq!(banded, at_once);
    }
}

//! For 2-D data: the decision boundary of the selected run over the test points.

use super::{Action, PlotInput, PlotPanel};
use crate::data::DataShape;
use crate::model::infer;
use ndarray::Array2;

const GRID: usize = 72;

/// See the module's documentation.
pub struct Boundary;

impl PlotPanel for Boundary {
    fn name(&self) -> &'static str {
        "decision-boundary"
    }

    fn ui(&self, input: &mut PlotInput<'_>, ui: &mut egui::Ui) -> Option<Action> {
        show(input, ui);
        None
    }
}

fn show(input: &mut PlotInput<'_>, ui: &mut egui::Ui) {
    let (record, view) = (input.record, input.view);
    if record.data.shape != DataShape::Points2d {
        return;
    }
    let Some(round) = record.rounds.get(view.round) else {
        return;
    };
    let Some(run) = round.shown_run(view.run) else {
        return;
    };
    let kind = run.kind;
    // Borrowed, not cloned: the image is drawn once per round and run, then cached.
    let Some(net) = run.trained.as_ref() else {
        return;
    };
    let test = input.test;
    let (lo, hi) = bounds(&test.features);
    let key = format!("boundary {} {kind:?}", round.round);
    ui.strong(format!(
        "Decision boundary — round {}, {}",
        round.round,
        kind.name(record.config.method)
    ));
    let tex = match input.cache.textures.get(&key) {
        Some(tex) => tex,
        None => {
            let tex = ui.ctx().load_texture(
                key.clone(),
                boundary_image(net, lo, hi),
                egui::TextureOptions::LINEAR,
            );
            input.cache.textures.insert(key, tex.clone());
            tex
        }
    };
    let side = ui.available_width().min(360.0);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.image(
        tex.id(),
        rect,
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        egui::Color32::WHITE,
    );
    for (row, &label) in test.features.rows().into_iter().zip(&test.labels) {
        let x = rect.left() + (row[0] - lo[0]) / (hi[0] - lo[0]) * rect.width();
        let y = rect.bottom() - (row[1] - lo[1]) / (hi[1] - lo[1]) * rect.height();
        let fill = if label == 1 {
            egui::Color32::from_rgb(230, 120, 20)
        } else {
            egui::Color32::from_rgb(40, 110, 210)
        };
        painter.circle(
            egui::pos2(x, y),
            3.0,
            fill,
            egui::Stroke::new(0.8, egui::Color32::WHITE),
        );
    }
}

fn bounds(points: &Array2<f32>) -> ([f32; 2], [f32; 2]) {
    let mut lo = [f32::INFINITY; 2];
    let mut hi = [f32::NEG_INFINITY; 2];
    for row in points.rows() {
        for d in 0..2 {
            lo[d] = lo[d].min(row[d]);
            hi[d] = hi[d].max(row[d]);
        }
    }
    for d in 0..2 {
        if !(lo[d].is_finite() && hi[d] > lo[d]) {
            (lo[d], hi[d]) = (-1.0, 1.0);
        }
        let margin = 0.1 * (hi[d] - lo[d]);
        lo[d] -= margin;
        hi[d] += margin;
    }
    (lo, hi)
}

fn boundary_image(net: &crate::model::Network, lo: [f32; 2], hi: [f32; 2]) -> egui::ColorImage {
    let grid = Array2::from_shape_fn((GRID * GRID, 2), |(i, d)| {
        let (col, row) = (i % GRID, i / GRID);
        let t = if d == 0 {
            col as f32 / (GRID - 1) as f32
        } else {
            1.0 - row as f32 / (GRID - 1) as f32
        };
        lo[d] + t * (hi[d] - lo[d])
    });
    let mut buffers = None;
    let logits = infer::logits(net, grid.view(), &mut buffers);
    let pixels = logits
        .rows()
        .into_iter()
        .map(|z| {
            let p = 1.0 / (1.0 + (z[0] - z[1]).exp());
            let blue = egui::Color32::from_rgb(40, 110, 210);
            let orange = egui::Color32::from_rgb(230, 120, 20);
            egui::Color32::from_rgb(
                (f32::from(blue.r()) * (1.0 - p) + f32::from(orange.r()) * p) as u8,
                (f32::from(blue.g()) * (1.0 - p) + f32::from(orange.g()) * p) as u8,
                (f32::from(blue.b()) * (1.0 - p) + f32::from(orange.b()) * p) as u8,
            )
            .gamma_multiply(0.55)
        })
        .collect();
    egui::ColorImage::new([GRID, GRID], pixels)
}

//! The one inference path: a trained network's outputs and its loss, accuracy and AUC on a
//! dataset, in bounded chunks. The CPU engine's evaluations, the sparsity slider, the decision
//! boundary and every later view (latency, connectivity, attributions) evaluate through here,
//! never through an engine. Dense fp32 (pruned weights stored as zeros) is the format today;
//! sparse and quantised formats come in beside [`evaluate_chunk`] as one file each.

use ndarray::{Array2, ArrayView2, Axis, s};

use super::Network;
use super::metrics;
use super::ops::network::Forward;
use crate::data::Dataset;

/// Rows evaluated per forward pass: bounds the evaluation buffers' size, and is the unit in
/// which an evaluation is spread over frames (LeNet: ~5 ms of wasm per chunk).
pub const EVAL_CHUNK: usize = 256;

/// Loss and accuracy of a network on a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f32,
    pub accuracy: f32,
    pub auc: Option<f32>,
}

/// Reusable buffers for evaluation, so repeated evaluations (the sparsity slider, eval points
/// during training) do not allocate.
#[derive(Default)]
pub struct EvalBuffers {
    chunk: Option<Forward>,
    /// For the last, shorter chunk of a split (kept: the same split is evaluated again).
    tail: Option<Forward>,
    probs: Vec<f32>,
    scores: Vec<f32>,
    positives: Vec<bool>,
}

/// The logits of `x` (`[rows, input]`), in buffers `forward` keeps for the next call.
pub fn logits<'a>(
    net: &Network,
    x: ArrayView2<f32>,
    forward: &'a mut Option<Forward>,
) -> &'a Array2<f32> {
    let buffers = forward_for(forward, net, x.nrows());
    buffers.run(net, x);
    buffers.logits()
}

fn forward_for<'a>(slot: &'a mut Option<Forward>, net: &Network, rows: usize) -> &'a mut Forward {
    if !slot.as_ref().is_some_and(|f| f.fits(&net.spec, rows)) {
        *slot = Some(Forward::new(&net.spec, rows));
    }
    slot.as_mut().expect("just filled")
}

/// Evaluate `net` on `data`: mean loss, accuracy and, with a `positive` class, ROC AUC of
/// that class's softmax probability.
pub fn evaluate(net: &Network, data: &Dataset, positive: Option<u8>) -> Evaluation {
    evaluate_with(net, data, positive, &mut EvalBuffers::default())
}

pub fn evaluate_with(
    net: &Network,
    data: &Dataset,
    positive: Option<u8>,
    buf: &mut EvalBuffers,
) -> Evaluation {
    let mut partial = Partial::default();
    loop {
        if let Some(done) = evaluate_chunk(net, data, positive, buf, &mut partial) {
            return done;
        }
    }
}

/// How far an evaluation has come: rows done and their running totals.
#[derive(Default, Clone, Copy)]
pub struct Partial {
    start: usize,
    loss_sum: f64,
    correct: usize,
}

/// Evaluate the next [`EVAL_CHUNK`] rows; the result once the last row is in. Chunk by chunk
/// or all at once, the totals are the same (the rows are summed in order).
pub fn evaluate_chunk(
    net: &Network,
    data: &Dataset,
    positive: Option<u8>,
    buf: &mut EvalBuffers,
    partial: &mut Partial,
) -> Option<Evaluation> {
    evaluate_rows(net, data, positive, EVAL_CHUNK, buf, partial)
}

/// [`evaluate_chunk`] with the chunk's size chosen by the caller (at most [`EVAL_CHUNK`]): a
/// view that must stay inside a few milliseconds of a frame sizes its chunks from their
/// measured cost (one LeNet chunk of 256 rows is 10-25 ms of wasm under a software painter).
pub fn evaluate_rows(
    net: &Network,
    data: &Dataset,
    positive: Option<u8>,
    rows: usize,
    buf: &mut EvalBuffers,
    partial: &mut Partial,
) -> Option<Evaluation> {
    let rows = rows.clamp(1, EVAL_CHUNK).min(data.len()).max(1);
    buf.probs.resize(net.spec.output, 0.0);
    if partial.start == 0 {
        buf.scores.clear();
        buf.positives.clear();
    }
    let start = partial.start;
    if start < data.len() {
        let end = (start + rows).min(data.len());
        let x = data.features.slice(s![start..end, ..]);
        let n = end - start;
        let (mut loss_sum, mut correct) = (partial.loss_sum, partial.correct);
        // The last, shorter chunk has buffers of its own size.
        let slot = if n == rows {
            &mut buf.chunk
        } else {
            &mut buf.tail
        };
        let forward = forward_for(slot, net, n);
        forward.run(net, x);
        tally(
            forward.logits(),
            &data.labels[start..end],
            positive,
            (&mut buf.probs, &mut buf.scores, &mut buf.positives),
            &mut loss_sum,
            &mut correct,
        );
        *partial = Partial {
            start: end,
            loss_sum,
            correct,
        };
        if end < data.len() {
            return None;
        }
    }
    let n = data.len().max(1) as f64;
    Some(Evaluation {
        loss: (partial.loss_sum / n) as f32,
        accuracy: (partial.correct as f64 / n) as f32,
        auc: positive.and_then(|_| metrics::roc_auc(&buf.scores, &buf.positives)),
    })
}

fn tally(
    logits: &Array2<f32>,
    labels: &[u8],
    positive: Option<u8>,
    (probs, scores, positives): (&mut Vec<f32>, &mut Vec<f32>, &mut Vec<bool>),
    loss_sum: &mut f64,
    correct: &mut usize,
) {
    for (z, &y) in logits.axis_iter(Axis(0)).zip(labels) {
        let z = z.as_slice().expect("contiguous rows");
        *loss_sum += f64::from(metrics::softmax_cross_entropy(z, y as usize, probs));
        if metrics::argmax(z) == y as usize {
            *correct += 1;
        }
        if let Some(p) = positive {
            scores.push(probs[p as usize]);
            positives.push(y == p);
        }
    }
}

// Softmax cross-entropy: the training gradient with the batch's mean loss, and the evaluation
// metrics (loss, accuracy, positive-class scores for ROC AUC), reduced on the GPU in one
// workgroup so that only a handful of numbers ever come back.
// CPU reference: `train::metrics::softmax_cross_entropy` and `model::infer::evaluate`.

struct LossDims {
    rows: u32,
    classes: u32,
    // Where in `metrics` this evaluation writes (loss sum at slot, correct count at slot + 1).
    slot: u32,
    // The class whose probability goes to `side` as a score, or NO_CLASS.
    positive: u32,
};

const NO_CLASS: u32 = 0xffffffffu;
const THREADS: u32 = 256u;

@group(0) @binding(0) var<uniform> dims: LossDims;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
// train: dL/dlogits [rows, classes]; eval: the positive-class scores [rows].
@group(0) @binding(3) var<storage, read_write> side: array<f32>;
// [train loss sum, train steps, val loss sum, val correct, test loss sum, test correct]
@group(0) @binding(4) var<storage, read_write> metrics: array<f32>;

var<workgroup> partial_loss: array<f32, 256>;
var<workgroup> partial_correct: array<f32, 256>;

fn row_max(base: u32) -> f32 {
    var m = logits[base];
    for (var j = 1u; j < dims.classes; j++) {
        m = max(m, logits[base + j]);
    }
    return m;
}

fn row_sum_exp(base: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < dims.classes; j++) {
        s += exp(logits[base + j] - m);
    }
    return s;
}

fn reduce(t: u32) {
    for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if t < stride {
            partial_loss[t] += partial_loss[t + stride];
            partial_correct[t] += partial_correct[t + stride];
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn train_loss(@builtin(local_invocation_index) t: u32) {
    let scale = 1.0 / f32(dims.rows);
    var loss = 0.0;
    for (var r = t; r < dims.rows; r += THREADS) {
        let base = r * dims.classes;
        let m = row_max(base);
        let sum = row_sum_exp(base, m);
        let y = labels[r];
        for (var j = 0u; j < dims.classes; j++) {
            // Same order of operations as the CPU: p·scale, then minus scale at the label.
            var d = exp(logits[base + j] - m) / sum * scale;
            if j == y {
                d -= scale;
            }
            side[base + j] = d;
        }
        loss += -(logits[base + y] - m - log(sum));
    }
    partial_loss[t] = loss;
    partial_correct[t] = 0.0;
    reduce(t);
    if t == 0u {
        metrics[0] += partial_loss[0] * scale;
        metrics[1] += 1.0;
    }
}

@compute @workgroup_size(256)
fn eval_metrics(@builtin(local_invocation_index) t: u32) {
    var loss = 0.0;
    var correct = 0.0;
    for (var r = t; r < dims.rows; r += THREADS) {
        let base = r * dims.classes;
        let m = row_max(base);
        let sum = row_sum_exp(base, m);
        let y = labels[r];
        loss += -(logits[base + y] - m - log(sum));
        // argmax, first index on ties (as the CPU).
        var best = 0u;
        for (var j = 1u; j < dims.classes; j++) {
            if logits[base + j] > logits[base + best] {
                best = j;
            }
        }
        if best == y {
            correct += 1.0;
        }
        if dims.positive != NO_CLASS {
            side[r] = exp(logits[base + dims.positive] - m) / sum;
        }
    }
    partial_loss[t] = loss;
    partial_correct[t] = correct;
    reduce(t);
    if t == 0u {
        metrics[dims.slot] = partial_loss[0];
        metrics[dims.slot + 1u] = partial_correct[0];
    }
}

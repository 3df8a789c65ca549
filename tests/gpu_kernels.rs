//! Every WGSL kernel against its CPU reference, on Mesa's lavapipe in CI (any adapter works).
//! No silent skipping: without an adapter these tests fail and say what to install.

mod common;

use lottery_lab::train::gpu::GpuContext;
use lottery_lab::train::gpu::kernels::Matmul;
use lottery_lab::train::gpu::testing::KernelRunner;
use lottery_lab::train::matmul::matmul;
use lottery_lab::train::{Optimizer, cpu, metrics};
use ndarray::{Array1, Array2, Axis};
use rand::Rng as _;

pub fn context() -> GpuContext {
    let ctx = common::gpu_context();
    eprintln!("adapter: {}", ctx.adapter.describe());
    ctx
}

fn random(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = lottery_lab::rng::rng(seed, "kernel-test");
    Array2::from_shape_simple_fn((rows, cols), || rng.random::<f32>() * 2.0 - 1.0)
}

/// max |got − want| / max(1, max |want|)
fn relative_error(got: &Array2<f32>, want: &Array2<f32>) -> f32 {
    assert_eq!(got.dim(), want.dim());
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

fn product(a: ndarray::ArrayView2<f32>, b: ndarray::ArrayView2<f32>) -> Array2<f32> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    matmul(a, b, c.view_mut(), false);
    c
}

/// Shapes on and off the 64-wide tile, LeNet's own among them.
const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (3, 5, 7),
    (60, 784, 300),
    (67, 129, 65),
    (64, 64, 64),
    (130, 70, 1),
    (2, 300, 100),
];

/// Both matrix-product kernels (tiled for GPUs, direct for CPU adapters) on this adapter.
fn runners(ctx: &GpuContext) -> Vec<KernelRunner<'_>> {
    Matmul::ALL
        .into_iter()
        .map(|m| KernelRunner::with_matmul(ctx, m))
        .collect()
}

#[test]
fn linear_forward_matches_the_cpu() {
    let ctx = context();
    for runner in runners(&ctx) {
        let kind = runner.kernels.matmul.name();
        for (i, &(m, k, n)) in SHAPES.iter().enumerate() {
            let (x, w) = (random(m, k, i as u64), random(k, n, 100 + i as u64));
            let b = random(1, n, 200 + i as u64).row(0).to_owned();
            for relu in [false, true] {
                let mut want = product(x.view(), w.view()) + &b;
                if relu {
                    want.mapv_inplace(|v| v.max(0.0));
                }
                let got = runner.forward(&x, &w, &b, relu).unwrap();
                let err = relative_error(&got, &want);
                assert!(
                    err <= 1e-4,
                    "{kind} forward {m}x{k}x{n} relu={relu}: relative error {err}"
                );
            }
        }
    }
}

#[test]
fn linear_input_and_weight_gradients_match_the_cpu() {
    let ctx = context();
    for runner in runners(&ctx) {
        let kind = runner.kernels.matmul.name();
        for (i, &(rows, fan_in, fan_out)) in SHAPES.iter().enumerate() {
            let delta = random(rows, fan_out, i as u64);
            let w = random(fan_in, fan_out, 10 + i as u64);
            let act = random(rows, fan_in, 20 + i as u64).mapv(|v| v.max(0.0));
            let want = product(delta.view(), w.t()) * act.mapv(|a| if a > 0.0 { 1.0 } else { 0.0 });
            let got = runner.input_grad(&delta, &w, &act).unwrap();
            assert!(
                relative_error(&got, &want) <= 1e-4,
                "{kind} input_grad {rows}x{fan_in}x{fan_out}"
            );

            let x = random(rows, fan_in, 30 + i as u64);
            let want = product(x.t(), delta.view());
            let got = runner.weight_grad(&x, &delta).unwrap();
            let err = relative_error(&got, &want);
            assert!(
                err <= 1e-4,
                "{kind} weight_grad {rows}x{fan_in}x{fan_out}: {err}"
            );

            let want: Array1<f32> = delta.sum_axis(Axis(0));
            let got = runner.bias_grad(&delta).unwrap();
            let err = relative_error(&got.insert_axis(Axis(0)), &want.insert_axis(Axis(0)));
            assert!(err <= 1e-4, "{kind} bias_grad {rows}x{fan_out}: {err}");
        }
    }
}

#[test]
fn softmax_cross_entropy_kernels_match_the_cpu() {
    let ctx = context();
    let runner = KernelRunner::new(&ctx);
    for (rows, classes) in [(1, 2), (60, 10), (300, 10), (1000, 2), (7, 3)] {
        let logits = random(rows, classes, rows as u64) * 6.0;
        let labels: Vec<u32> = (0..rows).map(|r| ((r * 7 + 3) % classes) as u32).collect();
        let scale = 1.0 / rows as f32;
        let mut want = Array2::zeros((rows, classes));
        let mut probs = vec![0.0; classes];
        let (mut loss_sum, mut correct, mut scores) = (0.0f64, 0.0f32, Vec::new());
        for r in 0..rows {
            let z = logits.row(r).to_vec();
            let y = labels[r] as usize;
            loss_sum += f64::from(metrics::softmax_cross_entropy(&z, y, &mut probs));
            for j in 0..classes {
                want[(r, j)] = probs[j] * scale - if j == y { scale } else { 0.0 };
            }
            if metrics::argmax(&z) == y {
                correct += 1.0;
            }
            scores.push(probs[classes - 1]);
        }
        let (delta, metrics_buf) = runner.train_loss(&logits, &labels).unwrap();
        assert!(
            relative_error(&delta, &want) <= 1e-4,
            "train delta {rows}x{classes}"
        );
        let mean = (loss_sum / rows as f64) as f32;
        assert!(
            (metrics_buf[0] - mean).abs() <= 1e-4 * mean.max(1.0),
            "train loss {} vs {mean}",
            metrics_buf[0]
        );
        assert_eq!(metrics_buf[1], 1.0, "one step counted");

        let (gpu_loss, gpu_correct, gpu_scores) = runner
            .eval_metrics(&logits, &labels, Some(classes as u32 - 1))
            .unwrap();
        assert!(
            (f64::from(gpu_loss) - loss_sum).abs() <= 1e-4 * loss_sum.max(1.0),
            "eval loss {gpu_loss} vs {loss_sum}"
        );
        assert_eq!(gpu_correct, correct, "accuracy count");
        for (g, c) in gpu_scores.iter().zip(&scores) {
            assert!((g - c).abs() <= 1e-5, "score {g} vs {c}");
        }
    }
}

#[test]
fn batch_gather_picks_the_ordered_rows() {
    let ctx = context();
    let runner = KernelRunner::new(&ctx);
    let features = random(50, 37, 1);
    let labels: Vec<u32> = (0..50).map(|i| (i % 10) as u32).collect();
    let indices: Vec<u32> = (0..50u32).rev().collect();
    let (x, y) = runner.gather(&features, &labels, &indices, 20, 12).unwrap();
    for row in 0..12 {
        let source = indices[20 + row] as usize;
        assert_eq!(x.row(row), features.row(source), "row {row}");
        assert_eq!(y[row], labels[source]);
    }
}

#[test]
fn optimizer_updates_match_the_cpu_and_keep_pruned_positions_at_zero() {
    let ctx = context();
    let runner = KernelRunner::new(&ctx);
    for len in [1usize, 1000, 70_001] {
        let draw = |seed| random(1, len, seed).row(0).to_vec();
        let (w, g, m0) = (draw(1), draw(2), draw(3));
        let v0: Vec<f32> = draw(4).iter().map(|v| v.abs()).collect();
        let mask: Vec<f32> = (0..len)
            .map(|i| if i % 3 == 0 { 0.0 } else { 1.0 })
            .collect();
        for optimizer in [Optimizer::adam(1e-2), Optimizer::sgd(0.1, 0.9)] {
            let (mut cw, mut cm, mut cv) = (w.clone(), m0.clone(), v0.clone());
            match optimizer {
                Optimizer::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => {
                    let step = cpu::AdamStep::new(lr, beta1, beta2, eps, 7);
                    cpu::adam_update(&step, &mut cw, &g, &mut cm, &mut cv, Some(&mask));
                }
                Optimizer::Sgd { lr, momentum } => {
                    cpu::sgd_update(lr, momentum, &mut cw, &g, &mut cm, Some(&mask))
                }
            }
            let (gw, gm, gv) = runner
                .update(optimizer, 7, &w, &g, &m0, &v0, &mask)
                .unwrap();
            let close = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .all(|(x, y)| (x - y).abs() <= 1e-4 * y.abs().max(1.0))
            };
            assert!(
                close(&gw, &cw) && close(&gm, &cm),
                "{optimizer:?} len {len}"
            );
            if matches!(optimizer, Optimizer::Adam { .. }) {
                assert!(close(&gv, &cv), "second moment, len {len}");
            }
            let adam = matches!(optimizer, Optimizer::Adam { .. });
            for (i, _) in mask.iter().enumerate().filter(|(_, k)| **k == 0.0) {
                assert_eq!((gw[i], gm[i]), (0.0, 0.0), "pruned position {i} moved");
                if adam {
                    assert_eq!(gv[i], 0.0, "pruned position {i} kept a second moment");
                }
            }
        }
    }
}

/// Conv layers of odd shapes: stride 2, padding, 1 channel, 1-D, and channels that are not a
/// multiple of the 64-wide workgroup (70 output channels).
fn conv_cases() -> Vec<lottery_lab::model::ConvGeometry> {
    use lottery_lab::model::{NetSpec, PlannedOp, Shape, parse_layers};
    let image = |height, width, channels| Shape {
        height,
        width,
        channels,
    };
    [
        (image(7, 6, 1), "conv3k3"),
        (image(9, 9, 2), "conv5k3s2p1"),
        (image(6, 8, 3), "conv70k2s2"),
        (image(5, 5, 65), "conv3k3p1"),
        (image(1, 17, 1), "conv4k5s2p2"),
        (image(1, 40, 1), "conv25k5s2p1"),
    ]
    .into_iter()
    .map(|(input, token)| {
        let spec = NetSpec::new(input, &parse_layers(token).unwrap(), 2);
        match spec.plan()[0].op {
            PlannedOp::Conv(g) => g,
            _ => unreachable!("a conv layer"),
        }
    })
    .collect()
}

#[test]
fn conv_kernels_match_the_cpu_reference() {
    use lottery_lab::model::ops::conv;
    let ctx = context();
    let runner = KernelRunner::new(&ctx);
    for (i, g) in conv_cases().iter().enumerate() {
        let seed = 1_000 + 10 * i as u64;
        let rows = 3;
        let x = random(rows, g.input.len(), seed);
        let w = random(g.taps(), g.output.channels, seed + 1);
        let b = random(1, g.output.channels, seed + 2).row(0).to_owned();
        let mut scratch = conv::ConvScratch::default();
        for relu in [false, true] {
            let mut want = Array2::zeros((rows, g.output.len()));
            conv::forward(
                x.view(),
                w.view(),
                b.view(),
                g,
                relu,
                &mut want,
                &mut scratch,
            );
            let got = runner.conv_forward(&x, &w, &b, g, relu).unwrap();
            let err = relative_error(&got, &want);
            assert!(err < 1e-5, "conv forward {g:?} relu {relu}: {err}");
        }
        // Gradients: δ of the outputs; the input gradient with and without the ReLU below.
        let delta = random(rows, g.output.len(), seed + 3);
        let (mut dw, mut db) = (Array2::zeros(w.dim()), Array1::zeros(b.len()));
        let mut dx = Array2::zeros(x.dim());
        conv::forward(
            x.view(),
            w.view(),
            b.view(),
            g,
            false,
            &mut Array2::zeros((rows, g.output.len())),
            &mut scratch,
        );
        conv::backward(
            x.view(),
            w.view(),
            delta.view(),
            g,
            &mut dw,
            &mut db,
            Some(dx.view_mut()),
            &mut scratch,
        );
        let (got_dw, got_db) = runner.conv_param_grads(&x, &delta, g).unwrap();
        assert!(
            relative_error(&got_dw, &dw) < 1e-5,
            "conv weight grad {g:?}"
        );
        let db2 = db.clone().insert_axis(Axis(0));
        assert!(
            relative_error(&got_db.insert_axis(Axis(0)), &db2) < 1e-5,
            "conv bias grad {g:?}"
        );
        let got_dx = runner.conv_input_grad(&delta, &w, None, g).unwrap();
        assert!(relative_error(&got_dx, &dx) < 1e-5, "conv input grad {g:?}");
        // With the layer below's ReLU: zero where its activation is not positive.
        let below = x.mapv(|v| v.max(0.0));
        let got_masked = runner.conv_input_grad(&delta, &w, Some(&below), g).unwrap();
        let want_masked = ndarray::Zip::from(&dx)
            .and(&below)
            .map_collect(|&d, &a| if a > 0.0 { d } else { 0.0 });
        assert!(
            relative_error(&got_masked, &want_masked) < 1e-5,
            "conv input grad, ReLU {g:?}"
        );
    }
}

#[test]
fn pool_kernels_match_the_cpu_reference() {
    use lottery_lab::model::ops::pool;
    use lottery_lab::model::{NetSpec, PlannedOp, Shape, parse_layers};
    let ctx = context();
    let runner = KernelRunner::new(&ctx);
    let image = |height, width, channels| Shape {
        height,
        width,
        channels,
    };
    // Even, ragged (a dropped edge), 1-D, many channels.
    for (i, (input, token)) in [
        (image(4, 4, 1), "pool2"),
        (image(7, 5, 3), "pool2"),
        (image(9, 9, 2), "pool3"),
        (image(1, 13, 4), "pool2"),
        (image(6, 6, 70), "pool2"),
    ]
    .into_iter()
    .enumerate()
    {
        let spec = NetSpec::new(input, &parse_layers(token).unwrap(), 2);
        let PlannedOp::MaxPool(g) = spec.plan()[0].op else {
            unreachable!("a pool layer")
        };
        let rows = 3;
        // Post-ReLU inputs (zeros among them, as a pool after a conv sees) with ties.
        let x = random(rows, input.len(), 2_000 + i as u64).mapv(|v| (v * 4.0).round().max(0.0));
        let (mut want, mut winners) = (Array2::zeros((rows, g.output.len())), Vec::new());
        pool::forward(x.view(), &g, &mut want, &mut winners);
        let got = runner.pool_forward(&x, &g).unwrap();
        assert_eq!(got, want, "pool forward {g:?}");
        let delta = random(rows, g.output.len(), 2_100 + i as u64);
        let mut dx = Array2::zeros(x.dim());
        pool::backward(delta.view(), &g, &winners, &mut dx.view_mut());
        assert_eq!(
            runner.pool_backward(&delta, &x, &g, false).unwrap(),
            dx,
            "pool backward {g:?}"
        );
        let masked = ndarray::Zip::from(&dx)
            .and(&x)
            .map_collect(|&d, &a| if a > 0.0 { d } else { 0.0 });
        assert_eq!(
            runner.pool_backward(&delta, &x, &g, true).unwrap(),
            masked,
            "pool backward, ReLU {g:?}"
        );
    }
}

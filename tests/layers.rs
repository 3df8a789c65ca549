//! Every layer kind on the CPU engine: gradients against finite differences of an
//! independent f64 reference (plain loops over the definitions), per kind and for whole conv
//! nets, and the gradient job.

mod common;

use common::reference::reference_loss;

use std::sync::Arc;

use lottery_lab::data::{DataShape, DataSplits};
use lottery_lab::model::{Init, Mask, NetSpec, Network, Shape, parse_layers};
use lottery_lab::rng::rng;
use lottery_lab::train::{CpuEngine, Engine, Job, JobResult, Optimizer, TrainConfig};

/// Random data of the given sample shape, with a learnable labelling.
fn shaped_splits(shape: Shape, classes: usize, seed: u64) -> DataSplits {
    let mut data = common::random_splits(48, shape.len(), classes, seed);
    data.shape = if shape.height == 1 {
        DataShape::Signal {
            length: shape.width,
        }
    } else {
        DataShape::Image {
            width: shape.width,
            height: shape.height,
        }
    };
    data
}

/// The CPU engine's gradient of every weight and bias against central differences of the
/// f64 reference; returns how many were checked.
fn check_gradients(shape: Shape, layers: &str, seed: u64) -> usize {
    let data = Arc::new(shaped_splits(shape, 3, seed));
    let spec = NetSpec::new(shape, &parse_layers(layers).unwrap(), 3);
    spec.check().unwrap();
    let mut net = Network::init(&spec, Init::KaimingNormal, &mut rng(seed, "init"));
    for layer in &mut net.layers {
        for (i, b) in layer.bias.iter_mut().enumerate() {
            *b = 0.05 * (i as f32 - 1.5);
        }
    }
    let mut engine = CpuEngine::new(data.clone());
    let cfg = TrainConfig {
        optimizer: Optimizer::sgd(0.1, 0.0),
        batch_size: 8,
        order_seed: 1,
    };
    engine.load(&net, &Mask::dense(&spec), &cfg).unwrap();
    let rows: Vec<usize> = (0..8).collect();
    let grads = engine.gradients(&rows).unwrap();

    let h = 1e-4f32;
    let difference = |nudge: &dyn Fn(&mut Network, f32) -> f32| {
        let (mut plus, mut minus) = (net.clone(), net.clone());
        let taken = nudge(&mut plus, h) - nudge(&mut minus, -h);
        (reference_loss(&plus, &data.train, &rows) - reference_loss(&minus, &data.train, &rows))
            / f64::from(taken)
    };
    // Max-pooling and ReLU have kinks: a nudge that crosses one moves the difference, so a
    // few positions may disagree; nearly all must agree closely.
    let close = |fd: f64, g: f64| (fd - g).abs() <= 2e-4 + 2e-3 * g.abs();
    let (mut checked, mut off) = (0, Vec::new());
    for (l, grad) in grads.iter().enumerate() {
        for ((i, o), &g) in grad.weight.indexed_iter() {
            let fd = difference(&|n: &mut Network, d: f32| {
                n.layers[l].weight[(i, o)] += d;
                n.layers[l].weight[(i, o)]
            });
            if !close(fd, f64::from(g)) {
                off.push(format!("layer {l} weight ({i},{o}): fd {fd:.6} vs {g:.6}"));
            }
            checked += 1;
        }
        for (o, &g) in grad.bias.iter().enumerate() {
            let fd = difference(&|n: &mut Network, d: f32| {
                n.layers[l].bias[o] += d;
                n.layers[l].bias[o]
            });
            if !close(fd, f64::from(g)) {
                off.push(format!("layer {l} bias {o}: fd {fd:.6} vs {g:.6}"));
            }
            checked += 1;
        }
    }
    assert!(
        off.len() * 200 <= checked,
        "{layers} on {shape:?}: {} of {checked} gradients off: {:?}",
        off.len(),
        &off[..off.len().min(8)]
    );
    let biases: usize = net.layers.iter().map(|l| l.bias.len()).sum();
    assert_eq!(checked, spec.weight_count() + biases);
    checked
}

fn image(height: usize, width: usize, channels: usize) -> Shape {
    Shape {
        height,
        width,
        channels,
    }
}

#[test]
fn conv_2d_gradients_match_finite_differences() {
    check_gradients(image(6, 6, 1), "conv3k3", 1);
    // Stride 2 with padding, two input channels.
    check_gradients(image(7, 5, 2), "conv4k3s2p1", 2);
}

#[test]
fn conv_1d_gradients_match_finite_differences() {
    check_gradients(image(1, 13, 1), "conv3k5s2p2", 3);
    check_gradients(image(1, 9, 2), "conv5k3", 4);
}

#[test]
fn pooling_and_flatten_gradients_match_finite_differences() {
    check_gradients(image(6, 6, 1), "conv2k3p1,pool2,flatten", 5);
    check_gradients(image(1, 12, 1), "conv3k3,pool2", 6);
}

#[test]
fn whole_conv_nets_match_finite_differences() {
    // A small Conv-2 shape (two 3×3 convs, a pool, a dense layer) and an MNIST-1D-style CNN.
    check_gradients(image(8, 8, 1), "conv3k3p1,conv4k3,pool2,6", 7);
    check_gradients(image(1, 20, 1), "conv5k5s2p1,conv5k3s2p1,conv5k3s2p1", 8);
}

#[test]
fn the_engine_forward_pass_is_the_reference_forward_pass() {
    let shape = image(9, 9, 1);
    let data = shaped_splits(shape, 4, 9);
    let spec = NetSpec::new(shape, &parse_layers("conv4k3s2p1,pool2,8").unwrap(), 4);
    let net = Network::init(&spec, Init::GlorotNormal, &mut rng(9, "init"));
    let rows: Vec<usize> = (0..data.train.len()).collect();
    let expected = reference_loss(&net, &data.train, &rows);
    let got = lottery_lab::model::infer::evaluate(&net, &data.train, None).loss;
    assert!(
        (f64::from(got) - expected).abs() < 1e-5,
        "{got} vs {expected}"
    );
}

#[test]
fn the_gradient_job_answers_what_gradients_returns_and_updates_nothing() {
    let shape = image(6, 6, 1);
    let data = Arc::new(shaped_splits(shape, 3, 10));
    let spec = NetSpec::new(shape, &parse_layers("conv2k3,5").unwrap(), 3);
    let net = Network::init(&spec, Init::KaimingNormal, &mut rng(10, "init"));
    let cfg = TrainConfig {
        optimizer: Optimizer::adam(1e-2),
        batch_size: 8,
        order_seed: 3,
    };
    let mut engine = CpuEngine::new(data.clone());
    engine.load(&net, &Mask::dense(&spec), &cfg).unwrap();
    engine.submit(Job::Gradients { start: 4, len: 12 }).unwrap();
    let Some(JobResult::Gradients(from_job)) = engine.poll().unwrap() else {
        panic!("the gradient job answers with gradients");
    };
    let rows: Vec<usize> = (4..16).collect();
    assert_eq!(from_job, engine.gradients(&rows).unwrap());
    assert!(from_job.iter().any(|g| g.weight.iter().any(|&v| v != 0.0)));
    assert_eq!(engine.network().unwrap(), &net, "no weight moved");
    // Rows past the training set are refused, not a panic.
    engine
        .submit(Job::Gradients { start: 40, len: 20 })
        .unwrap();
    assert!(engine.poll().is_err());
    // Training after a gradient job uses the configured batch again.
    engine
        .submit(Job::Train {
            steps: 3,
            evaluate: false,
        })
        .unwrap();
    assert!(matches!(
        engine.poll().unwrap(),
        Some(JobResult::Trained { iteration: 3 })
    ));
}

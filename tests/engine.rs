//! The CPU engine: gradients against finite differences, masks that hold, determinism.

mod common;

use std::sync::Arc;

use lottery_lab::model::{Init, Mask, NetSpec, Network};
use lottery_lab::prune::{self, PruneRates, Scope};
use lottery_lab::rng::rng;
use lottery_lab::train::{CpuEngine, Engine, Job, JobResult, Optimizer, TrainConfig};

/// Mean softmax cross-entropy of `net` on `rows` of the training set, in f64, written
/// independently of the engine (plain loops), so the check compares two implementations.
fn reference_loss(net: &Network, data: &lottery_lab::data::Dataset, rows: &[usize]) -> f64 {
    let mut total = 0.0;
    for &r in rows {
        let mut act: Vec<f64> = data.features.row(r).iter().map(|&v| f64::from(v)).collect();
        for (l, layer) in net.layers.iter().enumerate() {
            let mut next = vec![0.0; layer.weight.ncols()];
            for (o, z) in next.iter_mut().enumerate() {
                *z = f64::from(layer.bias[o]);
                for (i, &a) in act.iter().enumerate() {
                    *z += a * f64::from(layer.weight[(i, o)]);
                }
                if l + 1 < net.layers.len() {
                    *z = z.max(0.0);
                }
            }
            act = next;
        }
        let max = act.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_sum = act.iter().map(|z| (z - max).exp()).sum::<f64>().ln() + max;
        total += log_sum - act[data.labels[r] as usize];
    }
    total / rows.len() as f64
}

#[test]
fn gradients_match_finite_differences_for_every_layer() {
    let data = Arc::new(common::random_splits(64, 7, 4, 1));
    let spec = NetSpec::mlp(7, &[6, 5], 4);
    let mut net = Network::init(&spec, Init::KaimingNormal, &mut rng(1, "init"));
    // Non-zero biases so their gradients are exercised away from the ReLU kinks' symmetry.
    for layer in &mut net.layers {
        layer
            .bias
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = 0.05 * (i as f32 - 2.0));
    }
    let mut engine = CpuEngine::new(data.clone());
    let cfg = TrainConfig {
        optimizer: Optimizer::sgd(0.1, 0.0),
        batch_size: 16,
        order_seed: 1,
    };
    engine.load(&net, &Mask::dense(&spec), &cfg).unwrap();
    let rows: Vec<usize> = (0..16).collect();
    let grads = engine.gradients(&rows).unwrap();

    // A small step keeps ReLU kinks out of the difference; the f64 reference and the step
    // actually taken in f32 (not the nominal one) keep it precise.
    let h = 1e-5f32;
    let central_difference = |nudge: &dyn Fn(&mut Network, f32) -> f32| {
        let (mut plus, mut minus) = (net.clone(), net.clone());
        let taken = nudge(&mut plus, h) - nudge(&mut minus, -h);
        (reference_loss(&plus, &data.train, &rows) - reference_loss(&minus, &data.train, &rows))
            / f64::from(taken)
    };
    let close = |fd: f64, analytic: f64| (fd - analytic).abs() <= 1e-5 + 1e-3 * analytic.abs();
    let mut checked = 0;
    for (l, (grad_w, grad_b)) in grads.iter().map(|g| (&g.weight, &g.bias)).enumerate() {
        for ((i, o), &g) in grad_w.indexed_iter() {
            let fd = central_difference(&|n: &mut Network, d: f32| {
                n.layers[l].weight[(i, o)] += d;
                n.layers[l].weight[(i, o)]
            });
            assert!(
                close(fd, f64::from(g)),
                "layer {l} weight ({i},{o}): finite difference {fd:.7} vs analytic {g:.7}"
            );
            checked += 1;
        }
        for (o, &g) in grad_b.iter().enumerate() {
            let fd = central_difference(&|n: &mut Network, d: f32| {
                n.layers[l].bias[o] += d;
                n.layers[l].bias[o]
            });
            assert!(
                close(fd, f64::from(g)),
                "layer {l} bias {o}: finite difference {fd:.7} vs analytic {g:.7}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, spec.weight_count() + 6 + 5 + 4);
}

#[test]
fn engine_loss_matches_the_reference_loss() {
    let data = Arc::new(common::random_splits(50, 9, 3, 2));
    let spec = NetSpec::mlp(9, &[8], 3);
    let net = Network::init(&spec, Init::GlorotNormal, &mut rng(2, "init"));
    let rows: Vec<usize> = (0..data.train.len()).collect();
    let expected = reference_loss(&net, &data.train, &rows);
    let got = lottery_lab::model::infer::evaluate(&net, &data.train, None).loss;
    assert!(
        (f64::from(got) - expected).abs() < 1e-5,
        "{got} vs {expected}"
    );
}

fn train_masked(optimizer: Optimizer, steps: usize) -> (Network, Mask) {
    let data = Arc::new(common::random_splits(300, 12, 3, 3));
    let spec = NetSpec::mlp(12, &[20, 10], 3);
    let net = Network::init(&spec, Init::KaimingNormal, &mut rng(3, "init"));
    let rates = PruneRates {
        scope: Scope::Layerwise,
        rate: 0.6,
        output_rate: 0.3,
        conv_rate: None,
    };
    let mask = prune::random_prune(
        &Mask::dense(&spec),
        &rates.target_after(&spec, 1.0),
        &mut rng(3, "mask"),
    );
    let mut engine = CpuEngine::new(data);
    let cfg = TrainConfig {
        optimizer,
        batch_size: 30,
        order_seed: 3,
    };
    // The weights are loaded *unmasked*: the engine must zero them itself.
    engine.load(&net, &mask, &cfg).unwrap();
    engine
        .submit(Job::Train {
            steps,
            evaluate: false,
        })
        .unwrap();
    engine.poll().unwrap().unwrap();
    engine.submit(Job::ReadWeights).unwrap();
    let Some(JobResult::Weights(trained)) = engine.poll().unwrap() else {
        panic!("weights")
    };
    (trained, mask)
}

#[test]
fn pruned_weights_stay_exactly_zero_under_adam_and_momentum() {
    for optimizer in [Optimizer::adam(1e-2), Optimizer::sgd(0.05, 0.9)] {
        let (trained, mask) = train_masked(optimizer, 400);
        let mut pruned = 0;
        let mut moved = 0;
        for (layer, keep) in trained.layers.iter().zip(&mask.layers) {
            for (&w, &k) in layer.weight.iter().zip(keep) {
                if k {
                    moved += usize::from(w != 0.0);
                } else {
                    assert_eq!(w, 0.0, "{optimizer:?}: a pruned weight is {w}");
                    pruned += 1;
                }
            }
        }
        assert!(
            pruned > 100 && moved > 100,
            "{optimizer:?}: {pruned} pruned, {moved} kept non-zero"
        );
    }
}

#[test]
fn training_is_deterministic_and_learns() {
    let (a, _) = train_masked(Optimizer::adam(1e-2), 200);
    let (b, _) = train_masked(Optimizer::adam(1e-2), 200);
    assert_eq!(a, b, "same seed, same weights bit for bit");

    let data = Arc::new(common::random_splits(300, 12, 3, 3));
    let before = lottery_lab::model::infer::evaluate(
        &Network::init(&a.spec, Init::KaimingNormal, &mut rng(3, "init")),
        &data.test,
        None,
    );
    let after = lottery_lab::model::infer::evaluate(&a, &data.test, None);
    assert!(
        after.loss < 0.7 * before.loss,
        "loss {} -> {}",
        before.loss,
        after.loss
    );
    assert!(after.accuracy > 0.8, "accuracy {}", after.accuracy);
}

#[test]
fn engine_rejects_mismatched_networks_and_batches() {
    let data = Arc::new(common::random_splits(40, 5, 2, 4));
    let mut engine = CpuEngine::new(data);
    let wrong = NetSpec::mlp(6, &[4], 2);
    let net = Network::init(&wrong, Init::GlorotNormal, &mut rng(1, "init"));
    let cfg = TrainConfig {
        optimizer: Optimizer::adam(1e-3),
        batch_size: 8,
        order_seed: 1,
    };
    assert!(engine.load(&net, &Mask::dense(&wrong), &cfg).is_err());
    let spec = NetSpec::mlp(5, &[4], 2);
    let net = Network::init(&spec, Init::GlorotNormal, &mut rng(1, "init"));
    let huge = TrainConfig {
        batch_size: 1_000,
        ..cfg
    };
    assert!(engine.load(&net, &Mask::dense(&spec), &huge).is_err());
    assert!(
        engine.submit(Job::ReadWeights).is_err(),
        "nothing loaded yet"
    );
}

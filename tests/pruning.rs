//! Pruning at initialisation: SNIP, GraSP and SynFlow against direct reference computations
//! (finite differences of the independent f64 reference network), through the experiment as
//! a user runs them; layer collapse; the methods on real digits.

mod common;

use std::sync::Arc;

use common::reference::{reference_logits, reference_loss};
use lottery_lab::data::DataSplits;
use lottery_lab::experiment::{Controls, Experiment, ExperimentConfig, RunKind, Schedule};
use lottery_lab::model::{Mask, Network, dense_layers};
use lottery_lab::prune::{self, PruneMethod, PruneRates, Scope, Scores};
use lottery_lab::train::{CpuEngine, Engine, Optimizer, TrainConfig};

const ROWS: usize = 16;

fn tiny_config(method: PruneMethod) -> ExperimentConfig {
    ExperimentConfig {
        hidden: dense_layers(&[8, 5]),
        optimizer: Optimizer::adam(1e-2),
        batch_size: ROWS,
        iterations: 20,
        eval_every: 10,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.5,
            output_rate: 0.5,
            conv_rate: None,
        },
        method,
        schedule: Schedule::Iterative { rounds: 3 },
        controls: Controls::NONE,
        seed: 3,
        ..ExperimentConfig::lenet_mnist()
    }
}

fn tiny_data() -> Arc<DataSplits> {
    Arc::new(common::random_splits(64, 6, 3, 11))
}

/// The experiment's mask for each round (0 = dense), run to the end on the CPU engine.
fn masks_of(method: PruneMethod, data: &Arc<DataSplits>) -> (Network, Vec<Mask>) {
    let engine = Box::new(CpuEngine::new(data.clone()));
    let mut experiment = Experiment::new(tiny_config(method), data.clone(), engine).unwrap();
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    assert!(
        matches!(record.status, lottery_lab::experiment::Status::Finished),
        "{:?}",
        record.status
    );
    let masks = record
        .rounds
        .iter()
        .map(|r| r.run(RunKind::Ticket).unwrap().mask.clone())
        .collect();
    (record.theta_init.clone().unwrap(), masks)
}

/// The reference's keep set: the `keep` highest scores, all layers together.
fn reference_keep(scores: &[Vec<Vec<f64>>], keep: usize) -> Vec<(usize, usize, usize)> {
    let mut all: Vec<(f64, (usize, usize, usize))> = Vec::new();
    for (l, layer) in scores.iter().enumerate() {
        for (i, row) in layer.iter().enumerate() {
            for (j, &s) in row.iter().enumerate() {
                all.push((s, (l, i, j)));
            }
        }
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut kept: Vec<_> = all[..keep].iter().map(|x| x.1).collect();
    kept.sort();
    kept
}

fn kept_positions(mask: &Mask) -> Vec<(usize, usize, usize)> {
    let mut kept = Vec::new();
    for (l, layer) in mask.layers.iter().enumerate() {
        for ((i, j), &k) in layer.indexed_iter() {
            if k {
                kept.push((l, i, j));
            }
        }
    }
    kept
}

/// `f` of the network with weight (l, i, j) moved by ±h, differenced.
fn central(
    net: &Network,
    l: usize,
    i: usize,
    j: usize,
    h: f32,
    f: impl Fn(&Network) -> f64,
) -> f64 {
    let mut up = net.clone();
    up.layers[l].weight[(i, j)] += h;
    let mut down = net.clone();
    down.layers[l].weight[(i, j)] -= h;
    (f(&up) - f(&down))
        / (f64::from(up.layers[l].weight[(i, j)]) - f64::from(down.layers[l].weight[(i, j)]))
}

fn for_each_weight(
    net: &Network,
    mut f: impl FnMut(usize, usize, usize) -> f64,
) -> Vec<Vec<Vec<f64>>> {
    net.layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let (rows, cols) = layer.weight.dim();
            (0..rows)
                .map(|i| (0..cols).map(|j| f(l, i, j)).collect())
                .collect()
        })
        .collect()
}

fn assert_scores_close(ours: &Scores, reference: &[Vec<Vec<f64>>], relative: f64, what: &str) {
    let scale = reference
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    for (l, (a, b)) in ours.iter().zip(reference).enumerate() {
        for ((i, j), &v) in a.indexed_iter() {
            let r = b[i][j];
            assert!(
                (f64::from(v) - r).abs() <= relative * scale,
                "{what}: layer {l} weight ({i}, {j}): ours {v}, reference {r} (largest {scale})"
            );
        }
    }
}

fn rows() -> Vec<usize> {
    (0..ROWS).collect()
}

#[test]
fn snip_scores_and_masks_equal_a_direct_reference_computation() {
    let data = tiny_data();
    let (theta, masks) = masks_of(PruneMethod::Snip, &data);
    let reference = for_each_weight(&theta, |l, i, j| {
        let g = central(&theta, l, i, j, 1e-4, |n| {
            reference_loss(n, &data.train, &rows())
        });
        (g * f64::from(theta.layers[l].weight[(i, j)])).abs()
    });
    let mut engine = CpuEngine::new(data.clone());
    let cfg = TrainConfig {
        optimizer: Optimizer::adam(1e-2),
        batch_size: ROWS,
        order_seed: 3,
    };
    engine
        .load(&theta, &Mask::dense(&theta.spec), &cfg)
        .unwrap();
    let ours = prune::snip_scores(&theta, &engine.gradients(&rows()).unwrap());
    assert_scores_close(&ours, &reference, 1e-3, "SNIP");
    for (round, mask) in masks.iter().enumerate().skip(1) {
        assert_eq!(
            kept_positions(mask),
            reference_keep(&reference, mask.kept()),
            "round {round}'s SNIP mask"
        );
    }
}

#[test]
fn grasp_scores_and_masks_equal_a_direct_reference_computation() {
    let data = tiny_data();
    let (theta, masks) = masks_of(PruneMethod::Grasp, &data);
    let loss = |n: &Network| reference_loss(n, &data.train, &rows());
    // The reference gradient g (weights and biases), then Hg as the mixed second derivative
    // d/dt dL/dθ_i (θ + t g) at t = 0, all in f64 finite differences.
    let gradient: Vec<lottery_lab::model::Layer> = theta
        .layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let mut g = layer.clone();
            for ((i, j), v) in g.weight.indexed_iter_mut() {
                *v = central(&theta, l, i, j, 1e-4, loss) as f32;
            }
            for (o, v) in g.bias.iter_mut().enumerate() {
                let (mut up, mut down) = (theta.clone(), theta.clone());
                up.layers[l].bias[o] += 1e-3;
                down.layers[l].bias[o] -= 1e-3;
                *v = ((loss(&up) - loss(&down)) / 2e-3) as f32;
            }
            g
        })
        .collect();
    // θ ⊙ Hg with Hg the difference of f64 gradients at θ ± t·g.
    let scores_at = |t: f32| {
        let plus = prune::stepped(&theta, &gradient, t);
        let minus = prune::stepped(&theta, &gradient, -t);
        for_each_weight(&theta, |l, i, j| {
            let hg = (central(&plus, l, i, j, 1e-5, loss) - central(&minus, l, i, j, 1e-5, loss))
                / (2.0 * f64::from(t));
            f64::from(theta.layers[l].weight[(i, j)]) * hg
        })
    };
    let t = prune::step_size(&theta, &gradient);
    let reference = scores_at(t);
    // The difference is a Hessian-gradient product, not a secant: a step four times smaller
    // gives the same scores (ReLU nets are piecewise linear, so H is the softmax's curvature
    // carried through the layers, and few units change state within the step).
    let finer = scores_at(t / 4.0);
    let norm = |s: &[Vec<Vec<f64>>]| {
        s.iter()
            .flatten()
            .flatten()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt()
    };
    let gap: Vec<Vec<Vec<f64>>> = reference
        .iter()
        .zip(&finer)
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p - q).collect())
                .collect()
        })
        .collect();
    assert!(
        norm(&gap) < 0.02 * norm(&reference),
        "Hg at ε and ε/4 differ by {} of {}",
        norm(&gap),
        norm(&reference)
    );
    // Ours, as the experiment computes them: two gradient jobs at θ₀ ± εg.
    let mut engine = CpuEngine::new(data.clone());
    let cfg = TrainConfig {
        optimizer: Optimizer::adam(1e-2),
        batch_size: ROWS,
        order_seed: 3,
    };
    let mut grad_at = |net: &Network| {
        engine.load(net, &Mask::dense(&net.spec), &cfg).unwrap();
        engine.gradients(&rows()).unwrap()
    };
    let g = grad_at(&theta);
    let step = prune::step_size(&theta, &g);
    let ours = prune::grasp_scores(
        &theta,
        &grad_at(&prune::stepped(&theta, &g, step)),
        &grad_at(&prune::stepped(&theta, &g, -step)),
        step,
    );
    assert_scores_close(&ours, &reference, 2e-2, "GraSP");
    for (round, mask) in masks.iter().enumerate().skip(1) {
        assert_eq!(
            kept_positions(mask),
            reference_keep(&reference, mask.kept()),
            "round {round}'s GraSP mask"
        );
    }
}

/// R = the sum of the outputs of |θ ⊙ m| on an all-ones input, in f64.
fn synflow_objective(theta: &Network, mask: &Mask) -> impl Fn(&Network) -> f64 {
    let ones = vec![1.0f32; theta.spec.input];
    let mask = mask.clone();
    move |n: &Network| {
        let mut abs = n.masked(&mask);
        for layer in &mut abs.layers {
            layer.weight.mapv_inplace(f32::abs);
            layer.bias.mapv_inplace(f32::abs);
        }
        reference_logits(&abs, &ones).iter().sum()
    }
}

#[test]
fn synflow_scores_and_its_iterated_masks_equal_a_direct_reference_computation() {
    let data = tiny_data();
    let (theta, masks) = masks_of(PruneMethod::Synflow, &data);
    let reference_scores = |mask: &Mask| {
        let r = synflow_objective(&theta, mask);
        for_each_weight(&theta, |l, i, j| {
            if !mask.layers[l][(i, j)] {
                return 0.0;
            }
            // |θ| ⊙ ∂R/∂|θ|; R is affine in each weight while every unit is active.
            let w = f64::from(theta.layers[l].weight[(i, j)]);
            (w * central(&theta, l, i, j, 1e-3, &r)).abs()
        })
    };
    let dense = Mask::dense(&theta.spec);
    let ours = prune::synflow_scores(&theta, &dense);
    assert_scores_close(&ours, &reference_scores(&dense), 1e-4, "SynFlow");
    // The iteration: 100 steps on the exponential schedule, each rescoring the survivors.
    for (round, mask) in masks.iter().enumerate().skip(1) {
        let keep = mask.kept();
        let total = dense.size() as f64;
        let mut current = dense.clone();
        for step in 1..=prune::SYNFLOW_STEPS {
            let scores = reference_scores(&current);
            let keep_now = if step == prune::SYNFLOW_STEPS {
                keep
            } else {
                (total * (keep as f64 / total).powf(step as f64 / prune::SYNFLOW_STEPS as f64))
                    .round() as usize
            };
            // Only survivors compete (the pruned score 0 and stay out).
            let mut candidates: Vec<(f64, (usize, usize, usize))> = kept_positions(&current)
                .into_iter()
                .map(|(l, i, j)| (scores[l][i][j], (l, i, j)))
                .collect();
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for &(_, (l, i, j)) in &candidates[keep_now.min(candidates.len())..] {
                current.layers[l][(i, j)] = false;
            }
        }
        assert_eq!(
            kept_positions(mask),
            kept_positions(&current),
            "round {round}'s SynFlow mask"
        );
    }
}

/// LeNet-300-100 at θ₀ on the digits: each method's kept weights per layer at `density`.
/// Per density: each method with its kept weights per layer.
type KeptByMethod = Vec<(f64, Vec<(PruneMethod, Vec<usize>)>)>;

fn lenet_masks_at(densities: &[f64]) -> KeptByMethod {
    let config = ExperimentConfig::lenet_mnist();
    let experiment = common::cpu_experiment(config.clone());
    let data = experiment.data().clone();
    let theta = experiment.theta_init().clone();
    let dense = Mask::dense(&theta.spec);
    let mut engine = CpuEngine::new(data);
    let cfg = TrainConfig {
        optimizer: config.optimizer,
        batch_size: config.batch_size,
        order_seed: config.seed,
    };
    let rows: Vec<usize> = (0..config.batch_size).collect();
    let mut grad_at = |net: &Network| {
        engine.load(net, &dense, &cfg).unwrap();
        engine.gradients(&rows).unwrap()
    };
    let g = grad_at(&theta);
    let step = prune::step_size(&theta, &g);
    let snip = prune::snip_scores(&theta, &g);
    let grasp = prune::grasp_scores(
        &theta,
        &grad_at(&prune::stepped(&theta, &g, step)),
        &grad_at(&prune::stepped(&theta, &g, -step)),
        step,
    );
    let magnitude = prune::magnitude_scores(&theta);
    densities
        .iter()
        .map(|&d| {
            let keep = (dense.size() as f64 * d).round() as usize;
            let per_layer = |m: Mask| m.kept_per_layer();
            (
                d,
                vec![
                    (
                        PruneMethod::InitMagnitude,
                        per_layer(prune::keep_top_global(&magnitude, &dense, keep)),
                    ),
                    (
                        PruneMethod::Snip,
                        per_layer(prune::keep_top_global(&snip, &dense, keep)),
                    ),
                    (
                        PruneMethod::Grasp,
                        per_layer(prune::keep_top_global(&grasp, &dense, keep)),
                    ),
                    (
                        PruneMethod::Synflow,
                        per_layer(prune::SynflowPruning::new(&theta, keep).run()),
                    ),
                ],
            )
        })
        .collect()
}

#[test]
fn synflow_keeps_every_layer_of_lenet_where_snip_and_grasp_empty_one() {
    // Measured (seed 1): at 0.03% (80 weights) SNIP keeps [0, 15, 65], GraSP [0, 32, 48],
    // SynFlow [35, 15, 30]; at 0.01% SNIP [0, 0, 27], SynFlow [10, 7, 10].
    let table = lenet_masks_at(&[0.01, 0.0003, 0.0001]);
    for (d, methods) in &table {
        for (m, kept) in methods {
            println!(
                "density {:.2}%: {:>17} keeps {kept:?}",
                100.0 * d,
                m.label()
            );
            let collapsed = kept.contains(&0);
            let expected = match m {
                _ if *d >= 0.01 => false,
                PruneMethod::Synflow => false,
                PruneMethod::Snip | PruneMethod::Grasp => true,
                _ => collapsed,
            };
            assert_eq!(
                collapsed,
                expected,
                "{} at {:.2}%: {kept:?}",
                m.label(),
                100.0 * d
            );
        }
    }
}

#[test]
fn a_layer_collapse_is_caught_before_training_and_its_runs_are_recorded_untrainable() {
    let data = tiny_data();
    // 103 weights halved every round: SNIP empties a layer long before the last round.
    let config = ExperimentConfig {
        schedule: Schedule::Iterative { rounds: 6 },
        controls: Controls {
            reinit: true,
            random_prune: true,
            one_shot: false,
            unstructured: false,
            two_four: false,
            small_dense: false,
        },
        ..tiny_config(PruneMethod::Snip)
    };
    let engine = Box::new(CpuEngine::new(data.clone()));
    let mut experiment = Experiment::new(config, data, engine).unwrap();
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    assert!(matches!(
        record.status,
        lottery_lab::experiment::Status::Finished
    ));
    let collapsed: Vec<_> = record
        .rounds
        .iter()
        .flat_map(|r| r.runs.iter().map(move |run| (r.round, run)))
        .filter(|(_, run)| !run.collapsed_layers.is_empty())
        .collect();
    assert!(
        !collapsed.is_empty(),
        "no round collapsed: {:?}",
        record.notes
    );
    for (round, run) in &collapsed {
        let reason = run.stopped.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with("untrainable: layer collapse"),
            "{reason}"
        );
        assert_eq!(
            run.curve.len(),
            1,
            "round {round}: evaluated once, never trained"
        );
        assert_eq!(run.curve[0].iteration, 0);
        assert!(run.curve[0].val_loss.is_finite());
        // The round's own mask is named in the notes (a control's random mask can be cut off
        // where SNIP's is not).
        if run.kind == RunKind::Ticket {
            let note = format!("round {round}: layer collapse before training, SNIP's mask");
            assert!(
                record.notes.iter().any(|n| n.starts_with(&note)),
                "{:?}",
                record.notes
            );
        }
    }
    // Runs that kept every layer trained to the end.
    for round in &record.rounds {
        for run in round.runs.iter().filter(|r| r.collapsed_layers.is_empty()) {
            assert_eq!(run.curve.last().unwrap().iteration, 20);
            assert!(run.stopped.is_none());
        }
    }
}

#[test]
fn a_method_at_init_needs_theta_0_and_the_link_and_results_carry_it() {
    let mut config = tiny_config(PruneMethod::Grasp);
    config.reset = lottery_lab::experiment::ResetMode::FineTune;
    let problem = config.validate().unwrap_err();
    assert_eq!(problem.field, "method");
    assert!(problem.message.contains("GraSP"), "{problem}");

    let data = tiny_data();
    let (_, masks) = masks_of(PruneMethod::Synflow, &data);
    assert_eq!(masks.len(), 4);
    let mut state = lottery_lab::experiment::link::LinkState::from_preset("tiny").unwrap();
    state.config.method = PruneMethod::Synflow;
    let fragment = state.to_fragment();
    assert!(fragment.contains("method=synflow"), "{fragment}");
    let (back, problems) = lottery_lab::experiment::link::LinkState::parse(&fragment, "tiny");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(back.config.method, PruneMethod::Synflow);
    // IMP's links stay as they were: no `method` key.
    state.config.method = PruneMethod::Magnitude;
    assert!(!state.to_fragment().contains("method="));
    let json = serde_json::to_string(&tiny_config(PruneMethod::Snip)).unwrap();
    assert!(json.contains("\"method\":\"snip\""), "{json}");
}

#[test]
fn two_four_sparsity_is_one_round_of_exact_groups_from_the_trained_network() {
    use lottery_lab::prune::Granularity;
    let data = Arc::new(common::random_splits(64, 8, 4, 5));
    for reset in [
        lottery_lab::experiment::ResetMode::Init,
        lottery_lab::experiment::ResetMode::FineTune,
    ] {
        let config = ExperimentConfig {
            granularity: Granularity::TWO_FOUR,
            reset,
            controls: Controls {
                reinit: true,
                random_prune: true,
                one_shot: true,
                unstructured: false,
                two_four: false,
                small_dense: false,
            },
            ..tiny_config(PruneMethod::Magnitude)
        };
        let engine = Box::new(CpuEngine::new(data.clone()));
        let mut experiment = Experiment::new(config, data.clone(), engine).unwrap();
        experiment.run_to_end(|_, _| {});
        let record = experiment.record();
        assert_eq!(record.rounds.len(), 2, "the dense round and one 2:4 round");
        let round = &record.rounds[1];
        // 8-8-5-4: every layer's fan-in is a multiple of 4 but the last (5: a group of 1).
        let dense_trained = record.rounds[0]
            .run(RunKind::Ticket)
            .unwrap()
            .trained
            .clone()
            .unwrap();
        for kind in [RunKind::Ticket, RunKind::Reinit, RunKind::RandomPrune] {
            let mask = &round.run(kind).unwrap().mask;
            for (l, layer) in mask.layers.iter().enumerate() {
                for col in 0..layer.ncols() {
                    for start in (0..layer.nrows()).step_by(4) {
                        let end = (start + 4).min(layer.nrows());
                        let kept = (start..end).filter(|&r| layer[(r, col)]).count();
                        assert_eq!(kept, 2.min(end - start), "{kind:?} layer {l}");
                    }
                }
            }
        }
        let ticket = &round.run(RunKind::Ticket).unwrap().mask;
        assert_eq!(
            *ticket,
            prune::n_of_m_prune(&dense_trained, &Mask::dense(&dense_trained.spec), 2, 4),
            "the ticket's mask is the trained dense network's 2:4"
        );
        assert_ne!(round.run(RunKind::RandomPrune).unwrap().mask, *ticket);
        assert!(
            round.run(RunKind::OneShot).is_none(),
            "one round: one-shot is the ticket"
        );
    }
    let mut state = lottery_lab::experiment::link::LinkState::from_preset("tiny").unwrap();
    state.config.granularity = Granularity::TWO_FOUR;
    let fragment = state.to_fragment();
    assert!(
        fragment.contains("granularity=2%3A4") || fragment.contains("granularity=2:4"),
        "{fragment}"
    );
    let (back, problems) = lottery_lab::experiment::link::LinkState::parse(&fragment, "tiny");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(back.config.granularity, Granularity::TWO_FOUR);
    let bad =
        lottery_lab::experiment::link::LinkState::parse("preset=tiny&granularity=4:2", "tiny");
    assert_eq!(bad.0.config.granularity, Granularity::Weights);
    assert!(
        bad.1.iter().any(|n| n.contains("granularity")),
        "{:?}",
        bad.1
    );
}

#[test]
fn the_dense_run_finds_an_early_bird_ticket_and_trains_it_beside_round_1() {
    let mut config = (lottery_lab::experiment::presets::find("tiny")
        .unwrap()
        .config)();
    config.early_bird = Some(0.3);
    config.iterations = 400;
    let mut experiment = common::cpu_experiment(config);
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    let trace = record.early_bird.as_ref().expect("a search was asked for");
    // 280 training points in batches of 20: an epoch is 14 iterations; a mask after each.
    let iterations: Vec<usize> = trace.points.iter().map(|p| p.iteration).collect();
    assert_eq!(iterations, (1..=28).map(|e| e * 14).collect::<Vec<_>>());
    assert!((trace.max_distance - 0.6).abs() < 1e-12);
    let found = trace.found_at.expect("the masks settle on the circle data");
    let point = trace.points.iter().find(|p| p.iteration == found).unwrap();
    assert!(point.window_max.unwrap() < trace.epsilon);
    // Nothing earlier qualified.
    assert!(
        trace
            .points
            .iter()
            .filter(|p| p.iteration < found)
            .all(|p| p.window_max.is_none_or(|d| d >= trace.epsilon))
    );
    let early = record.rounds[1]
        .run(RunKind::EarlyBird)
        .expect("trained in round 1");
    assert_eq!(Some(&early.mask), trace.mask.as_ref());
    assert!((early.density - 0.3).abs() < 0.01, "{}", early.density);
    assert_eq!(early.curve.last().unwrap().iteration, 400);
    assert!(
        record
            .notes
            .iter()
            .any(|n| n.starts_with(&format!("early-bird ticket found at iteration {found}")))
    );
    println!("early bird at {found} of 400: {:?}", early.accuracy());
}

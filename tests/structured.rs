//! Structured pruning: whole neurons and filters go, the mask says so exactly, and the
//! smaller dense network the engine trains is the masked full network.

mod common;

use std::sync::Arc;

use lottery_lab::experiment::{Controls, Experiment, ExperimentConfig, RunKind, Schedule};
use lottery_lab::model::{Init, Mask, NetSpec, Network, Shape, infer, parse_layers};
use lottery_lab::prune::{self, Granularity, PruneRates, Scope, Shrunk, Units};
use lottery_lab::train::{CpuEngine, Optimizer};
use ndarray::Array2;

fn conv_spec() -> NetSpec {
    NetSpec::new(
        Shape {
            height: 8,
            width: 8,
            channels: 2,
        },
        &parse_layers("conv6k3p1,pool2,conv5k3,flatten,12").unwrap(),
        3,
    )
}

/// Every hidden unit is either whole (its column, and every row reading it, kept where the
/// parent mask kept them) or gone (all of those pruned); the counts are what was asked.
fn assert_structured(mask: &Mask, counts: &[usize]) {
    let units = Units::of_mask(mask);
    assert_eq!(units.counts(), counts);
    let dense = Mask {
        layers: mask.layers.iter().map(|l| l.mapv(|_| true)).collect(),
    };
    assert_eq!(
        *mask,
        units.restrict(&dense),
        "nothing is pruned but whole units"
    );
    for (l, kept) in units.kept.iter().enumerate() {
        let n = mask.layers[l].ncols();
        for j in 0..n {
            let column_dead = mask.layers[l].column(j).iter().all(|&k| !k);
            let reading: Vec<bool> = (0..mask.layers[l + 1].nrows())
                .filter(|r| r % n == j)
                .flat_map(|r| mask.layers[l + 1].row(r).to_vec())
                .collect();
            if !kept.contains(&j) {
                assert!(
                    column_dead,
                    "layer {l} unit {j}: a removed unit's column is empty"
                );
                assert!(
                    reading.iter().all(|&k| !k),
                    "layer {l} unit {j}: nothing reads a removed unit"
                );
            }
        }
    }
}

fn inputs(spec: &NetSpec, rows: usize) -> Array2<f32> {
    let mut rng = lottery_lab::rng::rng(9, "x");
    use rand::Rng as _;
    Array2::from_shape_simple_fn((rows, spec.input), || rng.random::<f32>() - 0.5)
}

#[test]
fn structured_masks_remove_whole_units_and_the_shrunk_network_is_the_masked_one_exactly() {
    let rates = PruneRates {
        scope: Scope::Layerwise,
        rate: 0.3,
        output_rate: 0.1,
        conv_rate: None,
    };
    for spec in [NetSpec::mlp(40, &[30, 20], 5), conv_spec()] {
        let mut net = Network::init(
            &spec,
            Init::KaimingNormal,
            &mut lottery_lab::rng::rng(1, "init"),
        );
        // Biases that matter: a removed unit's bias must not leak downstream.
        for layer in &mut net.layers {
            layer.bias.mapv_inplace(|_| 0.25);
        }
        let dense = Mask::dense(&spec);
        let mut mask = dense.clone();
        for round in 1..=3 {
            let counts = prune::unit_counts(&spec, &rates, round as f64);
            let next = prune::structured_prune(&net, &mask, &counts);
            assert_structured(&next, &counts);
            assert!(next.is_subset_of(&mask), "round {round}: units only go");
            // The kept units are the ones with the largest ℓ1 norm among the survivors.
            for (l, kept) in Units::of_mask(&next).kept.iter().enumerate() {
                let norms = prune::unit_norms(&net, &mask, l);
                let alive = &Units::of_mask(&mask).kept[l];
                let lowest_kept = kept.iter().map(|&j| norms[j]).fold(f32::INFINITY, f32::min);
                for j in alive.iter().filter(|j| !kept.contains(j)) {
                    assert!(
                        norms[*j] <= lowest_kept,
                        "layer {l}: unit {j} outranked a kept one"
                    );
                }
            }
            mask = next;

            let small = Shrunk::of(&spec, &mask);
            assert_eq!(
                small
                    .spec
                    .layer_shapes()
                    .iter()
                    .map(|s| s.1)
                    .collect::<Vec<_>>()[..counts.len()],
                counts[..],
                "{}",
                small.spec.label()
            );
            let small_net = small.network(&net);
            assert!(
                small
                    .mask(&mask)
                    .layers
                    .iter()
                    .all(|m| m.iter().all(|&k| k))
            );
            let x = inputs(&spec, 7);
            let full = infer::logits(&net.masked(&mask), x.view(), &mut None).clone();
            let shrunk = infer::logits(&small_net, x.view(), &mut None).clone();
            let worst = full
                .iter()
                .zip(shrunk.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            // Exactly: the same products, summed without the zero terms.
            assert!(
                worst == 0.0,
                "{}: shrunk vs masked differ by {worst}",
                small.spec.label()
            );
            // And back: the full shape with zeros where the units went.
            let back = small.expand(&small_net, &net);
            assert_eq!(back, {
                let mut m = net.masked(&mask);
                m.spec = spec.clone();
                m
            });
        }
        // The density of a structured mask follows from its counts alone.
        assert_eq!(
            prune::structured_density(&spec, &Units::of_mask(&mask).counts()),
            mask.density()
        );
        let counts = prune::unit_counts(&spec, &rates, 2.0);
        let random = prune::random_units(&spec, &counts, &mut lottery_lab::rng::rng(4, "r"));
        assert_structured(&random, &counts);
    }
    assert_eq!(NetSpec::mlp(784, &[300, 100], 10).label(), "784-300-100-10");
}

fn structured_config(schedule: Schedule) -> ExperimentConfig {
    ExperimentConfig {
        hidden: lottery_lab::model::dense_layers(&[20, 10]),
        optimizer: Optimizer::adam(1e-2),
        batch_size: 16,
        iterations: 30,
        eval_every: 10,
        pruning: PruneRates {
            scope: Scope::Layerwise,
            rate: 0.2,
            output_rate: 0.1,
            conv_rate: None,
        },
        granularity: Granularity::Neurons,
        schedule,
        controls: Controls {
            reinit: true,
            random_prune: true,
            one_shot: true,
            unstructured: true,
            two_four: false,
            small_dense: false,
        },
        seed: 5,
        ..ExperimentConfig::lenet_mnist()
    }
}

#[test]
fn a_structured_experiment_trains_the_shrunk_network_and_records_the_full_shape() {
    let data = Arc::new(common::random_splits(96, 12, 4, 7));
    let config = structured_config(Schedule::Iterative { rounds: 3 });
    let engine = Box::new(CpuEngine::new(data.clone()));
    let mut experiment = Experiment::new(config.clone(), data.clone(), engine).unwrap();
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    assert_eq!(
        record.rounds.len(),
        4,
        "the dense round and 3 structured rounds"
    );
    let spec = experiment.spec().clone();
    let mut previous = Mask::dense(&spec);
    for (r, round) in record.rounds.iter().enumerate().skip(1) {
        let counts = prune::unit_counts(&spec, &config.pruning, r as f64);
        for kind in [RunKind::Ticket, RunKind::Reinit, RunKind::RandomPrune] {
            let run = round.run(kind).unwrap();
            assert_structured(&run.mask, &counts);
            // Trained in the small shape, recorded in the full one, zeros where units went.
            let trained = run.trained.as_ref().unwrap();
            assert_eq!(trained.spec, spec);
            for (w, m) in trained.layers.iter().zip(&run.mask.layers) {
                assert!(w.weight.iter().zip(m.iter()).all(|(&w, &k)| k || w == 0.0));
            }
            assert!(run.curve.last().unwrap().test_accuracy > 0.0);
        }
        let ticket = &round.run(RunKind::Ticket).unwrap().mask;
        assert!(ticket.is_subset_of(&previous), "round {r}: IMP over rounds");
        if r > 1 {
            assert_structured(&round.run(RunKind::OneShot).unwrap().mask, &counts);
        }
        // Beside it, any weights of the dense trained network at the same per-layer sizes.
        let unstructured = &round.run(RunKind::Unstructured).unwrap().mask;
        assert_eq!(unstructured.kept_per_layer(), ticket.kept_per_layer());
        assert_eq!(
            *unstructured,
            prune::magnitude_prune(
                record.rounds[0]
                    .run(RunKind::Ticket)
                    .unwrap()
                    .trained
                    .as_ref()
                    .unwrap(),
                &Mask::dense(&spec),
                &prune::PruneTarget::like(ticket)
            )
        );
        assert_ne!(unstructured, ticket);
        previous = ticket.clone();
    }
    // 12-20-10-4 after 3 rounds at 20%: 10 and 5 units are left.
    assert_eq!(
        Shrunk::of(&spec, &previous).spec.label(),
        "12-10-5-4",
        "round(20·0.8³) = 10, round(10·0.8³) = 5"
    );
    // The same small network trained on its own from the ticket's start gives the same
    // curve: the engine really trained the small dense net.
    let last = &record.rounds[3];
    let ticket = last.run(RunKind::Ticket).unwrap();
    let small = Shrunk::of(&spec, &ticket.mask);
    let mut engine = CpuEngine::new(data.clone());
    use lottery_lab::train::{Engine, Job, JobResult};
    engine
        .load(
            &small.network(experiment.theta_init()),
            &Mask::dense(&small.spec),
            &lottery_lab::train::TrainConfig {
                optimizer: config.optimizer,
                batch_size: config.batch_size,
                order_seed: config.seed,
            },
        )
        .unwrap();
    engine
        .submit(Job::Train {
            steps: config.iterations,
            evaluate: true,
        })
        .unwrap();
    let Some(JobResult::Evaluated(point)) = engine.poll().unwrap() else {
        panic!("the CPU engine answers at once")
    };
    assert_eq!(
        point.test_accuracy,
        ticket.curve.last().unwrap().test_accuracy
    );
    assert_eq!(point.val_loss, ticket.curve.last().unwrap().val_loss);

    // The link and the CLI name it; scope must be layerwise; at init it is refused.
    let mut state = lottery_lab::experiment::link::LinkState::from_preset("tiny").unwrap();
    state.config.granularity = Granularity::Neurons;
    let fragment = state.to_fragment();
    assert!(fragment.contains("granularity=neurons"), "{fragment}");
    let (back, problems) = lottery_lab::experiment::link::LinkState::parse(&fragment, "tiny");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(back.config.granularity, Granularity::Neurons);
    let mut global = config.clone();
    global.pruning.scope = Scope::Global;
    assert!(
        global
            .validate()
            .unwrap_err()
            .to_string()
            .contains("layerwise")
    );
    let mut snip = config.clone();
    snip.method = prune::PruneMethod::Snip;
    assert!(snip.validate().is_err());
}

#[test]
fn one_shot_structured_pruning_lands_near_its_density() {
    let data = Arc::new(common::random_splits(96, 12, 4, 7));
    let config = structured_config(Schedule::OneShot { density: 0.5 });
    let spec = config.spec(&data);
    let expected = config.final_density(&spec);
    let engine = Box::new(CpuEngine::new(data.clone()));
    let mut experiment = Experiment::new(config, data, engine).unwrap();
    experiment.run_to_end(|_, _| {});
    let ticket = experiment.record().rounds[1].run(RunKind::Ticket).unwrap();
    assert_eq!(ticket.density, expected);
    assert!((ticket.density - 0.5).abs() < 0.1, "{}", ticket.density);
}

/// "Search vs shrink": beside unstructured IMP, a dense network with narrower hidden layers
/// and about the ticket's number of weights, freshly initialised at its own fans and trained
/// in its small shape.
#[test]
fn the_small_dense_control_is_a_narrower_network_of_the_tickets_size() {
    let data = Arc::new(common::random_splits(96, 12, 4, 7));
    let mut config = structured_config(Schedule::Iterative { rounds: 3 });
    config.granularity = Granularity::Weights;
    config.controls = Controls {
        small_dense: true,
        ..Controls::NONE
    };
    config.pruning.rate = 0.5;
    let engine = Box::new(CpuEngine::new(data.clone()));
    let mut experiment = Experiment::new(config.clone(), data.clone(), engine).unwrap();
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    let spec = experiment.spec().clone();
    assert!(record.rounds[0].run(RunKind::SmallDense).is_none());
    let mut widths = Vec::new();
    for round in record.rounds.iter().skip(1) {
        let ticket = round.run(RunKind::Ticket).unwrap();
        let small = round.run(RunKind::SmallDense).unwrap();
        // Whole units only, the same share of every hidden layer, and the ticket's size
        // within one unit's weights.
        let units = Units::of_mask(&small.mask);
        assert_structured(&small.mask, &units.counts());
        let counts = units.counts();
        assert_eq!(counts, prune::narrower_counts(&spec, ticket.density));
        let one_unit = (12 + 10) as f64 / small.mask.size() as f64;
        assert!(
            (small.density - ticket.density).abs() <= 2.0 * one_unit,
            "{} against {}",
            small.density,
            ticket.density
        );
        // Trained in its small shape, recorded in the full one.
        let trained = small.trained.as_ref().unwrap();
        assert_eq!(trained.spec, spec);
        assert!(small.curve.last().unwrap().test_accuracy > 0.0);
        widths.push(Shrunk::of(&spec, &small.mask).spec.label());
    }
    // 12-20-10-4 at about 50%, 25%, 12.5% of its 370 weights.
    assert_eq!(widths.len(), 3);
    assert!(widths.windows(2).all(|w| w[0] != w[1]), "{widths:?}");
    // The link and the CLI name it.
    let mut state = lottery_lab::experiment::link::LinkState::from_preset("tiny").unwrap();
    state.config.controls.small_dense = true;
    let fragment = state.to_fragment();
    assert!(fragment.contains("small-dense"), "{fragment}");
    let (back, problems) = lottery_lab::experiment::link::LinkState::parse(&fragment, "tiny");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(back.config.controls.small_dense);
    assert_eq!(
        config.run_kinds(),
        vec![RunKind::Ticket, RunKind::SmallDense]
    );
}

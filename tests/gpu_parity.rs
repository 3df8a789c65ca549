//! The GPU engine against the CPU engine, end to end, through the one `Engine` interface.

mod common;

use std::sync::Arc;

use lottery_lab::experiment::{Experiment, RunKind, Status, presets};
use lottery_lab::model::{Init, Mask, NetSpec, Network};
use lottery_lab::prune::{self, PruneRates, Scope};
use lottery_lab::rng::rng;
use lottery_lab::train::gpu::GpuEngine;
use lottery_lab::train::gpu::kernels::Matmul;
use lottery_lab::train::{CpuEngine, Engine, EvalPoint, Job, JobResult, Optimizer, TrainConfig};

/// Submit and poll until the engine answers (the GPU answers asynchronously).
fn finish(engine: &mut dyn Engine, job: Job) -> JobResult {
    engine.submit(job).unwrap();
    for _ in 0..1_000_000 {
        if let Some(result) = engine.poll().unwrap() {
            return result;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    panic!("the engine never answered");
}

fn weights(engine: &mut dyn Engine) -> Network {
    match finish(engine, Job::ReadWeights) {
        JobResult::Weights(net) => net,
        other => panic!("expected weights, got {other:?}"),
    }
}

fn evaluate(engine: &mut dyn Engine, steps: usize) -> EvalPoint {
    match finish(
        engine,
        Job::Train {
            steps,
            evaluate: true,
        },
    ) {
        JobResult::Evaluated(point) => point,
        other => panic!("expected an evaluation, got {other:?}"),
    }
}

fn max_relative_difference(a: &Network, b: &Network) -> f32 {
    let mut worst = 0.0f32;
    for (la, lb) in a.layers.iter().zip(&b.layers) {
        let scale = lb.weight.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (x, y) in la.weight.iter().zip(lb.weight.iter()) {
            worst = worst.max((x - y).abs() / scale);
        }
    }
    worst
}

#[test]
fn the_same_steps_give_the_same_weights_and_the_same_pruned_mask() {
    let data = Arc::new(common::random_splits(600, 24, 5, 7));
    let spec = NetSpec::mlp(24, &[70, 33], 5);
    let theta_0 = Network::init(&spec, Init::KaimingNormal, &mut rng(7, "init"));
    let rates = PruneRates {
        scope: Scope::Layerwise,
        rate: 0.5,
        output_rate: 0.2,
        conv_rate: None,
    };
    let mask = prune::random_prune(
        &Mask::dense(&spec),
        &rates.target_after(&spec, 1.0),
        &mut rng(7, "mask"),
    );
    let ctx = Arc::new(common::gpu_context());

    // Both matrix-product kernels: the tiled one (GPUs) and the direct one (CPU adapters).
    let cases = [Optimizer::adam(3e-3), Optimizer::sgd(0.05, 0.9)]
        .into_iter()
        .flat_map(|o| Matmul::ALL.map(|m| (o, m)));
    for (optimizer, matmul) in cases {
        let cfg = TrainConfig {
            optimizer,
            batch_size: 32,
            order_seed: 7,
        };
        let mut cpu = CpuEngine::new(data.clone());
        let mut gpu = GpuEngine::with_matmul(ctx.clone(), data.clone(), matmul).unwrap();
        cpu.load(&theta_0, &mask, &cfg).unwrap();
        gpu.load(&theta_0, &mask, &cfg).unwrap();
        // 40 steps cross two epochs' reshuffles (600 / 32 = 18 steps an epoch).
        let (cpu_point, gpu_point) = (evaluate(&mut cpu, 40), evaluate(&mut gpu, 40));
        let (cpu_net, gpu_net) = (weights(&mut cpu), weights(&mut gpu));
        let diff = max_relative_difference(&gpu_net, &cpu_net);
        assert!(
            diff <= 1e-3,
            "{optimizer:?} {matmul:?}: weights differ by {diff}"
        );
        assert_eq!(
            gpu_net.masked(&mask),
            gpu_net,
            "{optimizer:?}: a pruned weight moved on the GPU"
        );
        assert_eq!(gpu_point.iteration, 40);
        assert!(
            (gpu_point.val_loss - cpu_point.val_loss).abs() < 1e-3,
            "{gpu_point:?} vs {cpu_point:?}"
        );
        assert!((gpu_point.test_accuracy - cpu_point.test_accuracy).abs() < 0.011);
        let train = (gpu_point.train_loss.unwrap() - cpu_point.train_loss.unwrap()).abs();
        assert!(train < 1e-3, "mean training loss differs by {train}");

        let next = rates.target_after(&spec, 2.0);
        assert_eq!(
            prune::magnitude_prune(&gpu_net, &mask, &next),
            prune::magnitude_prune(&cpu_net, &mask, &next),
            "{optimizer:?}: pruning the two engines' weights gives different masks"
        );
    }
}

#[test]
fn pruned_weights_stay_exactly_zero_on_the_gpu_after_hundreds_of_steps() {
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
    let ctx = Arc::new(common::gpu_context());
    for optimizer in [Optimizer::adam(1e-2), Optimizer::sgd(0.05, 0.9)] {
        let mut gpu = GpuEngine::new(ctx.clone(), data.clone()).unwrap();
        gpu.load(
            &net,
            &mask,
            &TrainConfig {
                optimizer,
                batch_size: 30,
                order_seed: 3,
            },
        )
        .unwrap();
        let JobResult::Trained { iteration } = finish(
            &mut gpu,
            Job::Train {
                steps: 700,
                evaluate: false,
            },
        ) else {
            panic!("expected a training answer")
        };
        assert_eq!(iteration, 700);
        let trained = weights(&mut gpu);
        let mut kept_moved = 0;
        for (layer, keep) in trained.layers.iter().zip(&mask.layers) {
            for (&w, &k) in layer.weight.iter().zip(keep) {
                if k {
                    kept_moved += usize::from(w != 0.0);
                } else {
                    assert_eq!(w, 0.0, "{optimizer:?}: a pruned weight is {w}");
                }
            }
        }
        assert!(kept_moved > 100);
    }
}

/// `config` run to the end on the CPU engine, then on the GPU engine.
fn on_both_engines(
    config: &lottery_lab::experiment::ExperimentConfig,
    ctx: &Arc<lottery_lab::train::gpu::GpuContext>,
) -> (
    lottery_lab::experiment::ExperimentRecord,
    lottery_lab::experiment::ExperimentRecord,
) {
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    let run = |engine: Box<dyn Engine>| {
        let mut experiment = Experiment::new(config.clone(), data.clone(), engine).unwrap();
        experiment.run_to_end(|_, _| {});
        experiment.record().clone()
    };
    let cpu = run(Box::new(CpuEngine::new(data.clone())));
    let gpu = run(Box::new(GpuEngine::new(ctx.clone(), data.clone()).unwrap()));
    (cpu, gpu)
}

#[test]
fn a_short_imp_run_gives_the_same_rounds_on_both_engines() {
    let ctx = Arc::new(common::gpu_context());
    let tiny = (presets::find("tiny").unwrap().config)();
    // Unstructured, and structured (the engines train 16-16 shrunk to 8-8, 4-4 and 2-2).
    let structured = lottery_lab::experiment::ExperimentConfig {
        granularity: lottery_lab::prune::Granularity::Neurons,
        ..tiny.clone()
    };
    for config in [tiny, structured] {
        same_rounds_on_both_engines(&config, &ctx);
    }
}

fn same_rounds_on_both_engines(
    config: &lottery_lab::experiment::ExperimentConfig,
    ctx: &Arc<lottery_lab::train::gpu::GpuContext>,
) {
    let (cpu, gpu) = on_both_engines(config, ctx);
    assert_eq!(gpu.status, Status::Finished);
    assert_eq!(gpu.engine.kind, "gpu");
    assert_eq!(gpu.rounds.len(), cpu.rounds.len());
    for (g, c) in gpu.rounds.iter().zip(&cpu.rounds) {
        for kind in RunKind::ALL {
            let (Some(gr), Some(cr)) = (g.run(kind), c.run(kind)) else {
                assert_eq!(g.run(kind).is_some(), c.run(kind).is_some());
                continue;
            };
            assert_eq!(
                gr.layer_density, cr.layer_density,
                "round {} {kind:?}",
                g.round
            );
            let (ga, ca) = (gr.accuracy().unwrap(), cr.accuracy().unwrap());
            assert!(
                (ga - ca).abs() <= 0.01,
                "round {} {kind:?}: GPU {ga} vs CPU {ca}",
                g.round
            );
        }
    }
}

#[test]
fn a_lost_device_mid_run_moves_the_experiment_to_the_cpu() {
    let config = (presets::find("tiny").unwrap().config)();
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    let ctx = Arc::new(common::gpu_context());
    let engine = GpuEngine::new(ctx.clone(), data.clone()).unwrap();
    let mut experiment = Experiment::new(config, data, Box::new(engine)).unwrap();
    while experiment.record().rounds.len() < 2 {
        experiment.advance(50);
    }
    ctx.faults.simulate_device_loss("test");
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    assert_eq!(record.status, Status::Finished, "{:?}", record.notes);
    assert_eq!(record.engine.kind, "cpu");
    assert!(
        record.notes.iter().any(|n| n.contains("lost")),
        "{:?}",
        record.notes
    );
    assert_eq!(record.rounds.len(), 4);
}

#[test]
fn auto_never_picks_a_software_adapter_and_says_why() {
    use lottery_lab::train::choose_engine;
    use lottery_lab::train::gpu::BackendPreference;
    let data = Arc::new(common::random_splits(100, 4, 2, 1));
    let ctx = Arc::new(common::gpu_context());
    let software = ctx.adapter.is_software;
    let (engine, choice) = choose_engine(BackendPreference::Auto, Ok(ctx.clone()), data.clone());
    assert_eq!(choice.use_gpu, !software, "{}", choice.reason);
    assert_eq!(engine.info().kind, if software { "cpu" } else { "gpu" });
    if software {
        assert!(choice.reason.contains("software"), "{}", choice.reason);
    }
    let (engine, choice) = choose_engine(BackendPreference::Gpu, Ok(ctx), data.clone());
    assert!(
        choice.use_gpu && engine.info().kind == "gpu",
        "{}",
        choice.reason
    );
    let (engine, choice) = choose_engine(BackendPreference::Gpu, Err("no adapter".into()), data);
    assert!(!choice.use_gpu && engine.info().kind == "cpu" && choice.reason.contains("no adapter"));
}

#[test]
fn the_gradient_job_on_the_gpu_matches_the_cpu_engine_and_changes_nothing() {
    let data = Arc::new(common::random_splits(200, 16, 4, 11));
    let spec = NetSpec::mlp(16, &[24, 12], 4);
    let theta_0 = Network::init(&spec, Init::KaimingNormal, &mut rng(11, "init"));
    let mask = Mask::dense(&spec);
    let cfg = TrainConfig {
        optimizer: Optimizer::adam(3e-3),
        batch_size: 20,
        order_seed: 11,
    };
    let ctx = Arc::new(common::gpu_context());
    let mut cpu = CpuEngine::new(data.clone());
    let mut gpu = GpuEngine::new(ctx, data.clone()).unwrap();
    cpu.load(&theta_0, &mask, &cfg).unwrap();
    gpu.load(&theta_0, &mask, &cfg).unwrap();
    let (cpu_point, gpu_point) = (evaluate(&mut cpu, 7), evaluate(&mut gpu, 7));
    let job = Job::Gradients { start: 40, len: 20 };
    let (JobResult::Gradients(on_cpu), JobResult::Gradients(on_gpu)) =
        (finish(&mut cpu, job), finish(&mut gpu, job))
    else {
        panic!("both engines answer a gradient job with gradients");
    };
    for (l, (c, g)) in on_cpu.iter().zip(&on_gpu).enumerate() {
        let scale = c.weight.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let diff = (&c.weight - &g.weight)
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            diff / scale < 1e-3,
            "layer {l}: weight gradients differ by {diff} (scale {scale})"
        );
        let diff = (&c.bias - &g.bias)
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            diff / scale < 1e-3,
            "layer {l}: bias gradients differ by {diff}"
        );
    }
    // Nothing moved, and the next evaluation's mean training loss is as without the job.
    assert!(max_relative_difference(&weights(&mut gpu), &weights(&mut cpu)) < 1e-3);
    let (cpu_next, gpu_next) = (evaluate(&mut cpu, 3), evaluate(&mut gpu, 3));
    let train = (gpu_next.train_loss.unwrap() - cpu_next.train_loss.unwrap()).abs();
    assert!(train < 1e-3, "{gpu_next:?} vs {cpu_next:?}");
    assert!(cpu_point.iteration == gpu_point.iteration && gpu_next.iteration == 10);
    // Another batch size is refused with a reason, not a panic.
    gpu.submit(Job::Gradients { start: 0, len: 7 }).unwrap_err();
}

/// A conv net, end to end on both engines: conv (2-D with padding, stride 2), pooling, dense;
/// and a 1-D CNN. Weights within tolerance after 40 steps, the same masks after pruning.
#[test]
fn conv_nets_train_alike_on_the_gpu_and_the_cpu() {
    use lottery_lab::data::DataShape;
    use lottery_lab::model::{Shape, parse_layers};
    let image = |height, width| Shape {
        height,
        width,
        channels: 1,
    };
    let ctx = Arc::new(common::gpu_context());
    for (shape, layers) in [
        (image(8, 8), "conv4k3p1,pool2,conv6k3s2,12"),
        (image(1, 24), "conv5k5s2p1,conv5k3s2p1,pool2"),
    ] {
        let mut data = common::random_splits(400, shape.len(), 4, 21);
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
        let data = Arc::new(data);
        let spec = NetSpec::new(shape, &parse_layers(layers).unwrap(), 4);
        let theta_0 = Network::init(&spec, Init::KaimingNormal, &mut rng(21, "init"));
        let rates = PruneRates {
            scope: Scope::Layerwise,
            rate: 0.5,
            output_rate: 0.2,
            conv_rate: Some(0.3),
        };
        let mask = prune::random_prune(
            &Mask::dense(&spec),
            &rates.target_after(&spec, 1.0),
            &mut rng(21, "mask"),
        );
        for matmul in Matmul::ALL {
            let cfg = TrainConfig {
                optimizer: Optimizer::adam(3e-3),
                batch_size: 16,
                order_seed: 21,
            };
            let mut cpu = CpuEngine::new(data.clone());
            let mut gpu = GpuEngine::with_matmul(ctx.clone(), data.clone(), matmul).unwrap();
            cpu.load(&theta_0, &mask, &cfg).unwrap();
            gpu.load(&theta_0, &mask, &cfg).unwrap();
            let (cpu_point, gpu_point) = (evaluate(&mut cpu, 40), evaluate(&mut gpu, 40));
            let (cpu_net, gpu_net) = (weights(&mut cpu), weights(&mut gpu));
            let diff = max_relative_difference(&gpu_net, &cpu_net);
            assert!(
                diff <= 2e-3,
                "{layers} {matmul:?}: weights differ by {diff}"
            );
            assert_eq!(
                gpu_net.masked(&mask),
                gpu_net,
                "{layers}: a pruned weight moved"
            );
            assert!(
                (gpu_point.val_loss - cpu_point.val_loss).abs() < 2e-3,
                "{layers}: {gpu_point:?} vs {cpu_point:?}"
            );
            let next = rates.target_after(&spec, 2.0);
            assert_eq!(
                prune::magnitude_prune(&gpu_net, &mask, &next),
                prune::magnitude_prune(&cpu_net, &mask, &next),
                "{layers} {matmul:?}: the engines' weights prune to different masks"
            );
        }
    }
}

#[test]
fn the_engine_catches_its_own_gpu_errors_and_leaves_the_renderers_to_their_handler() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ctx = common::gpu_context();
    // The handler eframe installs on the device it shares with the engine.
    let renderer_errors = Arc::new(AtomicUsize::new(0));
    let count = renderer_errors.clone();
    ctx.device.on_uncaptured_error(Arc::new(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
    }));
    // A buffer wgpu refuses: MAP_READ goes only with COPY_DST.
    let bad_buffer = || {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("refused"),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    };
    // Outside the engine (the renderer's mistake): its handler hears it, the engine does not.
    let _ = bad_buffer();
    assert_eq!(renderer_errors.load(Ordering::SeqCst), 1);
    assert!(ctx.faults.take().is_none());
    // Inside the engine's scope: the engine's fault, and the renderer's handler stays quiet.
    let _ = ctx.scoped(bad_buffer);
    match ctx.faults.take() {
        Some(lottery_lab::train::EngineError::Gpu(message)) => {
            assert!(message.contains("refused"), "{message}")
        }
        other => panic!("expected the engine's GPU fault, got {other:?}"),
    }
    assert_eq!(renderer_errors.load(Ordering::SeqCst), 1);
}

#[test]
fn snip_and_grasp_choose_the_same_masks_on_the_gpu_as_on_the_cpu() {
    // The scores come from the engine's gradient job: on the GPU where training runs.
    let ctx = Arc::new(common::gpu_context());
    for method in [prune::PruneMethod::Snip, prune::PruneMethod::Grasp] {
        let mut config = (presets::find("tiny").unwrap().config)();
        config.method = method;
        config.iterations = 50;
        let (cpu, gpu) = on_both_engines(&config, &ctx);
        assert_eq!(gpu.status, Status::Finished);
        assert_eq!(gpu.engine.kind, "gpu");
        for (g, c) in gpu.rounds.iter().zip(&cpu.rounds).skip(1) {
            let (g, c) = (
                g.run(RunKind::Ticket).unwrap(),
                c.run(RunKind::Ticket).unwrap(),
            );
            let differ = g
                .mask
                .layers
                .iter()
                .zip(&c.mask.layers)
                .map(|(a, b)| a.iter().zip(b).filter(|(x, y)| x != y).count())
                .sum::<usize>();
            // GraSP's difference of gradients amplifies the engines' rounding: a swap or two
            // at the threshold is allowed, never more.
            let allowed = if method == prune::PruneMethod::Grasp {
                4
            } else {
                0
            };
            assert!(
                differ <= allowed,
                "{method:?} round: {differ} positions differ between the GPU's and the CPU's masks"
            );
        }
    }
}

/// A buffer larger than the device binds is refused before anything is allocated, with the
/// reason: data too large, and the GPU engine does not start (`choose_engine` falls back to the
/// CPU engine and says why); a layer too large, and the experiment moves to the CPU engine.
#[test]
fn buffers_beyond_the_devices_limits_are_refused_before_upload() {
    use lottery_lab::train::gpu::{BackendPreference, GpuContext};
    const LIMIT: u64 = 64 * 1024;
    let small = Arc::new(
        GpuContext::new_native_with(|limits| wgpu::Limits {
            max_storage_buffer_binding_size: LIMIT,
            ..limits
        })
        .expect("lavapipe"),
    );
    // MNIST-1D's training features: 640 KB, over the 64 KB this device binds.
    let mnist1d = (presets::find("mnist1d").unwrap().config)();
    let data = Arc::new(mnist1d.dataset.load(mnist1d.seed, None).unwrap());
    let Err(refused) = GpuEngine::new(small.clone(), data.clone()) else {
        panic!("the data fits a 64 KB binding?");
    };
    let why = refused.to_string();
    assert!(
        why.contains("the training data") && why.contains("0.1 MiB"),
        "{why}"
    );
    let (engine, choice) =
        lottery_lab::train::choose_engine(BackendPreference::Gpu, Ok(small.clone()), data);
    assert_eq!(engine.info().kind, "cpu");
    assert!(
        choice.reason.contains("the training data"),
        "{}",
        choice.reason
    );

    // The tiny data fits; a 2-200-200-2 network's middle layer (160 KB) does not.
    let mut config = (presets::find("tiny").unwrap().config)();
    config.hidden = lottery_lab::model::dense_layers(&[200, 200]);
    config.schedule = lottery_lab::experiment::Schedule::Iterative { rounds: 1 };
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    let engine = GpuEngine::new(small, data.clone()).unwrap();
    let mut experiment = Experiment::new(config, data, Box::new(engine)).unwrap();
    experiment.run_to_end(|_, _| {});
    let record = experiment.record();
    assert_eq!(record.status, Status::Finished, "{:?}", record.notes);
    assert_eq!(record.engine.kind, "cpu");
    assert!(
        record
            .notes
            .iter()
            .any(|n| n.contains("layer 2's weights") && n.contains("binds at most")),
        "{:?}",
        record.notes
    );
}

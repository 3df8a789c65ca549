//! `lottery-lab bench`: training throughput of the CPU engine on LeNet-300-100 at batch 60,
//! and the GFLOP/s its matrix products achieve. `cargo xtask bench` runs this beside numpy.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use lottery_lab::model::{Init, Mask, NetSpec, Network};
use lottery_lab::train::throughput::{conv_digits_config, cpu_samples_per_s, lenet_config};

#[derive(clap::Parser)]
pub struct BenchArgs {
    /// Skip the GPU engine's figures.
    #[arg(long)]
    no_gpu: bool,
    /// Seconds to measure each figure.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "60,256")]
    batch: Vec<usize>,
}

/// FLOPs of one training step of an MLP per sample: forward (2·in·out per layer), weight
/// gradient (2·in·out) and input gradient (2·in·out, not for the first layer).
pub fn train_flops_per_sample(spec: &NetSpec) -> f64 {
    spec.layer_shapes()
        .iter()
        .enumerate()
        .map(|(l, &(i, o))| {
            let products = if l == 0 { 2.0 } else { 3.0 };
            products * 2.0 * (i * o) as f64
        })
        .sum()
}

pub fn run(args: BenchArgs) -> Result<()> {
    let (spec, _) = lenet_config(60);
    let flops = train_flops_per_sample(&spec);
    println!(
        "CPU engine, LeNet-300-100 (784-300-100-10), Adam, fp32, {} thread(s) available",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for &batch in &args.batch {
        let (_, cfg) = lenet_config(batch);
        let samples = cpu_samples_per_s(&spec, &cfg, args.seconds)?;
        println!(
            "  batch {batch:>4}: {samples:>9.0} samples/s  {:>6.1} GFLOP/s (matrix products, whole step timed)  {:.1} µs/step",
            samples * flops / 1e9,
            batch as f64 / samples * 1e6
        );
    }
    let (conv, _) = conv_digits_config(60);
    println!(
        "CPU engine, the Conv-2-style digits net ({}), Adam, fp32",
        conv.label()
    );
    for &batch in &args.batch {
        let (_, cfg) = conv_digits_config(batch);
        let samples = cpu_samples_per_s(&conv, &cfg, args.seconds)?;
        // A step is about three forward passes' worth of products (forward, weight and
        // input gradients; the first layer's input gradient is skipped).
        println!(
            "  batch {batch:>4}: {samples:>9.0} samples/s  {:>6.1} GFLOP/s (≈3 forward passes per step)",
            samples * 3.0 * conv.forward_flops() as f64 / 1e9
        );
    }
    for &batch in &args.batch {
        gemm_figures(&spec, batch, args.seconds);
    }
    adam_figure();
    prune_figure(&spec);
    scoring_figures(
        &spec,
        Box::new(lottery_lab::train::CpuEngine::new(Arc::new(
            lottery_lab::train::throughput::synthetic_splits(&spec, 2_000),
        ))),
    )?;
    parallel_runs_figure()?;
    lmc_figure()?;
    at_init_figure()?;
    let (ms, intervals) = lottery_lab::train::throughput::attribution_ms(9);
    println!(
        "Explanation of one digit, LeNet-300-100 (integrated gradients to completeness, {intervals} intervals, + gradient × input): {ms:.1} ms natively (the browser's budget: 100 ms; its figure is in the browser test's report)"
    );
    if !args.no_gpu {
        gpu_figures(&spec, &args)?;
    }
    Ok(())
}

/// A round of the default preset (digits-quick's round 1: the ticket and its controls), one
/// run at a time on the CPU engine in this thread against two at a time in two training
/// threads, side by side in this run; the records must be the same.
fn parallel_runs_figure() -> Result<()> {
    use lottery_lab::experiment::{Experiment, Schedule, presets};
    let mut config = (presets::find("digits-quick").expect("listed").config)();
    config.schedule = Schedule::Iterative { rounds: 1 };
    let digits = lottery_lab::data::mnist::decode(lottery_lab::data::mnist::BUNDLED)?;
    let data = Arc::new(config.dataset.load(config.seed, Some(&digits))?);
    // Seconds for round 1 alone (round 0, the dense run, is one run however many lanes).
    let round_one = |mut experiment: Experiment| -> (f64, Experiment) {
        let mut round_one_started = None;
        experiment.run_to_end(|_, record| {
            if record.rounds.len() == 1 && round_one_started.is_none() {
                round_one_started = Some(Instant::now());
            }
        });
        let seconds = round_one_started.map_or(f64::NAN, |t| t.elapsed().as_secs_f64());
        (seconds, experiment)
    };
    let cpu = Box::new(lottery_lab::train::CpuEngine::new(data.clone()));
    let (sequential, one) = round_one(Experiment::new(config.clone(), data.clone(), cpu)?);
    let workers = lottery_lab::train::worker::thread::workers();
    let lane = || Box::new(workers.engine(data.clone())) as Box<dyn lottery_lab::train::Engine>;
    let two_lanes = Experiment::new(config, data.clone(), lane())?.with_lanes(vec![lane()]);
    let (parallel, two) = round_one(two_lanes);
    let same = one.record().rounds == two.record().rounds;
    println!(
        "A round of the default preset (digits-quick round 1: {} runs of {} iterations), CPU engine: \
         one run at a time {sequential:.2} s, two at a time in two threads {parallel:.2} s \
         ({:.2}x; records {})",
        one.record().rounds.get(1).map_or(0, |r| r.runs.len()),
        one.config().iterations,
        sequential / parallel,
        if same { "identical" } else { "DIFFERENT" }
    );
    Ok(())
}

/// How long magnitude pruning of LeNet takes on the CPU (why the GPU engine prunes there).
/// The stability study's budget (issue: under 30 s natively): linear mode connectivity at
/// k = 0 of the lenet-mnist preset's dense network on the digits, CPU engine.
fn lmc_figure() -> Result<()> {
    use lottery_lab::experiment::presets;
    use lottery_lab::experiment::studies::{LmcConfig, LmcStudy};
    let config = (presets::find("lenet-mnist").expect("listed").config)();
    let digits = lottery_lab::data::mnist::decode(lottery_lab::data::mnist::BUNDLED)?;
    let data = Arc::new(config.dataset.load(config.seed, Some(&digits))?);
    let engine = Box::new(lottery_lab::train::CpuEngine::new(data.clone()));
    let iterations = config.iterations;
    let started = Instant::now();
    let mut study = LmcStudy::new(LmcConfig::dense(config, vec![0]), data, engine, None)?;
    study.run_to_end(|_| {});
    let seconds = started.elapsed().as_secs_f64();
    let barrier = study
        .record()
        .paths
        .first()
        .map_or(f32::NAN, |p| p.barrier() * 100.0);
    println!(
        "Linear mode connectivity at k = 0, LeNet-300-100 (lenet-mnist: 2 copies × {iterations} iterations, 11 test evaluations): {seconds:.1} s (budget 30 s), barrier {barrier:.2} points"
    );
    Ok(())
}

/// The prune-at-init study's budget (issue: under 60 s natively for a short-training variant
/// of its preset, all methods at 4 densities): the prune-at-init preset at 300 iterations a
/// run on the CPU engine. IMP to round 13 first (timed apart: the study reads its tickets and
/// does not retrain them), then the study's 40 trainings (5 methods × 4 densities, each mask
/// and its layer shuffle).
fn at_init_figure() -> Result<()> {
    use lottery_lab::experiment::studies::at_init::AT_INIT_METHODS;
    use lottery_lab::experiment::studies::{AtInitConfig, AtInitStudy};
    use lottery_lab::experiment::{Experiment, presets};
    let mut config = (presets::find("prune-at-init").expect("listed").config)();
    config.iterations = 300;
    config.eval_every = 100;
    let digits = lottery_lab::data::mnist::decode(lottery_lab::data::mnist::BUNDLED)?;
    let data = Arc::new(config.dataset.load(config.seed, Some(&digits))?);
    let cpu = |data: Arc<lottery_lab::data::DataSplits>| -> Box<dyn lottery_lab::train::Engine> {
        Box::new(lottery_lab::train::CpuEngine::new(data))
    };
    let started = Instant::now();
    let mut imp = Experiment::new(config, data.clone(), cpu(data.clone()))?;
    imp.run_to_end(|_, _| {});
    let imp_seconds = started.elapsed().as_secs_f64();
    let study_config = AtInitConfig::for_record(
        imp.record(),
        &[0.21, 0.07, 0.036, 0.012],
        AT_INIT_METHODS.to_vec(),
    );
    let points = study_config.method_points();
    let started = Instant::now();
    let mut study = AtInitStudy::new(study_config, data, imp.record(), Box::new(cpu))?;
    study.run_to_end(|_| {});
    let study_seconds = started.elapsed().as_secs_f64();
    println!(
        "Prune at initialisation, the prune-at-init preset at 300 iterations a run (CPU engine): \
         the study's {points} masks, each with its layer shuffle, {study_seconds:.1} s (budget 60 s); \
         IMP to round 13 before it (ticket + random pruning), {imp_seconds:.1} s"
    );
    Ok(())
}

fn prune_figure(spec: &NetSpec) {
    use lottery_lab::prune::{PruneRates, Scope, magnitude_prune};
    let net = Network::init(
        spec,
        Init::GlorotNormal,
        &mut lottery_lab::rng::rng(1, "init"),
    );
    let target = PruneRates {
        scope: Scope::Layerwise,
        rate: 0.2,
        output_rate: 0.1,
        conv_rate: None,
    }
    .target_after(spec, 1.0);
    let start = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        std::hint::black_box(magnitude_prune(&net, &Mask::dense(spec), &target));
    }
    println!(
        "magnitude pruning of {} weights on the CPU: {:.1} ms",
        spec.weight_count(),
        start.elapsed().as_secs_f64() * 1e3 / rounds as f64
    );
}

/// Scoring LeNet-300-100 at θ₀ to 3.6% density with each method at initialisation through
/// `engine` (SNIP's one gradient job, GraSP's three; SynFlow's 100 steps run on the CPU
/// whatever the engine). The budget: each under 1 s natively.
fn scoring_figures(spec: &NetSpec, mut engine: Box<dyn lottery_lab::train::Engine>) -> Result<()> {
    use lottery_lab::prune::PruneMethod;
    let theta = Network::init(
        spec,
        Init::GlorotNormal,
        &mut lottery_lab::rng::rng(1, "init"),
    );
    let (_, cfg) = lenet_config(60);
    let keep = (spec.weight_count() as f64 * 0.036).round() as usize;
    let info = engine.info();
    let mut line = format!("scoring LeNet-300-100 at θ₀ to 3.6% on {}:", info.name);
    for method in [PruneMethod::Snip, PruneMethod::Grasp, PruneMethod::Synflow] {
        if info.kind != "cpu" && method == PruneMethod::Synflow {
            continue;
        }
        let start = Instant::now();
        let mask = lottery_lab::experiment::mask_at_init_blocking(
            method,
            engine.as_mut(),
            &theta,
            &cfg,
            keep,
            1,
        )?;
        assert_eq!(mask.kept(), keep);
        line += &format!(
            "  {} {:.1} ms",
            method.label(),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    println!("{line}");
    Ok(())
}

/// The GPU engine on the same network, and its matrix-product kernel alone.
fn gpu_figures(spec: &NetSpec, args: &BenchArgs) -> Result<()> {
    use lottery_lab::train::gpu::{GpuContext, GpuEngine, kernels::Matmul, testing::KernelRunner};
    use lottery_lab::train::throughput::{AsyncThroughput, synthetic_splits};
    let ctx = match GpuContext::new_native() {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            println!("\nGPU engine: no adapter ({e})");
            return Ok(());
        }
    };
    let software = ctx.adapter.is_software;
    println!(
        "\nGPU engine on {} ({} adapter)",
        ctx.adapter.describe(),
        if software { "a software" } else { "a hardware" }
    );
    let flops = train_flops_per_sample(spec);
    let chosen = Matmul::for_adapter(&ctx.adapter);
    scoring_figures(
        spec,
        Box::new(GpuEngine::new(
            ctx.clone(),
            Arc::new(synthetic_splits(spec, 2_000)),
        )?),
    )?;
    // Both matrix-product kernels side by side in the same run; the engine uses `chosen`.
    for matmul in Matmul::ALL {
        println!(
            "  {} matrix products{}:",
            matmul.name(),
            if matmul == chosen {
                " (the engine's choice here)"
            } else {
                ""
            }
        );
        for &batch in &args.batch {
            let (_, cfg) = lenet_config(batch);
            let data = Arc::new(synthetic_splits(spec, 2_000.max(batch * 4)));
            let engine = GpuEngine::with_matmul(ctx.clone(), data, matmul)?;
            // A software adapter is slow: fewer steps there, many on a real GPU.
            let (steps, jobs) = if software { (8, 3) } else { (200, 10) };
            let mut bench = AsyncThroughput::start(Box::new(engine), spec, &cfg, steps, jobs)?;
            let samples = loop {
                if let Some(samples) = bench.poll()? {
                    break samples;
                }
                std::thread::sleep(std::time::Duration::from_micros(100));
            };
            println!(
                "  batch {batch:>4}: {samples:>9.0} samples/s  {:>6.1} GFLOP/s (matrix products, whole step timed, {} steps)",
                samples * flops / 1e9,
                steps * jobs
            );
        }
        // The conv net on the GPU engine (conv.wgsl does not depend on the matmul choice,
        // its dense layers do).
        let (conv, cfg) = conv_digits_config(60);
        let data = Arc::new(synthetic_splits(&conv, 2_000));
        let engine = GpuEngine::with_matmul(ctx.clone(), data, matmul)?;
        let (steps, jobs) = if software { (4, 2) } else { (100, 5) };
        let mut bench = AsyncThroughput::start(Box::new(engine), &conv, &cfg, steps, jobs)?;
        let samples = loop {
            if let Some(samples) = bench.poll()? {
                break samples;
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        };
        println!(
            "  Conv-2-style digits net, batch 60: {samples:>9.0} samples/s  {:>6.1} GFLOP/s (≈3 forward passes per step, {} steps)",
            samples * 3.0 * conv.forward_flops() as f64 / 1e9,
            steps * jobs
        );
        let runner = KernelRunner::with_matmul(&ctx, matmul);
        for (m, k, n) in [(60, 784, 300), (256, 784, 300), (1024, 1024, 1024)] {
            let repeat = if ctx.adapter.is_software { 3 } else { 200 };
            let secs = runner.time_forward(m, k, n, repeat)?;
            println!(
                "  matmul kernel {m}x{k}x{n}: {:7.1} GFLOP/s ({repeat} dispatches, upload and readback included)",
                2.0 * (m * k * n * repeat) as f64 / secs / 1e9
            );
        }
    }
    Ok(())
}

type Product = (
    ndarray::Array2<f32>,
    ndarray::Array2<f32>,
    ndarray::Array2<f32>,
    bool,
    bool,
);

/// The matrix products of one step alone, through the same `matmul` the engine
/// uses: the figure to hold against numpy's (`xtask/bench_numpy.py` measures the same set).
fn gemm_figures(spec: &NetSpec, batch: usize, seconds: f64) {
    use lottery_lab::train::matmul::matmul;
    use ndarray::Array2;
    let mut rng = lottery_lab::rng::rng(1, "bench");
    let mut random = |r: usize, c: usize| {
        use rand::Rng as _;
        Array2::from_shape_simple_fn((r, c), || rng.random::<f32>() - 0.5)
    };
    // (a, b, out, transpose a, transpose b) per product: forward x·W, weight gradient xᵀ·δ,
    // input gradient δ·Wᵀ.
    let mut products: Vec<Product> = Vec::new();
    for (l, &(fan_in, fan_out)) in spec.layer_shapes().iter().enumerate() {
        let (x, w, d) = (
            random(batch, fan_in),
            random(fan_in, fan_out),
            random(batch, fan_out),
        );
        products.push((
            x.clone(),
            w.clone(),
            Array2::zeros((batch, fan_out)),
            false,
            false,
        ));
        products.push((x, d.clone(), Array2::zeros((fan_in, fan_out)), true, false));
        if l > 0 {
            products.push((d, w, Array2::zeros((batch, fan_in)), false, true));
        }
    }
    let measure = |products: &mut [Product]| -> f64 {
        let flops: f64 = products
            .iter()
            .map(|(a, _, out, ta, _)| {
                let inner = if *ta { a.nrows() } else { a.ncols() };
                2.0 * (out.len() * inner) as f64
            })
            .sum();
        let run_once = |products: &mut [Product]| {
            for (a, b, out, ta, tb) in products.iter_mut() {
                let a = if *ta { a.t() } else { a.view() };
                let b = if *tb { b.t() } else { b.view() };
                matmul(a, b, out.view_mut(), false);
            }
        };
        run_once(products);
        let start = Instant::now();
        let mut reps = 0;
        while start.elapsed().as_secs_f64() < seconds {
            for _ in 0..20 {
                run_once(products);
            }
            reps += 20;
        }
        reps as f64 * flops / start.elapsed().as_secs_f64() / 1e9
    };
    println!(
        "engine matmul (gemm crate), batch {batch}: the {} GEMMs of a step: {:6.1} GFLOP/s",
        products.len(),
        measure(&mut products)
    );
    for (name, index) in [
        ("forward 784x300", 0),
        ("forward 300x100", 2),
        ("forward 100x10", 5),
    ] {
        let mut one = vec![products[index].clone()];
        println!("  {name:<16}: {:6.1} GFLOP/s", measure(&mut one));
    }
}

pub fn adam_figure() {
    use lottery_lab::train::cpu::{AdamStep, adam_update};
    let n = 266_200;
    let (mut w, g, mut m, mut v, mask) = (
        vec![0.1f32; n],
        vec![0.01f32; n],
        vec![0.0f32; n],
        vec![0.0f32; n],
        vec![1.0f32; n],
    );
    let step = AdamStep::new(1e-3, 0.9, 0.999, 1e-8, 10);
    let start = Instant::now();
    for _ in 0..1000 {
        adam_update(&step, &mut w, &g, &mut m, &mut v, Some(&mask));
    }
    println!(
        "adam update of {n} weights: {:.1} µs",
        start.elapsed().as_secs_f64() * 1e3
    );
}

//! `lottery-lab bench`: training throughput of the CPU engine on LeNet-300-100 at batch 60,
//! and the GFLOP/s its matrix products achieve. `cargo xtask bench` runs this beside numpy.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use lottery_lab::data::mnist;
use lottery_lab::model::{Init, Mask, MlpSpec, Network};
use lottery_lab::train::{CpuEngine, Engine as _, Optimizer, TrainConfig};

#[derive(clap::Parser)]
pub struct BenchArgs {
    /// Seconds to measure each figure.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "60,256")]
    batch: Vec<usize>,
}

/// FLOPs of one training step of an MLP per sample: forward (2·in·out per layer), weight
/// gradient (2·in·out) and input gradient (2·in·out, not for the first layer).
pub fn train_flops_per_sample(spec: &MlpSpec) -> f64 {
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
    let digits = mnist::decode(mnist::BUNDLED)?;
    let data = Arc::new(mnist::splits(&digits, 1));
    let spec = MlpSpec::new(784, &[300, 100], 10);
    let flops = train_flops_per_sample(&spec);
    println!(
        "CPU engine, LeNet-300-100 (784-300-100-10), Adam, fp32, {} thread(s) available",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for &batch in &args.batch {
        let mut engine = CpuEngine::new(data.clone());
        let net = Network::init(
            &spec,
            Init::GlorotNormal,
            &mut lottery_lab::rng::rng(1, "init"),
        );
        let cfg = TrainConfig {
            optimizer: Optimizer::adam(1.2e-3),
            batch_size: batch,
            order_seed: 1,
        };
        engine.load(&net, &Mask::dense(&spec), &cfg)?;
        for _ in 0..20 {
            engine.train_step()?;
        }
        let start = Instant::now();
        let mut steps = 0usize;
        while start.elapsed().as_secs_f64() < args.seconds {
            for _ in 0..10 {
                engine.train_step()?;
            }
            steps += 10;
        }
        let secs = start.elapsed().as_secs_f64();
        let samples = (steps * batch) as f64 / secs;
        println!(
            "  batch {batch:>4}: {samples:>9.0} samples/s  {:>6.1} GFLOP/s (matrix products, whole step timed)  {:.1} µs/step",
            samples * flops / 1e9,
            secs / steps as f64 * 1e6
        );
    }
    Ok(())
}

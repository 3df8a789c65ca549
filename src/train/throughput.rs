//! Training throughput on synthetic data of a network's shape: the figure the benchmarks
//! report (`lottery-lab bench` natively, `WebHandle::bench_*` in the browser).

use std::sync::Arc;

use web_time::Instant;

use super::{CpuEngine, Engine, EngineError, Job, JobResult, Optimizer, TrainConfig};
use crate::data::{DataShape, DataSplits, Dataset};
use crate::model::{Init, Mask, NetSpec, Network};

/// Random inputs in [0, 1) and labels, `n` rows shaped for `spec`.
pub fn synthetic_splits(spec: &NetSpec, n: usize) -> DataSplits {
    use rand::Rng as _;
    let mut rng = crate::rng::rng(1, "throughput");
    let mut make = |rows: usize| {
        let features =
            ndarray::Array2::from_shape_simple_fn((rows, spec.input), || rng.random::<f32>());
        let labels = (0..rows).map(|i| (i % spec.output) as u8).collect();
        Dataset::new(features, labels)
    };
    DataSplits {
        name: "synthetic".into(),
        shape: DataShape::Signal { length: spec.input },
        n_classes: spec.output,
        positive_class: None,
        train: make(n),
        val: make(n / 10),
        test: make(n / 10),
    }
}

/// The LeNet-300-100 step the peers are measured on: Adam, fp32.
pub fn lenet_config(batch: usize) -> (NetSpec, TrainConfig) {
    (
        NetSpec::mlp(784, &[300, 100], 10),
        TrainConfig {
            optimizer: Optimizer::adam(1.2e-3),
            batch_size: batch,
            order_seed: 1,
        },
    )
}

/// The conv net the conv benchmarks use: the "Conv-2 on the digits" preset's layers on 28×28
/// images (Adam, fp32).
pub fn conv_digits_config(batch: usize) -> (NetSpec, TrainConfig) {
    let image = crate::model::Shape {
        height: 28,
        width: 28,
        channels: 1,
    };
    let layers = crate::model::parse_layers("conv8k3p1,conv8k3p1,pool2,64").expect("valid layers");
    (
        NetSpec::new(image, &layers, 10),
        TrainConfig {
            optimizer: Optimizer::adam(2e-3),
            batch_size: batch,
            order_seed: 1,
        },
    )
}

/// CPU engine samples/s for `seconds` of training (blocks for that long).
pub fn cpu_samples_per_s(
    spec: &NetSpec,
    cfg: &TrainConfig,
    seconds: f64,
) -> Result<f64, EngineError> {
    cpu_samples_per_s_on(spec, cfg, 2_000, seconds)
}

/// The same on `rows` training samples, e.g. a preset's data size (the digits' 7,000 rows,
/// 22 MB of features, against the default 2,000, 6 MB).
pub fn cpu_samples_per_s_on(
    spec: &NetSpec,
    cfg: &TrainConfig,
    rows: usize,
    seconds: f64,
) -> Result<f64, EngineError> {
    let data = Arc::new(synthetic_splits(spec, rows.max(cfg.batch_size * 4)));
    let mut engine = CpuEngine::new(data);
    let net = Network::init(spec, Init::GlorotNormal, &mut crate::rng::rng(1, "init"));
    engine.load(&net, &Mask::dense(spec), cfg)?;
    for _ in 0..5 {
        engine.train_step()?;
    }
    let start = Instant::now();
    let mut steps = 0usize;
    while start.elapsed().as_secs_f64() < seconds {
        for _ in 0..5 {
            engine.train_step()?;
        }
        steps += 5;
    }
    Ok((steps * cfg.batch_size) as f64 / start.elapsed().as_secs_f64())
}

/// Throughput of an engine that answers asynchronously (the GPU), measured without
/// blocking: call `poll` (e.g. once a frame) until it returns the figure.
pub struct AsyncThroughput {
    engine: Box<dyn Engine>,
    batch: usize,
    steps_per_job: usize,
    jobs_left: usize,
    steps_done: usize,
    started: Option<Instant>,
}

impl AsyncThroughput {
    /// Train `jobs` jobs of `steps_per_job` steps after one warm-up job.
    pub fn start(
        mut engine: Box<dyn Engine>,
        spec: &NetSpec,
        cfg: &TrainConfig,
        steps_per_job: usize,
        jobs: usize,
    ) -> Result<Self, EngineError> {
        let net = Network::init(spec, Init::GlorotNormal, &mut crate::rng::rng(1, "init"));
        engine.load(&net, &Mask::dense(spec), cfg)?;
        engine.submit(Job::Train {
            steps: 1,
            evaluate: false,
        })?;
        Ok(Self {
            engine,
            batch: cfg.batch_size,
            steps_per_job,
            jobs_left: jobs,
            steps_done: 0,
            started: None,
        })
    }

    /// `Some(samples/s)` when done.
    pub fn poll(&mut self) -> Result<Option<f64>, EngineError> {
        let Some(JobResult::Trained { .. }) = self.engine.poll()? else {
            return Ok(None);
        };
        match self.started {
            None => self.started = Some(Instant::now()),
            Some(_) => {
                self.steps_done += self.steps_per_job;
                self.jobs_left = self.jobs_left.saturating_sub(1);
            }
        }
        if self.jobs_left == 0 {
            let secs = self.started.map_or(1.0, |s| s.elapsed().as_secs_f64());
            return Ok(Some((self.steps_done * self.batch) as f64 / secs.max(1e-9)));
        }
        self.engine.submit(Job::Train {
            steps: self.steps_per_job,
            evaluate: false,
        })?;
        Ok(None)
    }
}

/// One example's explanation on LeNet-300-100 (Glorot init, a random input in [0, 1)):
/// integrated gradients refined to completeness plus gradient × input, timed over `repeats`.
/// Returns the median milliseconds and the intervals the integration needed (the
/// explanations panel's budget: under 100 ms in the browser).
pub fn attribution_ms(repeats: usize) -> (f64, usize) {
    use crate::model::attribution::{
        COMPLETENESS_TOLERANCE, IntegratedGradients, gradient_times_input,
    };
    use rand::Rng as _;
    let (spec, _) = lenet_config(1);
    let net = Network::init(&spec, Init::GlorotNormal, &mut crate::rng::rng(1, "init"));
    let mut rng = crate::rng::rng(1, "throughput");
    let x: Vec<f32> = (0..spec.input).map(|_| rng.random::<f32>()).collect();
    let baseline = vec![0.0; spec.input];
    let mut times = Vec::new();
    let mut intervals = 0;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let ig = IntegratedGradients::new(&net, &x, &baseline, 3, COMPLETENESS_TOLERANCE).run(&net);
        let gxi = gradient_times_input(&net, &x, 3);
        times.push(started.elapsed().as_secs_f64() * 1e3);
        intervals = ig.intervals;
        std::hint::black_box((ig, gxi));
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], intervals)
}

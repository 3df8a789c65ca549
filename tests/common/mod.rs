//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod reference;

use std::sync::Arc;

use lottery_lab::data::{DataShape, DataSplits, Dataset};
use lottery_lab::experiment::{Experiment, ExperimentConfig};
use lottery_lab::model::{Mask, Network};
use lottery_lab::train::{CpuEngine, Engine, EngineError, EngineInfo, Job, JobResult, TrainConfig};
use ndarray::Array2;
use rand_distr::{Distribution as _, Normal};

/// A random classification problem: `n` Gaussian samples of `dim` features, labels from a
/// fixed random linear map (so the data is learnable).
pub fn random_splits(n: usize, dim: usize, classes: usize, seed: u64) -> DataSplits {
    let mut rng = lottery_lab::rng::rng(seed, "test-data");
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let w = Array2::from_shape_simple_fn((dim, classes), || normal.sample(&mut rng));
    let make = |rng: &mut lottery_lab::rng::Rng, n: usize| {
        let x = Array2::from_shape_simple_fn((n, dim), || normal.sample(rng));
        let scores = x.dot(&w);
        let labels = scores
            .outer_iter()
            .map(|row| lottery_lab::train::metrics::argmax(row.as_slice().unwrap()) as u8)
            .collect();
        Dataset::new(x, labels)
    };
    DataSplits {
        name: "random".into(),
        shape: DataShape::Tabular {
            feature_names: (0..dim).map(|i| format!("x{i}")).collect(),
        },
        n_classes: classes,
        positive_class: None,
        train: make(&mut rng, n),
        val: make(&mut rng, n / 4),
        test: make(&mut rng, n / 4),
    }
}

/// An experiment from `config` on the CPU engine (MNIST digits from the bundled asset).
pub fn cpu_experiment(config: ExperimentConfig) -> Experiment {
    let digits = lottery_lab::data::mnist::decode(lottery_lab::data::mnist::BUNDLED).unwrap();
    let data = Arc::new(config.dataset.load(config.seed, Some(&digits)).unwrap());
    let engine = Box::new(CpuEngine::new(data.clone()));
    Experiment::new(config, data, engine).unwrap()
}

/// The test machine's GPU adapter (lavapipe in CI). Fails loudly rather than skipping.
pub fn gpu_context() -> lottery_lab::train::gpu::GpuContext {
    lottery_lab::train::gpu::GpuContext::new_native().unwrap_or_else(|e| {
        panic!(
            "GPU tests need a Vulkan adapter; on Debian install mesa-vulkan-drivers \
             (lavapipe), which `cargo xtask test` does: {e}"
        )
    })
}

/// The data a config names (MNIST digits from the bundled asset).
pub fn data_for(config: &ExperimentConfig) -> Arc<DataSplits> {
    let digits = lottery_lab::data::mnist::decode(lottery_lab::data::mnist::BUNDLED).unwrap();
    Arc::new(config.dataset.load(config.seed, Some(&digits)).unwrap())
}

/// What each training was loaded with: starting weights, mask and the data order's seed.
pub type Loads = std::rc::Rc<std::cell::RefCell<Vec<(Network, Mask, u64)>>>;

/// A CPU engine that remembers what every training was loaded with.
pub struct Spy {
    pub inner: CpuEngine,
    pub loads: Loads,
}

impl Spy {
    pub fn new(data: Arc<DataSplits>) -> (Self, Loads) {
        let loads = Loads::default();
        let spy = Self {
            inner: CpuEngine::new(data),
            loads: loads.clone(),
        };
        (spy, loads)
    }
}

impl Engine for Spy {
    fn info(&self) -> EngineInfo {
        self.inner.info()
    }
    fn load(&mut self, net: &Network, mask: &Mask, cfg: &TrainConfig) -> Result<(), EngineError> {
        self.loads
            .borrow_mut()
            .push((net.clone(), mask.clone(), cfg.order_seed));
        self.inner.load(net, mask, cfg)
    }
    fn submit(&mut self, job: Job) -> Result<(), EngineError> {
        self.inner.submit(job)
    }
    fn poll(&mut self) -> Result<Option<JobResult>, EngineError> {
        self.inner.poll()
    }
}

/// An engine that answers each job one poll later than `inner` does: the caller must wait
/// across calls whatever the adapter's speed (lavapipe on a fast CPU may answer at once).
pub struct Late<E> {
    pub inner: E,
    held: bool,
}

impl<E> Late<E> {
    pub fn new(inner: E) -> Self {
        Self { inner, held: false }
    }
}

impl<E: Engine> Engine for Late<E> {
    fn info(&self) -> EngineInfo {
        self.inner.info()
    }
    fn load(&mut self, net: &Network, mask: &Mask, cfg: &TrainConfig) -> Result<(), EngineError> {
        self.held = false;
        self.inner.load(net, mask, cfg)
    }
    fn submit(&mut self, job: Job) -> Result<(), EngineError> {
        self.held = true;
        self.inner.submit(job)
    }
    fn poll(&mut self) -> Result<Option<JobResult>, EngineError> {
        if std::mem::take(&mut self.held) {
            return Ok(None);
        }
        self.inner.poll()
    }
    fn answers_later(&self) -> bool {
        true
    }
}

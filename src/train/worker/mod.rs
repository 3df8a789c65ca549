//! Training off the main thread: [`WorkerEngine`] is the CPU engine behind the same
//! [`Engine`] trait, but the work runs in a Web Worker (the page) or a thread (natively), so
//! the thread that paints only submits jobs and reads answers.
//!
//! The two sides speak [`protocol`] (bytes) over a [`Transport`]; [`EngineHost`] is the other
//! side, a `CpuEngine` answering requests. The engine keeps what it sent since the last load
//! (the data, the load, the training jobs answered, the job in flight): a worker that dies
//! (a crash, a trap, a failed start) is replaced and brought back to the same state by
//! replaying them — the CPU engine is deterministic, so the record is unchanged. After
//! [`MAX_RESTARTS`] the engine goes on in this thread instead, through the same replay.

pub mod host;
pub mod protocol;
#[cfg(not(target_arch = "wasm32"))]
pub mod thread;
#[cfg(target_arch = "wasm32")]
pub mod web;

use std::rc::Rc;
use std::sync::Arc;

pub use host::EngineHost;
use protocol::{Reply, Request};

use super::{CpuEngine, Engine, EngineError, EngineInfo, Job, JobResult, TrainConfig};
use crate::data::DataSplits;
use crate::model::{Mask, Network};

/// Bytes to a worker and back. `try_recv` never blocks.
pub trait Transport {
    fn send(&mut self, message: Vec<u8>) -> Result<(), String>;
    /// The next reply, if one has arrived; `Err(why)` once the worker is gone.
    fn try_recv(&mut self) -> Result<Option<Vec<u8>>, String>;
    /// Whether a reply's arrival calls the platform's hook at once (the page's workers:
    /// `web::on_reply`), so that its caller hands out the next job then instead of at its
    /// next frame.
    fn announces_replies(&self) -> bool {
        false
    }
}

/// Starts a worker: a Web Worker in the page, a thread natively (see `thread::spawner`).
pub type Spawner = Rc<dyn Fn() -> Result<Box<dyn Transport>, String>>;

/// Where a platform trains off the painting thread.
#[derive(Clone)]
pub struct Workers {
    pub spawn: Spawner,
    /// What one is called in the engine's name: "a Web Worker", "a thread".
    pub place: &'static str,
    /// The cores the platform reports (the browser's `hardwareConcurrency`).
    pub cores: usize,
}

/// The most runs of a round trained at once (a round has at most seven).
pub const MAX_PARALLEL_RUNS: usize = 8;

impl Workers {
    /// How many runs to train at once by default: one per core but one — that core is the
    /// page's, for drawing — and at least one, up to four (a round's ticket and its three
    /// usual controls). Measured on 2 cores (Chromium, SwiftShader painting): two workers
    /// gave a frame-time p95 of 18-24 ms while the default preset trained, one worker 14-16 ms
    /// at 25% less throughput. More runs at a time stay a setting away.
    pub fn default_parallel_runs(&self) -> usize {
        default_parallel_runs(self.cores)
    }

    /// A worker engine on `data`.
    pub fn engine(&self, data: Arc<DataSplits>) -> WorkerEngine {
        WorkerEngine::new(data, self.spawn.clone(), self.place)
    }
}

fn default_parallel_runs(cores: usize) -> usize {
    cores.saturating_sub(1).clamp(1, 4)
}

/// Workers replaced before the engine trains in this thread instead.
pub const MAX_RESTARTS: usize = 3;

pub struct WorkerEngine {
    spawn: Spawner,
    /// Where the work runs, for the engine's name ("a Web Worker", "a thread").
    place: &'static str,
    worker: Option<Box<dyn Transport>>,
    /// After [`MAX_RESTARTS`] (or when no worker starts): the same engine in this thread.
    local: Option<CpuEngine>,
    data: Arc<DataSplits>,
    loaded: Option<(Network, Mask, TrainConfig)>,
    /// Training jobs answered since the load, in order: what a new worker replays.
    history: Vec<Job>,
    in_flight: Option<(u64, Job)>,
    next_id: u64,
    restarts: usize,
    /// Why workers were replaced, oldest first (the app shows the latest).
    pub faults: Vec<String>,
}

impl WorkerEngine {
    pub fn new(data: Arc<DataSplits>, spawn: Spawner, place: &'static str) -> Self {
        let mut engine = Self {
            spawn,
            place,
            worker: None,
            local: None,
            data,
            loaded: None,
            history: Vec::new(),
            in_flight: None,
            next_id: 0,
            restarts: 0,
            faults: Vec::new(),
        };
        if let Err(why) = engine.start_worker() {
            engine.replace_worker(why);
        }
        engine
    }

    /// Whether jobs still run in a worker (false once the engine fell back to this thread).
    pub fn in_worker(&self) -> bool {
        self.worker.is_some()
    }

    pub fn restarts(&self) -> usize {
        self.restarts
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn send(&mut self, message: Vec<u8>) -> Result<(), String> {
        match &mut self.worker {
            Some(worker) => worker.send(message),
            None => Ok(()),
        }
    }

    /// A fresh worker brought to this engine's state: the data, the load, the jobs answered
    /// since, and the job in flight under its own id.
    fn start_worker(&mut self) -> Result<(), String> {
        self.worker = Some((self.spawn)()?);
        let id = self.id();
        self.send(protocol::encode_data(id, &self.data))?;
        if let Some((net, mask, cfg)) = self.loaded.clone() {
            let id = self.id();
            let load = Request::Load { net, mask, cfg };
            self.send(protocol::encode_request(id, &load))?;
            for job in self.history.clone() {
                let id = self.id();
                self.send(protocol::encode_request(id, &Request::Job(job)))?;
            }
        }
        if let Some((id, job)) = self.in_flight {
            self.send(protocol::encode_request(id, &Request::Job(job)))?;
        }
        Ok(())
    }

    /// The worker died (or never started): another one, or after [`MAX_RESTARTS`] this
    /// thread's engine, replayed to the same state.
    fn replace_worker(&mut self, why: String) {
        log::warn!("training worker replaced: {why}");
        self.faults.push(why);
        self.worker = None;
        while self.restarts < MAX_RESTARTS {
            self.restarts += 1;
            match self.start_worker() {
                Ok(()) => return,
                Err(why) => self.faults.push(why),
            }
        }
        self.worker = None;
        let mut local = CpuEngine::new(self.data.clone());
        if let Some((net, mask, cfg)) = &self.loaded {
            // Checked at load; the history was answered once already.
            let replayed = local.load(net, mask, cfg).and_then(|()| {
                self.history.iter().try_for_each(|&job| {
                    local.submit(job)?;
                    while local.poll()?.is_none() {}
                    Ok(())
                })
            });
            if let Err(e) = replayed {
                self.faults.push(format!("replay in this thread: {e}"));
            }
            if let Some((_, job)) = self.in_flight {
                local.submit(job).ok();
            }
        }
        self.local = Some(local);
    }

    /// Fault drill: tell the worker to crash (tests; the page's drill goes through
    /// `web::crash_workers`).
    pub fn crash_worker(&mut self) {
        let id = self.id();
        if let Err(why) = self.send(protocol::encode_request(id, &Request::Crash)) {
            self.replace_worker(why);
        }
    }
}

impl Engine for WorkerEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: "cpu".into(),
            name: format!("CPU engine (ndarray) in {}", self.place),
        }
    }

    fn answers_later(&self) -> bool {
        self.local.is_none()
    }

    fn announces_answers(&self) -> bool {
        self.local.is_none() && self.worker.as_ref().is_some_and(|w| w.announces_replies())
    }

    fn load(&mut self, net: &Network, mask: &Mask, cfg: &TrainConfig) -> Result<(), EngineError> {
        // Checked here, so a bad load fails at once as the CPU engine's does.
        super::check_load(net, mask, cfg, &self.data)?;
        self.loaded = Some((net.clone(), mask.clone(), cfg.clone()));
        self.history.clear();
        // A job in flight is dropped: its answer (an older id) is ignored.
        self.in_flight = None;
        if let Some(local) = &mut self.local {
            return local.load(net, mask, cfg);
        }
        let id = self.id();
        let load = Request::Load {
            net: net.clone(),
            mask: mask.clone(),
            cfg: cfg.clone(),
        };
        if let Err(why) = self.send(protocol::encode_request(id, &load)) {
            self.replace_worker(why);
        }
        Ok(())
    }

    fn submit(&mut self, job: Job) -> Result<(), EngineError> {
        if self.loaded.is_none() {
            return Err(EngineError::NotLoaded);
        }
        if self.in_flight.is_some() {
            return Err(EngineError::Busy);
        }
        let id = self.id();
        self.in_flight = Some((id, job));
        if let Some(local) = &mut self.local {
            return local.submit(job);
        }
        if let Err(why) = self.send(protocol::encode_request(id, &Request::Job(job))) {
            self.replace_worker(why);
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<JobResult>, EngineError> {
        if let Some(local) = &mut self.local {
            let result = local.poll();
            if let (Ok(Some(_)), Some((_, job))) = (&result, self.in_flight) {
                if matches!(job, Job::Train { .. }) {
                    self.history.push(job);
                }
                self.in_flight = None;
            }
            return result;
        }
        loop {
            let Some(worker) = &mut self.worker else {
                return Ok(None);
            };
            let bytes = match worker.try_recv() {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Ok(None),
                Err(why) => {
                    self.replace_worker(why);
                    if self.local.is_some() {
                        return self.poll();
                    }
                    continue;
                }
            };
            let (id, reply) = match protocol::decode_reply(&bytes) {
                Ok(message) => message,
                Err(e) => {
                    self.replace_worker(e.to_string());
                    continue;
                }
            };
            let Some((expected, job)) = self.in_flight else {
                continue;
            };
            if id != expected {
                // The answer to a load, a replayed job or a dropped one.
                continue;
            }
            self.in_flight = None;
            return match reply {
                Reply::Done(result) => {
                    if matches!(job, Job::Train { .. }) {
                        self.history.push(job);
                    }
                    Ok(Some(result))
                }
                Reply::Failed(e) => Err(e),
                Reply::Ready => Err(EngineError::Unsupported(
                    "the training worker answered a job as a load".into(),
                )),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn by_default_a_core_is_left_to_the_page() {
        let defaults: Vec<usize> = [0, 1, 2, 3, 5, 8, 64]
            .into_iter()
            .map(super::default_parallel_runs)
            .collect();
        assert_eq!(defaults, [1, 1, 1, 2, 4, 4, 4]);
    }
}

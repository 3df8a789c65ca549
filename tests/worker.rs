//! Training off the main thread: the worker engine (its protocol over a native thread, the
//! same bytes a Web Worker gets in the page) gives the record a CPU engine in this thread
//! gives, bit for bit — and so it does when its worker crashes mid-run or never starts.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use lottery_lab::data::DataSplits;
use lottery_lab::experiment::{Experiment, ExperimentConfig, ExperimentRecord, Status, presets};
use lottery_lab::train::worker::protocol::{self, Request};
use lottery_lab::train::worker::thread::{ThreadWorker, spawner};
use lottery_lab::train::worker::{
    EngineHost, MAX_RESTARTS, Spawner, Transport, WorkerEngine, Workers,
};
use lottery_lab::train::{CpuEngine, Engine, Job, JobResult};

fn preset(id: &str) -> (ExperimentConfig, Arc<DataSplits>) {
    let config = (presets::find(id).unwrap().config)();
    let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
    (config, data)
}

fn run(config: &ExperimentConfig, data: &Arc<DataSplits>, engine: Box<dyn Engine>) -> Experiment {
    let mut experiment = Experiment::new(config.clone(), data.clone(), engine).unwrap();
    experiment.run_to_end(|_, _| {});
    assert!(!matches!(experiment.record().status, Status::Running));
    experiment
}

/// The record as JSON without the engine's name (where it ran is all that differs).
fn figures(record: &ExperimentRecord) -> serde_json::Value {
    let mut value = serde_json::to_value(record).unwrap();
    value.as_object_mut().unwrap().remove("engine");
    value
}

/// A worker that crashes (its host panics) once it has been sent `after` messages.
struct Crashing {
    inner: ThreadWorker,
    sent: usize,
    after: usize,
}

impl Transport for Crashing {
    fn send(&mut self, message: Vec<u8>) -> Result<(), String> {
        self.sent += 1;
        if self.sent == self.after {
            self.inner
                .send(protocol::encode_request(u64::MAX, &Request::Crash))?;
        }
        self.inner.send(message)
    }

    fn try_recv(&mut self) -> Result<Option<Vec<u8>>, String> {
        self.inner.try_recv()
    }
}

/// Workers whose first `crashing` starts crash after `after` messages; the rest are sound.
fn crashing_spawner(crashing: usize, after: usize, started: Rc<Cell<usize>>) -> Spawner {
    Rc::new(move || {
        started.set(started.get() + 1);
        let inner = ThreadWorker::start()?;
        Ok(if started.get() <= crashing {
            Box::new(Crashing {
                inner,
                sent: 0,
                after,
            }) as Box<dyn Transport>
        } else {
            Box::new(inner)
        })
    })
}

#[test]
fn a_run_in_a_worker_is_the_run_in_this_thread_bit_for_bit() {
    for id in ["tiny", "mnist1d-cnn"] {
        let mut config = (presets::find(id).unwrap().config)();
        if id != "tiny" {
            // A conv net costs more: two rounds of a few evaluations are enough to compare.
            config.schedule = lottery_lab::experiment::Schedule::Iterative { rounds: 1 };
            config.iterations = 60;
            config.eval_every = 20;
        }
        let data = Arc::new(config.dataset.load(config.seed, None).unwrap());
        let here = run(&config, &data, Box::new(CpuEngine::new(data.clone())));
        let worker = WorkerEngine::new(data.clone(), spawner(), "a thread");
        assert!(worker.answers_later() && worker.in_worker());
        let there = run(&config, &data, Box::new(worker));
        assert_eq!(
            there.record().engine.name,
            "CPU engine (ndarray) in a thread"
        );
        assert_eq!(figures(there.record()), figures(here.record()), "{id}");
        assert_eq!(there.theta_init(), here.theta_init());
    }
}

#[test]
fn a_crashed_worker_is_replaced_and_the_record_is_unchanged() {
    let (config, data) = preset("tiny");
    let here = run(&config, &data, Box::new(CpuEngine::new(data.clone())));
    // Crashes at several points: before the first load, mid-run, late in the experiment.
    for after in [1, 7, 40] {
        let started = Rc::new(Cell::new(0));
        let spawn = crashing_spawner(1, after, started.clone());
        let there = run(
            &config,
            &data,
            Box::new(WorkerEngine::new(data.clone(), spawn, "a thread")),
        );
        assert_eq!(
            figures(there.record()),
            figures(here.record()),
            "crash after {after}"
        );
        assert_eq!(started.get(), 2, "one replacement after {after} messages");
    }
}

#[test]
fn after_too_many_crashes_the_engine_trains_in_this_thread() {
    let (config, data) = preset("tiny");
    let here = run(&config, &data, Box::new(CpuEngine::new(data.clone())));
    let started = Rc::new(Cell::new(0));
    // Every worker crashes soon after it starts.
    let spawn = crashing_spawner(usize::MAX, 6, started.clone());
    let mut engine = WorkerEngine::new(data.clone(), spawn, "a thread");
    let mut experiment = Experiment::new(config.clone(), data.clone(), Box::new(engine)).unwrap();
    experiment.run_to_end(|_, _| {});
    assert_eq!(figures(experiment.record()), figures(here.record()));
    assert_eq!(started.get(), 1 + MAX_RESTARTS);

    // A worker that never starts: the engine says why and trains here from the start.
    let never: Spawner = Rc::new(|| Err("no workers in this test".to_string()));
    engine = WorkerEngine::new(data.clone(), never, "a thread");
    assert!(!engine.in_worker() && !engine.answers_later());
    assert!(engine.faults[0].contains("no workers in this test"));
    let there = run(&config, &data, Box::new(engine));
    assert_eq!(figures(there.record()), figures(here.record()));
}

#[test]
fn gradient_jobs_and_bad_loads_answer_as_the_cpu_engine_does() {
    let (config, data) = preset("tiny");
    let experiment = Experiment::new(
        config.clone(),
        data.clone(),
        Box::new(CpuEngine::new(data.clone())),
    )
    .unwrap();
    let net = experiment.theta_init().clone();
    let mask = lottery_lab::model::Mask::dense(&net.spec);
    let cfg = lottery_lab::train::TrainConfig {
        optimizer: config.optimizer,
        batch_size: config.batch_size,
        order_seed: config.seed,
    };
    let mut here = CpuEngine::new(data.clone());
    let mut there = WorkerEngine::new(data.clone(), spawner(), "a thread");
    for engine in [&mut here as &mut dyn Engine, &mut there] {
        engine.load(&net, &mask, &cfg).unwrap();
    }
    let answer = |engine: &mut dyn Engine, job: Job| -> JobResult {
        engine.submit(job).unwrap();
        loop {
            if let Some(result) = engine.poll().unwrap() {
                return result;
            }
            std::thread::yield_now();
        }
    };
    for job in [
        Job::Gradients { start: 3, len: 17 },
        Job::Train {
            steps: 5,
            evaluate: true,
        },
        Job::ReadWeights,
    ] {
        assert_eq!(answer(&mut there, job), answer(&mut here, job), "{job:?}");
    }
    // Busy and refused loads fail at once, as the CPU engine's do.
    there.submit(Job::ReadWeights).unwrap();
    assert!(there.submit(Job::ReadWeights).is_err());
    let mut wrong = net.clone();
    wrong.layers.pop();
    assert_eq!(
        there.load(&wrong, &mask, &cfg).unwrap_err(),
        here.load(&wrong, &mask, &cfg).unwrap_err()
    );
}

/// `config` with a round's runs trained `lanes` at a time, each lane a worker in a thread.
fn run_in_lanes(config: &ExperimentConfig, data: &Arc<DataSplits>, lanes: usize) -> Experiment {
    let workers = lottery_lab::train::worker::thread::workers();
    let engine = |_| Box::new(workers.engine(data.clone())) as Box<dyn Engine>;
    let mut experiment = Experiment::new(config.clone(), data.clone(), engine(0))
        .unwrap()
        .with_lanes((1..lanes).map(engine).collect());
    assert_eq!(experiment.lanes(), lanes);
    experiment.run_to_end(|_, _| {});
    experiment
}

/// Several of a round's runs at once (the ticket and its controls, each in its own worker)
/// give the record one engine gives, bit for bit: every control kind, structured pruning's
/// smaller networks, the early-bird run, and a run that stops the experiment.
#[test]
fn a_rounds_runs_trained_side_by_side_give_the_sequential_record() {
    use lottery_lab::experiment::Controls;
    use lottery_lab::prune::Granularity;
    use lottery_lab::train::Optimizer;
    let (tiny, data) = preset("tiny");
    let structured = ExperimentConfig {
        granularity: Granularity::Neurons,
        controls: Controls {
            unstructured: true,
            two_four: true,
            ..Controls::ALL
        },
        ..tiny.clone()
    };
    let early_bird = ExperimentConfig {
        early_bird: Some(0.5),
        ..tiny.clone()
    };
    let exploding = ExperimentConfig {
        optimizer: Optimizer::adam(1e9),
        ..tiny.clone()
    };
    for (name, config) in [
        ("tiny", &tiny),
        ("structured", &structured),
        ("early bird", &early_bird),
        ("exploding", &exploding),
    ] {
        let here = run(config, &data, Box::new(CpuEngine::new(data.clone())));
        if name == "exploding" {
            assert!(matches!(here.record().status, Status::Stopped { .. }));
        }
        assert!(here.record().rounds.iter().any(|r| r.runs.len() >= 3) || name == "exploding");
        for lanes in [2, 4] {
            let there = run_in_lanes(config, &data, lanes);
            assert_eq!(
                figures(there.record()),
                figures(here.record()),
                "{name}, {lanes} runs at a time"
            );
            assert!(
                there
                    .record()
                    .engine
                    .name
                    .ends_with(&format!("{lanes} runs at a time")),
                "{}",
                there.record().engine.name
            );
        }
    }
}

/// A worker on a thread that, like a Web Worker's message event, announces each reply as it
/// arrives (a shared count the test's "event loop" watches).
struct Announcing {
    requests: std::sync::mpsc::Sender<Vec<u8>>,
    replies: std::sync::mpsc::Receiver<Vec<u8>>,
}

fn announcing_workers(announced: Arc<std::sync::atomic::AtomicUsize>) -> Workers {
    let spawn: Spawner = Rc::new(move || {
        let (requests, inbox) = std::sync::mpsc::channel::<Vec<u8>>();
        let (outbox, replies) = std::sync::mpsc::channel();
        let announced = announced.clone();
        std::thread::spawn(move || {
            let mut host = EngineHost::new();
            for message in inbox {
                if outbox.send(host.handle(&message)).is_err() {
                    break;
                }
                announced.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Ok(Box::new(Announcing { requests, replies }) as Box<dyn Transport>)
    });
    Workers {
        spawn,
        place: "an announcing thread",
        cores: 2,
    }
}

impl Transport for Announcing {
    fn send(&mut self, message: Vec<u8>) -> Result<(), String> {
        self.requests.send(message).map_err(|e| e.to_string())
    }

    fn try_recv(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.replies.try_recv() {
            Ok(bytes) => Ok(Some(bytes)),
            Err(std::sync::mpsc::TryRecvError::Empty) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn announces_replies(&self) -> bool {
        true
    }
}

/// The page drives workers from their answers, not from frames (`Session::answer_arrived`
/// on each reply, and again at once when it says more is to hand out): driven only so —
/// no frame at all — an experiment of several rounds, two runs at a time, reaches its end
/// with the record of one engine in this thread. A lane left idle with no answer to come (a
/// round's end not followed up) would stall it.
#[test]
fn workers_driven_by_their_answers_alone_finish_the_experiment() {
    use lottery_lab::app::{Engines, Handed, Session};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (tiny, data) = preset("tiny");
    let here = run(&tiny, &data, Box::new(CpuEngine::new(data.clone())));
    let announced = Arc::new(AtomicUsize::new(0));
    let engines = Engines {
        preference: lottery_lab::train::gpu::BackendPreference::Cpu,
        gpu: Err("not in this test".into()),
        workers: Some(announcing_workers(announced.clone())),
        parallel_runs: 2,
    };
    let mut session = Session::start(tiny.clone(), data.clone(), engines).unwrap();
    assert!(session.driven_by_answers());
    let (mut seen, mut again, mut follow_ups) = (0, true, 0);
    let mut quiet_since = std::time::Instant::now();
    while !session.experiment.is_done() {
        let now = announced.load(Ordering::SeqCst);
        if now == seen && !again {
            assert!(
                quiet_since.elapsed().as_secs() < 20,
                "stalled: no answer to come and nothing handed out ({:?})",
                session.last_progress
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
            continue;
        }
        seen = now;
        quiet_since = std::time::Instant::now();
        let handed = session.answer_arrived();
        assert_ne!(handed, Handed::Nothing);
        again = handed == Handed::MoreToHand;
        follow_ups += usize::from(again);
    }
    assert!(follow_ups > 0, "a round's end asks to be called again");
    assert_eq!(figures(session.experiment.record()), figures(here.record()));
    assert_eq!(session.experiment.lanes(), 2);
}

//! The native worker: an [`EngineHost`] on its own thread, bytes over channels — the same
//! messages a Web Worker gets in the page. A panic in the host ends the thread; the closed
//! channel is how the engine learns of it, as the page learns from the worker's error event.

use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};

use super::{EngineHost, Spawner, Transport, Workers};

pub struct ThreadWorker {
    requests: Sender<Vec<u8>>,
    replies: Receiver<Vec<u8>>,
}

impl ThreadWorker {
    pub fn start() -> Result<Self, String> {
        let (requests, inbox) = mpsc::channel::<Vec<u8>>();
        let (outbox, replies) = mpsc::channel();
        std::thread::Builder::new()
            .name("training worker".into())
            .spawn(move || {
                let mut host = EngineHost::new();
                for message in inbox {
                    if outbox.send(host.handle(&message)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("no training thread: {e}"))?;
        Ok(Self { requests, replies })
    }
}

impl Transport for ThreadWorker {
    fn send(&mut self, message: Vec<u8>) -> Result<(), String> {
        self.requests
            .send(message)
            .map_err(|_| "the training thread has stopped".to_string())
    }

    fn try_recv(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.replies.try_recv() {
            Ok(bytes) => Ok(Some(bytes)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err("the training thread has stopped".into()),
        }
    }
}

/// Workers as threads (the native window; the tests of the page's worker protocol).
pub fn spawner() -> Spawner {
    Rc::new(|| ThreadWorker::start().map(|worker| Box::new(worker) as Box<dyn Transport>))
}

/// Threads as the platform's workers, one per core.
pub fn workers() -> Workers {
    Workers {
        spawn: spawner(),
        place: "a thread",
        cores: cores(),
    }
}

/// The machine's cores, asked once (Linux reads cgroup files for it).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

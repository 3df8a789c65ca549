//! The worker's side: a [`CpuEngine`] answering requests. It knows nothing of how the bytes
//! travel (a Web Worker's messages, a native channel): each request's bytes in, the reply's
//! bytes out, one after another.

use std::sync::Arc;

use super::protocol::{self, Reply, Request};
use crate::train::{CpuEngine, Engine, EngineError};

#[derive(Default)]
pub struct EngineHost {
    engine: Option<CpuEngine>,
}

impl EngineHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answer one request. A job is done whole before this returns: that is what the worker
    /// is for. Panics on [`Request::Crash`] (the fault drill) and on bytes that are not a
    /// message (a mismatched build): the other side restarts the worker either way.
    pub fn handle(&mut self, bytes: &[u8]) -> Vec<u8> {
        let (id, request, data) = match protocol::decode_request(bytes) {
            Ok(message) => message,
            Err(e) => panic!("{e}"),
        };
        let reply = match request {
            Request::Data(_) => {
                let data = data.expect("a data request carries its splits");
                self.engine = Some(CpuEngine::new(Arc::new(data)));
                Reply::Ready
            }
            Request::Load { net, mask, cfg } => match self.engine_mut() {
                Ok(engine) => match engine.load(&net, &mask, &cfg) {
                    Ok(()) => Reply::Ready,
                    Err(e) => Reply::Failed(e),
                },
                Err(e) => Reply::Failed(e),
            },
            Request::Job(job) => match self.run(job) {
                Ok(result) => Reply::Done(result),
                Err(e) => Reply::Failed(e),
            },
            Request::Crash => panic!("fault drill: the training worker was told to crash"),
        };
        protocol::encode_reply(id, &reply)
    }

    fn engine_mut(&mut self) -> Result<&mut CpuEngine, EngineError> {
        self.engine.as_mut().ok_or(EngineError::NotLoaded)
    }

    fn run(&mut self, job: crate::train::Job) -> Result<crate::train::JobResult, EngineError> {
        let engine = self.engine_mut()?;
        engine.submit(job)?;
        // The CPU engine spreads an evaluation over polls (frames, on the main thread); here
        // nothing else waits, so poll until it is done.
        loop {
            if let Some(result) = engine.poll()? {
                return Ok(result);
            }
        }
    }
}

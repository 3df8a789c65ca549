//! The page's worker: a module Web Worker (`web/worker.js`) that loads this same wasm module
//! and answers through [`EngineHost`] (`WorkerHost` in `src/web.rs`). Messages are
//! transferred `Uint8Array`s; a panic in the worker reaches us as its `error` event.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;

use super::{Spawner, Transport, Workers};

/// The worker script, beside the page's other scripts (copied into `dist/web/`).
const WORKER_URL: &str = "web/worker.js";

#[derive(Default)]
struct Inbox {
    replies: VecDeque<Vec<u8>>,
    died: Option<String>,
    /// The worker's wasm memory, as it last reported it (after each answer).
    memory_bytes: usize,
}

pub struct WebWorker {
    worker: Rc<web_sys::Worker>,
    inbox: Rc<RefCell<Inbox>>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

/// A started worker and its inbox, held weakly: alive while its engine keeps it.
type LiveWorker = (Weak<web_sys::Worker>, Weak<RefCell<Inbox>>);

thread_local! {
    /// The live workers and their inboxes, for the page's fault drill (`crash_workers`) and
    /// the soak's memory figures (`live_workers_memory`).
    static LIVE: RefCell<Vec<LiveWorker>> = const { RefCell::new(Vec::new()) };
    /// Called after each reply or death (see [`on_reply`]).
    static ON_REPLY: RefCell<Option<Rc<dyn Fn()>>> = const { RefCell::new(None) };
    /// The timer callback of [`call_again_soon`], and whether it is set.
    static AGAIN: RefCell<Option<Closure<dyn FnMut()>>> = const { RefCell::new(None) };
    static AGAIN_SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Call the reply hook again from a zero-delay timer: the app had more to hand out than one
/// call should do (a round's end, a run's start) and its lanes must not wait for a frame.
pub fn call_again_soon() {
    if AGAIN_SET.get() {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    AGAIN.with(|again| {
        let mut again = again.borrow_mut();
        let callback = again.get_or_insert_with(|| {
            Closure::new(|| {
                AGAIN_SET.set(false);
                announce_reply();
            })
        });
        let set = window.set_timeout_with_callback_and_timeout_and_arguments_0(
            callback.as_ref().unchecked_ref(),
            0,
        );
        AGAIN_SET.set(set.is_ok());
    });
}

/// Have `hook` called whenever a worker's reply arrives (or a worker dies), between the
/// page's frames: the app hands that lane its next job at once. Driven only by frames, a
/// worker would idle from its answer to the next frame — under a software rasteriser 60-300
/// ms, as long as a job.
pub fn on_reply(hook: Rc<dyn Fn()>) {
    ON_REPLY.with(|slot| *slot.borrow_mut() = Some(hook));
}

fn announce_reply() {
    // Taken out first: the hook reads the inboxes and may start workers.
    if let Some(hook) = ON_REPLY.with(|slot| slot.borrow().clone()) {
        hook();
    }
}

fn js_error(value: JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

impl WebWorker {
    pub fn start() -> Result<Self, String> {
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        let worker = web_sys::Worker::new_with_options(WORKER_URL, &options)
            .map_err(|e| format!("no Web Worker: {}", js_error(e)))?;
        let inbox = Rc::new(RefCell::new(Inbox::default()));
        let arrived = inbox.clone();
        let on_message = Closure::<dyn FnMut(_)>::new(move |event: web_sys::MessageEvent| {
            // After each answer the worker reports its wasm memory as a number.
            if let Some(bytes) = event.data().as_f64() {
                arrived.borrow_mut().memory_bytes = bytes as usize;
                return;
            }
            let bytes = js_sys::Uint8Array::new(&event.data()).to_vec();
            arrived.borrow_mut().replies.push_back(bytes);
            announce_reply();
        });
        let died = inbox.clone();
        let on_error = Closure::<dyn FnMut(_)>::new(move |event: web_sys::Event| {
            let why = event
                .dyn_ref::<web_sys::ErrorEvent>()
                .map(|e| e.message())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the worker failed to load".into());
            died.borrow_mut().died = Some(format!("the training worker stopped: {why}"));
            // Handled here: the page's console keeps the worker's own report.
            event.prevent_default();
            announce_reply();
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        worker.set_onmessageerror(Some(on_error.as_ref().unchecked_ref()));
        let worker = Rc::new(worker);
        LIVE.with(|live| {
            let mut live = live.borrow_mut();
            live.retain(|(w, _)| w.strong_count() > 0);
            live.push((Rc::downgrade(&worker), Rc::downgrade(&inbox)));
        });
        Ok(Self {
            worker,
            inbox,
            _on_message: on_message,
            _on_error: on_error,
        })
    }
}

impl Transport for WebWorker {
    fn send(&mut self, message: Vec<u8>) -> Result<(), String> {
        let array = js_sys::Uint8Array::from(&message[..]);
        let transfer = js_sys::Array::of1(&array.buffer());
        self.worker
            .post_message_with_transfer(&array, &transfer)
            .map_err(|e| format!("the training worker refused a message: {}", js_error(e)))
    }

    fn try_recv(&mut self) -> Result<Option<Vec<u8>>, String> {
        let mut inbox = self.inbox.borrow_mut();
        if let Some(bytes) = inbox.replies.pop_front() {
            return Ok(Some(bytes));
        }
        match &inbox.died {
            Some(why) => Err(why.clone()),
            None => Ok(None),
        }
    }

    fn announces_replies(&self) -> bool {
        true
    }
}

impl Drop for WebWorker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

/// Module workers where the page has them (every browser with WebGPU does); `None` leaves
/// training in the page's thread.
pub fn workers() -> Option<Workers> {
    let has_worker =
        js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("Worker")).unwrap_or(false);
    let cores = web_sys::window()
        .map(|w| w.navigator().hardware_concurrency())
        .filter(|n| n.is_finite() && *n >= 1.0)
        .map_or(1, |n| n as usize);
    has_worker.then(|| Workers {
        spawn: Rc::new(|| WebWorker::start().map(|worker| Box::new(worker) as Box<dyn Transport>))
            as Spawner,
        place: "a Web Worker",
        cores,
    })
}

/// Fault drill for the browser test: every live training worker is told to crash (its host
/// panics). Returns how many were told.
pub fn crash_workers() -> usize {
    let crash = super::protocol::encode_request(u64::MAX, &super::protocol::Request::Crash);
    LIVE.with(|live| {
        live.borrow()
            .iter()
            .filter_map(|(worker, _)| worker.upgrade())
            .filter(|worker| {
                let array = js_sys::Uint8Array::from(&crash[..]);
                worker.post_message(&array).is_ok()
            })
            .count()
    })
}

/// The wasm memory of each live training worker, as each last reported it (0 before its
/// first answer): the soak's figure for the workers, beside the page's own memory. A worker
/// whose engine was dropped is not live (its `Drop` terminated it).
pub fn live_workers_memory() -> Vec<usize> {
    LIVE.with(|live| {
        live.borrow()
            .iter()
            .filter(|(worker, _)| worker.strong_count() > 0)
            .filter_map(|(_, inbox)| inbox.upgrade())
            .map(|inbox| inbox.borrow().memory_bytes)
            .collect()
    })
}

// The training worker: this same wasm module's CPU engine (WorkerHost, src/web.rs), answering
// the page's requests (src/train/worker/) so that the page's thread only draws. Requests and
// replies are transferred Uint8Arrays, each reply followed by this worker's wasm memory size
// (a number); a panic here reaches the page as this worker's error event, and the page
// replaces the worker and replays its run.
import init, { WorkerHost } from "../pkg/lottery_lab.js";

// Requests sent while the module loads wait here.
const early = [];
self.onmessage = (event) => early.push(event.data);

const wasm = await init();
const host = new WorkerHost();
const answer = (request) => {
  const reply = host.handle(request);
  self.postMessage(reply, [reply.buffer]);
  // This worker's wasm memory, for the page's soak figures (a number, not a reply).
  self.postMessage(wasm.memory.buffer.byteLength);
};
self.onmessage = (event) => answer(event.data);
for (const request of early.splice(0)) answer(request);

// The page in a real browser: Debian's Chromium driven by playwright-core, against the built
// site in dist/ (`cargo xtask build`). Run by `cargo xtask test`; `node tests/browser/run.mjs`
// by hand.
//
// Launch A: WebGPU through SwiftShader (toolchain.md's flags). The app draws through WebGPU,
//   runs the tiny preset (backend auto) to the end, then a short run on the GPU engine.
// Launch B: no WebGPU. The app falls back to WebGL2 and the CPU engine.
//
// LOTTERY_LAB_URL=http://127.0.0.1:8080/ tests a running server instead of its own.
// Every wait has a timeout. On a failure the page's console and its status JSON are printed
// and the exit code is 1. The last line is `browser: N passed, M failed`.

import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const dist = path.join(root, "dist");
const out = path.join(root, "test-output/browser");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const BASE_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];
// Playwright passes its own --enable-features; Chromium keeps only the last one, so ours
// repeats Playwright's screenshot feature next to Vulkan.
const WEBGPU_FLAGS = [
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan,CDPScreenshotNewSurface",
  "--use-vulkan=swiftshader",
  "--use-angle=swiftshader",
];
const VIEWPORT = { width: 1280, height: 720 };

let passed = 0;
let failed = 0;
// Launches that ran: a LAUNCHES filter that matches none must not pass as a green run.
let launched = 0;

function check(name, ok, detail = "") {
  if (ok) {
    passed += 1;
    console.log(`  ok    ${name}${detail ? ` (${detail})` : ""}`);
  } else {
    failed += 1;
    console.log(`  FAIL  ${name}${detail ? `: ${detail}` : ""}`);
  }
  return ok;
}

// ---- a static server for dist/ ----------------------------------------------------------

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".gz": "application/gzip",
  ".json": "application/json",
  ".png": "image/png",
  ".webmanifest": "application/manifest+json",
};

function serve() {
  const server = http.createServer((req, res) => {
    let file;
    try {
      const url = new URL(req.url, "http://localhost");
      const parts = decodeURIComponent(url.pathname).split("/").filter(Boolean);
      if (parts.some((p) => p === ".." || p.includes("\\"))) throw new Error("bad path");
      file = path.join(dist, ...parts);
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    } catch {
      res.writeHead(400).end("bad request");
      return;
    }
    fs.readFile(file, (err, body) => {
      if (err) {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
        return;
      }
      res.writeHead(200, {
        "Content-Type": MIME[path.extname(file)] ?? "application/octet-stream",
        "Content-Length": body.length,
        "Cache-Control": "no-cache",
      });
      res.end(body);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

// ---- helpers ----------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Poll `probe` (in node) until it returns a truthy value; throw after `timeoutMs`.
async function waitFor(what, timeoutMs, probe, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/// A promise with a timeout (a lost device can leave one pending forever).
function withTimeout(what, ms, promise) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${what}`)), ms);
    }),
  ]);
}

const status = (page) =>
  withTimeout("status()", 10_000, page.evaluate(() => window.lotteryLab.status()));

/// Distinct colours in a PNG screenshot, decoded by the page itself. A blank (or all one
/// colour) canvas gives 1 or 2; the app's panels, plots and text give hundreds.
async function distinctColours(page, png) {
  const dataUrl = `data:image/png;base64,${png.toString("base64")}`;
  return withTimeout(
    "decoding the screenshot",
    20_000,
    page.evaluate(async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = img.width;
      c.height = img.height;
      const g = c.getContext("2d", { willReadFrequently: true });
      g.drawImage(img, 0, 0);
      const data = g.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < data.length; i += 4) {
        seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        if (seen.size > 5000) break;
      }
      return seen.size;
    }, dataUrl),
  );
}

// Times every requestAnimationFrame callback that does work (> 1 ms): eframe asks for a frame
// at display rate and only runs the app when a repaint is due, so these are the app's frames
// (logic + paint submission on the main thread; SwiftShader's rasterising is elsewhere).
const FRAME_PROBE = `(() => {
  const raf = window.requestAnimationFrame.bind(window);
  const frames = [];
  window.__frames = frames;
  window.requestAnimationFrame = (cb) => raf((t) => {
    const start = performance.now();
    try { cb(t); } finally {
      const ms = performance.now() - start;
      if (ms > 1) { frames.push([start, ms]); if (frames.length > 50000) frames.shift(); }
    }
  });
})();`;

const quantile = (xs, q) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))];
};

/// Frame figures between two page times (performance.now()).
async function frameFigures(page, from, to) {
  const frames = await page.evaluate(
    ([a, b]) => (window.__frames ?? []).filter(([t]) => t >= a && t <= b),
    [from, to],
  );
  const work = frames.map(([, ms]) => ms);
  const gaps = frames.slice(1).map(([t], i) => t - frames[i][0]);
  return {
    frames: frames.length,
    work_p50: quantile(work, 0.5),
    work_p95: quantile(work, 0.95),
    work_max: Math.max(0, ...work),
    interval_p95: quantile(gaps, 0.95),
  };
}

const PATIENCE = Number(process.env.PATIENCE ?? 3);

const fmt = (f) =>
  `${f.frames} frames; main-thread work per frame p50 ${f.work_p50.toFixed(1)} ms, ` +
  `p95 ${f.work_p95.toFixed(1)} ms, max ${f.work_max.toFixed(1)} ms; frame interval p95 ${f.interval_p95.toFixed(1)} ms`;

/// Start `request` and wait until the experiment finishes. Returns the last status, the
/// largest status().frame_ms.p95 seen while it ran, and the probe's frame figures.
async function runToEnd(page, request, timeoutMs) {
  // Training in the page shares the main thread with painting, and the software rasteriser's
  // frames take 60-470 ms on two cores depending on the Chromium build (156: ~250-450 ms): the
  // waits allow for the slow end (PATIENCE, default 3x) so that a slow painter is not a failure.
  timeoutMs *= PATIENCE;
  const from = await page.evaluate(() => performance.now());
  await withTimeout(
    "lotteryLab.run",
    10_000,
    page.evaluate((r) => window.lotteryLab.run(r), request),
  );
  const started = Date.now();
  let p95 = 0;
  let last;
  await waitFor(`${JSON.stringify(request)} to finish`, timeoutMs, async () => {
    if (await page.evaluate(() => window.lotteryLab.handle.has_panicked())) {
      throw new Error("the app panicked");
    }
    last = await status(page);
    p95 = Math.max(p95, last.frame_ms?.p95 ?? 0);
    if (last.status?.state === "stopped") throw new Error(`the experiment stopped: ${JSON.stringify(last.status)}`);
    return last.finished;
  }, 500);
  const to = await page.evaluate(() => performance.now());
  const frames = await frameFigures(page, from, to);
  return { status: last, p95, frames, seconds: (Date.now() - started) / 1000 };
}

function ticketAccuracies(s) {
  return s.rounds.map((r) => r.accuracy?.ticket);
}

/// Soak: `n` experiments in a row in one page (SOAK, default 10 in CI; `SOAK=100` by hand).
/// After each: the wasm memory, the JS heap, the training workers' wasm memory (each as it
/// reported after its last answer) and the notices. From the second experiment on (the first
/// allocates what every later one reuses) no memory may grow by more than 16 MB, no more
/// workers may be alive than after the first (none left behind), and no notice may pile up.
const SOAK = Number(process.env.SOAK ?? 10);
async function soak(page, label, request) {
  const after = [];
  const started = Date.now();
  for (let i = 0; i < SOAK; i++) {
    const r = await runToEnd(page, request, 60_000);
    after.push(await page.evaluate(() => ({
      wasm: window.lotteryLab.handle.memory_bytes(),
      heap: performance.memory?.usedJSHeapSize ?? 0,
      workers: Array.from(window.lotteryLab.handle.workers_memory_bytes()),
      notices: window.lotteryLab.status().notices.length,
      rounds: window.lotteryLab.status().rounds.length,
    })));
    after.at(-1).seconds = r.seconds;
  }
  const mb = (x) => x / 2 ** 20;
  const base = after[Math.min(1, after.length - 1)];
  const last = after.at(-1);
  const workersMax = (a) => Math.max(0, ...a.workers);
  const growth = {
    wasm: mb(last.wasm - base.wasm),
    heap: mb(last.heap - base.heap),
    workers: mb(workersMax(last) - workersMax(base)),
  };
  (report.soak ??= {})[label] = { experiments: SOAK, after, growth_mb: growth };
  console.log(
    `  soak (${label}): ${SOAK} experiments in ${((Date.now() - started) / 1000).toFixed(0)} s; wasm memory ` +
      `${after.map((a) => mb(a.wasm).toFixed(0)).join(", ")} MB; JS heap ${after.map((a) => mb(a.heap).toFixed(0)).join(", ")} MB; ` +
      `training workers (count: largest wasm memory) ${after.map((a) => `${a.workers.length}: ${mb(workersMax(a)).toFixed(0)}`).join(", ")} MB`,
  );
  check(
    `soak (${label}): every experiment finishes with its rounds`,
    after.every((a) => a.rounds === after[0].rounds && a.rounds > 0),
    JSON.stringify(after.map((a) => a.rounds)),
  );
  check(
    `soak (${label}): memory grows by at most 16 MB after the first experiment`,
    growth.wasm <= 16 && growth.heap <= 16 && growth.workers <= 16,
    `wasm ${growth.wasm.toFixed(1)} MB, JS heap ${growth.heap.toFixed(1)} MB, a worker's wasm ${growth.workers.toFixed(1)} MB`,
  );
  if (label.includes("Web Workers")) {
    check(
      `soak (${label}): the training workers report their memory`,
      after.every((a) => a.workers.length > 0 && a.workers.every((b) => b > 0)),
      JSON.stringify(after.map((a) => a.workers)),
    );
  }
  check(
    `soak (${label}): no training worker is left behind`,
    after.every((a) => a.workers.length <= after[0].workers.length),
    `live workers after each experiment: ${after.map((a) => a.workers.length).join(", ")}`,
  );
  check(
    `soak (${label}): no notice piles up`,
    last.notices <= after[0].notices,
    `${after[0].notices} notices after the first, ${last.notices} after the last`,
  );
}

// ---- one launch ---------------------------------------------------------------------------

async function launch(name, args, body, startUrl = () => baseUrl) {
  // LAUNCHES=C runs only launch C (while working on it); CI runs them all.
  if (process.env.LAUNCHES && !process.env.LAUNCHES.includes(name[0])) return;
  launched += 1;
  console.log(`\n=== launch ${name}`);
  const console_ = [];
  const failedBefore = failed;
  let browser;
  let page;
  try {
    browser = await withTimeout(
      "launching chromium",
      60_000,
      chromium.launch({ executablePath: chromiumPath, headless: true, args }),
    );
    page = await browser.newPage({ viewport: VIEWPORT });
    await page.addInitScript(FRAME_PROBE);
    page.setDefaultTimeout(60_000);
    page.on("console", (m) => console_.push(`[${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => console_.push(`[pageerror] ${e.stack ?? e}`));
    page.on("crash", () => console_.push("[crash] the page crashed"));
    page.on("requestfailed", (r) => console_.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText}`));
    page.on("response", (r) => {
      if (r.status() >= 400) console_.push(`[http ${r.status()}] ${r.url()}`);
    });
    // Every request of every page of this launch (workers and the service worker included):
    // none may leave the page's own origin.
    const requests = [];
    page.context().on("request", (r) => requests.push(r.url()));

    const started = Date.now();
    await page.goto(startUrl(), { waitUntil: "load", timeout: 30_000 });
    check(
      "the loading message shows while the wasm downloads",
      (await page.locator("#loading").textContent()).includes("Loading Lottery Lab"),
    );
    const ready = await waitFor("window.lotteryLabReady or window.lotteryLabError", 90_000, () =>
      page.evaluate(() =>
        window.lotteryLabReady ? "ready" : window.lotteryLabError ? "error" : null,
      ),
    );
    const error = await page.evaluate(() => window.lotteryLabError ?? null);
    if (!check("the app starts", ready === "ready" && !error, error ?? `${(Date.now() - started) / 1000} s`)) {
      throw new Error("the app did not start");
    }
    check("the loading message is gone", await page.locator("#loading").isHidden());
    (report.startup ??= {})[name] = { ready_s: (Date.now() - started) / 1000 };
    console.log(`  interactive after ${((Date.now() - started) / 1000).toFixed(2)} s (page load to lotteryLabReady)`);
    // The digits are fetched and decoded after the first frame: wait for them (the app's
    // start-up frames), so that the runs' frame figures are the runs' own.
    const digits = await waitFor("the MNIST digits to load", 60_000, async () => {
      const d = (await status(page)).digits;
      return d.startsWith("ready") || d.startsWith("failed") ? d : null;
    });
    check("the MNIST digits load", digits.startsWith("ready"), digits);
    const startup = await frameFigures(page, 0, await page.evaluate(() => performance.now()));
    console.log(`  start-up: ${fmt(startup)}`);
    await body(page, browser);
    check("no panic", !(await page.evaluate(() => window.lotteryLab.handle.has_panicked())));
    check("no error box", await page.locator("#error").isHidden());
    const origin = new URL(baseUrl).origin;
    const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !/^(data|blob):/.test(u));
    check(
      "network: every request is for the page's own files",
      requests.length > 5 && foreign.length === 0,
      foreign.length ? `foreign: ${foreign.slice(0, 5).join(", ")}` : `${requests.length} requests, all to ${origin}`,
    );
    // The Content-Security-Policy: an inline script injected into the page does not run.
    const inlineRan = await page.evaluate(() => {
      const script = document.createElement("script");
      script.textContent = "window.__inlineScriptRan = true;";
      document.head.appendChild(script);
      return window.__inlineScriptRan === true;
    });
    check("CSP: the page runs no inline script", !inlineRan && (await page.locator('meta[http-equiv="Content-Security-Policy"]').count()) === 1);
  } catch (e) {
    check(`launch ${name} completes`, false, e.message);
  } finally {
    if (failed > failedBefore) {
      console.log(`\n--- console of launch ${name}`);
      for (const line of console_) console.log(line);
      if (page) {
        try {
          const s = await withTimeout("status", 5_000, page.evaluate(() => window.lotteryLab?.status()));
          console.log(`--- status JSON\n${JSON.stringify(s, null, 2)}`);
        } catch (e) {
          console.log(`--- status JSON unavailable: ${e.message}`);
        }
      }
    } else {
      const noisy = console_.filter((l) => /^\[(error|pageerror|crash|requestfailed|http)/.test(l));
      if (noisy.length) console.log(`  console errors (not failures):\n    ${noisy.join("\n    ")}`);
    }
    if (browser) await browser.close().catch(() => {});
  }
}

async function screenshot(page, file, what) {
  // A couple of frames after the last round, so the final state is drawn.
  await sleep(1000);
  const png = await page.screenshot({ path: path.join(out, file), timeout: 30_000 });
  const colours = await distinctColours(page, png);
  check(`${what}: the canvas is not blank`, colours > 50, `${colours} colours, ${file}`);
}

// ---- the checks ---------------------------------------------------------------------------

const report = {};

async function webgpu(page) {
  const s0 = await status(page);
  check("WebGPU: eframe's device can run compute", s0.gpu === "available", `gpu: ${s0.gpu}; adapter: ${JSON.stringify(s0.adapter)}`);

  const auto = await runToEnd(
    page,
    { preset: "tiny", backend: "auto", config: { schedule: { kind: "iterative", rounds: 2 } } },
    120_000,
  );
  const s = auto.status;
  report.webgpuAuto = { seconds: auto.seconds, p95: auto.p95, backend: s.backend, samples_per_s: s.samples_per_s };
  console.log(`  tiny, 2 rounds, backend auto: ${auto.seconds.toFixed(1)} s on ${s.backend?.kind} (${s.backend?.reason})`);
  console.log(`  status().frame_ms during the run: p95 ${auto.p95.toFixed(1)} ms (mean ${s.frame_ms?.mean?.toFixed(1)} ms, ${s.frame_ms?.frames} frames since start)`);
  console.log(`  probe during the run: ${fmt(auto.frames)}`);
  report.webgpuAuto.frames = auto.frames;
  check("auto run: 3 rounds recorded", s.rounds.length === 3, `${s.rounds.length} rounds`);
  const acc = ticketAccuracies(s);
  check("auto run: every round's ticket accuracy > 0.5", acc.length > 0 && acc.every((a) => a > 0.5), JSON.stringify(acc));
  check("auto run: status is finished", s.status?.state === "finished", JSON.stringify(s.status));
  await screenshot(page, "webgpu.png", "WebGPU");

  // The frame budget, over what a lecture looks like: the default preset (LeNet-300-100 on
  // the digits) training the dense round and one pruned round, the round end included.
  // The budget (frame time p95 under 16 ms) is a figure, reported here and measured by
  // `cargo xtask bench` (frames.mjs): on two shared cores, with SwiftShader painting and a worker
  // training, a whole frame's wall time is noise (p95 12.7-17.6 ms over runs of the same build
  // here, 34 ms once in CI with our code's tick at 0.2 ms). Asserted is what is ours: no frame's
  // tick (the workers' messages, the views' work, saving — what a round's end loads, once 36 ms
  // here) takes twice the budget (the slowest tick was 2.8-8.9 ms over runs here: one frame,
  // wall time, so a preemption shows in it too), and the page never freezes (frame time p95
  // under 100 ms; training on the main thread would be seconds).
  // The debug overlay is on, as a lecturer checking the numbers would have it.
  await page.evaluate(() => window.lotteryLab.handle.show_overlay(true));
  const lecture = await runToEnd(
    page,
    { preset: "digits-quick", config: { schedule: { kind: "iterative", rounds: 1 }, iterations: 300 } },
    300_000,
  );
  const lf = lecture.status.frame_ms;
  report.lectureFrames = { seconds: lecture.seconds, status_frame_ms: lf, probe: lecture.frames };
  check("lecture run: the default preset trains its rounds", lecture.status.rounds.length === 2, `${lecture.status.rounds.length} rounds`);
  console.log(
    `  frames while the default preset trains (${lecture.seconds.toFixed(0)} s, last ${lf.samples} frames): ` +
      `frame time (CPU, the overlay's) p50 ${lf.cpu_p50.toFixed(1)} ms, p95 ${lf.cpu_p95.toFixed(1)} ms; ` +
      `our code p95 ${lf.work_p95.toFixed(1)} ms, slowest tick ${lf.tick_max.toFixed(1)} ms; interval p95 ${lf.p95.toFixed(1)} ms (mean ${lf.mean.toFixed(1)}); ` +
      `${lf.slow.length} of the last frames over 16 ms, worst ${Math.max(0, ...lf.slow.map((f) => f.cpu_ms)).toFixed(1)} ms`,
  );
  console.log(`  probe during the lecture run: ${fmt(lecture.frames)}`);
  check(
    "lecture run: no frame's tick (a round's end included) takes twice the 16 ms budget",
    lf.samples >= 20 && lf.tick_max < 32,
    `slowest tick ${lf.tick_max.toFixed(1)} ms over ${lf.samples} frames; slowest frames: ${JSON.stringify(lf.slow.slice(-3))}`,
  );
  check(
    "lecture run: the page never freezes (frame time p95 under 100 ms)",
    lf.samples >= 20 && lf.cpu_p95 < 100,
    `p95 ${lf.cpu_p95.toFixed(1)} ms over ${lf.samples} frames`,
  );
  check("lecture run: the debug overlay is on", lecture.status.overlay === true, `overlay: ${lecture.status.overlay}`);
  check("lecture run: training runs in Web Workers, off the thread that draws", lecture.status.backend?.name?.includes("Web Worker"), JSON.stringify(lecture.status.backend));
  await screenshot(page, "lecture-run-overlay.png", "the default preset's run with the debug overlay");
  await page.evaluate(() => window.lotteryLab.handle.show_overlay(false));

  const gpu = await runToEnd(
    page,
    { preset: "tiny", backend: "gpu", config: { schedule: { kind: "iterative", rounds: 1 }, iterations: 100 } },
    180_000,
  );
  const g = gpu.status;
  report.webgpuGpu = { seconds: gpu.seconds, p95: gpu.p95, backend: g.backend, samples_per_s: g.samples_per_s };
  console.log(`  tiny, 1 round, 100 iterations, backend gpu: ${gpu.seconds.toFixed(1)} s (${g.backend?.name})`);
  console.log(`  probe during the run: ${fmt(gpu.frames)}`);
  report.webgpuGpu.frames = gpu.frames;
  check("gpu run: the WebGPU compute engine trained it", g.backend?.kind === "gpu", JSON.stringify(g.backend));
  check("gpu run: 2 rounds recorded", g.rounds.length === 2, `${g.rounds.length} rounds`);
  const gacc = ticketAccuracies(g);
  check("gpu run: ticket accuracies are numbers in [0, 1]", gacc.length === 2 && gacc.every((a) => a >= 0 && a <= 1), JSON.stringify(gacc));
  await screenshot(page, "webgpu-gpu-engine.png", "WebGPU (gpu engine)");

  // Pruning at initialisation on WebGPU: GraSP's three gradient jobs run on the GPU engine.
  const grasp = await runToEnd(
    page,
    { preset: "tiny", backend: "gpu", config: { method: "grasp", schedule: { kind: "iterative", rounds: 2 }, iterations: 60, eval_every: 30 } },
    180_000,
  );
  const gs = grasp.status;
  check(
    "gpu GraSP: scored at θ₀ by the WebGPU engine's gradient jobs",
    gs.backend?.kind === "gpu" && gs.rounds.length === 3 && gs.notes.some((n) => n.startsWith("GraSP scored at θ₀")),
    `${JSON.stringify(gs.backend)}, ${gs.rounds.length} rounds, notes ${JSON.stringify(gs.notes)}`,
  );
  check("gpu GraSP: the link carries the method", String(gs.link).includes("method=grasp"), gs.link);

  // One digit's explanation in the browser (the explanations panel's budget: 100 ms).
  const [explainMs, explainIntervals] = await page.evaluate(() => Array.from(window.lotteryLab.handle.bench_attributions(5)));
  report.attributions = { ms: explainMs, intervals: explainIntervals };
  check("attributions: one digit explained in the browser", explainMs > 0 && explainIntervals >= 16, `${explainMs} ms, ${explainIntervals} intervals`);
  console.log(`  one digit's explanation (LeNet-300-100, IG to completeness at ${explainIntervals} intervals + gradient × input): ${explainMs.toFixed(1)} ms (budget 100 ms)`);

  // Training throughput in the browser, LeNet-300-100 at batch 60 (the peers' benchmark).
  const cpuRate = await page.evaluate(() => window.lotteryLab.handle.bench_cpu(60, 3));
  check("throughput: the wasm CPU engine trains LeNet-300-100", cpuRate > 0, `${cpuRate.toFixed(0)} samples/s`);
  // The engine's own choice of matrix-product kernels for this adapter, then the other
  // kernel in the same page for the ratio.
  const gpuBench = async (matmul) => {
    await page.evaluate((m) => window.lotteryLab.handle.bench_gpu_start(60, 16, 3, m), matmul);
    return waitFor(`the WebGPU throughput (${matmul ?? "engine's choice"})`, 300_000, () =>
      page.evaluate(() => window.lotteryLab.handle.bench_gpu_poll() ?? null),
    );
  };
  const gpuRate = await gpuBench(undefined);
  check("throughput: the WebGPU engine trains LeNet-300-100", gpuRate > 0, `${gpuRate.toFixed(0)} samples/s`);
  const tiledRate = await gpuBench("tiled");
  report.throughput = { cpu_wasm_batch60: cpuRate, webgpu_swiftshader_batch60: gpuRate, webgpu_swiftshader_tiled_batch60: tiledRate };
  console.log(
    `  throughput, LeNet-300-100 batch 60: CPU engine (wasm+simd128) ${cpuRate.toFixed(0)} samples/s, ` +
      `WebGPU engine (SwiftShader) ${gpuRate.toFixed(0)} samples/s with the engine's kernels, ` +
      `${tiledRate.toFixed(0)} with the tiled ones (${(gpuRate / tiledRate).toFixed(2)}x)`,
  );

  // A conv net on the WebGPU engine: MNIST-1D's CNN (conv.wgsl), one short round (after the
  // throughput figures, so that its work on the GPU threads does not share their time).
  const gconv = await runToEnd(
    page,
    { preset: "mnist1d-cnn", backend: "gpu", config: { schedule: { kind: "iterative", rounds: 1 }, iterations: 60, eval_every: 30 } },
    300_000,
  );
  const gc = gconv.status;
  check("gpu conv net: the WebGPU engine trained MNIST-1D's CNN", gc.backend?.kind === "gpu" && gc.rounds.length === 2, `${JSON.stringify(gc.backend)}, ${gc.rounds.length} rounds`);
  const gcacc = ticketAccuracies(gc);
  check("gpu conv net: ticket accuracies beat chance (10%)", gcacc.length === 2 && gcacc.every((a) => a > 0.15 && a <= 1), JSON.stringify(gcacc));
  console.log(`  MNIST-1D CNN, 1 round of 60 iterations on the WebGPU engine: ${gconv.seconds.toFixed(1)} s, ticket ${gcacc.map((a) => (100 * a).toFixed(1)).join(" / ")}%`);

  await soak(page, "WebGPU engine", { preset: "tiny", backend: "gpu", config: { schedule: { kind: "iterative", rounds: 1 }, iterations: 40, eval_every: 20 } });

  // Fault drill: the GPU engine's device is lost mid-run. The experiment finishes on the CPU
  // engine in a Web Worker (not in the page's thread, which would stutter from then on) with
  // its finished rounds kept, and a notice says so.
  const lossRun = { preset: "tiny", backend: "gpu", config: { schedule: { kind: "iterative", rounds: 3 }, iterations: 200, eval_every: 50 } };
  await withTimeout("lotteryLab.run", 10_000, page.evaluate((r) => window.lotteryLab.run(r), lossRun));
  const beforeLoss = await waitFor("a finished round on the GPU engine", 120_000 * PATIENCE, async () => {
    const st = await status(page);
    return st.rounds.length >= 1 && !st.finished ? st : null;
  }, 100);
  const lost = await page.evaluate(() => window.lotteryLab.handle.simulate_gpu_loss());
  const afterLoss = await waitFor("the experiment to finish after the loss", 180_000 * PATIENCE, async () => {
    const st = await status(page);
    if (st.status?.state === "stopped") throw new Error(`stopped: ${JSON.stringify(st.status)}`);
    return st.finished ? st : null;
  });
  check(
    "lost GPU device: the experiment finishes on the CPU engine in a Web Worker, finished rounds kept, a notice",
    lost && beforeLoss.backend?.kind === "gpu" && afterLoss.backend?.kind === "cpu" && afterLoss.rounds.length === 4 &&
      String(afterLoss.backend?.name).includes("in a Web Worker") &&
      JSON.stringify(afterLoss.rounds.slice(0, beforeLoss.rounds.length)) === JSON.stringify(beforeLoss.rounds) &&
      afterLoss.notices.some((n) => n.startsWith("The experiment switched to CPU engine") && n.includes("fault drill")),
    `${afterLoss.rounds.length} rounds; ${JSON.stringify(afterLoss.backend)}; ${afterLoss.notices.join(" | ")}`,
  );

}

async function fallback(page, browser) {
  const s0 = await status(page);
  check("no WebGPU: status says the GPU is unavailable", String(s0.gpu).startsWith("unavailable"), s0.gpu);

  const cpu = await runToEnd(page, { preset: "tiny" }, 120_000);
  const s = cpu.status;
  report.cpu = { seconds: cpu.seconds, p95: cpu.p95, backend: s.backend, samples_per_s: s.samples_per_s };
  console.log(`  tiny (3 rounds), default backend: ${cpu.seconds.toFixed(1)} s; status().frame_ms p95 ${cpu.p95.toFixed(1)} ms`);
  console.log(`  probe during the run: ${fmt(cpu.frames)}`);
  report.cpu.frames = cpu.frames;
  check("fallback run: the CPU engine trained it", s.backend?.kind === "cpu", JSON.stringify(s.backend));
  check("fallback run: 4 rounds recorded", s.rounds.length === 4, `${s.rounds.length} rounds`);
  const acc = ticketAccuracies(s);
  check("fallback run: every round's ticket accuracy > 0.5", acc.length > 0 && acc.every((a) => a > 0.5), JSON.stringify(acc));
  await screenshot(page, "cpu-fallback.png", "no WebGPU");

  await soak(page, "CPU engine in Web Workers", { preset: "tiny", config: { schedule: { kind: "iterative", rounds: 1 }, iterations: 40, eval_every: 20 } });

  // SynFlow's 100 steps a round, two a frame, in wasm; 12 halvings leave 2 of the 320
  // weights, too few for three layers: the last rounds are marked collapsed, not trained.
  const synflow = await runToEnd(
    page,
    { preset: "tiny", config: { method: "synflow", schedule: { kind: "iterative", rounds: 12 }, iterations: 50, eval_every: 25 } },
    180_000,
  );
  const sf = synflow.status;
  const collapses = sf.notes.filter((n) => n.includes("layer collapse before training, SynFlow"));
  check(
    "SynFlow in wasm: every round scored and recorded, collapsed ones noted",
    sf.rounds.length === 13 && collapses.length > 0,
    `${sf.rounds.length} rounds, ${collapses.length} collapse notes, ${synflow.seconds.toFixed(1)} s`,
  );

  // Training in Web Workers: the default preset's first round (the dense net, then the ticket
  // and its controls), one run at a time and two at a time; the record must be the same.
  const round = { preset: "digits-quick", config: { schedule: { kind: "iterative", rounds: 1 }, iterations: 100 } };
  const one = await runToEnd(page, { ...round, parallel_runs: 1 }, 180_000);
  const two = await runToEnd(page, { ...round, parallel_runs: 2 }, 180_000);
  check(
    "workers: the CPU engine trains in Web Workers",
    one.status.backend?.name?.includes("in a Web Worker") && one.status.backend?.parallel_runs === 1,
    JSON.stringify(one.status.backend),
  );
  check(
    "workers: two runs at a time give the record one at a time gives",
    two.status.backend?.parallel_runs === 2 && two.status.rounds.length === 2 &&
      JSON.stringify(two.status.rounds) === JSON.stringify(one.status.rounds),
    `${JSON.stringify(two.status.rounds)} vs ${JSON.stringify(one.status.rounds)}`,
  );
  report.workers = { one_at_a_time_s: one.seconds, two_at_a_time_s: two.seconds, one_frames: one.frames, two_frames: two.frames };
  console.log(
    `  digits-quick, dense + 1 round of 100 iterations in Web Workers: one run at a time ${one.seconds.toFixed(1)} s, ` +
      `two at a time ${two.seconds.toFixed(1)} s (${(one.seconds / two.seconds).toFixed(2)}x)`,
  );
  console.log(`  probe, one at a time: ${fmt(one.frames)}`);
  console.log(`  probe, two at a time: ${fmt(two.frames)}`);

  // Fault drill: every training worker crashes mid-round; each is replaced and replays its
  // run, and the record is the one an undisturbed run gives.
  await withTimeout("lotteryLab.run", 10_000, page.evaluate((r) => window.lotteryLab.run(r), { ...round, parallel_runs: 2 }));
  await waitFor("the pruned round to start", 60_000 * PATIENCE, async () => {
    const st = await status(page);
    return st.running && st.current_round >= 1 ? st : null;
  }, 100);
  const crashed = await page.evaluate(() => window.lotteryLab.handle.crash_workers());
  const after = await waitFor("the run after the crash to finish", 120_000 * PATIENCE, async () => {
    const st = await status(page);
    if (st.status?.state === "stopped") throw new Error(`stopped: ${JSON.stringify(st.status)}`);
    return st.finished ? st : null;
  }, 250);
  check(
    "worker crash: the crashed workers are replaced and the record is unchanged",
    crashed >= 1 && JSON.stringify(after.rounds) === JSON.stringify(one.status.rounds),
    `${crashed} workers crashed; ${JSON.stringify(after.rounds)}`,
  );

  // The sparsity slider's budget: prune the trained LeNet and re-evaluate 2,000 test digits
  // (on the record just trained).
  const timings = [];
  for (const sparsity of [50, 80, 90, 95, 99]) {
    await page.evaluate((p) => window.lotteryLab.handle.set_sparsity(p), sparsity);
    const slider = await waitFor(`the slider at ${sparsity}%`, 30_000, async () => {
      const sl = (await status(page)).slider;
      return sl && Math.abs(sl.density - (1 - sparsity / 100) * 1) < 0.02 ? sl : null;
    });
    timings.push(slider.elapsed_ms);
  }
  report.slider_ms = timings;
  check("slider: pruning + re-evaluating 2,000 digits is measured", timings.every((t) => t > 0), JSON.stringify(timings));
  console.log(`  slider on LeNet-300-100 (prune + evaluate 2,000 test digits, wasm): ${timings.map((t) => t.toFixed(1)).join(", ")} ms`);
  await screenshot(page, "digits-slider.png", "digits after one round, slider at 99%");

  // A conv net in the page: MNIST-1D's CNN, two short rounds, on the CPU engine.
  const conv = await runToEnd(
    page,
    { preset: "mnist1d-cnn", config: { schedule: { kind: "iterative", rounds: 2 }, iterations: 60, eval_every: 30 } },
    180_000,
  );
  const cs = conv.status;
  check("conv net: MNIST-1D's CNN trains its rounds in the page", cs.rounds.length === 3, `${cs.rounds.length} rounds`);
  check("conv net: the CPU engine trains it", cs.backend?.kind === "cpu", JSON.stringify(cs.backend));
  check("conv net: the link carries its layers", String(cs.link).includes("hidden=conv25k5s2p1,conv25k3s2p1,conv25k3s2p1"), cs.link);
  const convAcc = ticketAccuracies(cs);
  check("conv net: every round's ticket accuracy > 0.3", convAcc.length === 3 && convAcc.every((a) => a > 0.3), JSON.stringify(convAcc));
  console.log(`  MNIST-1D CNN (2 rounds of 60 iterations) in the page: ${conv.seconds.toFixed(1)} s, ticket ${convAcc.map((a) => (100 * a).toFixed(1)).join(" / ")}%`);
  await screenshot(page, "conv-net.png", "MNIST-1D's CNN after two rounds");

  // The error box when web/main.js itself is missing (web/boot.js reports it), and when the
  // wasm is.
  await missingFileShowsTheErrorBox(browser, "**/web/main.js", "a main.js that fails to load", "web/main.js could not be loaded");
  await missingFileShowsTheErrorBox(browser, "**/lottery_lab_bg.wasm", "a wasm that fails to load", "could not be loaded", "load-error.png");
}

/// A fresh page whose `pattern` file answers 404 ends in the error box, saying `expected`.
async function missingFileShowsTheErrorBox(browser, pattern, what, expected, screenshotFile) {
  const broken = await browser.newPage({ viewport: VIEWPORT });
  try {
    await broken.route(pattern, (r) => r.fulfill({ status: 404, body: "gone" }));
    await broken.goto(baseUrl, { waitUntil: "load", timeout: 30_000 });
    const why = await waitFor("window.lotteryLabError", 30_000, () =>
      broken.evaluate(() => window.lotteryLabError ?? null),
    );
    check(
      `${what} ends in the error box`,
      (await broken.locator("#error").isVisible()) &&
        (await broken.locator("#loading").isHidden()) &&
        why.includes(expected),
      why.split("\n")[0],
    );
    if (screenshotFile) await broken.screenshot({ path: path.join(out, screenshotFile), timeout: 30_000 });
  } finally {
    await broken.close();
  }
}

/// Wait until the app is ready on `page` (after a navigation or reload).
async function ready(page) {
  await waitFor("the app to start", 90_000, () =>
    page.evaluate(() => (window.lotteryLabReady ? true : window.lotteryLabError ? "error" : null)),
  );
  return page.evaluate(() => window.lotteryLabError ?? null);
}

/// The file a download carries (with a timeout), as a Buffer.
async function downloaded(page, what, trigger) {
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: 60_000 }),
    trigger(),
  ]);
  const file = path.join(out, download.suggestedFilename());
  await withTimeout(`saving ${what}`, 60_000, download.saveAs(file));
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(file) };
}

// Launch C: links, files, reload and offline (issue 5), on the CPU engine.
async function sharing(page, browser) {
  // 1. A preset link (opened at launch: #preset=spiral&lecture=1&seed=7).
  let s = await status(page);
  check("link: the page opened with a preset link shows that preset", s.preset === "spiral", s.preset);
  check(
    "link: its config is the preset's with the link's seed",
    s.config.dataset.kind === "toy2d" && s.config.dataset.shape.toLowerCase() === "spiral" &&
      JSON.stringify(s.config.hidden) === "[64,64]" && s.config.seed === 7,
    JSON.stringify(s.config.dataset) + ` seed ${s.config.seed}`,
  );
  check("link: lecture=1 gives the lecture view", s.lecture_view === true);
  const hash = await page.evaluate(() => location.hash);
  check("link: the address bar carries the whole config", hash.includes("hidden=64,64") && hash.includes("seed=7") && hash.includes("lecture=1"), hash);
  await page.screenshot({ path: path.join(out, "preset-link-lecture-view.png"), timeout: 30_000 });

  // 2. That full link, opened in a fresh page, gives the same config.
  const other = await browser.newPage({ viewport: VIEWPORT });
  try {
    await other.goto(`${baseUrl}#${s.link}`, { waitUntil: "load", timeout: 30_000 });
    const err = await ready(other);
    const s2 = await status(other);
    check("link: a copied link reproduces the config exactly", !err && JSON.stringify(s2.config) === JSON.stringify(s.config) && !s2.notices.some((n) => n.startsWith("Link:")), err ?? JSON.stringify(s2.notices));
  } finally {
    await other.close();
  }

  // 3. A pasted link with bad fields (same document: only the fragment changes).
  await page.goto(`${baseUrl}#preset=fraud&lr=fast&colour=red&batch=64`, { timeout: 30_000 });
  s = await waitFor("the pasted link to be read", 20_000, async () => {
    const st = await status(page);
    return st.preset === "fraud" ? st : null;
  });
  const notices = s.notices.join(" | ");
  check("link: bad fields are named, good ones taken", notices.includes("Link: lr: 'fast' is not a number") && notices.includes("unknown field 'colour'") && s.config.batch_size === 64, notices);
  check("link: the bad learning rate kept the preset's", Math.abs(s.config.optimizer.lr - 0.001) < 1e-9, String(s.config.optimizer.lr));

  // 4. Edits update the address bar.
  await page.evaluate(() => window.lotteryLab.run({ preset: "tiny", config: { seed: 42 } }));
  const edited = await waitFor("the address bar to follow the config", 10_000, () =>
    page.evaluate(() => (location.hash.includes("seed=42") ? location.hash : null)),
  );
  check("link: editing the setup updates the link", edited.includes("preset=tiny"), edited);
  const run = await runToEnd(page, { preset: "tiny", config: { seed: 42 } }, 120_000);
  const rounds = run.status.rounds;

  // 5. Exports download.
  const csv = await downloaded(page, "csv", () => page.evaluate(() => window.lotteryLab.handle.export("csv")));
  check("export: CSV downloads with a row per run", csv.name === "lottery-lab-tiny-seed42.csv" && csv.bytes.toString().startsWith("round,run,density") && csv.bytes.toString().trim().split("\n").length === 1 + rounds.reduce((n, r) => n + Object.keys(r.accuracy).length, 0), csv.name);
  const json = await downloaded(page, "json", () => page.evaluate(() => window.lotteryLab.handle.export("json")));
  const record = JSON.parse(json.bytes.toString());
  check("export: JSON downloads with the config embedded", record.format === "lottery-lab-record/1" && record.config.seed === 42 && record.rounds.length === rounds.length, json.name);
  const ticket = await downloaded(page, "ticket", () => page.evaluate(() => window.lotteryLab.handle.export("ticket")));
  const t = JSON.parse(ticket.bytes.toString());
  check("export: the ticket downloads with its masks and θ₀", t.format === "lottery-lab-ticket/1" && t.mask && t.theta_init, ticket.name);
  const png = await downloaded(page, "plots", () => page.evaluate(() => window.lotteryLab.handle.export("plots")));
  check("export: plots download as PNG", png.name.endsWith(".png") && png.bytes.subarray(1, 4).toString() === "PNG" && png.bytes.length > 2000, `${png.name}, ${png.bytes.length} bytes`);

  // 6. A reload keeps the experiment (IndexedDB), once every piece is written (one a frame).
  await waitFor("the experiment to be saved", 30_000, async () => ((await status(page)).saving ? null : true));
  await sleep(500);
  await page.reload({ waitUntil: "load", timeout: 30_000 });
  await ready(page);
  s = await waitFor("the saved experiment to come back", 30_000, async () => {
    const st = await status(page);
    return st.rounds.length > 0 ? st : null;
  });
  check("reload: the finished rounds come back", s.finished && JSON.stringify(s.rounds) === JSON.stringify(rounds), `${s.rounds.length} rounds; ${s.notices.join(" | ")}`);
  // Their trained weights too (saved as raw bytes beside each run's JSON): the rounds exported
  // after the reload are the rounds exported before it, weights and masks bit for bit.
  const again = JSON.parse((await downloaded(page, "json", () => page.evaluate(() => window.lotteryLab.handle.export("json")))).bytes.toString());
  const trainedRuns = (r) => r.rounds.flatMap((round) => round.runs).filter((run) => run.trained).length;
  check(
    "reload: every run's trained weights come back bit for bit",
    trainedRuns(again) > 0 && trainedRuns(again) === trainedRuns(record) && JSON.stringify(again.rounds) === JSON.stringify(record.rounds),
    `${trainedRuns(again)} of ${trainedRuns(record)} runs with weights`,
  );

  // 7. Import: the exported JSON in a fresh page shows the same rounds; a bad file changes nothing.
  const fresh = await browser.newPage({ viewport: VIEWPORT });
  try {
    await fresh.goto(baseUrl, { waitUntil: "load", timeout: 30_000 });
    await ready(fresh);
    const bytes = [...json.bytes];
    await fresh.evaluate((b) => window.lotteryLab.handle.open_file("r.json", new Uint8Array(b)), bytes);
    const opened = await waitFor("the results to open", 60_000, async () => {
      const st = await status(fresh);
      return st.rounds.length ? st : null;
    });
    check("import: a results JSON shows the finished experiment again", opened.finished && JSON.stringify(opened.rounds) === JSON.stringify(rounds));
    await fresh.evaluate(() => window.lotteryLab.handle.open_file("bad.json", new TextEncoder().encode('{"format": "lottery-lab-record/1", "rounds": [')));
    await sleep(500);
    const after = await status(fresh);
    check("import: a broken file is refused with its place, nothing changes", after.notices.some((n) => n.startsWith("bad.json was not opened (nothing changed)") && n.includes("line 1 column")) && JSON.stringify(after.rounds) === JSON.stringify(rounds), after.notices.join(" | "));
    // A CSV of data: imported, then trained on.
    let text = "a,b,label\n";
    for (let i = 0; i < 300; i++) {
      const a = (i % 20) / 10 - 1, b = Math.floor(i / 20) / 7.5 - 1;
      text += `${a},${b},${a * b > 0 ? "same" : "different"}\n`;
    }
    await fresh.evaluate((t) => window.lotteryLab.handle.open_file("quadrants.csv", new TextEncoder().encode(t)), text);
    await sleep(300);
    const imported = await status(fresh);
    check("import: a CSV becomes the data", imported.config.dataset.kind === "imported" && imported.config.dataset.name === "quadrants.csv", JSON.stringify(imported.config.dataset));
    const csvRun = await runToEnd(fresh, { preset: "tiny", config: { dataset: imported.config.dataset } }, 120_000);
    check("import: the imported data trains to the end", csvRun.status.rounds.length >= 2 && csvRun.status.rounds[0].accuracy.ticket > 0.7, JSON.stringify(ticketAccuracies(csvRun.status)));
  } finally {
    await fresh.close();
  }

  // 8. Offline: the service worker caches this build under a name carrying its hash.
  const cacheName = fs.readFileSync(path.join(dist, "sw.js"), "utf8").match(/const CACHE = "([^"]+)"/)?.[1];
  const active = await withTimeout("the service worker", 60_000, page.evaluate(() => navigator.serviceWorker.ready.then((r) => r.active?.scriptURL)));
  const caches_ = await waitFor("the build to be cached", 60_000, async () => {
    const names = await page.evaluate(() => caches.keys());
    return names.includes(cacheName) ? names : null;
  });
  check("offline: the service worker caches this build's files", active.endsWith("/sw.js") && caches_.length === 1, `${cacheName}; caches ${JSON.stringify(caches_)}`);
  await page.context().setOffline(true);
  try {
    await page.reload({ waitUntil: "load", timeout: 30_000 });
    const err = await ready(page);
    const digits = await waitFor("the digits offline", 60_000, async () => {
      const d = (await status(page)).digits;
      return d.startsWith("ready") || d.startsWith("failed") ? d : null;
    });
    check("offline: the page starts and loads its digits with no network", !err && digits.startsWith("ready"), err ?? digits);
  } finally {
    await page.context().setOffline(false);
  }

  // 9. Fault drill: the browser's storage starts refusing writes (a full quota) while an
  // experiment trains. A notice says so once, the experiment goes on in memory to its end,
  // and what was saved before the refusals comes back after a reload.
  await ready(page);
  const drillRun = { preset: "tiny", config: { seed: 44, schedule: { kind: "iterative", rounds: 5 }, iterations: 600, eval_every: 100 } };
  await withTimeout("lotteryLab.run", 10_000, page.evaluate((r) => window.lotteryLab.run(r), drillRun));
  const before = await waitFor("two rounds to be saved", 120_000 * PATIENCE, async () => {
    const st = await status(page);
    return st.rounds.length >= 2 && !st.finished ? st : null;
  }, 100);
  await sleep(1500); // the saver writes a run per frame
  await page.evaluate(() => {
    IDBObjectStore.prototype.put = function () {
      throw new DOMException("the quota is full (fault drill)", "QuotaExceededError");
    };
  });
  const full = await waitFor("the experiment to finish in memory", 180_000 * PATIENCE, async () => {
    const st = await status(page);
    return st.finished ? st : null;
  });
  const storeNotices = full.notices.filter((n) => n.startsWith("This browser's storage refused"));
  check(
    "storage full: one notice, and the experiment finishes in memory",
    storeNotices.length === 1 && full.rounds.length === 6 && full.status?.state === "finished",
    `${full.rounds.length} rounds; ${storeNotices.join(" | ")}`,
  );
  await page.reload({ waitUntil: "load", timeout: 30_000 });
  await ready(page);
  const kept = await waitFor("the saved rounds to come back", 30_000, async () => {
    const st = await status(page);
    return st.rounds.length > 0 ? st : null;
  });
  check(
    "storage full: the rounds saved before the refusals come back after a reload",
    kept.rounds.length >= before.rounds.length && kept.rounds.length < full.rounds.length &&
      JSON.stringify(kept.rounds) === JSON.stringify(full.rounds.slice(0, kept.rounds.length)),
    `${kept.rounds.length} of ${full.rounds.length} rounds restored`,
  );
}

// ---- main ---------------------------------------------------------------------------------

if (!fs.existsSync(path.join(dist, "pkg/lottery_lab_bg.wasm"))) {
  console.log(`no ${dist}/pkg/lottery_lab_bg.wasm: run \`cargo xtask build\` first`);
  console.log("browser: 0 passed, 1 failed");
  process.exit(1);
}
if (!fs.existsSync(chromiumPath)) {
  console.log(`no browser at ${chromiumPath} (apt install chromium, or set CHROMIUM)`);
  console.log("browser: 0 passed, 1 failed");
  process.exit(1);
}
fs.mkdirSync(out, { recursive: true });
// LOTTERY_LAB_URL points the test at a running server (e.g. `cargo xtask serve`) instead.
const server = process.env.LOTTERY_LAB_URL ? null : await serve();
const baseUrl = process.env.LOTTERY_LAB_URL ?? `http://127.0.0.1:${server.address().port}/`;
console.log(server ? `serving ${dist} at ${baseUrl}` : `testing ${baseUrl}`);
const t0 = Date.now();

await launch("A (WebGPU through SwiftShader)", [...BASE_FLAGS, ...WEBGPU_FLAGS], webgpu);
await launch("B (no WebGPU: WebGL2 + CPU engine)", BASE_FLAGS, fallback);
await launch("C (links, files, reload, offline)", BASE_FLAGS, sharing, () => `${baseUrl}#preset=spiral&lecture=1&seed=7`);

server?.close();
check("at least one launch ran", launched > 0, `LAUNCHES=${process.env.LAUNCHES ?? "(all)"} matched ${launched}`);
fs.writeFileSync(path.join(out, "report.json"), JSON.stringify(report, null, 2));
console.log(`\nbrowser test took ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${out}`);
if (report.lectureFrames) {
  const f = report.lectureFrames.status_frame_ms;
  console.log(
    `frame time p95 (WebGPU page, default preset training): interval ${f.p95.toFixed(1)} ms, ` +
      `own work ${f.work_p95.toFixed(1)} ms`,
  );
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);

// Frame times in the browser while the default preset trains: a benchmark, run by
// `cargo xtask bench` against the built dist/ (not a test: it prints figures, asserts nothing).
//
// One page per launch, nothing else on it: load, wait for the digits, start the default preset
// (LeNet-300-100 on the digits, two short rounds, round ends included) and read the app's own
// frame statistics (status().frame_ms over the last 240 frames: frame time — eframe's CPU time
// per frame, the 16 ms budget —, the part of it in our code, and the interval between frames);
// then the same for the finished screen drawn continuously with nothing training
// (handle.measure_frames), which shows what the browser's painting costs by itself.
// Usage: node tests/browser/frames.mjs   (CHROMIUM=/path overrides the browser; LAUNCH=webgpu or
// webgl runs one launch; SLOW=1 lists the frames over 16 ms with their parts; PARALLEL=N sets
// the runs trained at a time)

import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist");
const MIME = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };
const server = http.createServer((req, res) => {
  const parts = decodeURIComponent(new URL(req.url, "http://x").pathname).split("/").filter(Boolean);
  if (parts.includes("..")) return res.writeHead(400).end();
  let file = path.join(dist, ...parts);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
  fs.readFile(file, (err, body) => {
    if (err) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Type": MIME[path.extname(file)] ?? "application/octet-stream" }).end(body);
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}/`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const BASE = ["--headless=new", "--no-sandbox"];
const WEBGPU = ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader", "--use-angle=swiftshader"];
const RUN = { preset: "digits-quick", config: { schedule: { kind: "iterative", rounds: 2 }, iterations: 300 } };
// PARALLEL=N trains N runs at a time (default: the page's own choice, one per core).
if (process.env.PARALLEL) RUN.parallel_runs = Number(process.env.PARALLEL);

const fmt = (f) =>
  `frame time (CPU) p50 ${f.cpu_p50.toFixed(1)} ms, p95 ${f.cpu_p95.toFixed(1)} ms ` +
  `(our code p95 ${f.work_p95.toFixed(1)} ms); interval mean ${f.mean.toFixed(1)} ms, p95 ${f.p95.toFixed(1)} ms ` +
  `over ${f.samples} frames`;

async function measure(name, args) {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(url, { timeout: 60_000 });
    const deadline = Date.now() + 120_000;
    const status = () => page.evaluate(() => window.lotteryLab?.status());
    while (!((await status())?.digits ?? "").startsWith("ready")) {
      if (Date.now() > deadline) throw new Error("the page did not get ready");
      await sleep(500);
    }
    // Phase 1: the default preset training.
    await page.evaluate((r) => window.lotteryLab.run(r), RUN);
    const started = Date.now();
    let s = await status();
    while (!s.finished) {
      if (Date.now() - started > 600_000) throw new Error("the run did not finish in 10 minutes");
      await sleep(500);
      s = await status();
    }
    const seconds = (Date.now() - started) / 1000;
    // Phase 2: the same screen drawn continuously with nothing training: what painting alone
    // costs here, the floor under the intervals of phase 1.
    await page.evaluate(() => window.lotteryLab.handle.measure_frames(6));
    await sleep(6_500);
    const idle = (await status()).frame_ms;
    const f = s.frame_ms;
    const worst = Math.max(0, ...f.slow.map((x) => x.cpu_ms));
    console.log(`  ${name}:`);
    console.log(
      `    while training:    ${fmt(f)}; ${f.slow.length} of the last frames over 16 ms, worst ${worst.toFixed(1)} ms; ` +
        `${seconds.toFixed(0)} s on ${s.backend.kind}, ${Math.round(s.samples_per_s)} samples/s`,
    );
    console.log(`    drawing only:      ${fmt(idle)}`);
    if (process.env.SLOW) console.log(JSON.stringify(f.slow));
  } finally {
    await browser.close();
  }
}

console.log(`frames while the default preset trains (LeNet-300-100, 2 rounds x 300 iterations, 1280x720, ${url})`);
if (process.env.LAUNCH !== "webgl") await measure("WebGPU (SwiftShader)", [...BASE, ...WEBGPU]);
if (process.env.LAUNCH !== "webgpu") await measure("WebGL2 (no WebGPU)", BASE);
server.close();

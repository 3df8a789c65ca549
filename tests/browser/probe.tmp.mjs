import { chromium } from "playwright-core";
import http from "node:http"; import fs from "node:fs"; import path from "node:path";
const dist = "/work/main/dist";
const server = http.createServer((req, res) => { const u = new URL(req.url, "http://x"); let f = path.join(dist, decodeURIComponent(u.pathname)); if (fs.existsSync(f) && fs.statSync(f).isDirectory()) f = path.join(f, "index.html"); fs.readFile(f, (e, b) => { if (e) { res.writeHead(404).end(); return; } res.writeHead(200, {"Content-Type": f.endsWith(".js") ? "text/javascript" : f.endsWith(".wasm") ? "application/wasm" : f.endsWith(".html") ? "text/html" : "application/octet-stream"}); res.end(b); }); });
await new Promise(r => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/`;
const flags = ["--headless=new","--no-sandbox","--enable-unsafe-webgpu","--enable-features=Vulkan,CDPScreenshotNewSurface","--use-vulkan=swiftshader","--use-angle=swiftshader"];
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: flags });
const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
await page.goto(url);
for (let i = 0; i < 100 && !(await page.evaluate(() => window.lotteryLabReady)); i++) await new Promise(r => setTimeout(r, 200));
await new Promise(r => setTimeout(r, 3000));
const req = JSON.parse(process.argv[2]);
await page.evaluate((r) => window.lotteryLab.run(r), req);
let s;
for (let i = 0; i < 600; i++) { await new Promise(r => setTimeout(r, 500)); s = await page.evaluate(() => window.lotteryLab.status()); if (s.finished) break; }
console.log(JSON.stringify(s.frame_ms), "rounds", s.rounds.length);
await browser.close(); server.close();

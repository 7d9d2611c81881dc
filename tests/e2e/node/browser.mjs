// browser.mjs: a headless Chromium driven by playwright-core, steered by JSON lines on stdin.
//
// usage: node browser.mjs        (tests/e2e/test_demo_chat.py starts it; see class Browser)
//
// Launches Debian's /usr/bin/chromium with a fresh profile (--user-data-dir: a new temporary
// directory, removed at exit) and answers one request per line, in order:
//   {"op":"open","page":"a","url":"http://..."}          a new tab, navigated
//   {"op":"eval","page":"a","js":"EXPRESSION"}            its value (JSON)
//   {"op":"wait","page":"a","js":"EXPRESSION","timeout":ms}  until truthy; its value
//   {"op":"fill"|"press"|"click","page":"a","selector":"#text","value"|"key":...}
//   {"op":"screenshot","page":"a","path":"/tmp/x.png"}
//   {"op":"problems","page":"a"}                          console errors, page errors, CSP
//   {"op":"close","page":"a"}   {"op":"quit"}
// Each answer is one line: {"ok":true,"value":...} or {"ok":false,"error":"..."}.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "portico-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1200, height: 720 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

// CSP violations are collected in the page (an init script is not subject to the page's CSP).
await context.addInitScript(() => {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
  });
});

const pages = new Map();
const problems = new Map();

async function open(name, url) {
  const page = await context.newPage();
  const list = [];
  problems.set(name, list);
  page.on("console", (m) => {
    if (m.type() === "error") list.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => list.push(`pageerror: ${e.message}`));
  pages.set(name, page);
  await page.goto(url);
  return null;
}

// Polls with page.evaluate (CDP's Runtime.evaluate): page.waitForFunction evaluates its
// string inside the page, which the page's CSP (no 'unsafe-eval') rightly refuses.
async function waitFor(p, js, timeout) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await p.evaluate(js);
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${js}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function page(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page ${name}`);
  return p;
}

async function run(req) {
  switch (req.op) {
    case "open":
      return open(req.page, req.url);
    case "eval":
      return page(req.page).evaluate(req.js);
    case "wait":
      return waitFor(page(req.page), req.js, req.timeout || 10000);
    case "fill":
      return page(req.page).fill(req.selector, req.value).then(() => null);
    case "press":
      return page(req.page).press(req.selector, req.key).then(() => null);
    case "click":
      return page(req.page).click(req.selector).then(() => null);
    case "screenshot":
      return page(req.page).screenshot({ path: req.path }).then(() => null);
    case "problems": {
      const csp = await page(req.page).evaluate("window.__csp || []");
      return [...problems.get(req.page), ...csp.map((c) => `csp: ${c}`)];
    }
    case "close":
      await page(req.page).close();
      pages.delete(req.page);
      return null;
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

async function quit(code) {
  try {
    await context.close();
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(code);
  }
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: `bad request: ${e.message}` }) + "\n");
    continue;
  }
  if (req.op === "quit") {
    process.stdout.write(JSON.stringify({ ok: true, value: null }) + "\n");
    await quit(0);
  }
  try {
    const value = await run(req);
    process.stdout.write(JSON.stringify({ ok: true, value: value === undefined ? null : value }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e.message || e) }) + "\n");
  }
}
await quit(0); // stdin closed: the test is gone

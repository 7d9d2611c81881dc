// cors_fetch.mjs: runs fetch() calls from a page of one origin against an API on another, in
// headless Chromium (playwright-core), and prints what the page could see as one JSON document.
//
// usage: node cors_fetch.mjs '{"page": "http://127.0.0.1:P/", "cases": [{"name": "...",
//          "url": "http://127.0.0.1:Q/x", "init": {"method": "POST", ...}, "expose": ["x-id"]}]}'
//
// Debian's /usr/bin/chromium (CHROMIUM overrides), a fresh profile removed at exit. For each
// case the output has {name, ok: true, status, body, headers: {exposed name: value}} when the
// browser let the page read the response, or {name, ok: false, error} when CORS refused it.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const spec = JSON.parse(process.argv[2]);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "portico-cors-"));
let context;
let code = 0;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
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
  const page = await context.newPage();
  await page.goto(spec.page);
  const results = await page.evaluate(async (cases) => {
    const out = [];
    for (const c of cases) {
      try {
        const r = await fetch(c.url, c.init || {});
        const headers = {};
        for (const h of c.expose || []) headers[h] = r.headers.get(h);
        out.push({ name: c.name, ok: true, status: r.status, body: await r.text(), headers });
      } catch (e) {
        out.push({ name: c.name, ok: false, error: String(e) });
      }
    }
    return out;
  }, spec.cases);
  process.stdout.write(JSON.stringify({ origin: new URL(spec.page).origin, results }) + "\n");
} catch (e) {
  process.stderr.write(`cors_fetch: ${e.stack || e}\n`);
  code = 1;
} finally {
  if (context) await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(code);

#!/usr/bin/env node
/*
 * Token auth from a real browser: Debian's headless Chromium, driven by
 * playwright-core (installed in t/metrics/node_modules).  A browser
 * cannot set headers on a WebSocket, so the token goes in a
 * Sec-WebSocket-Protocol entry, and Chromium fails the connection if the
 * server selects a protocol it did not offer: the page must get the real
 * subprotocol, never the token entry.  Run by t/e2e/run.sh:
 *
 *   node t/e2e/browser.js --base http://127.0.0.1:2200 --label browser
 *
 * E2E_HS_KEY_FILE is the HMAC secret of the run (/auth-browser verifies
 * HS256).  Prints "PASS <label> <name>" or "FAIL <label> <name>: <why>"
 * per check and exits 1 when a check failed.
 */

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { chromium } = require(path.join(__dirname, '..', 'metrics',
  'node_modules', 'playwright-core'));

const args = { base: null, label: 'browser', only: null, cafile: null };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in args)) {
    console.error(`unknown option ${process.argv[i]}`);
    process.exit(2);
  }
  args[k] = process.argv[i + 1];
}

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
let failed = 0;

function hs256(claims) {
  const secret = fs.readFileSync(process.env.E2E_HS_KEY_FILE);
  const b64u = (b) => Buffer.from(b).toString('base64url');
  const head = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64u(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`)
    .digest();
  return `${head}.${body}.${b64u(sig)}`;
}

const now = () => Math.floor(Date.now() / 1000);

/* in the page: open a WebSocket, send "hello", report until it closes */
function open(page, url, protocols, waitMs) {
  return page.evaluate(({ u, p, w }) => new Promise((resolve) => {
    const out = { opened: false, error: false };
    const t0 = Date.now();
    const ws = new WebSocket(u, p);
    ws.onopen = () => {
      out.opened = true;
      out.protocol = ws.protocol;
      ws.send('hello');
    };
    ws.onmessage = (e) => { out.echo = e.data; };
    ws.onerror = () => { out.error = true; };
    ws.onclose = (e) => {
      out.code = e.code;
      out.reason = e.reason;
      out.ms = Date.now() - t0;
      resolve(out);
    };
    setTimeout(() => { out.timeout = true; resolve(out); }, w);
  }), { u: url, p: protocols, w: waitMs });
}

async function check(name, fn) {
  if (args.only && !name.includes(args.only)) return;
  try {
    await fn();
    console.log(`PASS ${args.label} ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${args.label} ${name}: ${e.message}`);
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu',
           '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });

  try {
    const page = context.pages()[0] || await context.newPage();
    const ws = args.base.replace(/^http/, 'ws');

    /* the page's origin is the one /auth-browser allows */
    await page.goto(`${args.base}/page`, { timeout: 10000 });

    await check('auth: token in a subprotocol entry: open, real subprotocol, '
      + 'echo, close 4001 at expiry', async () => {
      const r = await open(page, `${ws}/auth-browser`,
        ['chat.v1', `bearer.${hs256({ sub: 'browser', exp: now() + 2 })}`],
        8000);
      expect(r.opened, `not opened: ${JSON.stringify(r)}`);
      expect(r.protocol === 'chat.v1', `protocol ${r.protocol}`);
      expect(r.echo === 'hello', `echo ${r.echo}`);
      expect(r.code === 4001 && r.reason === 'token expired',
        `closed ${r.code} ${r.reason}`);
    });

    await check('auth: no token: the connection fails', async () => {
      const r = await open(page, `${ws}/auth-browser`, ['chat.v1'], 5000);
      expect(!r.opened && r.error && r.code === 1006,
        `got ${JSON.stringify(r)}`);
    });

    await check('auth: a page of another origin: the connection fails',
      async () => {
      const other = args.base.replace('127.0.0.1', 'localhost');
      await page.goto(`${other}/page`, { timeout: 10000 });
      const r = await open(page, `${ws}/auth-browser`,
        ['chat.v1', `bearer.${hs256({ sub: 'browser', exp: now() + 60 })}`],
        5000);
      expect(!r.opened && r.error && r.code === 1006,
        `got ${JSON.stringify(r)}`);
      });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }

  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`FAIL ${args.label} browser: ${String(e)}`);
  process.exit(1);
});

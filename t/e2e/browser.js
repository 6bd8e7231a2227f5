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
 *
 * Then, over backend links: echo through scripts/backend/echo.py
 * (/echo-py), closes from each side through t/e2e/close_backend.py
 * (/closes; E2E_CLOSE_LOG is its record of CLOSE events), and the demo's
 * chat page (scripts/demo/index.html, chat.py behind /chat) in two pages.
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

/* in the page: open a WebSocket, send each message, collect the answers
   (binary as arrays of bytes' sums and lengths), then close with `close`
   (or wait for the server's Close); resolves when it is closed */
function session(page, url, opts) {
  return page.evaluate(({ u, o }) => new Promise((resolve) => {
    const out = { opened: false, error: false, got: [] };
    const ws = new WebSocket(u);
    ws.binaryType = 'arraybuffer';
    const want = o.send.length;
    const make = (m) => {
      if (m.bin === undefined) return m.text;
      /* a deterministic binary message of m.bin bytes */
      const b = new Uint8Array(m.bin);
      for (let i = 0; i < b.length; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
      return b;
    };
    const sent = o.send.map(make);
    ws.onopen = () => {
      out.opened = true;
      for (const m of sent) ws.send(m);
      if (o.after) ws.send(o.after);
    };
    ws.onmessage = (e) => {
      const i = out.got.length;
      if (typeof e.data === 'string') {
        out.got.push({ text: e.data, same: e.data === sent[i] });
      } else {
        const a = new Uint8Array(e.data);
        const s = sent[i];
        let same = s instanceof Uint8Array && s.length === a.length;
        for (let k = 0; same && k < a.length; k++) same = a[k] === s[k];
        out.got.push({ bin: a.length, same });
      }
      if (out.got.length === want && o.close) {
        ws.close(o.close.code, o.close.reason);
      }
    };
    ws.onerror = () => { out.error = true; };
    ws.onclose = (e) => {
      out.code = e.code;
      out.reason = e.reason;
      out.clean = e.wasClean;
      resolve(out);
    };
    setTimeout(() => { out.timeout = true; resolve(out); }, o.wait);
  }), { u: url, o: opts });
}

/* the line close_backend.py wrote for session ?id=sid */
async function closeRecord(sid, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    let text = '';
    try {
      text = fs.readFileSync(process.env.E2E_CLOSE_LOG, 'utf8');
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    for (const line of text.split('\n')) {
      if (line && JSON.parse(line).uri.endsWith(`id=${sid}`)) {
        return JSON.parse(line);
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`the backend recorded no CLOSE for ${sid}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sessionId = () => `browser-${crypto.randomBytes(6).toString('hex')}`;

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
    /* over backend links, from a page of its own */
    const bpage = await context.newPage();
    await bpage.goto(`${args.base}/page`, { timeout: 10000 });

    await check('backend: text, binary and 1 MiB echo through echo.py',
      async () => {
      const r = await session(bpage, `${ws}/echo-py`, {
        send: [{ text: 'hello, backend é 🎉' }, { bin: 1024 },
          { text: '' }, { bin: 1024 * 1024 },
          { text: 'big '.repeat(256 * 1024) }],
        close: { code: 1000, reason: '' },
        wait: 10000,
      });
      expect(r.opened && !r.timeout, `got ${JSON.stringify(r)}`);
      expect(r.got.length === 5 && r.got.every((g) => g.same),
        `echoes ${JSON.stringify(r.got.map((g) => ({ ...g,
          text: g.text && g.text.slice(0, 40) })))}`);
      expect(r.code === 1000, `closed ${r.code} ${r.reason}`);
    });

    for (const [code, reason] of [[1000, ''], [4001, 'bye now é']]) {
      await check(`backend: close ${code} from the page reaches the backend`,
        async () => {
        const sid = sessionId();
        const r = await session(bpage, `${ws}/closes?id=${sid}`, {
          send: [{ text: 'before close' }], close: { code, reason },
          wait: 8000,
        });
        expect(r.opened && r.got.length === 1 && r.got[0].same,
          `got ${JSON.stringify(r)}`);
        expect(r.code === code && r.clean, `closed ${r.code} ${r.reason}`);
        const rec = await closeRecord(sid);
        expect(rec.code === code && rec.by === 0 && rec.reason === reason,
          `the backend got ${JSON.stringify(rec)}`);
      });
    }

    await check('backend: backend close 4000 kicked reaches the page',
      async () => {
      const sid = sessionId();
      const r = await session(bpage, `${ws}/closes?id=${sid}`, {
        send: [{ text: 'before the kick' }], after: 'kick 4000 kicked',
        wait: 8000,
      });
      expect(r.opened && r.got.length === 1, `got ${JSON.stringify(r)}`);
      expect(r.code === 4000 && r.reason === 'kicked' && r.clean,
        `closed ${r.code} ${r.reason} (clean ${r.clean})`);
      const rec = await closeRecord(sid);
      expect(rec.code === 4000 && rec.by === 2,
        `the backend got ${JSON.stringify(rec)}`);
    });

    /* the demo's chat page, twice, in one room */
    await check('chat page: two pages in one room see each other\'s messages',
      async () => {
      const room = `e2e-${crypto.randomBytes(4).toString('hex')}`;
      const alice = await context.newPage();
      const bob = await context.newPage();
      const state = (p) => p.locator('#state');
      const say = async (p, text) => {
        await p.fill('#text', text);
        await p.click('#send');
      };
      const seen = (p, text) => p.locator('#messages li', { hasText: text })
        .first().waitFor({ timeout: 5000 });

      await alice.goto(`${args.base}/?room=${room}&user=alice`,
        { timeout: 10000 });
      await state(alice).filter({ hasText: `in room ${room} as alice` })
        .waitFor({ timeout: 5000 });
      await bob.goto(`${args.base}/?room=${room}&user=bob`,
        { timeout: 10000 });
      await state(bob).filter({ hasText: `in room ${room} as bob` })
        .waitFor({ timeout: 5000 });

      await seen(alice, 'bob joined');
      await say(alice, 'hello from alice é');
      await seen(bob, 'hello from alice é');
      await say(bob, 'hi alice, bob here');
      await seen(alice, 'hi alice, bob here');

      const lines = async (p) => p.locator('#messages li').allTextContents();
      const a = await lines(alice);
      const b = await lines(bob);
      expect(a.includes('alice: hello from alice é')
        && a.includes('bob: hi alice, bob here'), `alice saw ${a}`);
      expect(b.includes('alice: hello from alice é')
        && b.includes('bob: hi alice, bob here'), `bob saw ${b}`);
      const members = await alice.locator('#members li').allTextContents();
      expect(members.join() === 'alice (you),bob',
        `alice's members ${members}`);

      await bob.close();
      await seen(alice, 'bob left');
      await alice.close();
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

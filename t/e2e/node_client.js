#!/usr/bin/env node
/*
 * End-to-end checks of ngx_ws_gateway_module with Node's `ws` package
 * (package.json at the repository root, installed by `npm ci`).
 *
 * Run by t/e2e/run.sh:
 *
 *   node t/e2e/node_client.js --base ws://127.0.0.1:2200 --label plain
 *   node t/e2e/node_client.js --base wss://127.0.0.1:2201 \
 *       --cafile cert.pem --label tls
 *
 * Prints one line per check, "PASS <label> <name>" or
 * "FAIL <label> <name>: <why>", and exits 1 when a check failed.
 * Every check runs under a timeout, so nothing hangs.
 */

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  WebSocket = require(path.join(__dirname, '..', '..', 'node_modules', 'ws'));
}

const CHECK_TIMEOUT = 15000;

const args = {
  base: null, cafile: null, label: 'plain', only: null, shutdown: false,
};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (k === 'shutdown') {
    /* only: hold a session until nginx shuts down (run.sh) */
    args.shutdown = true;
    i--;
    continue;
  }
  if (!(k in args)) {
    console.error(`unknown option ${process.argv[i]}`);
    process.exit(2);
  }
  args[k] = process.argv[i + 1];
}
if (!args.base) {
  console.error('usage: node_client.js --base ws://host:port [--cafile F]');
  process.exit(2);
}

const tlsOptions = args.base.startsWith('wss:') && args.cafile
  ? { ca: fs.readFileSync(args.cafile) } : {};

class CheckFailed extends Error {}

function expect(cond, what) {
  if (!cond) throw new CheckFailed(what);
}

function short(v) {
  const s = Buffer.isBuffer(v) ? `<Buffer ${v.length} bytes>`
    : JSON.stringify(v);
  return s.length <= 60 ? s : `${s.slice(0, 60)}...(${v.length})`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(
        `timed out after ${ms}ms ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/* every socket a check opened, terminated when the check ends */
let sockets = [];

/*
 * A connection with a message queue: next() resolves with the next
 * message {data, isBinary}; closed resolves with {code, reason, at}.
 */
function connect(urlPath = '/echo', protocols = undefined, extra = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(args.base + urlPath, protocols, {
      handshakeTimeout: 5000,
      maxPayload: 16 * 1024 * 1024,
      ...tlsOptions,
      ...extra,
    });
    sockets.push(ws);

    const c = {
      ws, queue: [], waiters: [], pings: [], pongs: [], closeFrameAt: null,
    };

    c.closed = new Promise((res) => {
      ws.on('close', (code, reason) => {
        res({ code, reason: reason.toString(), at: Date.now() });
        for (const w of c.waiters) {
          w.reject(new CheckFailed(`connection closed (${code} ` +
            `${reason.toString()}) while waiting for a message`));
        }
        c.waiters = [];
      });
    });

    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      const w = c.waiters.shift();
      if (w) w.resolve(m); else c.queue.push(m);
    });
    ws.on('ping', (data) => c.pings.push(data));
    ws.on('pong', (data) => c.pongs.push(data));

    c.next = (ms = 5000) => {
      if (c.queue.length) return Promise.resolve(c.queue.shift());
      return within(ms, new Promise((res, rej) => {
        c.waiters.push({ resolve: res, reject: rej });
      }), 'waiting for a message');
    };

    ws.once('open', () => resolve(c));
    ws.once('error', (e) => reject(e));
    ws.on('error', () => {});
  });
}

function send(c, data, opts = {}) {
  return new Promise((res, rej) => {
    c.ws.send(data, opts, (err) => (err ? rej(err) : res()));
  });
}

async function echoOne(c, msg) {
  const binary = typeof msg !== 'string';
  await send(c, msg);
  const m = await c.next();
  expect(m.isBinary === binary,
    `sent ${binary ? 'binary' : 'text'}, got ` +
    `${m.isBinary ? 'binary' : 'text'} back`);
  const got = binary ? m.data : m.data.toString('utf8');
  const same = binary ? Buffer.compare(got, msg) === 0 : got === msg;
  expect(same, `sent ${short(msg)}, got ${short(got)}`);
}

async function expectServerClose(c, code, reason = null) {
  const cl = await within(5000, c.closed, 'waiting for the server\'s Close');
  expect(cl.code === code,
    `expected close code ${code} from the server, got ${cl.code} ` +
    `${JSON.stringify(cl.reason)}`);
  if (reason !== null) {
    expect(cl.reason === reason, `close reason ${JSON.stringify(cl.reason)}`);
  }
  return cl;
}

async function closeAndWait(c, code, reason) {
  c.ws.close(code, reason);
  return within(5000, c.closed, 'in the closing handshake');
}

/* --- checks ------------------------------------------------------------- */

async function checkText() {
  const c = await connect();
  await echoOne(c, 'hello, gateway');
  await closeAndWait(c, 1000);
}

async function checkBinary() {
  const c = await connect();
  const buf = Buffer.alloc(1024);
  for (let i = 0; i < buf.length; i++) buf[i] = i & 0xff;
  await echoOne(c, buf);
  await closeAndWait(c, 1000);
}

async function checkEmpty(binary) {
  const c = await connect();
  await echoOne(c, binary ? Buffer.alloc(0) : '');
  await closeAndWait(c, 1000);
}

async function checkLarge(size, text = false, urlPath = '/echo') {
  const c = await connect(urlPath);
  const msg = text ? 'large text é '.repeat(size / 13 + 1).slice(0, size)
    : crypto.randomBytes(size);
  await echoOne(c, msg);
  await closeAndWait(c, 1000);
}

async function checkUtf8() {
  const msg = 'ascii é ß ñ € 日本語 ∑ 🎉😀🚀 \u{10FFFF} end';
  expect([...msg].some((ch) => Buffer.byteLength(ch) === 4),
    'test text lacks a 4-byte character');
  const c = await connect();
  await echoOne(c, msg);
  await echoOne(c, '😀'.repeat(5000));
  await closeAndWait(c, 1000);
}

async function checkFragmentedText() {
  /* the fragments split 3- and 4-byte characters between them */
  const whole = Buffer.from('frag-ment € and 🎉 text', 'utf8');
  const cuts = [0, 3, 11, 12, 19, 21, whole.length];
  const c = await connect();
  for (let i = 0; i + 1 < cuts.length; i++) {
    const last = i + 2 === cuts.length;
    c.ws.send(whole.subarray(cuts[i], cuts[i + 1]),
      { binary: false, fin: last });
  }
  const m = await c.next();
  expect(!m.isBinary, 'fragmented text came back as binary');
  expect(Buffer.compare(m.data, whole) === 0,
    `got ${short(m.data.toString())}`);
  await closeAndWait(c, 1000);
}

async function checkFragmentedBinary() {
  const parts = [1, 1000, 0, 70000, 125, 126, 65536]
    .map((n) => crypto.randomBytes(n));
  const c = await connect();
  parts.forEach((p, i) => c.ws.send(p,
    { binary: true, fin: i === parts.length - 1 }));
  const m = await c.next();
  expect(m.isBinary, 'fragmented binary came back as text');
  expect(Buffer.compare(m.data, Buffer.concat(parts)) === 0,
    'fragments reassembled wrongly');
  await closeAndWait(c, 1000);
}

async function checkFragmentedWithPing() {
  const c = await connect();
  for (let i = 0; i < 4; i++) {
    c.ws.send(`part${i};`, { fin: i === 3 });
    if (i < 3) c.ws.ping(`mid-${i}`);
  }
  const m = await c.next();
  expect(m.data.toString() === 'part0;part1;part2;part3;',
    `got ${short(m.data.toString())}`);
  // RFC 6455 5.5.3: pings not yet answered may be answered by one pong
  // for the most recent, which the gateway does when they arrive together
  // (as they can through TLS); so the pongs are mid-2 preceded by a
  // subsequence of the earlier pings, in order.
  const pongs = c.pongs.map((p) => p.toString());
  const inOrder = pongs.every((p, i) => i === 0 || p > pongs[i - 1]);
  expect(pongs.length > 0 && pongs[pongs.length - 1] === 'mid-2' && inOrder
    && pongs.every((p) => /^mid-[0-2]$/.test(p)),
    `pongs ${JSON.stringify(pongs)}`);
  await closeAndWait(c, 1000);
}

async function checkPing(payload) {
  const c = await connect();
  const pong = new Promise((res) => c.ws.once('pong', res));
  c.ws.ping(payload);
  const data = await within(5000, pong, 'waiting for the pong');
  expect(Buffer.compare(data, payload) === 0,
    `ping ${short(payload)}, pong ${short(data)}`);
  await echoOne(c, 'after ping');
  await closeAndWait(c, 1000);
}

async function checkSubprotocol(offer, want) {
  const c = await connect('/proto', offer);
  expect(c.ws.protocol === want,
    `offered ${JSON.stringify(offer)}: got ${JSON.stringify(c.ws.protocol)}` +
    `, want ${JSON.stringify(want)}`);
  await echoOne(c, 'with subprotocol');
  await closeAndWait(c, 1000);
}

async function checkSubprotocolNone() {
  /* the server answers without Sec-WebSocket-Protocol; ws then refuses */
  let err = null;
  try {
    await connect('/proto', ['nope']);
  } catch (e) {
    err = e;
  }
  expect(err && /Server sent no subprotocol/.test(err.message),
    `expected "Server sent no subprotocol", got ${err && err.message}`);
}

async function checkClose(code, reason) {
  const c = await connect();
  await echoOne(c, 'before close');
  const cl = await closeAndWait(c, code, reason);
  expect(cl.code === code,
    `sent close ${code}, server answered ${cl.code} ` +
    `${JSON.stringify(cl.reason)}`);
}

async function checkCloseEmpty() {
  const c = await connect();
  const cl = await closeAndWait(c);     /* a Close frame without payload */
  expect(cl.code === 1005, `expected an empty Close back, got ${cl.code}`);
}

async function checkInvalidUtf8() {
  const c = await connect();
  /* ws does not validate what it sends */
  c.ws.send(Buffer.from([0x6f, 0x6b, 0xc3, 0x28]), { binary: false });
  await expectServerClose(c, 1007);
}

async function checkInvalidUtf8Fragmented() {
  const c = await connect();
  c.ws.send(Buffer.from('valid start '), { binary: false, fin: false });
  c.ws.send(Buffer.from([0xf0, 0x9f]), { fin: false });   /* half emoji */
  c.ws.send(Buffer.from('x'), { fin: false });          /* not continued */
  await expectServerClose(c, 1007);
}

async function checkUnmasked() {
  const c = await connect();
  await echoOne(c, 'ok');
  c.ws.send('unmasked', { mask: false });
  await expectServerClose(c, 1002);
}

async function checkTooBig(urlPath, parts) {
  const c = await connect(urlPath);
  parts.forEach((n, i) => c.ws.send(crypto.randomBytes(n),
    { binary: true, fin: i === parts.length - 1 }));
  await expectServerClose(c, 1009);
}

async function checkIdleTimeout() {
  const c = await connect('/idle');
  await echoOne(c, 'keep');
  const t0 = Date.now();
  const cl = await expectServerClose(c, 1000, 'idle timeout');
  const took = cl.at - t0;
  expect(took > 400 && took < 3000, `closed after ${took}ms`);
}

async function checkServerPing() {
  const c = await connect('/ping');
  await sleep(1200);      /* ping_interval 300ms, pong_timeout 500ms */
  expect(c.pings.length >= 2, `server sent ${c.pings.length} pings in 1.2s`);
  await echoOne(c, 'still open');
  await closeAndWait(c, 1000);
}

async function checkConcurrent(n = 200, rounds = 3) {
  const one = async (i) => {
    const c = await connect();
    for (let r = 0; r < rounds; r++) {
      const msg = `conn ${i} round ${r}`;
      await echoOne(c, r % 2 ? Buffer.from(msg) : msg);
    }
    await closeAndWait(c, 1000);
  };
  const res = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => one(i)));
  const bad = res.filter((r) => r.status === 'rejected');
  expect(bad.length === 0, `${bad.length} of ${n} connections failed, ` +
    `first: ${bad.length && bad[0].reason.message}`);
}

async function checkPipelined(n = 1000, urlPath = '/echo', size = 0) {
  const c = await connect(urlPath);
  const msgs = Array.from({ length: n }, (_, i) => `msg ${i} ` +
    'p'.repeat(size));
  for (const m of msgs) c.ws.send(m);     /* never waits for an answer */
  for (let i = 0; i < n; i++) {
    const m = await c.next(10000);
    const got = m.data.toString();
    expect(!m.isBinary && got === msgs[i],
      `message ${i}: sent ${short(msgs[i])}, got ${short(got)}`);
  }
  await closeAndWait(c, 1000);
}

async function checkGracefulShutdown() {
  /* run.sh starts this before it stops nginx with SIGQUIT, once READY */
  const c = await connect();
  await echoOne(c, 'before shutdown');
  console.log('READY');
  const cl = await within(20000, c.closed, 'waiting for the shutdown');
  expect(cl.code === 1001 && cl.reason === 'server shutting down',
    `expected 1001 "server shutting down", got ${cl.code} ` +
    `${JSON.stringify(cl.reason)}`);
}

/* an ES256 JWT signed by Node's crypto with the run's EC key */
function es256Token(claims) {
  const key = fs.readFileSync(process.env.E2E_EC_KEY_FILE);
  const b64u = (b) => Buffer.from(b).toString('base64url');
  const head = b64u(JSON.stringify({ alg: 'ES256', typ: 'JWT' }));
  const body = b64u(JSON.stringify(claims));
  const sig = crypto.sign('sha256', Buffer.from(`${head}.${body}`),
    { key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${b64u(sig)}`;
}

const now = () => Math.floor(Date.now() / 1000);

async function checkAuthQuery() {
  const tok = es256Token({ sub: 'node', exp: now() + 600 });
  const c = await connect(`/auth-es?access_token=${tok}`);
  await echoOne(c, 'authorized');
}

async function checkAuthRefused(claims, status) {
  const tok = es256Token(claims);
  let got = null;
  await within(5000, new Promise((resolve) => {
    const ws = new WebSocket(`${args.base}/auth-es?access_token=${tok}`,
      { handshakeTimeout: 5000, ...tlsOptions });
    sockets.push(ws);
    ws.on('unexpected-response', (req, res) => {
      got = { status: res.statusCode, www: res.headers['www-authenticate'] };
      req.destroy();
      resolve();
    });
    ws.on('open', () => resolve());
    ws.on('error', () => resolve());
  }), 'waiting for the handshake answer');
  expect(got !== null, 'the handshake was accepted');
  expect(got.status === status, `status ${got.status}, want ${status}`);
  expect(/error="invalid_token"/.test(got.www || ''),
    `WWW-Authenticate: ${got.www}`);
}

async function checkAuthProtocolExpiry() {
  const tok = es256Token({ sub: 'node', exp: now() + 2 });
  const c = await connect('/auth-proto', ['chat.v1', `bearer.${tok}`]);
  expect(c.ws.protocol === 'chat.v1', `selected ${short(c.ws.protocol)}`);
  await echoOne(c, 'until the token expires');
  const closed = await within(5000, c.closed, 'waiting for the close');
  expect(closed.code === 4001 && closed.reason === 'token expired',
    `closed ${closed.code} ${closed.reason}`);
}

/* --- through backend links: echo.py, close_backend.py ------------------ */

/* the line close_backend.py wrote for session ?id=sid (E2E_CLOSE_LOG) */
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
      if (!line) continue;
      const rec = JSON.parse(line);
      if (rec.uri.endsWith(`id=${sid}`)) return rec;
    }
    if (Date.now() > deadline) {
      throw new CheckFailed(`the backend recorded no CLOSE for ${sid} ` +
        `in ${ms}ms`);
    }
    await sleep(50);
  }
}

const sessionId = () => `node-${args.label}-` +
  crypto.randomBytes(6).toString('hex');

async function checkBackendApprove() {
  /* chat.py accepts a room of [A-Za-z0-9_.:-], and refuses others: 400 */
  const c = await connect('/chat-approve?room=e2e-node&user=nod');
  const m = JSON.parse((await c.next()).data.toString());
  expect(m.type === 'welcome' && m.user === 'nod' && m.room === 'e2e-node',
    `first message ${JSON.stringify(m)}`);
  await closeAndWait(c, 1000);

  let got = null;
  await within(5000, new Promise((resolve) => {
    const ws = new WebSocket(`${args.base}/chat-approve?room=bad%20room`,
      { handshakeTimeout: 5000, ...tlsOptions });
    sockets.push(ws);
    ws.on('unexpected-response', (req, res) => {
      got = res.statusCode;
      req.destroy();
      resolve();
    });
    ws.on('open', () => resolve());
    ws.on('error', () => resolve());
  }), 'waiting for the handshake answer');
  expect(got === 400, `status ${got}, want 400`);
}

async function checkBackendEcho() {
  const c = await connect('/echo-py');
  await echoOne(c, 'hello, backend é 🎉');
  await echoOne(c, Buffer.from(Array.from({ length: 1024 }, (_, i) => i)));
  await echoOne(c, '');
  await echoOne(c, Buffer.alloc(0));
  await closeAndWait(c, 1000);
}

async function checkBackendBig(text) {
  const size = 1024 * 1024;
  let msg;
  if (text) {
    msg = 'big text é '.repeat(size / 12);
    msg += 'x'.repeat(size - Buffer.byteLength(msg));
    expect(Buffer.byteLength(msg) === size,
      `text of ${Buffer.byteLength(msg)} bytes`);
  } else {
    msg = crypto.randomBytes(size);
  }
  const c = await connect('/echo-py');
  await echoOne(c, msg);
  await echoOne(c, 'after the big one');
  await closeAndWait(c, 1000);
}

async function checkBackendFragmented() {
  const c = await connect('/echo-py');
  /* text fragments that split 3- and 4-byte characters */
  const whole = Buffer.from('frag-ment € and 🎉 text', 'utf8');
  const cuts = [0, 3, 11, 12, 19, 21, whole.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    c.ws.send(whole.subarray(cuts[i], cuts[i + 1]),
      { binary: false, fin: i + 2 === cuts.length });
  }
  let m = await c.next();
  expect(!m.isBinary && Buffer.compare(m.data, whole) === 0,
    `text: got ${short(m.data.toString())}`);
  const parts = [1, 1000, 0, 70000, 125, 65536]
    .map((n) => crypto.randomBytes(n));
  parts.forEach((p, i) => c.ws.send(p,
    { binary: true, fin: i === parts.length - 1 }));
  m = await c.next();
  expect(m.isBinary && Buffer.compare(m.data, Buffer.concat(parts)) === 0,
    'binary fragments reassembled wrongly');
  await closeAndWait(c, 1000);
}

async function checkBackendClientClose(code, reason) {
  const sid = sessionId();
  const c = await connect(`/closes?id=${sid}`);
  await echoOne(c, 'before close');
  const cl = await closeAndWait(c, code, reason);
  expect(cl.code === code, `sent close ${code}, gateway answered ${cl.code}`);
  const rec = await closeRecord(sid);
  expect(rec.code === code && rec.by === 0 && rec.reason === reason,
    `the backend got ${JSON.stringify(rec)}`);
}

async function checkBackendKick() {
  const sid = sessionId();
  const c = await connect(`/closes?id=${sid}`);
  await echoOne(c, 'before the kick');
  await send(c, 'kick 4000 kicked');
  await expectServerClose(c, 4000, 'kicked');
  const rec = await closeRecord(sid);
  expect(rec.code === 4000 && rec.by === 2,
    `the backend got ${JSON.stringify(rec)}`);
}

/*
 * n sessions at once over the links to echo.py; each sends `count`
 * distinct messages (text and binary, pipelined) and checks every echo,
 * in order
 */
async function checkBackendConcurrent(n = 1000, count = 10) {
  let opened = 0;
  const one = async (i) => {
    const c = await connect('/echo-py', undefined,
      { handshakeTimeout: 30000 });
    opened++;
    const msgs = [];
    for (let j = 0; j < count; j++) {
      const m = `s${i} m${j} ${crypto.randomBytes(4).toString('hex')}`;
      msgs.push(j % 2 ? Buffer.from(m) : m);
    }
    for (const m of msgs) c.ws.send(m);
    for (let j = 0; j < count; j++) {
      const m = await c.next(30000);
      const want = msgs[j];
      const binary = typeof want !== 'string';
      const same = m.isBinary === binary && (binary
        ? Buffer.compare(m.data, want) === 0
        : m.data.toString('utf8') === want);
      if (!same) {
        throw new CheckFailed(`session ${i} message ${j}: sent ` +
          `${short(want)}, got ${short(m.data.toString())}`);
      }
    }
    await closeAndWait(c, 1000);
  };
  const res = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => one(i)));
  const bad = res.filter((r) => r.status === 'rejected');
  expect(bad.length === 0, `${bad.length} of ${n} sessions failed ` +
    `(${opened} opened), first: ${bad.length && bad[0].reason.message}`);
}

const CHECKS = [
  ['text echo', checkText],
  ['binary echo', checkBinary],
  ['empty text message', () => checkEmpty(false)],
  ['empty binary message', () => checkEmpty(true)],
  ['200 KB binary message', () => checkLarge(200 * 1024)],
  ['900 KB binary message', () => checkLarge(900 * 1024)],
  ['900 KB text message', () => checkLarge(900 * 1024, true)],
  ['200 KB through 256-byte read buffer, 1k outbound limit',
    () => checkLarge(200 * 1024, false, '/tiny')],
  ['UTF-8 multi-byte text incl. 4-byte emoji', checkUtf8],
  ['fragmented text, characters split across fragments',
    checkFragmentedText],
  ['fragmented binary message', checkFragmentedBinary],
  ['pings between fragments', checkFragmentedWithPing],
  ['ping -> pong with payload',
    () => checkPing(Buffer.from('ping-payload\x00\xff', 'latin1'))],
  ['ping -> pong, empty payload', () => checkPing(Buffer.alloc(0))],
  ['ping -> pong, 125-byte payload', () => checkPing(Buffer.alloc(125, 'p'))],
  ['subprotocol: client preference order',
    () => checkSubprotocol(['chat.v1', 'chat.v2'], 'chat.v1')],
  ['subprotocol: single match',
    () => checkSubprotocol(['nope', 'chat.v2'], 'chat.v2')],
  ['subprotocol: none offered', () => checkSubprotocol(undefined, '')],
  ['subprotocol: none matches', checkSubprotocolNone],
  ['close 1000 echoed', () => checkClose(1000, '')],
  ['close 4001 with reason echoed', () => checkClose(4001, 'bye now é')],
  ['close without payload answered without', checkCloseEmpty],
  ['invalid UTF-8 -> close 1007', checkInvalidUtf8],
  ['invalid UTF-8 across fragments -> close 1007',
    checkInvalidUtf8Fragmented],
  ['unmasked frame -> close 1002', checkUnmasked],
  ['frame over max_frame_size -> close 1009',
    () => checkTooBig('/small', [20 * 1024])],
  ['message over max_message_size -> close 1009',
    () => checkTooBig('/small', [15360, 15360, 15360, 15360, 15360])],
  ['message over default 1m -> close 1009',
    () => checkTooBig('/echo', [1024 * 1024 + 1])],
  ['idle timeout -> close 1000', checkIdleTimeout],
  ['server pings answered', checkServerPing],
  ['200 concurrent connections x 3 round trips', () => checkConcurrent()],
  ['1000 pipelined messages in order', () => checkPipelined()],
  ['300 pipelined 1 KB messages, 1k outbound limit',
    () => checkPipelined(300, '/tiny', 1000)],
  ['auth: ES256 token in the query accepted', checkAuthQuery],
  ['auth: expired ES256 token -> 401',
    () => checkAuthRefused({ exp: now() - 10 }, 401)],
  ['auth: token in a subprotocol entry, not echoed; closed 4001 at expiry',
    checkAuthProtocolExpiry],
  ['backend: text and binary echo', checkBackendEcho],
  ['backend: 1 MiB binary message', () => checkBackendBig(false)],
  ['backend: 1 MiB text message', () => checkBackendBig(true)],
  ['backend: fragmented messages', checkBackendFragmented],
  ['backend: client close 1000 reaches the backend',
    () => checkBackendClientClose(1000, '')],
  ['backend: client close 4001 with reason reaches the backend',
    () => checkBackendClientClose(4001, 'bye now é')],
  ['backend: backend close 4000 kicked reaches the client', checkBackendKick],
  ['backend: 1000 concurrent sessions x 10 messages, every echo in order',
    () => checkBackendConcurrent(), 90000],
  ['backend: approval accepts a good room, refuses a bad one with 400',
    checkBackendApprove],
];

async function main() {
  let passed = 0;
  let failed = 0;

  const checks = args.shutdown
    ? [['close 1001 on graceful shutdown', checkGracefulShutdown]] : CHECKS;

  for (const [name, fn, limit] of checks) {
    if (args.only && !name.includes(args.only)) continue;
    const label = `node/${args.label} ${name}`;
    const t0 = Date.now();
    try {
      await within(args.shutdown ? 30000 : limit || CHECK_TIMEOUT, fn(),
        '(whole check)');
      passed++;
      console.log(`PASS ${label} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
    } catch (e) {
      failed++;
      const why = e instanceof CheckFailed ? e.message
        : `${e.name}: ${e.message}`;
      console.log(`FAIL ${label}: ${why}`);
    }
    for (const ws of sockets) ws.terminate();
    sockets = [];
  }

  console.log(`# node/${args.label}: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => {
  console.log(`FAIL node/${args.label} runner: ${e.stack}`);
  process.exit(1);
});

// The HTTP load generator of bench/cpscale.ts, run as its own process:
//   node bench/http-load.mjs <mode> <url> <token> <pool> <n> <clients> <tag>
// mode: healthz (GET /healthz), create (POST a peer), latency (create, each request timed),
// snapshots (GET the pool's snapshot until killed). Prints one JSON line:
// { rate, p50, p99, cpuUsPerRequest }.
//
// Each client is one keep-alive TCP connection with one request in flight (no pipelining),
// like wrk or autocannon. Requests are written as bytes prepared before the clock starts
// (the peer keys too) and answers are parsed just enough to find their end (status line,
// Content-Length or chunked) and check the status, so the generator costs a small fraction
// of what the server spends per request: on this 2-core machine, where it shares the CPU
// with the server, a heavier client (fetch costs ~330 us per GET /healthz here, undici's
// Pool ~90 us) bounds the rates it measures and the ratio of two rates measures the client.
// The same generator measures /healthz and creations, so their ratio compares like with like.
import { generateKeyPairSync } from 'node:crypto';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

const [mode, url, token, pool, n, clients, tag] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const total = Number(n);
const pubkey = () => generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');

/** The request bytes of request i. */
function request(i) {
  const head = (method, path, extra) => `${method} ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nconnection: keep-alive\r\n${extra}`;
  if (mode === 'healthz') return Buffer.from(`${head('GET', '/healthz', '')}\r\n`);
  const auth = `authorization: Bearer ${token}\r\n`;
  if (mode === 'snapshots') return Buffer.from(`${head('GET', `/v1/pools/${pool}/snapshot`, auth)}\r\n`);
  const body = Buffer.from(JSON.stringify({ name: `${tag}${i}`, publicKey: pubkey() }));
  return Buffer.concat([Buffer.from(`${head('POST', `/v1/pools/${pool}/peers`, auth)}content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`), body]);
}

/**
 * One keep-alive connection: send(bytes) resolves with the status code once the whole answer
 * has arrived.
 */
function connection() {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: hostname, port: Number(port), noDelay: true });
    let buf = Buffer.alloc(0);
    let waiter = null;
    const fail = (e) => (waiter ? waiter.reject(e) : reject(e));
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed by the server')));
    sock.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        const end = answerEnd(buf);
        if (end < 0) return;
        const status = Number(buf.subarray(9, 12).toString('latin1'));
        buf = buf.subarray(end);
        const w = waiter;
        waiter = null;
        w?.resolve(status);
        if (buf.length === 0) return;
      }
    });
    sock.once('connect', () => resolve({
      send: (bytes) => new Promise((res, rej) => {
        waiter = { resolve: res, reject: rej };
        sock.write(bytes);
      }),
      close: () => sock.destroy(),
    }));
  });
}

/** Offset just past the first complete answer in buf, or -1. */
function answerEnd(buf) {
  const h = buf.indexOf('\r\n\r\n');
  if (h < 0) return -1;
  const head = buf.subarray(0, h).toString('latin1').toLowerCase();
  const cl = /\r\ncontent-length: *(\d+)/.exec(head);
  if (cl) return buf.length >= h + 4 + Number(cl[1]) ? h + 4 + Number(cl[1]) : -1;
  if (!/\r\ntransfer-encoding: *chunked/.test(head)) throw new Error(`answer without a length: ${head.split('\r\n')[0]}`);
  for (let at = h + 4; ;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return -1;
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    const next = eol + 2 + size + 2;
    if (buf.length < next) return -1;
    if (size === 0) return next;
    at = next;
  }
}

const endless = mode === 'snapshots';
const requests = endless ? [request(0)] : Array.from({ length: total }, (_, i) => request(i));
const conns = await Promise.all(Array.from({ length: Number(clients) }, connection));
const lat = [];
let next = 0;
const t0 = performance.now();
const c0 = process.cpuUsage();
await Promise.all(conns.map(async (c) => {
  for (let i = next++; endless || i < total; i = next++) {
    const s = performance.now();
    const status = await c.send(requests[endless ? 0 : i]);
    if (status >= 300) throw new Error(`${mode} failed: HTTP ${status}`);
    lat.push(performance.now() - s);
  }
}));
const secs = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
for (const c of conns) c.close();
lat.sort((a, b) => a - b);
const p = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))];
console.log(JSON.stringify({ rate: total / secs, p50: p(0.5), p99: p(0.99), cpuUsPerRequest: (cpu.user + cpu.system) / total }));

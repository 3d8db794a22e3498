import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { parseGetResponse, type Device } from './uapi-codec.js';
import { GetResponseParser } from './uapi-get-parser.js';
import { keyPairs, randomCidr, randomIpv4, randomIpv6 } from './testing/gen-config.js';
import { renderDevice } from './testing/fake-device.js';
import { Rng, testSeed } from './testing/random.js';

// GetResponseParser must read every answer exactly as parseGetResponse reads the whole text
// (ResponseFramer decodes the bytes as latin1), wherever the socket cuts the chunks.

type Outcome = { device: Device } | { error: string };

function outcome(fn: () => Device): Outcome {
  try {
    return { device: fn() };
  } catch (e) {
    assert.ok(e instanceof FabricError, `not a FabricError: ${String(e)}`);
    return { error: `${e.code} ${e.message} ${JSON.stringify(e.details)}` };
  }
}

/** Feeds `bytes` in chunks of the given sizes (cycled), as a socket would, then reads the result. */
function streamed(bytes: Buffer, sizes: readonly number[]): Device {
  const p = new GetResponseParser();
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    p.push(bytes.subarray(at, at + n));
    at += n;
  }
  return p.result();
}

const reference = (bytes: Buffer): Outcome => outcome(() => parseGetResponse(bytes.toString('latin1')));

function randomDevice(rng: Rng, keys: { privateKey: string; publicKey: string }[]): Device {
  const peers = keys.slice(0, rng.int(keys.length)).map((k) => ({
    publicKey: k.publicKey, ...(rng.bool(0.3) ? { presharedKey: k.privateKey } : {}),
    ...(rng.bool(0.5) ? { endpoint: rng.bool() ? `${randomIpv4(rng)}:${rng.range(1, 65535)}` : `[${randomIpv6(rng)}]:${rng.range(1, 65535)}` } : {}),
    persistentKeepaliveInterval: rng.int(65536), lastHandshakeMs: rng.bool(0.3) ? null : rng.range(1, 2 ** 41),
    rxBytes: rng.int(2 ** 48), txBytes: rng.int(2 ** 48), allowedIps: Array.from({ length: rng.int(4) }, () => randomCidr(rng, undefined, false)), protocolVersion: 1,
  }));
  return { listenPort: rng.int(65536), fwmark: rng.bool(0.2) ? rng.int(2 ** 32) : 0, peers };
}

test('random devices in random chunks: the same device as parseGetResponse of the whole text (property)', () => {
  const rng = new Rng(testSeed(4401));
  const keys = keyPairs(rng, 10);
  for (let i = 0; i < 300; i++) {
    const dev = randomDevice(rng, keys);
    const bytes = Buffer.from(renderDevice(dev, rng.bool() ? Buffer.from(keys[0]!.privateKey, 'base64').toString('hex') : undefined), 'latin1');
    const sizes = Array.from({ length: 1 + rng.int(4) }, () => 1 + rng.int(rng.bool() ? 8 : 300));
    const want = reference(bytes);
    assert.ok('device' in want);
    assert.deepEqual(outcome(() => streamed(bytes, sizes)), want);
  }
});

test('a cut at every byte of an answer (also inside the blank line that ends it) gives the same device', () => {
  const rng = new Rng(testSeed(4402));
  const dev = randomDevice(rng, keyPairs(rng, 3));
  const bytes = Buffer.from(renderDevice(dev), 'latin1');
  const want = reference(bytes);
  for (let k = 1; k < bytes.length; k++) {
    const p = new GetResponseParser();
    assert.equal(p.push(bytes.subarray(0, k)), false, `complete after ${k} of ${bytes.length} bytes`);
    assert.equal(p.push(bytes.subarray(k)), true);
    assert.deepEqual({ device: p.result() }, want);
  }
});

test('mutated answers: the same device or the same WGF_ERR_UAPI (code, message, line) as parseGetResponse (differential fuzz)', () => {
  const rng = new Rng(testSeed(4403));
  const keys = keyPairs(rng, 3);
  const base = renderDevice(randomDevice(rng, keys), Buffer.from(keys[0]!.privateKey, 'base64').toString('hex'));
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    let s = base;
    for (let r = rng.range(1, 3); r > 0; r--) {
      const at = rng.int(s.length + 1);
      const op = rng.int(4);
      if (op === 0) s = s.slice(0, at) + s.slice(at + rng.range(1, 10));
      else if (op === 1) s = s.slice(0, at) + rng.pick(['=', '\n', '\n\n', '-', 'x', '0', '/', ':', '\0', 'é', 'errno=0\n\n', 'errno=-22\n\n']) + s.slice(at);
      else if (op === 2) s = s.slice(0, at);
      else s = s.slice(0, at) + rng.string(rng.range(1, 20), 'abcdef0123456789=_\n') + s.slice(at);
    }
    const bytes = Buffer.from(s, 'utf8');
    const want = reference(bytes);
    if ('error' in want) refused++;
    assert.deepEqual(outcome(() => streamed(bytes, [1 + rng.int(64)])), want, `case ${i}: ${JSON.stringify(s)}`);
  }
  assert.ok(refused > 500, `only ${refused} refused: the mutations are too weak`);
});

test('an answer over the size limit is refused as it arrives', () => {
  const p = new GetResponseParser(100);
  p.push(Buffer.from('listen_port=1\n'.repeat(5)));
  assert.throws(() => p.push(Buffer.from('listen_port=1\n'.repeat(5))), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_UAPI' && /larger than 100 bytes/.test(e.message));
});

/** What state mode must give for a device read in device mode: each peer by key, endpoint null when absent, allowed IPs sorted. */
function asStates(dev: Device): { iface: Omit<Device, 'peers'>; peers: Map<string, unknown> } {
  const { peers, ...iface } = dev;
  return {
    iface,
    peers: new Map(peers.map((p) => [p.publicKey, {
      publicKey: p.publicKey, allowedIps: [...p.allowedIps].sort(), lastHandshakeMs: p.lastHandshakeMs, rxBytes: p.rxBytes, txBytes: p.txBytes,
      endpoint: p.endpoint ?? null,
      ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
    }])),
  };
}

test('state mode: each peer straight into its state, keyed by public key, the same as device mode read whole, in random chunks (property)', () => {
  const rng = new Rng(testSeed(4404));
  const keys = keyPairs(rng, 10);
  for (let i = 0; i < 300; i++) {
    const dev = randomDevice(rng, keys);
    const bytes = Buffer.from(renderDevice(dev, rng.bool() ? Buffer.from(keys[0]!.privateKey, 'base64').toString('hex') : undefined), 'latin1');
    const want = parseGetResponse(bytes.toString('latin1'));
    const p = new GetResponseParser(undefined, 'state');
    const sizes = Array.from({ length: 1 + rng.int(4) }, () => 1 + rng.int(rng.bool() ? 8 : 300));
    for (let at = 0, k = 0; at < bytes.length; k++) {
      const n = sizes[k % sizes.length]!;
      p.push(bytes.subarray(at, at + n));
      at += n;
    }
    const { peers: none, ...iface } = p.result();
    assert.deepEqual(none, [], 'state mode lists no peers in result()');
    const got = { iface, peers: new Map([...p.peerStates].map(([k, v]) => [k, { ...v }])) };
    assert.deepEqual(got, asStates(want), `case ${i}`);
  }
});

test('state mode: a malformed answer is refused with the same WGF_ERR_UAPI as device mode; peerStates needs state mode', () => {
  const bytes = Buffer.from('public_key=zz\nerrno=0\n\n', 'latin1');
  const dev = outcome(() => streamed(bytes, [5]));
  const st = outcome(() => { const p = new GetResponseParser(undefined, 'state'); p.push(bytes); return p.result(); });
  assert.ok('error' in dev);
  assert.deepEqual(st, dev);
  assert.throws(() => new GetResponseParser().peerStates, /state mode/);
});

test('a preshared_key line of 64 zero digits is no key; one of 63 zeros and a non-hex digit is still refused', () => {
  const pub = Buffer.alloc(32, 7).toString('hex');
  const ok = new GetResponseParser();
  ok.push(Buffer.from(`public_key=${pub}\npreshared_key=${'0'.repeat(64)}\nerrno=0\n\n`));
  assert.equal(ok.result().peers[0]!.presharedKey, undefined);
  assert.equal(outcome(() => streamed(Buffer.from(`public_key=${pub}\npreshared_key=${'0'.repeat(63)}g\nerrno=0\n\n`), [7])).hasOwnProperty('error'), true);
});

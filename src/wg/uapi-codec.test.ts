import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError, type ErrorCode } from '../protocol/errors.js';
import { publicKeyOf, toBase64 } from './keys.js';
import {
  GET_REQUEST, InterfaceFramer, ResponseFramer, buildSetOperations, buildSetRequest, checkErrno, parseGetResponse, parseSetResponse, type Device, type UapiSetRequest,
} from './uapi-codec.js';
import { parseCidr } from './addr.js';
import { keyPairs } from './testing/gen-config.js';
import { FakeDevice, renderDevice } from './testing/fake-device.js';
import { randomCidr, randomIpv4, randomIpv6 } from './testing/gen-config.js';
import { Rng, testSeed } from './testing/random.js';

const [A, B, C] = keyPairs(new Rng(5), 3) as [{ privateKey: string; publicKey: string }, { privateKey: string; publicKey: string }, { privateKey: string; publicKey: string }];
const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');

function throwsCode(fn: () => unknown, code: ErrorCode, check?: (e: FabricError) => void): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FabricError, `expected FabricError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check?.(e);
    return true;
  });
}

test('buildSetRequest writes device and peer keys in wg(8) order, hex keys, blank-line end (golden)', () => {
  const req: UapiSetRequest = {
    privateKey: A.privateKey, listenPort: 51820, fwmark: 7, replacePeers: true,
    peers: [
      { publicKey: B.publicKey, updateOnly: true, presharedKey: C.privateKey, endpoint: '[2001:db8::1]:51820', persistentKeepaliveInterval: 25, replaceAllowedIps: true, allowedIps: ['10.0.0.2', 'fd00::2', '10.1.0.0/16'] },
      { publicKey: C.publicKey, remove: true, allowedIps: ['10.9.9.9/32'] },
    ],
  };
  assert.equal(buildSetRequest(req), [
    'set=1', `private_key=${hex(A.privateKey)}`, 'listen_port=51820', 'fwmark=7', 'replace_peers=true',
    `public_key=${hex(B.publicKey)}`, 'update_only=true', `preshared_key=${hex(C.privateKey)}`, 'endpoint=[2001:db8::1]:51820',
    'persistent_keepalive_interval=25', 'replace_allowed_ips=true', 'allowed_ip=10.0.0.2/32', 'allowed_ip=fd00::2/128', 'allowed_ip=10.1.0.0/16',
    `public_key=${hex(C.publicKey)}`, 'remove=true', '', '',
  ].join('\n'));
});

test('keys may be bytes, base64 or hex; null clears a key', () => {
  const bytes = new Uint8Array(Buffer.from(B.publicKey, 'base64'));
  const forms = [bytes, B.publicKey, hex(B.publicKey), hex(B.publicKey).toUpperCase()];
  const outs = forms.map((publicKey) => buildSetRequest({ peers: [{ publicKey }] }));
  assert.equal(new Set(outs).size, 1);
  assert.equal(buildSetRequest({ privateKey: null, peers: [{ publicKey: B.publicKey, presharedKey: null }] }),
    `set=1\nprivate_key=${'0'.repeat(64)}\npublic_key=${hex(B.publicKey)}\npreshared_key=${'0'.repeat(64)}\n\n`);
  assert.equal(buildSetRequest({}), 'set=1\n\n');
});

const badRequests: { name: string; req: UapiSetRequest; code: ErrorCode; field: string }[] = [
  { name: 'port 65536', req: { listenPort: 65536 }, code: 'WGF_ERR_VALIDATION', field: 'listenPort' },
  { name: 'fractional port', req: { listenPort: 1.5 }, code: 'WGF_ERR_VALIDATION', field: 'listenPort' },
  { name: 'negative fwmark', req: { fwmark: -1 }, code: 'WGF_ERR_VALIDATION', field: 'fwmark' },
  { name: 'fwmark over 32 bits', req: { fwmark: 2 ** 32 }, code: 'WGF_ERR_VALIDATION', field: 'fwmark' },
  { name: 'keepalive 65536', req: { peers: [{ publicKey: B.publicKey, persistentKeepaliveInterval: 65536 }] }, code: 'WGF_ERR_VALIDATION', field: 'peers[0].persistentKeepaliveInterval' },
  { name: 'host name endpoint', req: { peers: [{ publicKey: B.publicKey, endpoint: 'vpn.example.com:51820' }] }, code: 'WGF_ERR_VALIDATION', field: 'peers[0].endpoint' },
  { name: 'unbracketed IPv6 endpoint', req: { peers: [{ publicKey: B.publicKey, endpoint: 'fd00::1:51820' }] }, code: 'WGF_ERR_VALIDATION', field: 'peers[0].endpoint' },
  { name: 'line injection in endpoint', req: { peers: [{ publicKey: B.publicKey, endpoint: '1.2.3.4:1\nreplace_peers=true' }] }, code: 'WGF_ERR_VALIDATION', field: 'peers[0].endpoint' },
  { name: 'bad CIDR', req: { peers: [{ publicKey: B.publicKey, allowedIps: ['10.0.0.0/8', '10.0.0.0/33'] }] }, code: 'WGF_ERR_VALIDATION', field: 'peers[0].allowedIps[1]' },
  { name: 'short key', req: { privateKey: A.privateKey.slice(0, 40) }, code: 'WGF_ERR_INVALID_KEY', field: 'privateKey' },
  { name: 'key of 31 bytes', req: { privateKey: new Uint8Array(31) }, code: 'WGF_ERR_INVALID_KEY', field: 'privateKey' },
  { name: 'key of the wrong type', req: { privateKey: 42 as unknown as string }, code: 'WGF_ERR_VALIDATION', field: 'privateKey' },
  { name: 'all-zero public key', req: { peers: [{ publicKey: new Uint8Array(32) }] }, code: 'WGF_ERR_WEAK_KEY', field: 'peers[0].publicKey' },
  { name: 'bad preshared key', req: { peers: [{ publicKey: B.publicKey, presharedKey: 'nope' }] }, code: 'WGF_ERR_INVALID_KEY', field: 'peers[0].presharedKey' },
];

for (const c of badRequests) {
  test(`buildSetRequest refuses ${c.name}, naming the field and not the value`, () => {
    throwsCode(() => buildSetRequest(c.req), c.code, (e) => {
      assert.equal(e.details?.field, c.field);
      assert.ok(!e.message.includes(A.privateKey.slice(0, 20)), 'key material in the message');
      assert.ok(!e.message.includes('\n'), 'a line break in the message');
    });
  });
}

test('a peer being removed may have a weak key (only its format is checked)', () => {
  assert.match(buildSetRequest({ peers: [{ publicKey: new Uint8Array(32), remove: true }] }), /remove=true/);
});

// A real answer from wireguard-go 0.0.20220316 (keys replaced), plus a handshake.
const GET_SAMPLE = [
  `private_key=${hex(A.privateKey)}`, 'listen_port=51820', 'fwmark=3',
  `public_key=${hex(B.publicKey)}`, `preshared_key=${'0'.repeat(64)}`, 'protocol_version=1', 'endpoint=198.18.0.2:51820',
  'last_handshake_time_sec=1700000000', 'last_handshake_time_nsec=123456789', 'tx_bytes=1000', 'rx_bytes=2000',
  'persistent_keepalive_interval=25', 'allowed_ip=10.0.0.2/32', 'allowed_ip=fd00::2/128',
  `public_key=${hex(C.publicKey)}`, `preshared_key=${hex(A.privateKey)}`, 'protocol_version=1',
  'last_handshake_time_sec=0', 'last_handshake_time_nsec=0', 'tx_bytes=0', 'rx_bytes=0', 'persistent_keepalive_interval=0',
  'errno=0', '', '',
].join('\n');

test('parseGetResponse reads a wireguard-go answer', () => {
  const d = parseGetResponse(GET_SAMPLE);
  assert.deepEqual(d, {
    privateKey: A.privateKey, publicKey: A.publicKey, listenPort: 51820, fwmark: 3,
    peers: [
      { publicKey: B.publicKey, endpoint: '198.18.0.2:51820', persistentKeepaliveInterval: 25, lastHandshakeMs: 1_700_000_000_123, rxBytes: 2000, txBytes: 1000, allowedIps: ['10.0.0.2/32', 'fd00::2/128'], protocolVersion: 1 },
      { publicKey: C.publicKey, presharedKey: A.privateKey, persistentKeepaliveInterval: 0, lastHandshakeMs: null, rxBytes: 0, txBytes: 0, allowedIps: [], protocolVersion: 1 },
    ],
  } satisfies Device);
  assert.equal(d.publicKey, toBase64(publicKeyOf(new Uint8Array(Buffer.from(A.privateKey, 'base64')))));
});

test('parseGetResponse of an empty device, and unknown keys are ignored', () => {
  assert.deepEqual(parseGetResponse('errno=0\n\n'), { listenPort: 0, fwmark: 0, peers: [] });
  const withUnknown = GET_SAMPLE.replace('listen_port=51820', 'listen_port=51820\njc=4\nh1=12345').replace('tx_bytes=1000', 'tx_bytes=1000\nfuture_thing=x=y');
  assert.deepEqual(parseGetResponse(withUnknown), parseGetResponse(GET_SAMPLE));
});

const malformed: { name: string; text: string; line: number }[] = [
  { name: 'a line without =', text: 'listen_port=1\nhello\nerrno=0\n\n', line: 2 },
  { name: 'an empty key', text: '=1\nerrno=0\n\n', line: 1 },
  { name: 'a peer key before public_key', text: 'allowed_ip=10.0.0.1/32\nerrno=0\n\n', line: 1 },
  { name: 'a short public key', text: 'public_key=abcd\nerrno=0\n\n', line: 1 },
  { name: 'a non-numeric port', text: 'listen_port=x\nerrno=0\n\n', line: 1 },
  { name: 'a negative counter', text: `public_key=${hex(B.publicKey)}\nrx_bytes=-1\nerrno=0\n\n`, line: 2 },
  { name: 'a bad allowed_ip', text: `public_key=${hex(B.publicKey)}\nallowed_ip=10.0.0.1\nerrno=0\n\n`, line: 2 },
  { name: 'a non-numeric errno', text: 'errno=abc\n\n', line: 1 },
  { name: 'no errno', text: 'listen_port=1\n', line: 1 },
  { name: 'a blank line before errno', text: 'listen_port=1\n\nerrno=0\n\n', line: 2 },
  { name: 'data after the end', text: 'errno=0\n\nlisten_port=1\n', line: 3 },
  { name: 'a line after errno', text: 'errno=0\nlisten_port=1\n\n', line: 2 },
];

for (const c of malformed) {
  test(`parseGetResponse refuses ${c.name} with WGF_ERR_UAPI and the line`, () => {
    throwsCode(() => parseGetResponse(c.text), 'WGF_ERR_UAPI', (e) => {
      assert.equal(e.details?.line, c.line);
      assert.match(e.message, /malformed UAPI response/);
    });
  });
}

test('a short key line in a response is reported without echoing it', () => {
  const secretish = hex(A.privateKey).slice(0, 60);
  throwsCode(() => parseGetResponse(`private_key=${secretish}\nerrno=0\n\n`), 'WGF_ERR_UAPI', (e) => assert.ok(!e.message.includes(secretish)));
});

const errnos: { text: string; errno: number; name?: string }[] = [
  { text: 'errno=-22\n\n', errno: -22, name: 'EINVAL' }, // wireguard-go
  { text: 'errno=22\n\n', errno: 22, name: 'EINVAL' }, // boringtun
  { text: 'errno=-98\n\n', errno: -98, name: 'EADDRINUSE' },
  { text: 'errno=-71\n\n', errno: -71, name: 'EPROTO' },
  { text: 'errno=-55\n\n', errno: -55, name: 'ENOANO' }, // wireguard-go's "unknown error"
  { text: 'errno=-99999\n\n', errno: -99999 },
];

for (const c of errnos) {
  test(`errno ${c.errno} becomes WGF_ERR_UAPI with details.errno`, () => {
    for (const parse of [parseSetResponse, parseGetResponse]) {
      throwsCode(() => parse(c.text), 'WGF_ERR_UAPI', (e) => {
        assert.equal(e.details?.errno, c.errno);
        assert.equal(e.details?.errnoName, c.name);
      });
    }
  });
}

test('errno 0 is success', () => {
  assert.doesNotThrow(() => parseSetResponse('errno=0\n\n'));
  assert.doesNotThrow(() => checkErrno(0));
  assert.equal(GET_REQUEST, 'get=1\n\n');
});

test('ResponseFramer finds the end wherever the chunks split, including across the terminator', () => {
  const bytes = Buffer.from(GET_SAMPLE);
  for (let cut = 1; cut < bytes.length; cut++) {
    const f = new ResponseFramer();
    assert.equal(f.push(bytes.subarray(0, cut)), false, `complete too early at ${cut}`);
    assert.equal(f.push(bytes.subarray(cut)), true, `not complete at ${cut}`);
    assert.equal(f.text(), GET_SAMPLE);
  }
  const bytewise = new ResponseFramer();
  let doneAt = -1;
  for (let i = 0; i < bytes.length; i++) if (bytewise.push(bytes.subarray(i, i + 1)) && doneAt < 0) doneAt = i;
  assert.equal(doneAt, bytes.length - 1);
  assert.equal(bytewise.push(Buffer.alloc(0)), true);
});

test('ResponseFramer refuses answers over its limit', () => {
  const f = new ResponseFramer(100);
  assert.equal(f.push(Buffer.alloc(60, 'a')), false);
  throwsCode(() => f.push(Buffer.alloc(60, 'a')), 'WGF_ERR_UAPI', (e) => assert.equal(e.details?.bytes, 120));
});

test('InterfaceFramer stops at the first peer wherever the chunks split, and its answer parses to the device without peers', () => {
  const bytes = Buffer.from(GET_SAMPLE);
  const { peers, ...want } = parseGetResponse(GET_SAMPLE);
  assert.equal(peers.length, 2);
  const firstPeer = GET_SAMPLE.indexOf('public_key=');
  for (let cut = 1; cut < bytes.length; cut++) {
    const f = new InterfaceFramer();
    // Done once the whole "\npublic_key=" marker has arrived, not before.
    const early = f.push(bytes.subarray(0, cut));
    assert.equal(early, cut >= firstPeer + 'public_key='.length, `done=${early} at ${cut}`);
    assert.equal(f.push(bytes.subarray(cut)), true);
    assert.deepEqual(parseGetResponse(f.text()), { ...want, peers: [] }, `cut ${cut}`);
  }
});

test('InterfaceFramer: a device without peers or key, a refusal, and an answer that never reaches a peer', () => {
  const noPeers = 'listen_port=7\nerrno=0\n\n';
  const a = new InterfaceFramer();
  assert.equal(a.push(Buffer.from(noPeers)), true);
  assert.deepEqual(parseGetResponse(a.text()), { listenPort: 7, fwmark: 0, peers: [] });
  const empty = new InterfaceFramer();
  assert.equal(empty.push(Buffer.from('errno=0\n')), false);
  assert.equal(empty.push(Buffer.from('\n')), true);
  assert.deepEqual(parseGetResponse(empty.text()), { listenPort: 0, fwmark: 0, peers: [] });
  const refused = new InterfaceFramer();
  refused.push(Buffer.from('errno=-5\n\n'));
  throwsCode(() => parseGetResponse(refused.text()), 'WGF_ERR_UAPI', (e) => assert.equal(e.details?.errno, -5));
  const endless = new InterfaceFramer(100);
  assert.equal(endless.push(Buffer.from('listen_port=1\n'.repeat(5))), false);
  throwsCode(() => endless.push(Buffer.from('listen_port=1\n'.repeat(5))), 'WGF_ERR_UAPI', (e) => assert.equal(e.details?.bytes, 140));
});

test('random devices: the interface part read by InterfaceFramer equals the full parse without peers (property)', () => {
  const rng = new Rng(testSeed(9002));
  const keys = keyPairs(rng, 4);
  for (let i = 0; i < 200; i++) {
    const dev: Device = {
      listenPort: rng.int(65536), fwmark: rng.bool(0.2) ? rng.int(2 ** 32) : 0,
      peers: keys.slice(0, rng.int(keys.length)).map((k) => ({
        publicKey: k.publicKey, persistentKeepaliveInterval: 0, lastHandshakeMs: null, rxBytes: 0, txBytes: 0, allowedIps: [randomCidr(rng, undefined, false)], protocolVersion: 1,
      })),
    };
    const text = renderDevice(dev, rng.bool() ? hex(keys[0]!.privateKey) : undefined);
    const f = new InterfaceFramer();
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length && !f.done;) {
      const n = 1 + rng.int(40);
      f.push(bytes.subarray(at, at + n));
      at += n;
    }
    const { peers: _p, ...full } = parseGetResponse(text);
    assert.deepEqual(parseGetResponse(f.text()), { ...full, peers: [] });
  }
});

test('random devices survive render -> parse (property)', () => {
  const rng = new Rng(testSeed(9001));
  const keys = keyPairs(rng, 12);
  for (let i = 0; i < 300; i++) {
    const peers = keys.slice(0, rng.int(keys.length)).map((k) => ({
      publicKey: k.publicKey, ...(rng.bool(0.3) ? { presharedKey: k.privateKey } : {}),
      ...(rng.bool(0.5) ? { endpoint: rng.bool() ? `${randomIpv4(rng)}:${rng.range(1, 65535)}` : `[${randomIpv6(rng)}]:${rng.range(1, 65535)}` } : {}),
      persistentKeepaliveInterval: rng.int(65536), lastHandshakeMs: rng.bool(0.3) ? null : rng.range(1, 2 ** 41),
      rxBytes: rng.int(2 ** 48), txBytes: rng.int(2 ** 48), allowedIps: Array.from({ length: rng.int(4) }, () => randomCidr(rng, undefined, false)), protocolVersion: 1,
    }));
    const dev: Device = { listenPort: rng.int(65536), fwmark: rng.bool(0.2) ? rng.int(2 ** 32) : 0, peers };
    assert.deepEqual(parseGetResponse(renderDevice(dev)), dev);
  }
});

test('random set requests are applied by the fake device as built (property)', () => {
  const rng = new Rng(testSeed(77));
  const keys = keyPairs(rng, 8);
  for (let i = 0; i < 200; i++) {
    const dev = new FakeDevice();
    const peers = keys.slice(1, 1 + rng.int(keys.length - 1)).map((k, j) => ({
      publicKey: k.publicKey, persistentKeepaliveInterval: rng.int(100), allowedIps: [`10.${i % 256}.${j}.0/24`],
    }));
    const text = buildSetRequest({ privateKey: keys[0]!.privateKey, listenPort: rng.range(1, 65535), peers });
    const lines = text.split('\n');
    assert.equal(lines[0], 'set=1');
    assert.deepEqual(lines.slice(-2), ['', '']);
    assert.equal(dev.applySet(lines.slice(1, -2)), 0);
    const back = parseGetResponse(dev.renderGet());
    assert.equal(back.publicKey, keys[0]!.publicKey);
    assert.deepEqual(back.peers.map((p) => [p.publicKey, p.persistentKeepaliveInterval, p.allowedIps]), peers.map((p) => [p.publicKey, p.persistentKeepaliveInterval, p.allowedIps]));
  }
});

test('mutated responses: the parser throws only WGF_ERR_UAPI (fuzz)', () => {
  const rng = new Rng(testSeed(1234));
  let refused = 0;
  for (let i = 0; i < 5000; i++) {
    let s = GET_SAMPLE;
    for (let r = rng.range(1, 3); r > 0; r--) {
      const at = rng.int(s.length + 1);
      const op = rng.int(4);
      if (op === 0) s = s.slice(0, at) + s.slice(at + rng.range(1, 10));
      else if (op === 1) s = s.slice(0, at) + rng.pick(['=', '\n', '\n\n', '-', 'x', '0', '/', ':', '\0', 'é']) + s.slice(at);
      else if (op === 2) s = s.slice(0, at);
      else s = s.slice(0, at) + rng.string(rng.range(1, 20), 'abcdef0123456789=_\n') + s.slice(at);
    }
    try {
      const d = parseGetResponse(s);
      assert.ok(Array.isArray(d.peers));
    } catch (e) {
      assert.ok(e instanceof FabricError && e.code === 'WGF_ERR_UAPI', `case ${i}: ${String(e)} for ${JSON.stringify(s)}`);
      refused++;
    }
  }
  assert.ok(refused > 1000, `only ${refused} refused: the mutations are too weak`);
});

test('random request models: buildSetRequest throws only FabricErrors and never writes a stray line (fuzz)', () => {
  const rng = new Rng(testSeed(555));
  const junk = (): unknown => rng.pick<unknown>([
    undefined, null, 0, -1, 1.5, 2 ** 40, NaN, '', 'x', '1.2.3.4:5', '[::1]:5', '10.0.0.0/8', '\n', B.publicKey, hex(C.publicKey),
    new Uint8Array(32).fill(9), new Uint8Array(5), [], ['10.0.0.1'], ['x\ny'], {}, true, false,
  ]);
  for (let i = 0; i < 5000; i++) {
    const req = {
      privateKey: junk(), listenPort: junk(), fwmark: junk(), replacePeers: junk(),
      peers: rng.bool(0.1) ? junk() : [{ publicKey: junk(), remove: junk(), updateOnly: junk(), presharedKey: junk(), endpoint: junk(), persistentKeepaliveInterval: junk(), replaceAllowedIps: junk(), allowedIps: junk() }],
    } as unknown as UapiSetRequest;
    try {
      const text = buildSetRequest(req);
      const lines = text.split('\n');
      assert.deepEqual(lines.slice(-2), ['', '']);
      for (const l of lines.slice(0, -2)) assert.match(l, /^[a-z_0-9]+=[^\n=]+$/, `case ${i}: bad line ${JSON.stringify(l)}`);
    } catch (e) {
      assert.ok(e instanceof FabricError, `case ${i}: threw ${String(e)}`);
    }
  }
});

test('buildSetOperations cuts big requests between peers, each operation within the limit (property)', () => {
  const rng = new Rng(testSeed(2024));
  const keys = keyPairs(rng, 40);
  for (let round = 0; round < 60; round++) {
    const maxBytes = rng.range(1024, 4096);
    const peers = keys.slice(1).map((k, i) => ({
      publicKey: k.publicKey, ...(rng.bool(0.2) ? { updateOnly: true } : {}), ...(rng.bool(0.3) ? { replaceAllowedIps: true } : {}),
      ...(rng.bool(0.1) ? { remove: true } : {}), persistentKeepaliveInterval: rng.int(100),
      // Some peers have more allowed IPs than fit in one operation.
      allowedIps: Array.from({ length: rng.bool(0.1) ? rng.range(100, 300) : rng.int(4) }, (_, j) => `10.${i}.${j >> 8}.${j & 255}/32`),
    }));
    const req: UapiSetRequest = { privateKey: keys[0]!.privateKey, listenPort: 1 + round, replacePeers: true, peers };
    const ops = buildSetOperations(req, maxBytes);
    assert.ok(ops.length > 1, 'the request should need several operations');
    const single = buildSetRequest(req).split('\n').slice(1, -2);
    const lineBudget = Math.max(...single.map((l) => l.length + 1));
    let replaceSeen = 0;
    for (const [i, op] of ops.entries()) {
      assert.ok(op.startsWith('set=1\n') && op.endsWith('\n\n'), `op ${i} framing`);
      assert.ok(op.length <= maxBytes + lineBudget + 2, `op ${i} is ${op.length} bytes, limit ${maxBytes}`);
      const lines = op.split('\n').slice(1, -2);
      if (i > 0) assert.match(lines[0]!, /^public_key=/, `op ${i} must open a peer first`);
      replaceSeen += lines.filter((l) => l === 'replace_peers=true').length;
      if (i > 0) assert.ok(!lines.some((l) => /^(private_key|listen_port|replace_peers)=/.test(l)), `device line in op ${i}`);
    }
    assert.equal(replaceSeen, 1);
    // Applying the operations in order equals applying the single request.
    const a = new FakeDevice();
    const b = new FakeDevice();
    for (const op of ops) assert.equal(a.applySet(op.split('\n').slice(1, -2)), 0);
    assert.equal(b.applySet(single), 0);
    assert.equal(a.renderGet(), b.renderGet());
    // Without continuation lines, the operations carry exactly the lines of the single request.
    const opLines = ops.flatMap((op) => op.split('\n').slice(1, -2));
    assert.ok(opLines.length >= single.length);
  }
});

test('buildSetOperations keeps a small request in one operation and refuses tiny limits', () => {
  assert.deepEqual(buildSetOperations({ listenPort: 1, peers: [{ publicKey: B.publicKey }] }), [buildSetRequest({ listenPort: 1, peers: [{ publicKey: B.publicKey }] })]);
  throwsCode(() => buildSetOperations({}, 100), 'WGF_ERR_VALIDATION');
});

test('buildSetRequest: keys and allowed IPs written exactly as the general parsers read them, fast paths or not (property)', () => {
  const rng = new Rng(testSeed(7301));
  const keys = keyPairs(rng, 8);
  const LOW = 'X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc='; // order 8: refused as a public key, fine as a preshared key
  for (let i = 0; i < 400; i++) {
    const k = rng.pick(keys);
    const raw = Buffer.from(k.publicKey, 'base64');
    const form = rng.int(4);
    const publicKey = form === 0 ? k.publicKey : form === 1 ? raw.toString('hex') : form === 2 ? new Uint8Array(raw) : ` ${k.publicKey}`;
    const ips = Array.from({ length: rng.int(4) }, () => (rng.bool(0.1) ? rng.pick(['10.0.0.01/32', '10.0.0.1/033', 'fd00::1/129', '1.2.3.4/', '/32', 'FD00::1/64']) : randomCidr(rng)));
    const psk = rng.bool(0.3) ? LOW : undefined;
    const req = { peers: [{ publicKey, allowedIps: ips, ...(psk ? { presharedKey: psk } : {}) }] };
    const bad = ips.findIndex((c) => parseCidr(c) === null);
    if (bad >= 0) {
      assert.throws(() => buildSetRequest(req), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_VALIDATION' && e.details?.field === `peers[0].allowedIps[${bad}]`, ips[bad]);
      continue;
    }
    const want = [`public_key=${raw.toString('hex')}`, ...(psk ? [`preshared_key=${Buffer.from(psk, 'base64').toString('hex')}`] : []),
      ...ips.map((c) => { const p = parseCidr(c)!; return `allowed_ip=${p.addr}/${p.prefix}`; })];
    assert.deepEqual(buildSetRequest(req).split('\n').slice(1, -2), want);
  }
  assert.throws(() => buildSetRequest({ peers: [{ publicKey: LOW }] }), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_WEAK_KEY');
});

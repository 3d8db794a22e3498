import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { LOW_ORDER_BASE64, isLowOrderPoint, parseKey, parsePublicKey } from './keys.js';
import { buildSetRequest, setRequestChunks, validateSetRequest, type UapiPeerUpdate, type UapiSetRequest } from './uapi-codec.js';
import { keyPairs, randomCidr } from './testing/gen-config.js';
import { Rng, testSeed } from './testing/random.js';

// The streamed form of a set request (UapiClient with operationBytes Infinity): validated whole
// by validateSetRequest before the first byte, then built by setRequestChunks as it is sent.

/** What a call threw, as comparable data (or 'ok'). */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!(e instanceof FabricError)) return `not a FabricError: ${String(e)}`;
    return JSON.stringify([e.code, e.message, e.details]);
  }
}

const [A, B, C] = keyPairs(new Rng(8), 3) as [{ privateKey: string; publicKey: string }, { privateKey: string; publicKey: string }, { privateKey: string; publicKey: string }];
const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');

test('validateSetRequest throws exactly what buildSetRequest throws (code, message, field) and passes when it builds (fuzz)', () => {
  const rng = new Rng(testSeed(9090));
  const keys = keyPairs(rng, 30);
  const junk = (): unknown => rng.pick<unknown>([
    undefined, null, 0, -1, 1.5, 2 ** 40, NaN, '', 'x', '1.2.3.4:5', '[::1]:5', 'vpn.example.com:5', '10.0.0.0/8', '10.0.0.1/33', '\n', B.publicKey, hex(C.publicKey),
    ` ${B.publicKey}`, `${B.publicKey.slice(0, 42)}B=`, [...LOW_ORDER_BASE64][rng.int(LOW_ORDER_BASE64.size)], new Uint8Array(32).fill(9), new Uint8Array(5),
    [], ['10.0.0.1'], ['fd00::1/64', 'x\ny'], ['10.0.0.01/32'], {}, true, false,
  ]);
  const good = (i: number): UapiPeerUpdate => ({
    publicKey: keys[i % keys.length]!.publicKey, replaceAllowedIps: true, allowedIps: [randomCidr(rng), `10.${i >> 8 & 255}.${i & 255}.0/24`],
    ...(rng.bool(0.3) ? { presharedKey: rng.bool(0.5) ? null : keys[(i + 1) % keys.length]!.privateKey } : {}),
    ...(rng.bool(0.2) ? { endpoint: '198.18.0.1:51820', persistentKeepaliveInterval: 25 } : {}),
  });
  let refused = 0;
  for (let i = 0; i < 4000; i++) {
    let req: UapiSetRequest;
    if (i % 2 === 0) {
      // A big batch of good peers with (mostly) one junk field somewhere in it.
      const peers: Record<string, unknown>[] = Array.from({ length: rng.range(1, 60) }, (_, j) => ({ ...good(j) }));
      if (rng.bool(0.9)) {
        const at = rng.int(peers.length);
        peers[at]![rng.pick(['publicKey', 'presharedKey', 'endpoint', 'persistentKeepaliveInterval', 'allowedIps', 'remove'])] = junk();
      }
      req = { privateKey: rng.bool(0.1) ? junk() : A.privateKey, listenPort: rng.bool(0.1) ? junk() : 51820, peers } as unknown as UapiSetRequest;
    } else {
      req = {
        privateKey: junk(), listenPort: junk(), fwmark: junk(), replacePeers: junk(),
        peers: rng.bool(0.1) ? junk() : [{ publicKey: junk(), remove: junk(), updateOnly: junk(), presharedKey: junk(), endpoint: junk(), persistentKeepaliveInterval: junk(), replaceAllowedIps: junk(), allowedIps: junk() }],
      } as unknown as UapiSetRequest;
    }
    const built = outcome(() => buildSetRequest(req));
    assert.equal(outcome(() => validateSetRequest(req)), built, `case ${i}`);
    if (built !== 'ok') refused++;
  }
  assert.ok(refused > 1000 && refused < 3800, `${refused} of 4000 refused: the cases should mix good and bad`);
});

test('validateSetRequest: canonical base64 keys on its fast path are accepted exactly when the key parsers accept them (mutated keys, low-order points)', () => {
  const rng = new Rng(testSeed(4242));
  const keys = keyPairs(rng, 20);
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const candidates: string[] = [...LOW_ORDER_BASE64];
  for (let i = 0; i < 3000; i++) {
    let k = rng.pick(keys).publicKey;
    const at = rng.int(44);
    const op = rng.int(5);
    if (op === 0) k = k.slice(0, at) + rng.pick([...B64, '=', '-', '_', 'é', 'Ł', '\0', ' ']) + k.slice(at + 1);
    else if (op === 1) k = k.slice(0, at) + k.slice(at + 1);
    else if (op === 2) k = k.slice(0, at) + rng.pick([...B64]) + k.slice(at);
    else if (op === 3) k = k.slice(0, 42) + rng.pick([...B64]) + '=';
    candidates.push(k);
  }
  for (const k of candidates) {
    for (const asPublic of [true, false]) {
      const req: UapiSetRequest = { peers: [asPublic ? { publicKey: k } : { publicKey: A.publicKey, presharedKey: k }] };
      const field = asPublic ? 'peers[0].publicKey' : 'peers[0].presharedKey';
      const parsed = outcome(() => (asPublic ? parsePublicKey(k, field) : parseKey(k, field)));
      const validated = outcome(() => validateSetRequest(req));
      assert.equal(validated === 'ok', parsed === 'ok', `${JSON.stringify(k)} as ${field}: ${validated} / ${parsed}`);
      assert.equal(validated, outcome(() => buildSetRequest(req)));
      if (validated === 'ok') {
        const bytes = asPublic ? parsePublicKey(k) : parseKey(k);
        const line = asPublic ? `public_key=${Buffer.from(bytes).toString('hex')}` : `preshared_key=${Buffer.from(bytes).toString('hex')}`;
        assert.ok(buildSetRequest(req).split('\n').includes(line), `${JSON.stringify(k)}: written as its bytes`);
      }
    }
  }
});

test('LOW_ORDER_BASE64: each of the 14 keys (7 points, bit 255 clear and set) is a low-order point; no other key of the fuzz is', () => {
  assert.equal(LOW_ORDER_BASE64.size, 14);
  for (const k of LOW_ORDER_BASE64) assert.equal(isLowOrderPoint(new Uint8Array(Buffer.from(k, 'base64'))), true, k);
  for (const kp of keyPairs(new Rng(3), 50)) assert.equal(LOW_ORDER_BASE64.has(kp.publicKey), false);
});

test('setRequestChunks: joined, exactly buildSetRequest; cut between peers; each chunk within the size plus one peer (property)', () => {
  const rng = new Rng(testSeed(3131));
  const keys = keyPairs(rng, 40);
  for (let round = 0; round < 80; round++) {
    const chunkBytes = rng.range(200, 3000);
    const peers: UapiPeerUpdate[] = Array.from({ length: rng.int(120) }, (_, i) => ({
      publicKey: keys[i % keys.length]!.publicKey, ...(rng.bool(0.2) ? { updateOnly: true } : {}), ...(rng.bool(0.1) ? { remove: true } : {}),
      ...(rng.bool(0.3) ? { presharedKey: null } : {}), replaceAllowedIps: rng.bool(0.7),
      allowedIps: Array.from({ length: rng.bool(0.05) ? rng.range(50, 150) : rng.int(4) }, (_, j) => `10.${i}.${j >> 8}.${j & 255}/32`),
    }));
    const req: UapiSetRequest = rng.bool(0.5) ? { privateKey: A.privateKey, listenPort: round, replacePeers: true, peers } : { peers };
    const chunks = [...setRequestChunks(req, chunkBytes)];
    assert.equal(chunks.join(''), buildSetRequest(req), `round ${round}`);
    const single = buildSetRequest(req).split('\n');
    const peerBudget = Math.max(0, ...peers.map((_, i) => buildSetRequest({ peers: [peers[i]!] }).length));
    for (const [i, c] of chunks.entries()) {
      if (i > 0) assert.ok(c.startsWith('public_key='), `round ${round}, chunk ${i} opens a peer`);
      if (i < chunks.length - 1) {
        assert.ok(c.endsWith('\n') && !c.endsWith('\n\n'), `round ${round}, chunk ${i} ends a line, not the operation`);
        assert.ok(c.length <= chunkBytes + peerBudget + 64, `round ${round}, chunk ${i}: ${c.length} bytes for ${chunkBytes}`);
      }
    }
    assert.ok(chunks.at(-1)!.endsWith('\n\n'));
    if (single.join('\n').length > 3 * (chunkBytes + peerBudget + 64)) assert.ok(chunks.length > 1, `round ${round}: a big request is cut`);
  }
});

test('setRequestChunks builds one chunk at a time, as they are taken', () => {
  const keys = keyPairs(new Rng(12), 10);
  let built = 0;
  const peers = Array.from({ length: 1000 }, (_, i) => ({
    publicKey: keys[i % 10]!.publicKey, allowedIps: [`10.0.${i >> 8}.${i & 255}/32`],
    get replaceAllowedIps(): boolean {
      built = Math.max(built, i + 1); // read when the peer's lines are built, never by validateSetRequest
      return true;
    },
  }));
  validateSetRequest({ peers });
  assert.equal(built, 0, 'validation builds nothing');
  const it = setRequestChunks({ peers }, 4096);
  it.next();
  assert.ok(built > 0 && built < 100, `the first chunk built ${built} peers`);
  for (let r = it.next(); !r.done; r = it.next());
  assert.equal(built, 1000);
});

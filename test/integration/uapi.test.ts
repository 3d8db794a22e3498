/**
 * UapiClient against real wireguard-go devices in a throwaway namespace (needs root), checked
 * against `wg show dump`. Device names carry the Sandbox tag: UAPI sockets are host-global.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FabricError, type ErrorCode } from '../../src/protocol/errors.js';
import { run } from '../../src/sys/exec.js';
import { Sandbox, uapiSocketPath } from '../../src/sys/netns.js';
import { normalizeCidr } from '../../src/wg/addr.js';
import { UapiClient } from '../../src/wg/uapi.js';
import type { Device } from '../../src/wg/uapi-codec.js';
import { keyPairs } from '../../src/wg/testing/gen-config.js';
import { Rng } from '../../src/wg/testing/random.js';

const sb = new Sandbox('wgu');
let ns = '';
let ifA = '';
let a: UapiClient;
const [server, p1, p2, p3, stranger, other] = keyPairs(new Rng(606), 6) as [
  { privateKey: string; publicKey: string }, { privateKey: string; publicKey: string }, { privateKey: string; publicKey: string },
  { privateKey: string; publicKey: string }, { privateKey: string; publicKey: string }, { privateKey: string; publicKey: string },
];
const PORT_A = 41820;

before(async () => {
  ns = await sb.addNetns('n');
  ifA = sb.name('a');
  await sb.startWireguardGo(ns, ifA);
  a = new UapiClient(ifA);
});

after(async () => {
  await sb.cleanup();
});

async function rejectsCode(p: Promise<unknown>, code: ErrorCode, check?: (e: FabricError) => void): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FabricError, `expected FabricError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check?.(e);
    return true;
  });
}

interface DumpPeer { publicKey: string; presharedKey: string | null; endpoint: string | null; allowedIps: string[]; keepalive: number }

/** `wg show IFACE dump`: a tab-separated line for the device, then one per peer. */
async function dump(iface: string): Promise<{ privateKey: string; publicKey: string; listenPort: number; peers: DumpPeer[] }> {
  const lines = (await run('wg', ['show', iface, 'dump'], { netns: ns })).stdout.trim().split('\n');
  const [priv, pub, port] = lines[0]!.split('\t') as [string, string, string];
  const peers = lines.slice(1).map((l) => {
    const [publicKey, psk, endpoint, ips, , , , keepalive] = l.split('\t') as [string, string, string, string, string, string, string, string];
    return {
      publicKey, presharedKey: psk === '(none)' ? null : psk, endpoint: endpoint === '(none)' ? null : endpoint,
      allowedIps: ips === '(none)' ? [] : ips.split(','), keepalive: keepalive === 'off' ? 0 : Number(keepalive),
    };
  });
  return { privateKey: priv, publicKey: pub, listenPort: Number(port), peers };
}

function peer(d: Device, key: string) {
  const found = d.peers.find((p) => p.publicKey === key);
  assert.ok(found, `peer ${key.slice(0, 8)} is missing`);
  return found;
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

test('configureDevice sets the private key and listen port; get derives the public key', async () => {
  await a.configureDevice({ privateKey: server.privateKey, listenPort: PORT_A });
  const d = await a.get();
  assert.equal(d.privateKey, server.privateKey);
  assert.equal(d.publicKey, server.publicKey);
  assert.equal(d.listenPort, PORT_A);
  assert.equal(d.peers.length, 0);
});

test('three peers with v4+v6 allowed IPs, endpoints and keepalive; get and wg show dump agree', async () => {
  await a.setPeers([
    { publicKey: p1.publicKey, allowedIps: ['10.50.0.1/32', 'fd50::1/128'], endpoint: '198.18.50.1:51820', persistentKeepaliveInterval: 25 },
    { publicKey: p2.publicKey, allowedIps: ['10.50.0.2/32', '10.60.0.0/16', 'fd50::2/128'], endpoint: '[fd50::ffff]:4500', presharedKey: other.privateKey },
    { publicKey: p3.publicKey, allowedIps: ['10.50.0.3'] },
  ]);
  const d = await a.get();
  assert.equal(d.peers.length, 3);
  assert.deepEqual(sorted(peer(d, p1.publicKey).allowedIps), sorted(['10.50.0.1/32', 'fd50::1/128']));
  assert.equal(peer(d, p1.publicKey).endpoint, '198.18.50.1:51820');
  assert.equal(peer(d, p1.publicKey).persistentKeepaliveInterval, 25);
  assert.equal(peer(d, p2.publicKey).endpoint, '[fd50::ffff]:4500');
  assert.equal(peer(d, p2.publicKey).presharedKey, other.privateKey);
  assert.deepEqual(peer(d, p3.publicKey).allowedIps, ['10.50.0.3/32']);
  assert.equal(peer(d, p3.publicKey).lastHandshakeMs, null);

  const w = await dump(ifA);
  assert.equal(w.privateKey, d.privateKey);
  assert.equal(w.publicKey, d.publicKey);
  assert.equal(w.listenPort, d.listenPort);
  assert.deepEqual(
    w.peers.map((p) => [p.publicKey, p.presharedKey, p.endpoint, sorted(p.allowedIps), p.keepalive]).sort(),
    d.peers.map((p) => [p.publicKey, p.presharedKey ?? null, p.endpoint ?? null, sorted(p.allowedIps), p.persistentKeepaliveInterval]).sort(),
  );
});

test('update_only changes an existing peer and never creates one', async () => {
  await a.setPeers([
    { publicKey: p1.publicKey, updateOnly: true, persistentKeepaliveInterval: 10 },
    { publicKey: stranger.publicKey, updateOnly: true, allowedIps: ['10.99.0.1/32'] },
  ]);
  const d = await a.get();
  assert.equal(peer(d, p1.publicKey).persistentKeepaliveInterval, 10);
  assert.equal(d.peers.some((p) => p.publicKey === stranger.publicKey), false);
  assert.equal(d.peers.length, 3);
});

test('replace_allowed_ips replaces, and an allowed IP moves between peers', async () => {
  await a.setPeers([{ publicKey: p2.publicKey, replaceAllowedIps: true, allowedIps: ['10.70.0.0/16'] }]);
  await a.setPeers([{ publicKey: p3.publicKey, allowedIps: ['10.50.0.1/32'] }]); // p1 had it
  const d = await a.get();
  assert.deepEqual(peer(d, p2.publicKey).allowedIps, ['10.70.0.0/16']);
  assert.deepEqual(peer(d, p1.publicKey).allowedIps, ['fd50::1/128']);
  assert.deepEqual(sorted(peer(d, p3.publicKey).allowedIps), sorted(['10.50.0.1/32', '10.50.0.3/32']));
});

test('removePeers removes one peer and leaves the others', async () => {
  await a.removePeers([p2.publicKey, stranger.publicKey]);
  const d = await a.get();
  assert.deepEqual(sorted(d.peers.map((p) => p.publicKey)), sorted([p1.publicKey, p3.publicKey]));
  assert.equal((await dump(ifA)).peers.length, 2);
});

test('a listen port in use is refused with WGF_ERR_UAPI errno -98, after the lines before it were applied', async () => {
  const ifB = sb.name('b');
  await sb.startWireguardGo(ns, ifB);
  const b = new UapiClient(ifB);
  await rejectsCode(b.set({ privateKey: other.privateKey, listenPort: PORT_A }), 'WGF_ERR_UAPI', (e) => {
    assert.equal(e.details?.errno, -98);
    assert.equal(e.details?.errnoName, 'EADDRINUSE');
  });
  // UAPI is not transactional: the private key line came first and stays applied.
  assert.equal((await b.get()).privateKey, other.privateKey);
  // The same refusal at the head of a big request still reports errno (the device hangs up
  // after answering; the client must not mistake that for an unreachable device).
  const peers = Array.from({ length: 3000 }, (_, i) => ({ publicKey: randomBytes(32).toString('base64'), allowedIps: [`10.80.${i >> 8}.${i & 255}/32`] }));
  for (let i = 0; i < 3; i++) {
    await rejectsCode(b.set({ listenPort: PORT_A, peers }), 'WGF_ERR_UAPI', (e) => {
      assert.equal(e.details?.errno, -98);
      assert.equal(e.details?.operation, 1);
    });
  }
  assert.equal((await b.get()).peers.length, 0);
});

test('a socket that does not exist is WGF_ERR_DEVICE_UNAVAILABLE naming it', async () => {
  const ghost = sb.name('z');
  await rejectsCode(new UapiClient(ghost).get(), 'WGF_ERR_DEVICE_UNAVAILABLE', (e) => {
    assert.ok(e.message.includes(uapiSocketPath(ghost)), e.message);
    assert.equal(e.details?.socket, uapiSocketPath(ghost));
  });
});

test('bulk: 10,000 peers in one set request come back from get', async () => {
  const ifC = sb.name('c');
  await sb.startWireguardGo(ns, ifC);
  const c = new UapiClient(ifC);
  const peers = Array.from({ length: 10_000 }, (_, i) => ({
    publicKey: randomBytes(32).toString('base64'),
    allowedIps: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, `fd10::${i.toString(16)}/128`],
    ...(i % 7 === 0 ? { endpoint: `198.18.${(i >> 8) & 255}.${i & 255}:51820`, persistentKeepaliveInterval: 25 } : {}),
  }));
  await c.set({ privateKey: server.privateKey, listenPort: 0, replacePeers: true, peers });
  const d = await c.get();
  assert.equal(d.peers.length, 10_000);
  const byKey = new Map(d.peers.map((p) => [p.publicKey, p]));
  for (const i of [0, 1, 4242, 7000, 9_999]) {
    const want = peers[i]!;
    const got = byKey.get(want.publicKey);
    assert.ok(got, `peer ${i} missing`);
    assert.deepEqual(sorted(got.allowedIps), sorted(want.allowedIps.map((x) => normalizeCidr(x)!)), `peer ${i}`);
    assert.equal(got.endpoint, want.endpoint, `peer ${i}`);
    assert.equal(got.persistentKeepaliveInterval, want.persistentKeepaliveInterval ?? 0, `peer ${i}`);
  }
  const listed = (await run('wg', ['show', ifC, 'peers'], { netns: ns })).stdout.trim().split('\n');
  assert.equal(listed.length, 10_000);
});

test('streamed set (ONE operation built in chunks while wireguard-go applies it, as the agent\'s driver sends): a bad 30,000th peer writes nothing; then 30,000 peers land whole', async () => {
  const ifD = sb.name('d');
  await sb.startWireguardGo(ns, ifD);
  const d = new UapiClient(ifD, { operationBytes: Number.POSITIVE_INFINITY, timeoutMs: 120_000 });
  const peers = Array.from({ length: 30_000 }, (_, i) => ({
    publicKey: randomBytes(32).toString('base64'), replaceAllowedIps: true,
    allowedIps: [`10.${120 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, `fd12::${i.toString(16)}/128`],
    ...(i % 5 === 0 ? { presharedKey: randomBytes(32).toString('base64') } : {}),
  }));
  const bad = [...peers];
  bad[29_999] = { ...peers[29_999]!, allowedIps: ['10.0.0.1/33'] };
  await rejectsCode(d.set({ privateKey: server.privateKey, peers: bad }), 'WGF_ERR_VALIDATION', (e) => assert.equal(e.details?.field, 'peers[29999].allowedIps[0]'));
  const untouched = await d.get();
  assert.equal(untouched.peers.length, 0, 'no peer of the refused batch');
  assert.equal(untouched.publicKey, undefined, 'not even the device line before the peers');

  await d.set({ privateKey: server.privateKey, peers });
  const got = await d.get();
  assert.equal(got.publicKey, server.publicKey);
  assert.equal(got.peers.length, 30_000);
  const byKey = new Map(got.peers.map((p) => [p.publicKey, p]));
  for (const i of [0, 1, 5, 12_345, 29_995, 29_999]) {
    const want = peers[i]!;
    const have = byKey.get(want.publicKey);
    assert.ok(have, `peer ${i} missing`);
    assert.deepEqual(sorted(have.allowedIps), sorted(want.allowedIps.map((x) => normalizeCidr(x)!)), `peer ${i}`);
    assert.equal(have.presharedKey, want.presharedKey, `peer ${i}`);
  }
  const listed = (await run('wg', ['show', ifD, 'peers'], { netns: ns })).stdout.trim().split('\n');
  assert.equal(listed.length, 30_000);
});

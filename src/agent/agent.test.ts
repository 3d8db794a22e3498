import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { Agent } from './agent.js';
import { FakeDevice } from './device-fake.js';
import type { DeviceConfig, DeviceState, WireGuardDevice } from './device.js';
import { specComputations } from './desired.js';
import type { PeerOp } from './diff.js';
import { MemorySource } from './testing/memory-source.js';

const newKey = () => toBase64(generateKeyPair().publicKey);
let agent: Agent | undefined;
afterEach(async () => agent?.stop());

async function until(what: string, cond: () => boolean, limitMs = 5000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > limitMs) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

function setup(peers = 3) {
  const source = new MemorySource(toBase64(generateKeyPair().privateKey));
  for (let i = 0; i < peers; i++) source.put({ name: `p${i}`, publicKey: newKey(), addresses: [`10.0.0.${i + 2}/32`] });
  const device = new FakeDevice();
  agent = new Agent({ pool: 'p', node: 'n1', source, device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000, backoffMinMs: 5, backoffMaxMs: 20 });
  return { source, device, agent };
}

test('snapshot, then each batch of changes is one incremental set operation', async () => {
  const { source, device, agent } = setup(3);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3 && agent.stats.appliedRevision === source.revision);
  const opsBefore = device.setOperations;
  source.put({ name: 'new', publicKey: newKey(), addresses: ['10.0.0.99/32'] });
  await until('new peer applied', () => device.peerStates.size === 4);
  assert.equal(device.setOperations, opsBefore + 1);
  source.delete('p0');
  await until('peer removed', () => device.peerStates.size === 3);
  assert.equal(agent.stats.appliedRevision, source.revision);
  assert.ok(agent.ready);
});

test('drift is repaired by reconcile and counted', async () => {
  const { device, agent } = setup(3);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3);
  const [first] = [...device.peerStates.keys()];
  device.peerStates.delete(first!); // removed by hand
  const stranger = newKey();
  device.peerStates.set(stranger, { publicKey: stranger, allowedIps: ['10.0.0.250/32'], lastHandshakeMs: null, rxBytes: 0, txBytes: 0, endpoint: null });
  assert.equal(await agent.reconcile(), 2);
  assert.ok(device.peerStates.has(first!));
  assert.ok(!device.peerStates.has(stranger));
  assert.equal(agent.stats.driftRepairs, 2);
  assert.equal(await agent.reconcile(), 0, 'a second reconcile finds nothing to repair');
});

test('a reconcile reads the device once (key and peers together)', async () => {
  const { device, agent } = setup(3);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3 && agent.ready);
  const reads = device.stateReads;
  assert.equal(await agent.reconcile(), 0);
  assert.equal(device.stateReads, reads + 1);
});

test('a device that vanishes makes the agent not ready at the next reconcile, and ready again once it is back', async () => {
  const { device, agent } = setup(3);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3 && agent.ready);
  device.down = true; // wireguard-go killed: every UAPI call fails
  await assert.rejects(agent.reconcile(), /not reachable/);
  assert.equal(agent.ready, false);
  assert.equal(agent.status().ready, false);
  assert.match(agent.status().message, /^device problem: .*not reachable/);
  device.down = false;
  await agent.reconcile();
  assert.equal(agent.ready, true);
  assert.equal(agent.status().message, 'in sync');
});

test('a restarted device (no key, no peers) is configured again and refilled at the next status report', async () => {
  const source = new MemorySource(toBase64(generateKeyPair().privateKey));
  for (let i = 0; i < 3; i++) source.put({ name: `p${i}`, publicKey: newKey(), addresses: [`10.0.0.${i + 2}/32`] });
  const device = new FakeDevice();
  const configured: string[] = [];
  agent = new Agent({
    pool: 'p', node: 'n1', source, device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 20, backoffMinMs: 5, backoffMaxMs: 20,
    onConfigured: async (pool) => void configured.push(pool.name),
  });
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3 && agent!.ready);
  const keyBefore = await device.publicKey();
  device.config = null; // wireguard-go restarted: a fresh device
  device.peerStates.clear();
  await until('key and peers restored', () => device.config !== null && device.peerStates.size === 3);
  assert.equal(await device.publicKey(), keyBefore);
  assert.equal(configured.length, 2, 'onConfigured ran again (address, link up)');
  assert.equal(agent.stats.deviceReconfigures, 1);
  await until('ready again', () => agent!.ready && agent!.status().message === 'in sync');
});

test('a restarted device while the control plane is away: not ready, says why, repaired when it is back', async () => {
  const { source, device, agent } = setup(2);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 2 && agent.ready);
  source.goDown();
  device.config = null;
  device.peerStates.clear();
  await assert.rejects(agent.reconcile(), /lost its configuration and the pool key cannot be read/);
  assert.equal(agent.ready, false);
  assert.match(agent.status().message, /device problem: the device lost its configuration/);
  assert.equal(device.peerStates.size, 0, 'no peers without a key: nothing half-applied');
  source.up();
  await agent.reconcile();
  assert.equal(device.peerStates.size, 2);
  assert.ok(device.config !== null);
  assert.equal(agent.ready, true);
});

test('fail static: an outage leaves the device alone; changes made after it reach the device', async () => {
  const { source, device, agent } = setup(3);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3);
  source.goDown();
  await until('agent notices', () => !agent.stats.connected);
  assert.equal(device.peerStates.size, 3);
  source.up();
  source.put({ name: 'after', publicKey: newKey(), addresses: ['10.0.0.77/32'] });
  await until('resumed', () => device.peerStates.size === 4 && agent.stats.connected);
});

test('a compacted revision leads to a new snapshot without flushing live sessions', async () => {
  const { source, device, agent } = setup(3);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3);
  const [k] = [...device.peerStates.keys()];
  device.peerStates.set(k!, { ...device.peerStates.get(k!)!, lastHandshakeMs: 12345 }); // a live session
  source.goDown();
  await until('agent notices', () => !agent.stats.connected);
  source.put({ name: 'x', publicKey: newKey(), addresses: ['10.0.0.88/32'] });
  source.compactedBelow = source.revision;
  source.up();
  await until('resynced', () => device.peerStates.size === 4 && agent.stats.connected);
  assert.equal(device.peerStates.get(k!)?.lastHandshakeMs, 12345, 'untouched peer was not re-created');
});

test('a revision ahead of a restored store (WGF_ERR_REVISION_AHEAD) leads to a new snapshot', async () => {
  const { source, device, agent } = setup(3);
  agent.start();
  source.put({ name: 'late', publicKey: newKey(), addresses: ['10.0.0.66/32'] });
  await until('initial sync', () => device.peerStates.size === 4 && agent.stats.appliedRevision === source.revision);
  source.goDown();
  await until('agent notices', () => !agent.stats.connected);
  source.restore(2, ['p0', 'p1']); // the backup knew two peers, at revision 2
  source.up();
  await until('resynced from the restored store', () => device.peerStates.size === 2 && agent.stats.connected);
  assert.equal(agent.stats.appliedRevision, 2);
});

test('a restarted agent against a populated device changes nothing', async () => {
  const { source, device, agent } = setup(5);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 5);
  await agent.stop();
  const opsBefore = device.setOperations;
  const again = new Agent({ pool: 'p', node: 'n1', source, device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000 });
  again.start();
  await until('synced again', () => again.stats.appliedRevision === source.revision);
  await again.stop();
  assert.equal(device.setOperations, opsBefore, 'no set operation was needed');
});

/** Counts every call the agent makes to a device. */
class CountingDevice implements WireGuardDevice {
  readonly calls = { configure: 0, publicKey: 0, state: 0, apply: 0 };
  constructor(readonly inner: FakeDevice) {}
  get name(): string { return this.inner.name; }
  configure(cfg: DeviceConfig): Promise<void> { this.calls.configure++; return this.inner.configure(cfg); }
  publicKey(): Promise<string | null> { this.calls.publicKey++; return this.inner.publicKey(); }
  state(): Promise<DeviceState> { this.calls.state++; return this.inner.state(); }
  apply(ops: readonly PeerOp[]): Promise<void> { this.calls.apply++; return this.inner.apply(ops); }
}

test('an agent restart on an in-sync device: one device read, no configure, no set operation; each peer\'s device form computed once', async () => {
  const source = new MemorySource(toBase64(generateKeyPair().privateKey), 51820);
  for (let i = 0; i < 300; i++) source.put({ name: `p${i}`, publicKey: newKey(), addresses: [`10.0.${i >> 8}.${i & 255}/32`, `fd00::${i.toString(16)}/128`] });
  const fake = new FakeDevice();
  const first = new Agent({ pool: 'p', node: 'n1', source, device: fake, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000 });
  first.start();
  await until('initial sync', () => first.stats.appliedRevision === source.revision);
  await first.stop();
  assert.equal(fake.peerStates.size, 300);

  const device = new CountingDevice(fake);
  const specsBefore = specComputations();
  agent = new Agent({ pool: 'p', node: 'n1', source, device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000 });
  agent.start();
  await until('synced again', () => agent!.stats.appliedRevision === source.revision && agent!.ready);
  await agent.stop();
  assert.deepEqual(device.calls, { configure: 0, publicKey: 0, state: 1, apply: 0 }, 'one state read and nothing else');
  assert.equal(specComputations() - specsBefore, 300, 'the device form of each of the 300 peers computed exactly once');
});

type Line = { level: string; msg: string; fields: Record<string, unknown> };
function logged(source: MemorySource, device: FakeDevice, opts: { backoffMaxMs?: number } = {}) {
  const lines: Line[] = [];
  agent = new Agent({
    pool: 'p', node: 'n1', source, device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000, backoffMinMs: 5, backoffMaxMs: opts.backoffMaxMs ?? 80,
    log: (level, msg, fields = {}) => void lines.push({ level, msg, fields }),
  });
  return { agent, lines };
}

test('a revision with several peer puts and deletes reaches the device whole, in one set operation', async () => {
  const { source, device, agent } = setup(4);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 4 && agent.ready);
  const ops = device.setOperations;
  const fresh = [newKey(), newKey(), newKey()];
  source.txn([{ delete: 'p0' }, { delete: 'p1' }, ...fresh.map((k, i) => ({ put: { name: `t${i}`, publicKey: k, addresses: [`10.0.1.${i + 2}/32`] } }))]);
  await until('revision applied', () => agent.stats.appliedRevision === source.revision);
  assert.equal(device.peerStates.size, 5);
  for (const k of fresh) assert.ok(device.peerStates.has(k));
  assert.equal(device.setOperations, ops + 1);
});

test('a forced pool delete takes every peer off the device at once; not ready, one clear line, growing backoff', async () => {
  const source = new MemorySource(toBase64(generateKeyPair().privateKey));
  for (let i = 0; i < 4; i++) source.put({ name: `p${i}`, publicKey: newKey(), addresses: [`10.0.0.${i + 2}/32`] });
  const device = new FakeDevice();
  const { agent, lines } = logged(source, device);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 4 && agent.ready);
  source.deletePool();
  source.refused = true; // the pool's node tokens went with it
  await until('peers removed', () => device.peerStates.size === 0);
  assert.equal(agent.ready, false);
  assert.match(agent.status().message, /^not serving: pool p was deleted/);
  await until('several refused retries', () => source.refusedCalls >= 6);
  const errors = lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 1, JSON.stringify(lines));
  assert.match(errors[0]!.msg, /no longer serving pool p: pool p was deleted; its peers were removed from the device/);
  assert.ok(!lines.some((l) => /unreachable/.test(l.msg)), 'a refusal is not logged as unreachable');
  const retries = lines.filter((l) => typeof l.fields['retryInMs'] === 'number').map((l) => l.fields['retryInMs'] as number);
  assert.ok(retries.length >= 3 && retries.length <= 2 + Math.log2(source.refusedCalls + 1), `few retry lines: ${retries}`);
  for (let i = 1; i < retries.length; i++) assert.ok(retries[i]! >= retries[i - 1]!, `backoff grows: ${retries}`);
  assert.ok(agent.stats.failures >= 6);
});

test('node rm: the node.delete event removes the peers at once; later refusals are not logged again', async () => {
  const { source, device } = setup(3);
  const { agent, lines } = logged(source, device);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3 && agent.ready);
  source.removeNode('n2'); // another node: nothing happens
  await until('applied', () => agent.stats.appliedRevision === source.revision);
  assert.equal(device.peerStates.size, 3);
  source.removeNode('n1');
  source.refused = true;
  await until('peers removed', () => device.peerStates.size === 0);
  assert.match(agent.status().message, /node n1 was removed from pool p/);
  await until('refused twice', () => source.refusedCalls >= 2);
  assert.equal(lines.filter((l) => l.level === 'error').length, 1);
  assert.equal(agent.ready, false);
});

test('a token refused on reconnect (node removed while the stream was down) also empties the device', async () => {
  const { source, device } = setup(3);
  const { agent, lines } = logged(source, device);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 3 && agent.ready);
  source.goDown();
  await until('agent notices', () => !agent.stats.connected);
  source.refused = true;
  source.up();
  await until('peers removed', () => device.peerStates.size === 0);
  assert.match(agent.status().message, /refused this node \(WGF_ERR_UNAUTHORIZED/);
  assert.equal(lines.filter((l) => l.level === 'error').length, 1);
});

test('a device socket that cannot be reached is logged as a device problem, not as the control plane', async () => {
  const { source, device } = setup(2);
  const { agent, lines } = logged(source, device);
  agent.start();
  await until('initial sync', () => device.peerStates.size === 2 && agent.ready);
  device.down = true;
  source.put({ name: 'late', publicKey: newKey(), addresses: ['10.0.0.66/32'] });
  await until('failure logged', () => lines.some((l) => l.fields['code'] === 'WGF_ERR_DEVICE_UNAVAILABLE'));
  const line = lines.find((l) => l.fields['code'] === 'WGF_ERR_DEVICE_UNAVAILABLE')!;
  assert.match(line.msg, /WireGuard device cannot be reached/);
  assert.ok(!lines.some((l) => /control plane unreachable/.test(l.msg)));
  device.down = false;
  await until('applied after the device is back', () => device.peerStates.size === 3);
});

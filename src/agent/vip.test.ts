import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FabricError } from '../protocol/errors.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { Agent } from './agent.js';
import { FakeDevice } from './device-fake.js';
import { MemorySource } from './testing/memory-source.js';
import { parseVips, vipRepairs, VipKeeper, type ArpSysctl, type VipHost, type VipHostState } from './vip.js';

/** A host in memory: lo's addresses and the two conf/all sysctls. */
class FakeHost implements VipHost {
  lo = new Set<string>(['127.0.0.1']);
  sysctls: Record<ArpSysctl, number> = { arp_ignore: 0, arp_announce: 0 };
  refuse = false;
  async read(): Promise<VipHostState> {
    return { loAddresses: new Set(this.lo), sysctls: { ...this.sysctls } };
  }
  async addAddress(vip: string): Promise<void> {
    if (this.refuse) throw new Error('RTNETLINK answers: Operation not permitted');
    this.lo.add(vip);
  }
  async setSysctl(key: ArpSysctl, value: number): Promise<void> {
    if (this.refuse) throw new Error('EACCES');
    this.sysctls[key] = value;
  }
}

test('parseVips: IPv4 and IPv6 literals, canonical, sorted, once; a prefix or a name is WGF_ERR_VALIDATION naming --vip', () => {
  assert.deepEqual(parseVips(['198.18.1.2', '2001:DB8::0:1', '198.18.1.2', ' ']), ['198.18.1.2', '2001:db8::1']);
  for (const bad of ['198.18.1.2/32', 'vip.example.net', '300.1.1.1']) {
    assert.throws(() => parseVips([bad]), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_VALIDATION' && /--vip/.test(e.message));
  }
});

test('vipRepairs: missing VIPs and sysctls only; arp_ignore 2 is left alone; IPv6-only needs no sysctl', () => {
  const state = (lo: string[], ignore: number, announce: number): VipHostState => ({ loAddresses: new Set(lo), sysctls: { arp_ignore: ignore, arp_announce: announce } });
  assert.deepEqual(vipRepairs(state([], 0, 0), ['198.18.1.2']), [
    { kind: 'address', vip: '198.18.1.2' }, { kind: 'sysctl', key: 'arp_ignore', value: 1 }, { kind: 'sysctl', key: 'arp_announce', value: 2 },
  ]);
  assert.deepEqual(vipRepairs(state(['198.18.1.2'], 2, 2), ['198.18.1.2']), []);
  assert.deepEqual(vipRepairs(state(['198.18.1.2'], 1, 1), ['198.18.1.2']), [{ kind: 'sysctl', key: 'arp_announce', value: 2 }]);
  assert.deepEqual(vipRepairs(state([], 0, 0), ['2001:db8::1']), [{ kind: 'address', vip: '2001:db8::1' }]);
});

test('VipKeeper: sets up at start (not counted), repairs drift later (counted), a refusing host is WGF_ERR_HOST_SETUP and not ok', async () => {
  const host = new FakeHost();
  const logs: string[] = [];
  const k = new VipKeeper({ host, vips: ['198.18.1.2'], log: (_l, m) => logs.push(m) });
  assert.equal(k.ok, false);
  assert.equal(await k.ensure(), 3);
  assert.ok(host.lo.has('198.18.1.2'));
  assert.deepEqual(host.sysctls, { arp_ignore: 1, arp_announce: 2 });
  assert.deepEqual(k.report(), { vips: ['198.18.1.2'], inPlace: true, repairs: 0 });
  assert.equal(await k.ensure(), 0, 'in place: nothing to do');
  host.lo.delete('198.18.1.2'); // someone runs `ip addr flush dev lo`
  host.sysctls.arp_announce = 0;
  assert.equal(await k.ensure(), 2);
  assert.deepEqual(k.report(), { vips: ['198.18.1.2'], inPlace: true, repairs: 2 });
  assert.deepEqual(logs, ['dsr: putting the VIPs on lo', 'dsr: repairing drift of the VIPs on lo']);
  host.lo.delete('198.18.1.2');
  host.refuse = true;
  await assert.rejects(k.ensure(), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_HOST_SETUP');
  assert.equal(k.ok, false);
  assert.match(k.report().error ?? '', /Operation not permitted/);
});

test('agent --vip: checked with every reconcile; drift is repaired and reported; not in place = not ready, and says why', async () => {
  const source = new MemorySource(toBase64(generateKeyPair().privateKey));
  source.put({ name: 'p0', publicKey: toBase64(generateKeyPair().publicKey), addresses: ['10.0.0.2/32'] });
  const host = new FakeHost();
  const keeper = new VipKeeper({ host, vips: ['198.18.1.2'] });
  await keeper.ensure(); // the CLI does this at start
  const agent = new Agent({ pool: 'p', node: 'n1', source, device: new FakeDevice(), host: keeper, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000, backoffMinMs: 5, backoffMaxMs: 20 });
  agent.start();
  try {
    for (let i = 0; !agent.ready; i++) {
      if (i > 500) assert.fail('agent never ready');
      await sleep(10);
    }
    assert.deepEqual(agent.status().dsr, { vips: ['198.18.1.2'], inPlace: true, repairs: 0 });
    host.lo.delete('198.18.1.2');
    await agent.reconcile();
    assert.ok(host.lo.has('198.18.1.2'), 'the reconcile put it back');
    assert.equal(agent.status().dsr?.repairs, 1);
    assert.ok(agent.ready);
    host.lo.delete('198.18.1.2');
    host.refuse = true;
    await agent.reconcile();
    assert.equal(agent.ready, false);
    assert.equal(agent.status().ready, false);
    assert.match(agent.status().message, /^direct server return VIPs not in place: .*not permitted/);
    host.refuse = false;
    await agent.reconcile();
    assert.ok(agent.ready);
    assert.equal(agent.status().message, 'in sync');
  } finally {
    await agent.stop();
  }
});

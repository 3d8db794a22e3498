import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnose, doctorExitCode, WG_SOCKET_BUFFER, type DoctorOptions, type HostFacts } from './checks.js';
import { parseEthtoolFeatures, parseNofile, sysctlPath } from './facts.js';

/** A host set up right for every role. */
function good(over: Partial<HostFacts> = {}): HostFacts {
  return {
    sysctl: {
      'net.ipv4.ip_forward': '1',
      'net.ipv6.conf.all.forwarding': '1',
      'net.ipv4.conf.all.rp_filter': '2',
      'net.core.rmem_max': String(WG_SOCKET_BUFFER),
      'net.core.wmem_max': String(WG_SOCKET_BUFFER),
      'net.netfilter.nf_conntrack_max': '262144',
      'net.netfilter.nf_conntrack_count': '10',
    },
    cpus: 2,
    nofile: { soft: 65536, hard: 65536 },
    wireguardModule: false,
    wireguardModuleAvailable: false,
    wireguardGo: '/usr/bin/wireguard-go',
    clockSynced: true,
    clockSource: 'timedatectl',
    uplink: { name: 'eth0', mtu: 1500, offloads: { gro: true, gso: true }, rxQueues: 2, rps: false },
    wg: { name: 'wg0', mtu: 1420 },
    missingInterfaces: [],
    ...over,
  };
}

function statusOf(f: HostFacts, o: DoctorOptions): Record<string, string> {
  return Object.fromEntries(diagnose(f, o).map((x) => [x.id, x.status]));
}

describe('doctor checks', () => {
  for (const role of ['agent', 'lb', 'server'] as const) {
    test(`a host set up right for ${role}: nothing to change, exit 0`, () => {
      const findings = diagnose(good(), { role, expectedFlows: 1000, ipv6: true });
      assert.deepEqual(findings.filter((x) => x.status === 'warn' || x.status === 'fail'), []);
      assert.equal(doctorExitCode(findings), 0);
    });
  }

  const cases: { name: string; facts: HostFacts; o: DoctorOptions; id: string; status: string; fix: RegExp }[] = [
    { name: 'ip_forward off on a backend', facts: good({ sysctl: { ...good().sysctl, 'net.ipv4.ip_forward': '0' } }), o: { role: 'agent' }, id: 'ip-forward', status: 'fail', fix: /sysctl -w net\.ipv4\.ip_forward=1/ },
    { name: 'ip_forward off on an LB', facts: good({ sysctl: { ...good().sysctl, 'net.ipv4.ip_forward': '0' } }), o: { role: 'lb' }, id: 'ip-forward', status: 'fail', fix: /ip_forward=1/ },
    { name: 'IPv6 forwarding off when asked for', facts: good({ sysctl: { ...good().sysctl, 'net.ipv6.conf.all.forwarding': '0' } }), o: { role: 'agent', ipv6: true }, id: 'ipv6-forward', status: 'fail', fix: /net\.ipv6\.conf\.all\.forwarding=1/ },
    { name: 'strict rp_filter', facts: good({ sysctl: { ...good().sysctl, 'net.ipv4.conf.all.rp_filter': '1' } }), o: { role: 'lb' }, id: 'rp-filter', status: 'warn', fix: /rp_filter=2/ },
    { name: 'strict rp_filter on the uplink only', facts: good({ sysctl: { ...good().sysctl, 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.eth0.rp_filter': '1' } }), o: { role: 'agent' }, id: 'rp-filter', status: 'warn', fix: /net\.ipv4\.conf\.eth0\.rp_filter=2/ },
    { name: 'small receive buffers', facts: good({ sysctl: { ...good().sysctl, 'net.core.rmem_max': '212992' } }), o: { role: 'agent' }, id: 'socket-rmem-max', status: 'warn', fix: /net\.core\.rmem_max=7340032/ },
    { name: 'small send buffers', facts: good({ sysctl: { ...good().sysctl, 'net.core.wmem_max': '212992' } }), o: { role: 'agent' }, id: 'socket-wmem-max', status: 'warn', fix: /net\.core\.wmem_max=7340032/ },
    { name: 'conntrack too small for the expected flows', facts: good(), o: { role: 'lb', expectedFlows: 200_000 }, id: 'conntrack-max', status: 'fail', fix: /nf_conntrack_max=400000/ },
    { name: 'GRO off on the uplink', facts: good({ uplink: { name: 'eth0', mtu: 1500, offloads: { gro: false }, rxQueues: 4 } }), o: { role: 'agent' }, id: 'nic-gro', status: 'warn', fix: /ethtool -K eth0 gro on/ },
    { name: 'one receive queue and no RPS', facts: good({ uplink: { name: 'eth0', mtu: 1500, offloads: { gro: true }, rxQueues: 1, rps: false } }), o: { role: 'lb' }, id: 'nic-rss', status: 'warn', fix: /rps_cpus/ },
    { name: 'WireGuard MTU too big for the uplink', facts: good({ wg: { name: 'wg0', mtu: 1500 } }), o: { role: 'agent' }, id: 'mtu', status: 'warn', fix: /mtu 1420/ },
    { name: 'no WireGuard at all', facts: good({ wireguardGo: null }), o: { role: 'agent' }, id: 'wireguard', status: 'fail', fix: /apt-get install -y wireguard-go/ },
    { name: 'kernel module there but not loaded', facts: good({ wireguardModuleAvailable: true }), o: { role: 'agent' }, id: 'wireguard', status: 'warn', fix: /modprobe wireguard/ },
    { name: 'clock not synchronized', facts: good({ clockSynced: false }), o: { role: 'server' }, id: 'clock', status: 'warn', fix: /timedatectl set-ntp true/ },
    { name: 'few open files for a server', facts: good({ nofile: { soft: 1024, hard: 4096 } }), o: { role: 'server' }, id: 'nofile', status: 'warn', fix: /LimitNOFILE=65536/ },
    { name: 'a named interface that does not exist', facts: good({ missingInterfaces: ['eth9'] }), o: { role: 'agent' }, id: 'interface', status: 'fail', fix: /ip -br link/ },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.id} is ${c.status} with the fix`, () => {
      const findings = diagnose(c.facts, c.o);
      const f = findings.find((x) => x.id === c.id);
      assert.ok(f, `finding ${c.id} present`);
      assert.equal(f.status, c.status);
      assert.match(f.fix ?? '', c.fix);
      assert.ok(f.why && f.want, 'says why and what it wants');
      assert.equal(doctorExitCode(findings), 1);
    });
  }

  test('a server needs no forwarding, buffers or WireGuard', () => {
    const s = statusOf(good({ sysctl: { 'net.ipv4.ip_forward': '0', 'net.core.rmem_max': '1' }, wireguardGo: null }), { role: 'server' });
    assert.equal(s['ip-forward'], 'skip');
    assert.equal(s['socket-rmem-max'], 'skip');
    assert.equal(s['wireguard'], 'skip');
  });

  test('what cannot be read is skipped, not guessed', () => {
    const s = statusOf(good({ sysctl: {}, clockSynced: null, nofile: undefined as never }), { role: 'lb' });
    assert.equal(s['ip-forward'], 'skip');
    assert.equal(s['conntrack-max'], 'skip');
    assert.equal(s['clock'], 'skip');
  });

  test('--ignore leaves a check out (and its exit code)', () => {
    const f = good({ clockSynced: false });
    assert.equal(doctorExitCode(diagnose(f, { role: 'agent' })), 1);
    assert.equal(doctorExitCode(diagnose(f, { role: 'agent', ignore: ['clock'] })), 0);
  });
});

describe('doctor fact parsers', () => {
  test('sysctl names map to /proc/sys paths, interface names with dots kept whole', () => {
    assert.equal(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward');
    assert.equal(sysctlPath('net.ipv4.conf.eth0.100.rp_filter'), '/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
    assert.equal(sysctlPath('net.core.rmem_max'), '/proc/sys/net/core/rmem_max');
  });
  test('ethtool -k output', () => {
    const t = 'Features for eth0:\nrx-checksumming: on\ngeneric-segmentation-offload: on\ngeneric-receive-offload: off\nrx-gro-hw: off [fixed]\n';
    assert.deepEqual(parseEthtoolFeatures(t), { gro: false, gso: true });
    assert.deepEqual(parseEthtoolFeatures('garbage'), {});
  });
  test('/proc/self/limits', () => {
    const t = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
    assert.deepEqual(parseNofile(t), { soft: 1024, hard: 524288 });
    assert.equal(parseNofile('x')?.soft, undefined);
    assert.equal(parseNofile('Max open files            unlimited            unlimited            files')?.soft, Number.MAX_SAFE_INTEGER);
  });
});

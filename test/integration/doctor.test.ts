/**
 * `wgfabric doctor` on real network namespaces: one set up wrong (ip_forward off, small
 * socket buffers, strict rp_filter), one set up right. Socket buffer limits
 * (net.core.rmem_max/wmem_max) are host-wide, not per namespace: the test sets them for each
 * case and restores the host's values afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/sys/exec.js';
import { Sandbox } from '../../src/sys/netns.js';
import type { Finding } from '../../src/doctor/checks.js';

const RUNNER = fileURLToPath(new URL('../../src/cli/testing/run-cli.ts', import.meta.url));
const sb = new Sandbox('wgdr');
const saved: Record<string, string> = {};
let nsBad = '';
let nsGood = '';
let ifBad = '';
let ifGood = '';

function setHost(name: string, value: string): void {
  writeFileSync(`/proc/sys/net/core/${name}`, value);
}

function doctor(ns: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', RUNNER, 'doctor', ...args], (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

before(async () => {
  for (const k of ['rmem_max', 'wmem_max']) saved[k] = readFileSync(`/proc/sys/net/core/${k}`, 'utf8').trim();
  nsBad = await sb.addNetns('b');
  nsGood = await sb.addNetns('g');
  const v = await sb.veth({ ns: nsBad, addr: '198.18.251.1/30' }, { ns: nsGood, addr: '198.18.251.2/30' }, 'v');
  ifBad = v.ifA;
  ifGood = v.ifB;
  await run('sysctl', ['-qw', 'net.ipv4.ip_forward=0', 'net.ipv4.conf.all.rp_filter=1'], { netns: nsBad });
  await run('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=2'], { netns: nsGood });
  await run('ethtool', ['-K', ifGood, 'gro', 'on'], { netns: nsGood });
  await run('sh', ['-c', `echo 3 > /sys/class/net/${ifGood}/queues/rx-0/rps_cpus`], { netns: nsGood });
});

after(async () => {
  for (const [k, v] of Object.entries(saved)) setHost(k, v);
  await sb.cleanup();
});

test('doctor names ip_forward off and small socket buffers, each with the fix, and exits 1', async () => {
  setHost('rmem_max', '212992');
  setHost('wmem_max', '212992');
  const r = await doctor(nsBad, '--role', 'agent', '--interface', ifBad, '--json');
  assert.equal(r.code, 1, r.err);
  const { findings, ok } = JSON.parse(r.out) as { findings: Finding[]; ok: boolean };
  assert.equal(ok, false);
  const by = new Map(findings.map((f) => [f.id, f]));
  assert.equal(by.get('ip-forward')?.status, 'fail');
  assert.match(by.get('ip-forward')?.fix ?? '', /sysctl -w net\.ipv4\.ip_forward=1/);
  assert.equal(by.get('socket-rmem-max')?.status, 'warn');
  assert.match(by.get('socket-rmem-max')?.fix ?? '', /net\.core\.rmem_max=7340032/);
  assert.equal(by.get('socket-wmem-max')?.status, 'warn');
  assert.equal(by.get('rp-filter')?.status, 'warn');
  const human = await doctor(nsBad, '--role', 'agent', '--interface', ifBad);
  assert.equal(human.code, 1);
  assert.match(human.out, /ip-forward: net\.ipv4\.ip_forward = 0; want net\.ipv4\.ip_forward = 1/);
  assert.match(human.out, /fix: sysctl -w net\.core\.rmem_max=7340032/);
  console.log(human.out);
});

test('doctor on a namespace set up right: nothing to change, exit 0', async () => {
  setHost('rmem_max', String(8 << 20));
  setHost('wmem_max', String(8 << 20));
  // The clock is the host's, not the namespace's: a CI machine without a time daemon must not decide this test.
  const r = await doctor(nsGood, '--role', 'agent', '--interface', ifGood, '--ignore', 'clock', '--json');
  const body = JSON.parse(r.out) as { findings: Finding[]; ok: boolean };
  assert.deepEqual(body.findings.filter((f) => f.status === 'warn' || f.status === 'fail'), [], r.out);
  assert.equal(r.code, 0, r.err);
  assert.equal(body.ok, true);
  const lb = await doctor(nsGood, '--role', 'lb', '--interface', ifGood, '--ignore', 'clock');
  assert.equal(lb.code, 0, lb.out);
  assert.match(lb.out, /nothing to change for role lb/);
});

test('doctor with a typo in the role or an interface that is not there says so', async () => {
  const typo = await doctor(nsGood, '--role', 'agnet');
  assert.notEqual(typo.code, 0);
  assert.match(typo.err, /agnet/);
  const missing = await doctor(nsGood, '--interface', 'nosuch0', '--ignore', 'clock', '--json');
  assert.equal(missing.code, 1);
  assert.match(missing.out, /interface nosuch0 does not exist here/);
});

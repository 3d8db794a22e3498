/**
 * The LB tier's floating VIP with REAL keepalived and configs from renderKeepalivedConfig
 * (needs root and keepalived). Per VRRP mode (multicast, unicast):
 *
 *   LB-A ns  198.18.X.1/24 ──veth── 198.18.X.2/24  LB-B ns        VIP 198.18.X.100/32 on the master
 *
 * Each namespace runs keepalived in the foreground (-n -l -G -P, own pid files in a temp dir)
 * and a node HTTP server on its own 127.0.0.1:7090 answering /healthz, playing `lb run
 * --listen`. The test shows (a) exactly one namespace holds the VIP, (b) after a SIGKILL of the
 * holder's keepalived the other takes it (time printed) and the restarted one does not take it
 * back (nopreempt), (c) when the holder's /healthz stops answering it gives the VIP up (track
 * script -> FAULT). Waits are for conditions with generous limits; times are printed, never
 * asserted.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { healthzCheckCommand, renderKeepalivedConfig, type KeepalivedSpec } from '../../src/lb/keepalived.js';
import { run } from '../../src/sys/exec.js';
import { Sandbox } from '../../src/sys/netns.js';

const NET = `198.18.${randomInt(0, 256)}`;
const VIP = `${NET}.100`;
const HEALTH_PORT = 7090;
const ADVERT_MS = 1000;
const CHECK = { intervalS: 1, timeoutS: 2, fall: 2, rise: 2 };
const sb = new Sandbox('wka');
let dir = '';

/** A process group started inside a namespace (ip netns exec execs the program, so pid = group). */
class Proc {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(readonly label: string, ns: string, cmd: string, args: readonly string[]) {
    this.child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    let partial = '';
    const take = (b: Buffer) => {
      const parts = (partial + b.toString()).split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    sb.defer(() => this.stop());
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Signals the whole group (keepalived's VRRP child and running check scripts too). */
  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.child.pid!, sig);
    } catch {
      // already gone
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return this.signal('SIGKILL'); // leftovers of the group, if any
    this.signal('SIGTERM');
    if (await Promise.race([this.exited.then(() => true), sleep(5000).then(() => false)])) return;
    this.signal('SIGKILL');
    await this.exited;
  }

  /** Index of the first line at or after `from` that matches. */
  async waitLine(re: RegExp, from = 0, timeoutMs = 30_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l, j) => j >= from && re.test(l));
      if (i >= 0) return i;
      if (performance.now() > deadline) throw new Error(`${this.label}: no line matching ${re} within ${timeoutMs} ms:\n${this.tail()}`);
      if (!this.running) throw new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before a line matching ${re}:\n${this.tail()}`);
      await sleep(50);
    }
  }

  tail(n = 25): string {
    return this.lines.slice(-n).map((l) => `  ${this.label}| ${l}`).join('\n');
  }
}

interface Host {
  readonly label: string;
  readonly ns: string;
  readonly iface: string;
  readonly addr: string;
  readonly priority: number;
  readonly conf: string;
  keepalived?: Proc;
  health?: Proc;
}

const HEALTH_SERVER = `require('node:http').createServer((q, s) => { s.writeHead(q.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' }); s.end('{"status":"ok"}'); })`
  + `.listen(${HEALTH_PORT}, '127.0.0.1', () => console.log('ready'))`;

async function startHealth(h: Host): Promise<void> {
  h.health = new Proc(`${h.label}/healthz`, h.ns, process.execPath, ['-e', HEALTH_SERVER]);
  await h.health.waitLine(/^ready$/, 0, 15_000);
}

/** keepalived in the foreground, console log only, VRRP only, pid files beside its config. `dump` adds -d (config dump). */
function startKeepalived(h: Host, dump = false): Proc {
  const pid = `${h.conf}.${Date.now()}`;
  h.keepalived = new Proc(`${h.label}/keepalived`, h.ns, 'keepalived',
    ['-n', '-l', '-G', '-D', ...(dump ? ['-d'] : []), '-P', '-f', h.conf, '-p', `${pid}.pid`, '-r', `${pid}.vrrp.pid`]);
  return h.keepalived;
}

async function hasVip(h: Host): Promise<boolean> {
  const r = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', h.iface], { netns: h.ns });
  return r.stdout.includes(` inet ${VIP}/32 `);
}

async function holders(hosts: readonly Host[]): Promise<Host[]> {
  const has = await Promise.all(hosts.map(hasVip));
  return hosts.filter((_, i) => has[i]);
}

/** Polls `fn` every 50 ms until it returns something other than null/false; shows both hosts' logs on timeout. */
async function waitFor<T>(what: string, hosts: readonly Host[], fn: () => Promise<T | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== false) return v;
    if (performance.now() > deadline) {
      const logs = hosts.flatMap((h) => [h.keepalived?.tail() ?? '', h.health?.tail(3) ?? '']).filter(Boolean).join('\n');
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}\n${logs}`);
    }
    await sleep(50);
  }
}

function spec(h: Host, routerId: number, peer: Host | undefined): KeepalivedSpec {
  return {
    name: 'wgft', interface: h.iface, vips: [`${VIP}/32`], routerId, priority: h.priority, advertIntervalMs: ADVERT_MS,
    ...(peer ? { unicastSources: [h.addr], unicastPeers: [peer.addr] } : {}),
    check: { command: healthzCheckCommand(process.execPath, `http://127.0.0.1:${HEALTH_PORT}/healthz`, CHECK.timeoutS), ...CHECK },
  };
}

/** Two LB namespaces on one veth segment, each with its rendered config (not started). */
async function pair(mode: 'multicast' | 'unicast', tag: string): Promise<[Host, Host]> {
  const nsA = await sb.addNetns(`${tag}a`);
  const nsB = await sb.addNetns(`${tag}b`);
  const { ifA, ifB } = await sb.veth({ ns: nsA, addr: `${NET}.1/24` }, { ns: nsB, addr: `${NET}.2/24` }, `${tag}v`);
  const routerId = randomInt(1, 256);
  const a: Host = { label: 'LB-A', ns: nsA, iface: ifA, addr: `${NET}.1`, priority: 150, conf: join(dir, `${tag}-a.conf`) };
  const b: Host = { label: 'LB-B', ns: nsB, iface: ifB, addr: `${NET}.2`, priority: 100, conf: join(dir, `${tag}-b.conf`) };
  writeFileSync(a.conf, renderKeepalivedConfig(spec(a, routerId, mode === 'unicast' ? b : undefined)), { mode: 0o644 });
  writeFileSync(b.conf, renderKeepalivedConfig(spec(b, routerId, mode === 'unicast' ? a : undefined)), { mode: 0o644 });
  return [a, b];
}

/** `keepalived -t` in the namespace that has the interface: exit 0 and nothing on stderr. */
async function configTest(ns: string, file: string): Promise<void> {
  const r = await run('keepalived', ['-t', '-f', file], { netns: ns, allowFailure: true });
  assert.equal(r.code, 0, `keepalived -t ${file} exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr.trim(), '', `keepalived -t ${file} says nothing`);
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'needs root (network namespaces, VRRP)');
  const v = await run('keepalived', ['--version'], { allowFailure: true }).catch(() => null);
  assert.equal(v?.code, 0, 'keepalived is installed (scripts/deps.sh installs it)');
  dir = mkdtempSync(join(tmpdir(), 'wgf-keepalived-'));
});

after(async () => {
  await sb.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('keepalived accepts the rendered configs, and splits the check into exactly the intended argv', async () => {
  const [a, b] = await pair('unicast', 't');
  await configTest(a.ns, a.conf);
  await configTest(b.ns, b.conf);
  // Dual stack (2001:2::/48 is the IPv6 benchmarking prefix; -t configures nothing).
  const dual = join(dir, 'dual.conf');
  writeFileSync(dual, renderKeepalivedConfig({ ...spec(a, 9, undefined), vips: [`${VIP}/32`, '2001:2:0:9::100/128'] }));
  await configTest(a.ns, dual);
  // Braces, spaces and backticks inside arguments: keepalived's own dump shows the argv it will exec.
  const argv = ['/usr/bin/env', 'x } { y', '`a`', 'k=v;w', '(1)?2:3'];
  const odd: Host = { ...a, conf: join(dir, 'odd.conf') };
  writeFileSync(odd.conf, renderKeepalivedConfig({ ...spec(a, 9, undefined), check: { command: argv, ...CHECK } }));
  await configTest(a.ns, odd.conf);
  const k = startKeepalived(odd, true);
  await k.waitLine(/Command = /, 0, 20_000);
  const dumped = k.lines.find((l) => l.includes('Command = '))!;
  assert.equal(dumped.slice(dumped.indexOf('Command = ') + 'Command = '.length), argv.map((x) => `'${x}'`).join(' '));
  await k.stop();
});

for (const mode of ['multicast', 'unicast'] as const) {
  test(`${mode}: one holder; SIGKILL of its keepalived moves the VIP; a dead /healthz gives it up`, async (t: TestContext) => {
    const hosts = await pair(mode, mode === 'multicast' ? 'm' : 'u');
    for (const h of hosts) await startHealth(h);
    for (const h of hosts) startKeepalived(h);

    // (a) exactly one namespace holds the VIP, and keeps holding it.
    const t0 = performance.now();
    const [holder] = await waitFor('one LB holds the VIP', hosts, async () => {
      const hs = await holders(hosts);
      return hs.length === 1 ? hs : null;
    }, 60_000);
    const other = hosts.find((h) => h !== holder)!;
    t.diagnostic(`${mode}: ${holder!.label} holds ${VIP} ${((performance.now() - t0) / 1000).toFixed(1)} s after both started (check rise ${CHECK.rise} x ${CHECK.intervalS} s, then the master-down interval)`);
    for (let i = 0; i < 12; i++) {
      assert.deepEqual((await holders(hosts)).map((h) => h.label), [holder!.label], 'exactly one holder, stable over 3 adverts');
      await sleep(250);
    }
    await holder!.keepalived!.waitLine(/Entering MASTER STATE/);
    await other.keepalived!.waitLine(/Entering BACKUP STATE/);

    // (b) SIGKILL of the holder's keepalived (parent, VRRP child and scripts at once: no goodbye advert).
    const killedAt = performance.now();
    holder!.keepalived!.signal('SIGKILL');
    await waitFor(`${other.label} takes the VIP`, hosts, () => hasVip(other), 30_000);
    const takeoverMs = performance.now() - killedAt;
    t.diagnostic(`${mode}: VIP taken over ${takeoverMs.toFixed(0)} ms after SIGKILL of the holder's keepalived (advert ${ADVERT_MS} ms; master-down = 3 adverts + skew after the last advert heard)`);
    await holder!.keepalived!.exited;
    assert.ok(await hasVip(holder!), 'a SIGKILLed keepalived leaves its address behind (what a restart cleans up)');

    // Restarted, it drops the stale address and stays BACKUP: nopreempt, even with a higher priority.
    const restarted = startKeepalived(holder!);
    await restarted.waitLine(/Entering BACKUP STATE/, 0, 30_000);
    await waitFor(`${holder!.label} drops its stale VIP`, hosts, async () => !(await hasVip(holder!)), 15_000);
    for (let i = 0; i < 16; i++) {
      assert.deepEqual((await holders(hosts)).map((h) => h.label), [other.label], 'the restarted LB does not take the VIP back');
      await sleep(250);
    }

    // (c) the holder's LB stops answering /healthz: its track script fails, it goes FAULT and the other takes over.
    const from = other.keepalived!.lines.length;
    const diedAt = performance.now();
    other.health!.signal('SIGKILL');
    await waitFor(`${holder!.label} takes the VIP from ${other.label} whose /healthz is dead`, hosts, async () => {
      const hs = await holders(hosts);
      return hs.length === 1 && hs[0] === holder;
    }, 30_000);
    t.diagnostic(`${mode}: VIP moved ${(performance.now() - diedAt).toFixed(0)} ms after the holder's /healthz died (check every ${CHECK.intervalS} s, fall ${CHECK.fall})`);
    await other.keepalived!.waitLine(/Entering FAULT STATE/, from, 5_000);
    assert.ok(other.keepalived!.running, 'keepalived itself keeps running in FAULT');
  });
}

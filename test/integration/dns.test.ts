/**
 * Issue 13, acceptance 7: health-aware DNS on the lab (`lab up --dns`) with a real Knot DNS
 * server. A backend killed entirely (wireguard-go and agent) leaves the pool's name, measured
 * with kdig from a client namespace; a stock client re-resolving its Endpoint with the script
 * wireguard-tools ships (reresolve-dns.sh) reaches a live node.
 *
 * The shipped script re-resolves only when the peer's last handshake is older than 135 s. So
 * that CI does not wait that long, the fast run uses a copy with the threshold set to 15 s
 * (KEEPALIVE + REKEY_TIMEOUT: the first failed handshake attempt); WGF_DNS_STOCK_RERESOLVE=1
 * runs the script unchanged and measures what it really gives (up to ~165 s).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown, labUp, type Lab } from '../../src/lab/lab.js';
import { labDnsAddresses } from '../../src/lab/dns.js';
import { latestHandshakes, peerEndpoints, ping } from '../../src/lab/traffic.js';
import { run } from '../../src/sys/exec.js';
import { assertNoSecretsInLogs } from './fixtures/log-secrets.js';

const STOCK_SCRIPT = '/usr/share/doc/wireguard-tools/examples/reresolve-dns/reresolve-dns.sh';
const STOCK_THRESHOLD_S = 135;
const stockRun = process.env['WGF_DNS_STOCK_RERESOLVE'] === '1';

let lab: Lab;
let base: string;
let killedAt = 0;
let victim = -1;

const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function until(what: string, cond: () => Promise<boolean>, limitMs: number, stepMs = 50): Promise<number> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > limitMs) assert.fail(`timed out after ${limitMs} ms waiting for: ${what}`);
    await sleep(stepMs);
  }
  return performance.now() - start;
}

function pidOf(what: string): number {
  const p = [...lab.state.pids].reverse().find((x) => x.what === what);
  assert.ok(p, `no process ${what}`);
  return p.pid;
}

/**
 * Re-resolution as wireguard-tools ships it: reresolve-dns.sh run against the client's config
 * (named <iface>.conf, as the script derives the interface from the file name) inside the
 * client namespace, so its `wg set … endpoint NAME:PORT` resolves through the lab's server. A
 * threshold other than 135 s runs a copy with only that number changed. Without the script
 * (docs stripped from the image), the same rule in a few lines: last handshake older than the
 * threshold -> `wg set peer endpoint` from the config.
 */
async function reresolve(thresholdS: number): Promise<string> {
  const c = lab.plan.clients[0]!;
  const dir = join(lab.state.dir, 'reresolve');
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, `${c.wgIface}.conf`);
  if (!existsSync(conf)) copyFileSync(join(lab.state.dir, `${c.name}.conf`), conf);
  if (existsSync(STOCK_SCRIPT)) {
    let script = STOCK_SCRIPT;
    if (thresholdS !== STOCK_THRESHOLD_S) {
      script = join(dir, `reresolve-dns-${thresholdS}.sh`);
      const text = readFileSync(STOCK_SCRIPT, 'utf8');
      assert.ok(text.includes(`> ${STOCK_THRESHOLD_S} ))`), 'the shipped script compares the handshake age with 135 s');
      writeFileSync(script, text.replace(`> ${STOCK_THRESHOLD_S} ))`, `> ${thresholdS} ))`), { mode: 0o700 });
    }
    await run('bash', [script, conf], { netns: c.netns });
    return script;
  }
  const text = readFileSync(conf, 'utf8');
  const pub = /^\s*PublicKey\s*=\s*(\S+)/im.exec(text.split(/^\s*\[Peer\]/im)[1] ?? '')![1]!;
  const endpoint = /^\s*Endpoint\s*=\s*(\S+)/im.exec(text)![1]!;
  const hs = (await latestHandshakes(c.netns, c.wgIface)).get(pub) ?? 0;
  if (Date.now() / 1000 - hs > thresholdS) await run('wg', ['set', c.wgIface, 'peer', pub, 'endpoint', endpoint], { netns: c.netns });
  return 'built-in equivalent (the shipped script is not installed)';
}

async function clientEndpoint(): Promise<string | null> {
  const c = lab.plan.clients[0]!;
  return [...(await peerEndpoints(c.netns, c.wgIface)).values()][0] ?? null;
}

describe('health-aware DNS (lab up --dns: knot + wgfabric dns run, 3 backends, 1 client using the name)', { timeout: 600_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-dn-'));
    lab = await labUp({ backends: 3, clients: 1, base, dns: true });
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
    if (lab) assert.equal(existsSync(`/etc/netns/${lab.plan.clients[0]!.netns}`), false, 'the client resolver file is removed');
  });

  test('7a. a backend killed (wireguard-go and agent): its record is gone from the zone, measured with kdig from the client namespace', async () => {
    const dns = lab.state.dns!;
    const c = lab.plan.clients[0]!;
    const all = lab.plan.backends.map((b) => b.address).sort();
    const before = await labDnsAddresses(dns, c.netns);
    console.log(`# kdig ${dns.name} A from ${c.netns} (resolv.conf -> ${dns.address}): ${before.join(' ')}`);
    assert.deepEqual(before, all);
    const ep = await clientEndpoint();
    victim = lab.plan.backends.findIndex((b) => ep === `${b.address}:${lab.plan.pool.listenPort}`);
    assert.ok(victim >= 0, `the client's endpoint ${ep} (resolved from ${dns.name}) is a backend`);
    assert.equal((await ping(c.netns, lab.plan.pool.serverTunnelIp, 3)).received, 3, 'the client reaches the pool through the name');
    const b = lab.plan.backends[victim]!;
    killedAt = performance.now();
    process.kill(pidOf(`wireguard-go ${b.name}`), 'SIGKILL');
    process.kill(pidOf(`agent ${b.name}`), 'SIGKILL');
    const goneMs = await until(`${b.address} to leave ${dns.name}`, async () => !(await labDnsAddresses(dns, c.netns)).includes(b.address), 60_000);
    const after = await labDnsAddresses(dns, c.netns);
    console.log(`# ${b.name} (${b.address}) killed; its A record was gone ${s(goneMs)} after the kill (kdig from ${c.netns}); ${dns.name} now: ${after.join(' ')}`);
    const log = readFileSync(join(lab.state.dir, 'dns-updater.log'), 'utf8').split('\n').filter((l) => l.includes(b.name) || l.includes(b.address)).slice(-2);
    for (const l of log) console.log(`# updater: ${l}`);
    assert.deepEqual(after, all.filter((a) => a !== b.address), 'the other backends stay in the name');
    const { stdout } = await run('kdig', [`@${dns.address}`, dns.name, 'A', '+noall', '+answer'], { netns: c.netns });
    assert.match(stdout, new RegExp(`\\s${dns.ttl}\\s+IN\\s+A\\s`), `records carry the short TTL (${dns.ttl} s)`);
  });

  test('7b. the client re-resolves its Endpoint with wireguard-tools\' reresolve-dns.sh and reaches a live node', async () => {
    assert.ok(victim >= 0, '7a ran');
    const c = lab.plan.clients[0]!;
    const dead = `${lab.plan.backends[victim]!.address}:${lab.plan.pool.listenPort}`;
    // The shipped script, unchanged, right away: the last handshake is younger than 135 s, so it does nothing.
    const hs = [...(await latestHandshakes(c.netns, c.wgIface)).values()][0] ?? 0;
    const used = await reresolve(STOCK_THRESHOLD_S);
    assert.equal(await clientEndpoint(), dead, 'the shipped script leaves a peer whose last handshake is younger than 135 s alone');
    console.log(`# ${used} (threshold ${STOCK_THRESHOLD_S} s), last handshake ${Math.round(Date.now() / 1000 - hs)} s ago: endpoint unchanged (${dead})`);
    // Then every second: the client sends (so WireGuard keeps retrying its handshake), the script runs.
    const threshold = stockRun ? STOCK_THRESHOLD_S : 15;
    let moved = 0;
    const reachedMs = await until('the client to reach a live node', async () => {
      await reresolve(threshold);
      const ep = await clientEndpoint();
      if (ep !== dead && moved === 0) moved = performance.now() - killedAt;
      return ep !== dead && (await ping(c.netns, lab.plan.pool.serverTunnelIp, 1, 0.2, 1)).received === 1;
    }, stockRun ? 240_000 : 90_000, 1000);
    const ep = await clientEndpoint();
    console.log(`# reresolve-dns threshold ${threshold} s${threshold === STOCK_THRESHOLD_S ? ' (as shipped)' : ' (copy; as shipped it waits 135 s after the last handshake)'}: endpoint ${dead} -> ${ep} ${s(moved)} after the kill; first ping answered ${s(performance.now() - killedAt)} after the kill (${s(reachedMs)} after the loop started)`);
    assert.notEqual(ep, dead);
    assert.ok(lab.plan.backends.some((b, i) => i !== victim && ep === `${b.address}:${lab.plan.pool.listenPort}`), `${ep} is a live backend`);
    assert.equal((await ping(c.netns, lab.plan.pool.serverTunnelIp, 3)).received, 3, 'the client is served by the live node');
  });

  test('no API token, private key or preshared key in any log line of this lab', () => {
    const r = assertNoSecretsInLogs(lab.state.dir);
    console.log(`scanned ${r.files} log files for ${r.secrets} known secrets and any token text: nothing found`);
  });
});

/**
 * Prometheus semantics on the running fabric: the server, every agent and the LB are scraped
 * twice with traffic in between; every counter and histogram series of the first scrape is
 * still there and has not fallen, and every histogram is consistent (buckets cumulative,
 * +Inf = _count). Parsing: fixtures/prom.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { AGENT_METRICS_PORT, labDown, labUp, startWireguardGo, type Lab } from '../../src/lab/lab.js';
import { run } from '../../src/sys/exec.js';
import { ping } from '../../src/lab/traffic.js';
import { caDispatcher, readCaFile } from '../../src/client/tls.js';
import { histogramProblems, monotonicityProblems, parseExposition, type Exposition } from './fixtures/prom.js';
import { assertNoSecretsInLogs } from './fixtures/log-secrets.js';

let lab: Lab;
let base: string;

async function scrapeAll(): Promise<Map<string, Exposition>> {
  const out = new Map<string, Exposition>();
  const dispatcher = caDispatcher(lab.state.tls ? readCaFile(lab.state.tls.caFile) : undefined);
  const server = await fetch(`${lab.plan.serverUrl}/metrics`, { headers: { authorization: `Bearer ${readFileSync(join(lab.state.dir, 'admin.token'), 'utf8').trim()}` }, dispatcher });
  assert.equal(server.status, 200);
  out.set('server', parseExposition(await server.text()));
  for (const b of lab.plan.backends) {
    const r = await fetch(`http://${b.address}:${AGENT_METRICS_PORT}/metrics`);
    assert.equal(r.status, 200);
    out.set(`agent ${b.name}`, parseExposition(await r.text()));
  }
  for (const lb of lab.plan.lb!.instances) {
    const r = await fetch(`${lb.statusUrl}/metrics`);
    assert.equal(r.status, 200);
    out.set(`lb ${lb.name}`, parseExposition(await r.text()));
  }
  return out;
}

describe('metrics that work in Prometheus (server, agents, LB); readiness for cloud load balancers', { timeout: 300_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-metrics-'));
    lab = await labUp({ backends: 2, clients: 2, base, reconcileInterval: 2, lb: true });
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('two scrapes with traffic between: no counter or histogram series falls or vanishes; histograms are consistent', async () => {
    for (const c of lab.plan.clients) assert.equal((await ping(c.netns, lab.plan.pool.serverTunnelIp, 3)).received, 3, `${c.name} through the VIP`);
    const first = await scrapeAll();
    for (const c of lab.plan.clients) await ping(c.netns, lab.plan.pool.serverTunnelIp, 5);
    await new Promise((r) => setTimeout(r, 1500)); // past the agents' per-scrape device cache; the LB probes meanwhile
    const second = await scrapeAll();
    const problems: string[] = [];
    for (const [who, a] of first) {
      const b = second.get(who)!;
      problems.push(...monotonicityProblems(a, b).map((p) => `${who}: ${p}`));
      problems.push(...histogramProblems(a).map((p) => `${who} (first): ${p}`), ...histogramProblems(b).map((p) => `${who} (second): ${p}`));
      for (const [fam, type] of b.types) {
        if (type === 'counter') assert.ok(fam.endsWith('_total') || !b.samples.has(fam), `${who}: counter ${fam} is exposed with _total`);
      }
    }
    assert.deepEqual(problems, []);
    // Something did move: the agents counted the pings' bytes, the LB its probes.
    const grew = (who: string, name: string) => {
      const sum = (e: Exposition) => [...e.samples].filter(([k]) => k.startsWith(name)).reduce((s, [, v]) => s + v, 0);
      return sum(second.get(who)!) - sum(first.get(who)!);
    };
    const agentBytes = lab.plan.backends.reduce((s, b) => s + grew(`agent ${b.name}`, 'wgfabric_agent_received_bytes_total'), 0);
    assert.ok(agentBytes > 0, 'agents counted received bytes');
    assert.ok(grew(`lb ${lab.plan.lb!.instances[0]!.name}`, 'wgfabric_lb_probes_total') > 0, 'the LB counted probes');
    const families = [...second.values()].reduce((n, e) => n + e.types.size, 0);
    console.log(`scraped ${second.size} components twice (${[...second].map(([w, e]) => `${w}: ${e.types.size} families`).join(', ')}), ${families} metric families: every counter and histogram monotonic and consistent; agents counted ${agentBytes} bytes received between the scrapes`);
  });

  test('an agent\'s /readyz (the health check a cloud UDP load balancer uses) answers 503 with the reason while its device is down, 200 again once it is back', async () => {
    const h = lab.plan.backends[1]!;
    const readyz = async () => {
      const r = await fetch(`http://${h.address}:${AGENT_METRICS_PORT}/readyz`);
      return { code: r.status, body: await r.json() as { status: string; message?: string } };
    };
    assert.equal((await readyz()).code, 200);
    const p = [...lab.state.pids].reverse().find((x) => x.what === `wireguard-go ${h.name}`)!;
    process.kill(p.pid, 'SIGKILL');
    let down = await readyz();
    for (let i = 0; i < 200 && down.code === 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      down = await readyz();
    }
    assert.equal(down.code, 503, 'not ready while the device is gone');
    assert.match(JSON.stringify(down.body), /device/i, 'the answer names the device as the reason');
    console.log(`/readyz with the device down: ${down.code}, message "${down.body.message ?? ""}"`);
    await run('ip', ['link', 'del', h.wgIface], { netns: h.netns, allowFailure: true });
    await startWireguardGo(lab.state, h);
    let back = await readyz();
    for (let i = 0; i < 300 && back.code !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await readyz();
    }
    assert.equal(back.code, 200, 'ready again once the agent set the fresh device up');
  });

  test('no API token, private key or preshared key in any log line of this lab (server, agents, LB)', () => {
    const r = assertNoSecretsInLogs(lab.state.dir);
    console.log(`scanned ${r.files} log files for ${r.secrets} known secrets and any token text: nothing found; every line of one JSON shape (${r.shaped})`);
  });
});

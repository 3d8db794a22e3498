/**
 * Per-peer sessions on the LB lab (3 backends with real wireguard-go + agents, one LB, 4 stock
 * wireguard-go clients): `wgfabric peer show client-1` names the node the LB's Maglev table
 * predicts for client-1's flow, with a handshake younger than 3 minutes and rx/tx that grow;
 * after that node is killed (wireguard-go and agent) and the client re-handshakes through the
 * LB elsewhere, `peer show` names the new node. Also prints `peer list --connected` and
 * `status`. Conditions are waited for with generous limits; times are printed, never asserted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { labDown, labUp, lbStatus, type Lab } from '../../src/lab/lab.js';
import type { LabHost } from '../../src/lab/plan.js';
import { ping } from '../../src/lab/traffic.js';
import { buildMaglevTable, flowHash, lookup, sortByName } from '../../src/lb/maglev.js';
import type { Peer } from '../../src/protocol/types.js';
import { until } from './fixtures/until.js';

const BIN = fileURLToPath(new URL('../../bin/wgfabric.js', import.meta.url));
const pexec = promisify(execFile);
let lab: Lab;
let base: string;

/** Runs the CLI against the lab's control plane, as an operator would after `lab up`. */
async function cli(...args: string[]): Promise<string> {
  const env = {
    ...process.env, WGFABRIC_SERVER: lab.plan.serverUrl, WGFABRIC_TOKEN_FILE: join(lab.state.dir, 'admin.token'),
    ...(lab.state.tls ? { WGFABRIC_CA_FILE: lab.state.tls.caFile } : {}),
  };
  const { stdout } = await pexec(process.execPath, [BIN, ...args], { env, timeout: 60_000 });
  return stdout;
}

async function show(name: string): Promise<Peer> {
  return JSON.parse(await cli('peer', 'show', name, '--pool', lab.plan.pool.name, '--json')) as Peer;
}

/** The backend the LB's Maglev table gives the client's flow (backends in the table, by name). */
function predicted(names: readonly string[], size: number, c: LabHost): string {
  const order = sortByName(names.map((name) => ({ name, weight: 1 })));
  return order[lookup(buildMaglevTable(order, size), flowHash(c.address, c.listenPort!))]!.name;
}

function pidOf(what: string): number {
  const p = [...lab.state.pids].reverse().find((x) => x.what === what);
  assert.ok(p, `no process ${what}`);
  return p.pid;
}

describe('per-peer sessions on the LB lab (3 backends, 4 clients)', { timeout: 600_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-se-'));
    const t0 = Date.now();
    lab = await labUp({ backends: 3, clients: 4, base, reconcileInterval: 2, lb: true });
    console.log(`# lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s, VIP ${lab.plan.lb!.vip}`);
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('peer show names the node carrying client-1, then the new one after that node is killed', async () => {
    const client = lab.plan.clients.find((c) => c.name === 'client-1')!;
    const { value: st } = await until('every backend in the LB table', async () => {
      const s = await lbStatus(lab);
      return s && s.backends.length === 3 && s.backends.every((b) => b.inTable) ? s : null;
    }, 120_000, 200);
    const names = lab.plan.backends.map((b) => b.name);
    const first = predicted(names, st.tableSize, client);
    // Traffic: pings through the tunnel make the handshake and move the counters.
    assert.ok((await ping(client.netns, lab.plan.pool.serverTunnelIp, 3, 0.2, 2)).received > 0, 'client-1 gets answers through the VIP');
    const { value: s1, ms } = await until(`peer show client-1 names ${first}`, async () => {
      const p = await show('client-1');
      return p.session?.node === first && p.session.rxBytes > 0 ? p.session : null;
    }, 120_000, 500);
    console.log(`# the Maglev table predicts ${first} for ${client.address}:${client.listenPort}; peer show named it after ${ms} ms`);
    console.log((await cli('peer', 'show', 'client-1', '--pool', lab.plan.pool.name)));
    assert.ok(s1.handshakeAgeSeconds !== null && s1.handshakeAgeSeconds < 180, `handshake age ${s1.handshakeAgeSeconds}s is under 3 minutes`);
    assert.equal(s1.connected, true);
    assert.equal(s1.endpoint?.split(':')[0], client.address, 'via-lb: the backend sees the client\'s own address');

    await ping(client.netns, lab.plan.pool.serverTunnelIp, 10, 0.2, 2);
    const { value: s2 } = await until('rx and tx grow in peer show', async () => {
      const s = (await show('client-1')).session;
      return s && s.node === first && s.rxBytes > s1.rxBytes && s.txBytes > s1.txBytes ? s : null;
    }, 60_000, 500);
    console.log(`# rx ${s1.rxBytes} -> ${s2.rxBytes} bytes, tx ${s1.txBytes} -> ${s2.txBytes} bytes on ${first}`);
    console.log((await cli('peer', 'list', '--pool', lab.plan.pool.name, '--connected')));
    console.log((await cli('status')));

    // Kill the node carrying client-1 (its wireguard-go and its agent).
    const victim = lab.plan.backends.find((b) => b.name === first)!;
    for (const what of [`agent ${victim.name}`, `wireguard-go ${victim.name}`]) process.kill(pidOf(what), 'SIGKILL');
    const killedAt = Date.now();
    const second = predicted(names.filter((n) => n !== first), st.tableSize, client);
    // The client keeps sending; after its rekey timers it handshakes again, through the LB, elsewhere.
    const pinging = (async () => {
      while (Date.now() - killedAt < 180_000) {
        const r = await ping(client.netns, lab.plan.pool.serverTunnelIp, 1, 0.5, 1);
        if (r.received > 0) return Date.now() - killedAt;
      }
      return null;
    })();
    const back = await pinging;
    assert.ok(back !== null, 'client-1 gets answers again after the kill');
    const { value: s3, ms: seen } = await until(`peer show client-1 names the new node ${second}`, async () => {
      const s = (await show('client-1')).session;
      return s && s.node === second && s.connected ? s : null;
    }, 120_000, 500);
    console.log(`# killed ${first}; client-1 answered again after ${back} ms, peer show named ${second} ${Date.now() - killedAt} ms after the kill (${seen} ms after traffic resumed)`);
    console.log((await cli('peer', 'show', 'client-1', '--pool', lab.plan.pool.name)));
    assert.ok(s3.lastHandshakeAt !== null && Date.parse(s3.lastHandshakeAt) >= Math.floor(killedAt / 1000) * 1000 - 1000, 'a handshake after the kill');
    const summary = JSON.parse(await cli('status', '--json')) as { nodes: { name: string; connected: number | null }[] };
    assert.ok((summary.nodes.find((n) => n.name === second)?.connected ?? 0) >= 1, `status counts client-1 on ${second}`);
  });
});

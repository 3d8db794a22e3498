/**
 * `node rm` while the node's agent runs (issue 10 on the lab): the removed node's agent takes
 * the pool's peers off its device at once, goes not ready with the reason, says so in ONE log
 * line and backs off with a growing delay; a peer deleted afterwards no longer handshakes on
 * the removed node. The lab's logs hold no secret afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_METRICS_PORT, labDown, labUp, type Lab } from '../../src/lab/lab.js';
import { probe } from '../../src/probe/probe.js';
import { isFabricError } from '../../src/protocol/errors.js';
import { UapiClient } from '../../src/wg/uapi.js';
import { generateKeyPair, parseKey, toBase64 } from '../../src/wg/keys.js';
import { assertNoSecretsInLogs } from './fixtures/log-secrets.js';

let lab: Lab;
let base: string;

async function until(what: string, cond: () => Promise<boolean>, limitMs: number): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > limitMs) assert.fail(`timed out after ${limitMs} ms waiting for: ${what}`);
    await sleep(100);
  }
  return Date.now() - t0;
}

function probeVia(i: number, privateKey: Uint8Array, source: string, timeoutMs = 1500) {
  const b = lab.plan.backends[i]!;
  return probe({
    host: b.address, port: lab.plan.pool.listenPort, serverPublicKey: parseKey(lab.pool.publicKey), privateKey,
    ping: { target: lab.plan.pool.serverTunnelIp, source }, timeoutMs,
  });
}

describe('node rm while its agent runs', { timeout: 300_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-noderm-'));
    lab = await labUp({ backends: 2, clients: 1, base, reconcileInterval: 2 });
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('the removed node empties its device, says why once, backs off growing; a peer deleted afterwards no longer handshakes there', async () => {
    const pool = lab.plan.pool.name;
    const removed = lab.plan.backends[1]!;
    const kp = generateKeyPair();
    const peer = await lab.api.createPeer(pool, { name: 'roamer', publicKey: toBase64(kp.publicKey) });
    const source = peer.addresses.find((a) => a.includes('.'))!.replace(/\/\d+$/, '');
    await until('the new peer handshakes and pings through the node to be removed', async () => {
      try {
        await probeVia(1, kp.privateKey, source);
        return true;
      } catch {
        return false;
      }
    }, 30_000);

    const t0 = Date.now();
    await lab.api.deleteNode(pool, removed.name);
    const emptied = await until('the removed node\'s device is empty', async () => (await new UapiClient(removed.wgIface).get()).peers.length === 0, 30_000);
    const readyz = await fetch(`http://${removed.address}:${AGENT_METRICS_PORT}/readyz`);
    const body = await readyz.json() as { message?: string };
    assert.equal(readyz.status, 503, 'not ready');
    assert.match(body.message ?? '', /removed|not serving|no longer/i);
    console.log(`node rm ${removed.name}: device empty ${emptied} ms after the API call; /readyz ${readyz.status} "${body.message}"`);

    await lab.api.deletePeer(pool, 'roamer');
    await assert.rejects(probeVia(1, kp.privateKey, source, 2000), (e) => isFabricError(e), 'no handshake on the removed node');
    await assert.rejects(probeVia(0, kp.privateKey, source, 2000), (e) => isFabricError(e), 'nor on the node that stayed (the peer is deleted)');

    // Let the agent retry for a while, then read its log.
    await sleep(Math.max(0, 14_000 - (Date.now() - t0)));
    const lines = readFileSync(join(lab.state.dir, `${removed.name}.agent.log`), 'utf8').split('\n').filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; level: string; retryInMs?: number; attempts?: number });
    const said = lines.filter((l) => /no longer serving/.test(l.msg));
    assert.equal(said.length, 1, `one clear line: ${said.map((l) => l.msg).join(' | ')}`);
    const waits = lines.filter((l) => typeof l.retryInMs === 'number').map((l) => l.retryInMs!);
    console.log(`agent log: "${said[0]!.msg}"; backoff delays logged: ${waits.join(', ')} ms (attempts ${lines.filter((l) => l.attempts).map((l) => l.attempts).join(', ')})`);
    assert.ok(waits.length >= 2, 'retries are logged');
    assert.ok(waits.at(-1)! > waits[0]!, 'the delay grows');
    const r = assertNoSecretsInLogs(lab.state.dir);
    console.log(`scanned ${r.files} log files for ${r.secrets} known secrets: nothing found`);
  });
});

/**
 * Loading and reading 10,000 peers on wireguard-go: UapiClient (one set request, one get)
 * next to the wg(8) baseline measured in the same run (`wg setconf` of the same peers,
 * `wg show IFACE dump`). Every round loads into fresh devices in a throwaway namespace
 * (needs root). Numbers are noisy: compare the ratios, not the absolute times.
 *
 * Run: node --import tsx bench/uapi.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { run } from '../src/sys/exec.js';
import { Sandbox, stopProcess } from '../src/sys/netns.js';
import { newInterface, newPeer, renderSetconf } from '../src/wg/config.js';
import { UapiClient } from '../src/wg/uapi.js';
import type { UapiPeerUpdate } from '../src/wg/uapi-codec.js';
import { stat, type Stat } from './stats.js';

const PEERS = 10_000;
const ROUNDS = 3;

const fmt = (s: Stat): string => `${(s.median / 1000).toFixed(3)} s (min ${(s.min / 1000).toFixed(3)}, max ${(s.max / 1000).toFixed(3)})`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function peerSet(n: number): UapiPeerUpdate[] {
  return Array.from({ length: n }, (_, i) => ({
    publicKey: randomBytes(32).toString('base64'),
    allowedIps: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, `fd10::${i.toString(16)}/128`],
    ...(i % 4 === 0 ? { endpoint: `198.18.${(i >> 8) & 255}.${i & 255}:51820`, persistentKeepaliveInterval: 25 } : {}),
  }));
}

/** Runs the benchmark and reports one line per result; always removes what it made. */
export async function benchUapi(report: (line: string) => void): Promise<void> {
  const sb = new Sandbox('wgb');
  const dir = mkdtempSync(join(tmpdir(), `wgb${sb.tag}-`));
  try {
    const ns = await sb.addNetns('n');
    const peers = peerSet(PEERS);
    const privateKey = randomBytes(32).toString('base64');
    const conf = join(dir, 'peers.conf');
    writeFileSync(conf, renderSetconf({
      interface: newInterface({ privateKey }),
      peers: peers.map((p) => newPeer(p.publicKey as string, {
        allowedIps: [...p.allowedIps!],
        ...(p.endpoint ? { endpoint: p.endpoint, persistentKeepalive: p.persistentKeepaliveInterval! } : {}),
      })),
    }), { mode: 0o600 });

    const setMs: number[] = [];
    const setconfMs: number[] = [];
    const getMs: number[] = [];
    const dumpMs: number[] = [];
    const ifaceMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Fresh devices each round; wg runs outside the namespace like the client (sockets are host-global).
      const ifU = sb.name(`u${round}`);
      const ifW = sb.name(`w${round}`);
      const u = await sb.startWireguardGo(ns, ifU);
      const w = await sb.startWireguardGo(ns, ifW);
      const client = new UapiClient(ifU, { timeoutMs: 60_000 });
      setMs.push(await timed(() => client.set({ privateKey, peers })));
      setconfMs.push(await timed(() => run('wg', ['setconf', ifW, conf], { timeoutMs: 60_000 })));
      // One untimed read each first: the first parse in a fresh process runs before the JIT warms up.
      await client.get();
      await run('wg', ['show', ifU, 'dump']);
      let got = 0;
      getMs.push(await timed(async () => (got = (await client.get()).peers.length)));
      let dumped = 0;
      dumpMs.push(await timed(async () => (dumped = (await run('wg', ['show', ifU, 'dump'])).stdout.trim().split('\n').length - 1)));
      // What the agent reads before every status report: the key only, hanging up at the first peer.
      let key: string | undefined;
      ifaceMs.push(await timed(async () => (key = (await client.getInterface()).publicKey)));
      if (!key) throw new Error(`round ${round}: getInterface saw no key`);
      if (got !== PEERS || dumped !== PEERS) throw new Error(`round ${round}: get saw ${got} peers, dump ${dumped}, expected ${PEERS}`);
      await stopProcess(u);
      await stopProcess(w);
    }
    const set = stat(setMs);
    const setconf = stat(setconfMs);
    const get = stat(getMs);
    const dump = stat(dumpMs);
    const iface = stat(ifaceMs);
    report(`uapi: ${PEERS} peers, ${ROUNDS} rounds on fresh wireguard-go devices (median, min, max)`);
    report(`  load  UapiClient.set          ${fmt(set)}`);
    report(`  load  wg setconf (baseline)   ${fmt(setconf)}`);
    report(`  load  ratio set / setconf     ${(set.median / setconf.median).toFixed(2)}x`);
    report(`  read  UapiClient.get          ${fmt(get)}`);
    report(`  read  wg show dump (baseline) ${fmt(dump)}`);
    report(`  read  ratio get / dump        ${(get.median / dump.median).toFixed(2)}x`);
    report(`  key   UapiClient.getInterface ${fmt(iface)}`);
    report(`  key   ratio getInterface / get ${(iface.median / get.median).toFixed(3)}x`);
  } finally {
    await sb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchUapi((line) => console.log(line));
}

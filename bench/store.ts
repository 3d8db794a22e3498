import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite.js';
import { prefixEnd, type Op } from '../src/store/store.js';
import { timeRuns, type Stat } from './stats.js';

const KEYS = 100_000;
const BATCH = 1000;
const REPEATS = 5;
const SINGLE_PUTS = 1000;
const PREFIX = 'pools/bench/';

/** A peer-like JSON document of about 300 bytes. */
function peerValue(i: number, generation = 0): string {
  const id = String(i).padStart(6, '0');
  return JSON.stringify({
    name: `p${id}`,
    pool: 'bench',
    publicKey: Buffer.from(`wgfabric-bench-public-key-${id}`).toString('base64').padEnd(43, 'A').slice(0, 43) + '=',
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`,
    allowedIps: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`],
    keepaliveSeconds: 25,
    labels: { team: 'bench', tier: i % 3 === 0 ? 'gold' : 'standard' },
    createdAt: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(),
    description: `benchmark peer, generation ${generation}`,
  });
}

const key = (i: number) => `${PREFIX}peers/p${String(i).padStart(6, '0')}`;

/** Runs fn REPEATS times; returns the spread of wall times in ms. */
const measure = (fn: () => unknown): Promise<Stat> => timeRuns(REPEATS, fn);

const fmt = (s: Stat) => `median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})`;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench sanity check failed: ${what}`);
}

/**
 * Benchmarks SqliteStore with 100,000 peer-like keys in a temp dir (removed at the end) and
 * reports one line per measurement: median and min/max of 5 runs, and the ratio to a
 * baseline measured in the same run, a raw better-sqlite3 iteration over the same rows.
 */
export async function benchStore(report: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-bench-store-'));
  try {
    let store = await SqliteStore.open(dir);
    const t0 = performance.now();
    for (let b = 0; b < KEYS / BATCH; b++) {
      const ops: Op[] = [];
      for (let i = b * BATCH; i < (b + 1) * BATCH; i++) ops.push({ type: 'put', key: key(i), value: peerValue(i) });
      await store.txn([], ops);
    }
    const loadMs = performance.now() - t0;
    const loadedRev = await store.currentRevision();
    check(loadedRev === KEYS / BATCH, 'one revision per batch');
    report(`store: load ${KEYS} keys (~${peerValue(0).length} B values) in txns of ${BATCH}: ${loadMs.toFixed(0)} ms (${Math.round(KEYS / (loadMs / 1000))} keys/s)`);

    // The baseline needs its own connection, and the store holds the file exclusively.
    await store.close();
    const raw = new Database(join(dir, 'store.db'), { readonly: true });
    const rawScan = raw.prepare('SELECT key, value FROM kv WHERE key >= ? AND key < ?');
    let rows = 0;
    const base = await measure(() => {
      rows = 0;
      for (const _row of rawScan.iterate(PREFIX, prefixEnd(PREFIX))) rows++;
    });
    raw.close();
    check(rows === KEYS, 'baseline sees every row');
    report(`store: baseline raw better-sqlite3 iterate of ${rows} rows: ${fmt(base)}`);
    const line = (what: string, s: Stat) => report(`store: ${what}: ${fmt(s)}, ${(s.median / base.median).toFixed(2)}x baseline`);

    store = await SqliteStore.open(dir);
    let n = 0;
    line(`changes(prefix, ${loadedRev - 1}): last ${BATCH} events (one txn)`, await measure(async () => {
      n = (await store.changes(PREFIX, loadedRev - 1)).events.length;
    }));
    check(n === BATCH, 'last batch');
    line(`changes(prefix, 0): all ${KEYS} events`, await measure(async () => {
      n = (await store.changes(PREFIX, 0)).events.length;
    }));
    check(n === KEYS, 'all events');
    line(`range(prefix): snapshot of ${KEYS} keys`, await measure(async () => {
      n = (await store.range(PREFIX)).kvs.length;
    }));
    check(n === KEYS, 'all keys');
    line(`count(prefix) of ${KEYS} keys`, await measure(async () => {
      n = await store.count(PREFIX);
    }));
    check(n === KEYS, 'count');

    let generation = 0;
    const puts = await measure(async () => {
      generation++;
      for (let i = 0; i < SINGLE_PUTS; i++) {
        const k = (i * 97 + generation) % KEYS;
        await store.txn([], [{ type: 'put', key: key(k), value: peerValue(k, generation) }]);
      }
    });
    line(`${SINGLE_PUTS} sequential single-put txns (${Math.round(SINGLE_PUTS / (puts.median / 1000))} txn/s at the median)`, puts);

    const head = await store.currentRevision();
    line(`changes(prefix, ${head - SINGLE_PUTS}): last ${SINGLE_PUTS} events (one per txn)`, await measure(async () => {
      n = (await store.changes(PREFIX, head - SINGLE_PUTS)).events.length;
    }));
    check(n === SINGLE_PUTS, 'last single puts');

    // The known cost of scanning the log in revision order: a narrow prefix read from 0
    // walks every event of the log, not only its own.
    await store.txn([], Array.from({ length: 10 }, (_, i) => ({ type: 'put', key: `pools/tiny/peers/p${i}`, value: peerValue(i) })));
    line(`changes('pools/tiny/', 0): 10 events among ${KEYS + REPEATS * SINGLE_PUTS + 10} in the log`, await measure(async () => {
      n = (await store.changes('pools/tiny/', 0)).events.length;
    }));
    check(n === 10, 'narrow prefix');
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchStore((line) => console.log(line)).catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

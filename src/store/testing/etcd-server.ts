import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ETCD_BATCH_LIMITS } from '../etcd-limits.js';

/**
 * A real etcd member for tests: Debian's etcd-server on loopback with a temp data dir. Test
 * support only. Ports come from WGF_TEST_ETCD_PORTS ("LOW-HIGH", default 24000-24999), picked
 * at random and checked free, so several test files (and several people) can run at once.
 */
export interface TestEtcd {
  /** Client URL, e.g. http://127.0.0.1:24123 */
  readonly endpoint: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Kills etcd (SIGKILL) and removes the data dir. Idempotent. */
  stop(): Promise<void>;
}

/** The etcd binary, or undefined when it is not installed (tests then skip with a message). */
export function etcdBinary(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : undefined;
}

export const ETCD_MISSING = 'etcd is not installed (Debian: apt-get install etcd-server etcd-client; scripts/deps.sh does it)';

function portRange(): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(process.env.WGF_TEST_ETCD_PORTS ?? '24000-24999');
  return m ? [Number(m[1]), Number(m[2])] : [24000, 24999];
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Two free loopback ports (client, peer) from the test range. */
export async function freePortPair(): Promise<[number, number]> {
  const [lo, hi] = portRange();
  for (let i = 0; i < 200; i++) {
    const p = lo + 2 * Math.floor(Math.random() * Math.floor((hi - lo) / 2));
    if (await portFree(p) && await portFree(p + 1)) return [p, p + 1];
  }
  throw new Error(`no two free ports in ${lo}-${hi}`);
}

/** Options of startTestEtcd. */
export interface TestEtcdOptions {
  /** etcd --max-txn-ops (default: ETCD_BATCH_LIMITS, as the lab and the README run it; etcd's own default is 128). */
  readonly maxTxnOps?: number;
  /** etcd --max-request-bytes (default: ETCD_BATCH_LIMITS; etcd's own default is 1.5 MiB). */
  readonly maxRequestBytes?: number;
  readonly extraArgs?: readonly string[];
}

/** Starts one etcd member and waits until it answers /health. Always stop() it (try/finally). */
export async function startTestEtcd(opts: TestEtcdOptions = {}): Promise<TestEtcd> {
  const bin = etcdBinary();
  if (!bin) throw new Error(ETCD_MISSING);
  for (let attempt = 0; ; attempt++) {
    const dataDir = await mkdtemp(join(tmpdir(), 'wgf-ed-etcd-'));
    const [client, peer] = await freePortPair();
    const endpoint = `http://127.0.0.1:${client}`;
    const args = [
      '--name', 'ed', '--data-dir', dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `ed=http://127.0.0.1:${peer}`,
      '--log-level', 'error', '--logger', 'zap',
      '--max-txn-ops', String(opts.maxTxnOps ?? ETCD_BATCH_LIMITS.maxTxnOps),
      '--max-request-bytes', String(opts.maxRequestBytes ?? ETCD_BATCH_LIMITS.maxRequestBytes),
      ...(opts.extraArgs ?? []),
    ];
    const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' } });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    };
    try {
      await waitHealthy(endpoint, child, () => stderr);
      return { endpoint, dataDir, pid: child.pid!, stop };
    } catch (e) {
      await stop();
      // A port taken between the check and etcd's bind: try other ports.
      if (attempt < 3 && /address already in use/.test(stderr)) continue;
      throw e;
    }
  }
}

async function waitHealthy(endpoint: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}): ${stderr()}`);
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${endpoint} not healthy after 30 s: ${stderr()}`);
}

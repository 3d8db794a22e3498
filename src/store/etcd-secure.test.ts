import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isFabricError } from '../protocol/errors.js';
import { EtcdStore } from './etcd.js';
import { ETCD_MISSING, etcdBinary, freePortPair } from './testing/etcd-server.js';

// A real etcd serving clients over TLS only (certificates made with openssl here) and with
// etcd authentication on: the driver's TLS and auth options, and prefixes kept apart by etcd
// roles, against the real thing.
const skip = !etcdBinary() ? ETCD_MISSING : spawnSync('sh', ['-c', 'command -v etcdctl && command -v openssl']).status !== 0 ? 'etcdctl or openssl missing' : false;
let dir = '';
let proc: ChildProcess | undefined;
let endpoint = '';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'wgf-et-secure-'));
  const f = (n: string) => join(dir, n);
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=test etcd CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await writeFile(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr')]);
  run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('san.ext'), '-out', f('server.pem')]);
  const [client, peer] = await freePortPair();
  endpoint = `https://127.0.0.1:${client}`;
  proc = spawn(etcdBinary()!, [
    '--name', 'et', '--data-dir', f('data'), '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `et=http://127.0.0.1:${peer}`,
    '--cert-file', f('server.pem'), '--key-file', f('server.key'), '--log-level', 'error', '--logger', 'zap',
  ], { stdio: 'ignore' });
  const ctl = (...args: string[]) => run('etcdctl', ['--endpoints', endpoint, '--cacert', f('ca.pem'), ...args], { ETCDCTL_API: '3' });
  for (let i = 0; ; i++) {
    try {
      ctl('endpoint', 'health');
      break;
    } catch (e) {
      if (i > 300) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Auth: root, and one user per fabric whose role may touch only that fabric's prefix.
  ctl('user', 'add', 'root:rootpw');
  for (const fab of ['fa', 'fb']) {
    ctl('role', 'add', `${fab}-rw`);
    ctl('role', 'grant-permission', `${fab}-rw`, '--prefix=true', 'readwrite', `${fab}/`);
    ctl('user', 'add', `${fab}:${fab}-pw`);
    ctl('user', 'grant-role', fab, `${fab}-rw`);
  }
  ctl('auth', 'enable');
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('etcd over TLS with authentication', { skip }, () => {
  const opts = (fab: string, password = `${fab}-pw`) => ({
    endpoints: [endpoint], prefix: `${fab}/`, tls: { caFile: join(dir, 'ca.pem') }, auth: { username: fab, password }, requestTimeoutMs: 3000, etcdCompaction: false,
  });

  test('a fabric with its CA and user writes, reads and watches; another fabric on the cluster sees none of it', async () => {
    const a = await EtcdStore.open(opts('fa'));
    const b = await EtcdStore.open(opts('fb'));
    try {
      const seen: string[] = [];
      const watched = new Promise<void>((resolve, reject) => {
        const w = a.watch('k/', 0, (evs) => {
          seen.push(...evs.map((e) => `${e.revision}:${e.key}=${e.value}`));
          if (seen.length === 2) { w.cancel(); resolve(); }
        }, reject);
      });
      assert.equal((await a.txn([], [{ type: 'put', key: 'k/1', value: 'a1' }])).revision, 1);
      assert.equal((await a.txn([], [{ type: 'put', key: 'k/2', value: 'a2' }])).revision, 2);
      await watched;
      assert.deepEqual(seen, ['1:k/1=a1', '2:k/2=a2']);
      // Fabric B on the same cluster: its own revisions, none of A's keys.
      assert.equal(await b.currentRevision(), 0);
      assert.equal((await b.range('')).kvs.length, 0);
      assert.equal((await b.txn([], [{ type: 'put', key: 'k/1', value: 'b1' }])).revision, 1);
      assert.equal((await a.get('k/1'))?.value, 'a1');
      assert.equal((await b.get('k/1'))?.value, 'b1');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('etcd refuses a user outside its prefix, a wrong password, and a client without the CA: WGF_ERR_STORE_UNAVAILABLE', async () => {
    // User fb on fabric fa's prefix: etcd's role check says no.
    await assert.rejects(EtcdStore.open({ ...opts('fb'), prefix: 'fa/' }), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE') && /permission denied/i.test(e.message));
    await assert.rejects(EtcdStore.open(opts('fa', 'wrong')), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE') && /authentication failed|invalid/i.test(e.message));
    // No auth at all on an auth-enabled cluster.
    await assert.rejects(EtcdStore.open({ endpoints: [endpoint], prefix: 'fa/', tls: { caFile: join(dir, 'ca.pem') }, requestTimeoutMs: 3000 }), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE'));
    // TLS with the public roots only: etcd's certificate is not trusted.
    await assert.rejects(EtcdStore.open({ endpoints: [endpoint], prefix: 'fa/', auth: { username: 'fa', password: 'fa-pw' }, requestTimeoutMs: 3000 }), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE'));
    // A missing CA file is a validation error naming the field, before any connection.
    await assert.rejects(EtcdStore.open({ ...opts('fa'), tls: { caFile: join(dir, 'nope.pem') } }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
  });
});

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../client/api-client.js';
import { startServer, type RunningServer } from '../server/start.js';
import { generateKeyPair, publicKeyOf, parseKey, toBase64 } from '../wg/keys.js';
import { parseConfig } from '../wg/config.js';

let server: RunningServer;
let dir: string;
let env: NodeJS.ProcessEnv;

const RUNNER = fileURLToPath(new URL('./testing/run-cli.ts', import.meta.url));

/** Runs the CLI in a child process (its stdout must not mix with the test runner's). */
function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', RUNNER, ...argv], { env: { ...process.env, ...env } }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wgf-cli-'));
  server = await startServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, logger: false, handleSignals: false, stdout: { write: () => true } });
  writeFileSync(join(dir, 'admin.token'), server.bootstrapToken! + '\n');
  env = { WGFABRIC_SERVER: server.url, WGFABRIC_TOKEN_FILE: join(dir, 'admin.token') };
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('pool create, peer add writes a 0600 config whose key matches the registered public key', async () => {
  const created = await cli('pool', 'create', 'office', '--ipv4', '10.80.0.0/24', '--ipv6', 'fd80::/64', '--endpoint', 'vpn.example.net:51820', '--dns', '10.80.0.1', '--json');
  assert.equal(created.code, 0, created.err);
  const pool = JSON.parse(created.out);
  const file = join(dir, 'alice.conf');
  const added = await cli('peer', 'add', 'alice', '--pool', 'office', '--out', file, '--json');
  assert.equal(added.code, 0, added.err);
  const { peer } = JSON.parse(added.out);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const cfg = parseConfig(readFileSync(file, 'utf8'));
  assert.equal(toBase64(publicKeyOf(parseKey(cfg.interface.privateKey!))), peer.publicKey, 'the config holds the private key of the registered peer');
  assert.deepEqual(cfg.interface.addresses, peer.addresses);
  assert.equal(cfg.peers[0]!.publicKey, pool.publicKey);
  assert.equal(cfg.peers[0]!.endpoint, 'vpn.example.net:51820');
  assert.deepEqual(cfg.peers[0]!.allowedIps, ['10.80.0.0/24', 'fd80::/64']);
  const listed = await cli('peer', 'list', '--pool', 'office');
  assert.match(listed.out, /^NAME\s+ADDRESSES/);
  assert.match(listed.out, /alice\s+10\.80\.0\.2\/32,fd80::2\/128\s+yes/);
});

test('errors carry the stable code and exit code; --json gives the error body', async () => {
  const r = await cli('peer', 'show', 'nobody', '--pool', 'office');
  assert.equal(r.code, 66);
  assert.match(r.err, /\[WGF_ERR_NOT_FOUND\]/);
  const j = await cli('pool', 'create', 'Bad Name', '--json');
  assert.equal(j.code, 64);
  assert.equal(JSON.parse(j.err).error.code, 'WGF_ERR_VALIDATION');
});

test('import turns a wg0.conf into a pool with its peers; a bad file changes nothing', async () => {
  const server = generateKeyPair();
  const a = toBase64(generateKeyPair().publicKey);
  const b = toBase64(generateKeyPair().publicKey);
  const file = join(dir, 'wg0.conf');
  writeFileSync(file, `[Interface]\nPrivateKey = ${toBase64(server.privateKey)}\nAddress = 10.9.0.1/24, fd09::1/64\nListenPort = 51999\nPostUp = iptables -A FORWARD -i wg0 -j ACCEPT\n\n`
    + `[Peer]\n# Name = Laptop\nPublicKey = ${a}\nAllowedIPs = 10.9.0.2/32, fd09::2/128\n\n[Peer]\nPublicKey = ${b}\nAllowedIPs = 10.9.0.3/32, 192.168.50.0/24\n`);
  const r = await cli('import', file, '--pool', 'legacy', '--endpoint', 'old.example.net:51999', '--json');
  assert.equal(r.code, 0, r.err);
  const shown = JSON.parse((await cli('pool', 'show', 'legacy', '--json')).out);
  assert.equal(shown.publicKey, toBase64(server.publicKey), 'the server key pair is kept');
  assert.equal(shown.listenPort, 51999);
  assert.equal(shown.ipv4Prefix, '10.9.0.0/24');
  const peers = JSON.parse((await cli('peer', 'list', '--pool', 'legacy', '--json')).out);
  assert.deepEqual(peers.map((p: { name: string; addresses: string[]; allowedIps: string[] }) => [p.name, p.addresses, p.allowedIps]), [
    ['laptop', ['10.9.0.2/32', 'fd09::2/128'], []],
    ['peer-2', ['10.9.0.3/32', 'fd09::3/128'], ['192.168.50.0/24']], // IPv6 allocated by IPAM
  ]);
  const broken = join(dir, 'broken.conf');
  writeFileSync(broken, `[Interface]\nPrivateKey = ${toBase64(server.privateKey)}\nAddress = 10.10.0.1/24\n[Peer]\nPublicKey = not-a-key\n`);
  const bad = await cli('import', broken, '--pool', 'broken');
  assert.equal(bad.code, 65);
  assert.equal((await cli('pool', 'show', 'broken')).code, 66, 'nothing was created');
});

test('an import whose peers collide on the server is rolled back completely', async () => {
  const [a, b] = [toBase64(generateKeyPair().publicKey), toBase64(generateKeyPair().publicKey)];
  const file = join(dir, 'overlap.conf');
  writeFileSync(file, `[Interface]\nPrivateKey = ${toBase64(generateKeyPair().privateKey)}\nAddress = 10.11.0.1/24\n`
    + `[Peer]\nPublicKey = ${a}\nAllowedIPs = 10.11.0.2/32, 192.168.60.0/24\n[Peer]\nPublicKey = ${b}\nAllowedIPs = 10.11.0.3/32, 192.168.60.128/25\n`);
  const r = await cli('import', file, '--pool', 'dups');
  assert.notEqual(r.code, 0);
  assert.match(r.err, /rolled back.*\[WGF_ERR_ALLOWED_IPS_OVERLAP\]/);
  assert.equal((await cli('pool', 'show', 'dups')).code, 66);
});

test('status shows every node with its lag', async () => {
  assert.equal((await cli('node', 'add', 'office', 'wg1', '--endpoint', '192.0.2.1:51820')).code, 0);
  const r = await cli('status');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^POOL\s+NODE\s+STATE\s+READY\s+APPLIED\s+LAG\s+PEERS\s+REPORTED\s+LB\s+MESSAGE$/m);
  assert.match(r.out, /office\s+wg1\s+active\s+-\s+-\s+-\s+-\s+-\s+-\s+no report yet/);
});

test('LB reports: lb list, the LB column of node list, lb forget', async () => {
  const api = new ApiClient({ baseUrl: server.url, token: server.bootstrapToken! });
  await api.putLbStatus('office', 'lb-a', {
    vip: '198.18.1.2', port: 51820, tableSize: 251, generation: 2, lastError: null, failOpen: false,
    backends: [{ name: 'wg1', state: 'down', reason: 'probe failed: refused', inTable: false, slots: 0 }],
  });
  const list = await cli('lb', 'list', '--pool', 'office');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^INSTANCE\s+VIP\s+BACKEND\s+STATE\s+IN TABLE\s+SLOTS\s+REPORTED\s+REASON$/m);
  assert.match(list.out, /lb-a\s+198\.18\.1\.2:51820\s+wg1\s+down\s+no\s+0\s+\d+s ago\s+probe failed: refused/);
  const rows = JSON.parse((await cli('lb', 'list', '--pool', 'office', '--json')).out);
  assert.deepEqual(rows.map((r: { instance: string; backend: string; inTable: boolean }) => [r.instance, r.backend, r.inTable]), [['lb-a', 'wg1', false]]);
  const nodes = await cli('node', 'list', '--pool', 'office');
  assert.match(nodes.out, /wg1\s+.*\s+out 1\/1: probe failed: refused\s+no report yet/);
  assert.equal(JSON.parse((await cli('status', '--json')).out).nodes.find((n: { name: string }) => n.name === 'wg1').lb, 'out 1/1: probe failed: refused');
  assert.equal((await cli('lb', 'forget', 'lb-a', '--pool', 'office')).code, 0);
  assert.match((await cli('lb', 'list', '--pool', 'office')).out, /no LB reports/);
  assert.equal((await cli('lb', 'forget', 'lb-a', '--pool', 'office')).code, 66, 'WGF_ERR_NOT_FOUND');
});

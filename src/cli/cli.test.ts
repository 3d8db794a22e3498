import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../client/api-client.js';
import type { RunningServer } from '../server/start.js';
import { startCliRig, type CliRig } from './testing/cli-rig.js';
import { generateKeyPair, publicKeyOf, parseKey, toBase64 } from '../wg/keys.js';
import { parseConfig } from '../wg/config.js';

let rig: CliRig;
let server: RunningServer;
let dir: string;
const cli = (...argv: string[]) => rig.cli(...argv);

before(async () => {
  rig = await startCliRig('wgf-cli-');
  ({ server, dir } = rig);
});
after(async () => {
  await rig.close();
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
  assert.match(listed.out, /alice\s+10\.80\.0\.2\/32,fd80::2\/128\s+enabled/);
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
  const missing = await cli('import', join(dir, 'no-such.conf'), '--pool', 'missing');
  assert.equal(missing.code, 64);
  assert.match(missing.err, /cannot read the wg-quick config file .*no-such\.conf: no such file or directory \(ENOENT\) \[WGF_ERR_VALIDATION\]/);
});

test('an import whose peers collide on the server is rolled back completely', async () => {
  const [a, b] = [toBase64(generateKeyPair().publicKey), toBase64(generateKeyPair().publicKey)];
  const file = join(dir, 'overlap.conf');
  writeFileSync(file, `[Interface]\nPrivateKey = ${toBase64(generateKeyPair().privateKey)}\nAddress = 10.11.0.1/24\n`
    + `[Peer]\nPublicKey = ${a}\nAllowedIPs = 10.11.0.2/32, 192.168.60.0/24\n[Peer]\nPublicKey = ${b}\nAllowedIPs = 10.11.0.3/32, 192.168.60.128/25\n`);
  const r = await cli('import', file, '--pool', 'dups');
  assert.notEqual(r.code, 0);
  assert.match(r.err, /rolled back.*WGF_ERR_ALLOWED_IPS_OVERLAP.*\[WGF_ERR_BATCH_REJECTED\]/);
  assert.equal((await cli('pool', 'show', 'dups')).code, 66);
});

test('status shows every node with its lag', async () => {
  assert.equal((await cli('node', 'add', 'office', 'wg1', '--endpoint', '192.0.2.1:51820')).code, 0);
  const r = await cli('status');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^POOL\s+NODE\s+STATE\s+WEIGHT\s+READY\s+APPLIED\s+LAG\s+PEERS\s+REPORTED\s+LB\s+ANNOUNCED\s+CONNECTED\s+MESSAGE$/m);
  assert.match(r.out, /office\s+wg1\s+active\s+1\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+0\s+no report yet/);
});

test('LB reports: lb list, the LB column of node list, lb forget', async () => {
  const api = new ApiClient({ baseUrl: server.url, token: server.bootstrapToken! });
  await api.putLbStatus('office', 'lb-a', {
    vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 2, lastError: null, failOpen: false,
    backends: [{ name: 'wg1', state: 'down', reason: 'probe failed: refused', inTable: false, slots: 0 }],
  });
  const list = await cli('lb', 'list', '--pool', 'office');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^INSTANCE\s+VIP\s+TABLE\s+BACKEND\s+STATE\s+IN TABLE\s+SLOTS\s+REPORTED\s+REASON$/m);
  // A CLI process start takes seconds on a loaded machine: the report may be 10 s old and marked (stale).
  assert.match(list.out, /lb-a\s+198\.18\.1\.2:51820\s+251 src-ip-port\s+wg1\s+down\s+no\s+0\s+\d+s ago(?: \(stale\))?\s+probe failed: refused/);
  const rows = JSON.parse((await cli('lb', 'list', '--pool', 'office', '--json')).out);
  assert.deepEqual(rows.map((r: { instance: string; backend: string; inTable: boolean }) => [r.instance, r.backend, r.inTable]), [['lb-a', 'wg1', false]]);
  // Each CLI run is a Node process start (seconds on a loaded machine): the report may be 10 s old,
  // which the column marks "(stale Ns)"; that suffix is the only freedom allowed here.
  const nodes = await cli('node', 'list', '--pool', 'office');
  assert.match(nodes.out, /wg1\s+.*\s+out 1\/1: probe failed: refused( \(stale \d+s\))?\s+-\s+0\s+no report yet/);
  const lbColumn = JSON.parse((await cli('status', '--json')).out).nodes.find((n: { name: string }) => n.name === 'wg1').lb as string;
  assert.match(lbColumn, /^out 1\/1: probe failed: refused( \(stale \d+s\))?$/);
  assert.equal((await cli('lb', 'forget', 'lb-a', '--pool', 'office')).code, 0);
  assert.match((await cli('lb', 'list', '--pool', 'office')).out, /no LB reports/);
  assert.equal((await cli('lb', 'forget', 'lb-a', '--pool', 'office')).code, 66, 'WGF_ERR_NOT_FOUND');
});

test('node weight: --weight on add and update reaches the API, node list shows WEIGHT, a bad weight is refused', async () => {
  assert.equal((await cli('pool', 'create', 'weights', '--ipv4', '10.81.0.0/24')).code, 0);
  const added = await cli('node', 'add', 'weights', 'heavy', '--endpoint', '192.0.2.21:51820', '--weight', '3', '--json');
  assert.equal(added.code, 0, added.err);
  assert.equal(JSON.parse(added.out).weight, 3);
  assert.equal((await cli('node', 'add', 'weights', 'light', '--endpoint', '192.0.2.22:51820')).code, 0);
  const api = new ApiClient({ baseUrl: server.url, token: server.bootstrapToken! });
  assert.deepEqual([(await api.getNode('weights', 'heavy')).weight, (await api.getNode('weights', 'light')).weight], [3, 1]);
  const updated = await cli('node', 'update', 'weights', 'light', '--weight', '2');
  assert.equal(updated.code, 0, updated.err);
  assert.match(updated.out, /^weight:\s+2$/m);
  assert.equal((await api.getNode('weights', 'light')).weight, 2);
  assert.equal((await api.getNode('weights', 'light')).endpoint, '192.0.2.22:51820', 'the other fields are kept');
  const list = await cli('node', 'list', '--pool', 'weights');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^POOL\s+NODE\s+STATE\s+WEIGHT\s+READY/m);
  assert.match(list.out, /weights\s+heavy\s+active\s+3\s+/);
  assert.match(list.out, /weights\s+light\s+active\s+2\s+/);
  assert.deepEqual(JSON.parse((await cli('node', 'list', '--pool', 'weights', '--json')).out).nodes.map((n: { name: string; weight: number }) => [n.name, n.weight]), [['heavy', 3], ['light', 2]]);
  assert.match((await cli('node', 'show', 'weights', 'heavy')).out, /^weight:\s+3$/m);
  for (const w of ['0', '1001']) {
    const bad = await cli('node', 'update', 'weights', 'light', '--weight', w, '--json');
    assert.equal(bad.code, 64, `weight ${w}: ${bad.err}`);
    assert.equal(JSON.parse(bad.err).error.code, 'WGF_ERR_VALIDATION');
  }
  assert.equal((await api.getNode('weights', 'light')).weight, 2, 'unchanged');
});

test('pool LB settings: --lb-affinity and --lb-table-size on create and update (alias of set) reach the API and show in pool show', async () => {
  const created = await cli('pool', 'create', 'lbset', '--ipv4', '10.82.0.0/24', '--lb-table-size', '251', '--json');
  assert.equal(created.code, 0, created.err);
  assert.deepEqual(JSON.parse(created.out).lb, { affinity: 'src-ip-port', tableSize: 251 });
  const updated = await cli('pool', 'update', 'lbset', '--lb-affinity', 'src-ip');
  assert.equal(updated.code, 0, updated.err);
  assert.match(updated.out, /^lb affinity:\s+src-ip$/m);
  assert.match(updated.out, /^lb table size:\s+251$/m, 'the table size is kept');
  assert.equal((await cli('pool', 'set', 'lbset', '--lb-table-size', '65537')).code, 0);
  const api = new ApiClient({ baseUrl: server.url, token: server.bootstrapToken! });
  assert.deepEqual((await api.getPool('lbset')).lb, { affinity: 'src-ip', tableSize: 65537 });
  const shown = await cli('pool', 'show', 'lbset');
  assert.match(shown.out, /^lb affinity:\s+src-ip$/m);
  assert.match(shown.out, /^lb table size:\s+65537$/m);
  const cases: [string[], string][] = [[['--lb-table-size', '65536'], 'lb.tableSize'], [['--lb-affinity', 'dst-ip'], 'lb.affinity']];
  for (const [flags, field] of cases) {
    const bad = await cli('pool', 'update', 'lbset', ...flags, '--json');
    assert.equal(bad.code, 64, bad.err);
    const body = JSON.parse(bad.err).error;
    assert.equal(body.code, 'WGF_ERR_VALIDATION');
    assert.match(body.message, new RegExp(field.replace('.', '\\.')));
  }
  assert.deepEqual((await api.getPool('lbset')).lb, { affinity: 'src-ip', tableSize: 65537 }, 'unchanged');
});

test('lb run no longer takes --affinity or --table-size (they are pool settings)', async () => {
  for (const flag of ['--affinity', '--table-size']) {
    const r = await cli('lb', 'run', '--pool', 'office', '--vip', '198.18.1.2:51820', flag, '1');
    assert.notEqual(r.code, 0);
    assert.match(r.err, new RegExp(`unknown option '${flag}'`));
  }
  const help = await cli('lb', 'run', '--help');
  assert.doesNotMatch(help.out, /--affinity|--table-size/);
  assert.match(help.out, /--lb-affinity/, 'the help points to the pool settings');
});

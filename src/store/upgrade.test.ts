/**
 * Upgrade policy, proven: this wgfabric opens a store written by the previous release
 * (test/fixtures/store-5297ab5, made by commit 5297ab5 through its own API: a pool, two
 * nodes, peers (one disabled, one deleted), a node token and an operator token) and serves
 * it unchanged: same objects, old tokens still valid, fields added since read as their
 * defaults, and new writes work. The tokens in expected.json exist only in this fixture.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../client/api-client.js';
import { startServer, type RunningServer } from '../server/start.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/store-5297ab5/', import.meta.url));
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as { admin: string; operator: string; node: string; peers: Record<string, string> };
let dir: string;
let server: RunningServer;
const api = (token: string) => new ApiClient({ baseUrl: server.url, token });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wgf-upgrade-'));
  cpSync(FIXTURE, join(dir, 'data'), { recursive: true });
  chmodSync(join(dir, 'data'), 0o700);
  chmodSync(join(dir, 'data', 'master.key'), 0o600);
  server = await startServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, logger: false, handleSignals: false, stdout: { write: () => true } });
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the previous release\'s store opens with every object as it was', async () => {
  assert.equal(server.bootstrapToken ?? null, null, 'no new bootstrap token: the old tokens are there');
  const admin = api(expected.admin);
  const pool = await admin.getPool('office');
  assert.equal(pool.ipv4Prefix, '10.66.0.0/24');
  assert.deepEqual(pool.labels, { site: 'a' });
  const nodes = (await admin.listNodes('office')).items;
  assert.deepEqual(nodes.map((n) => [n.name, n.weight, n.adminState]), [['wg1', 2, 'active'], ['wg2', 1, 'active']]);
  const peers = (await admin.listPeers('office')).items;
  assert.deepEqual(peers.map((p) => [p.name, p.publicKey, p.enabled]), [['alice', expected.peers.alice, true], ['bob', expected.peers.bob, false]]);
  const tokens = (await admin.listTokens()).items;
  assert.deepEqual(tokens.map((t) => t.name).sort(), ['bootstrap', 'ops', 'wg1-node']);
  assert.ok(tokens.every((t) => t.expiresAt === null), 'tokens made before expiry existed never expire');
});

test('old tokens still authenticate with their roles; the node token reads its pool', async () => {
  assert.equal((await api(expected.operator).whoami()).role, 'operator');
  const node = api(expected.node);
  assert.equal((await node.whoami()).node, 'wg1');
  const snap = await node.poolSnapshot('office');
  assert.deepEqual(snap.peers.map((p) => p.name).sort(), ['alice', 'bob']);
  assert.match(await node.poolPrivateKey('office'), /^[A-Za-z0-9+/]{43}=$/, 'the sealed pool key opens with the old master key');
});

test('writes on the upgraded store work and continue its revisions and audit log', async () => {
  const admin = api(expected.admin);
  const before = (await admin.ready()).revision;
  const p = await admin.createPeer('office', { name: 'dave', publicKey: toBase64(generateKeyPair().publicKey) });
  assert.ok(p.revision > before);
  assert.equal(p.addresses.length, 2);
  const used = (await admin.listPeers('office')).items.flatMap((x) => x.addresses);
  assert.equal(new Set(used).size, used.length, 'IPAM continued without reusing an address');
  const audit = (await admin.listAudit({ kind: 'peer' })).items.map((e) => `${e.action} ${e.object}`);
  assert.ok(audit.includes('delete pools/office/peers/carol') && audit.includes('create pools/office/peers/dave'), audit.join(', '));
});

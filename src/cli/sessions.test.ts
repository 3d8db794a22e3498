import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient } from '../client/api-client.js';
import { pubkey } from '../control/testing/fixtures.js';
import type { RunningServer } from '../server/start.js';
import { humanBytes } from './sessions.js';
import { startCliRig, type CliRig } from './testing/cli-rig.js';

/** `peer show`, `peer list [--connected|--disconnected]` and `status` with per-peer session state. */

let rig: CliRig;
let server: RunningServer;
const cli = (...argv: string[]) => rig.cli(...argv);
const alice = pubkey();

before(async () => {
  rig = await startCliRig('wgf-sess-');
  ({ server } = rig);
  const sys = { actor: 't' };
  await server.control.createPool({ name: 'sp', ipv4Prefix: '10.85.0.0/24' }, sys);
  await server.control.createNode('sp', { name: 'n1' }, sys);
  await server.control.createNode('sp', { name: 'n2' }, sys);
  await server.control.createPeer('sp', { name: 'alice', publicKey: alice }, sys);
  await server.control.createPeer('sp', { name: 'bob', publicKey: pubkey() }, sys);
});
// Fresh before each test (a new chain each time): on a loaded machine the tests can outlast the 180 s window.
let seq = 0;
beforeEach(async () => {
  const api = new ApiClient({ baseUrl: server.url, token: server.bootstrapToken! });
  const now = Math.floor(Date.now() / 1000);
  await api.putSessions('sp', 'n2', { epoch: 'cli-test-n2', seq: ++seq, reset: true, removed: [], peers: [{ publicKey: alice, lastHandshake: now - 42, rxBytes: 1536, txBytes: 3 * 1048576, endpoint: '198.51.100.7:51000' }] });
});
after(async () => {
  await rig.close();
});

test('peer show: NODE, LAST HANDSHAKE, ENDPOINT, RX, TX; --json carries the session object', async () => {
  const r = await cli('peer', 'show', 'alice', '--pool', 'sp');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^node: +n2$/m);
  assert.match(r.out, /^last handshake: +\S+Z \((\d+s|\dm\d\ds) ago\)$/m);
  assert.match(r.out, /^endpoint: +198\.51\.100\.7:51000$/m);
  assert.match(r.out, /^rx: +1\.50 KiB$/m);
  assert.match(r.out, /^tx: +3\.00 MiB$/m);
  const j = JSON.parse((await cli('peer', 'show', 'alice', '--pool', 'sp', '--json')).out);
  assert.equal(j.session.node, 'n2');
  assert.equal(j.session.connected, true);
  const bob = await cli('peer', 'show', 'bob', '--pool', 'sp');
  assert.match(bob.out, /^connected: +no \(no node reported a handshake\)$/m);
});

test('peer list --connected / --disconnected filter, with the session columns; both at once is refused', async () => {
  const conn = await cli('peer', 'list', '--pool', 'sp', '--connected');
  assert.equal(conn.code, 0, conn.err);
  assert.match(conn.out, /^NAME +ADDRESSES +STATE +EXPIRES +PSK +NODE +LAST HANDSHAKE +ENDPOINT +RX +TX +PUBLIC KEY$/m);
  assert.match(conn.out, /^alice .* n2 +(\d+s|\dm\d\ds) ago +198\.51\.100\.7:51000 +1\.50 KiB +3\.00 MiB /m);
  assert.doesNotMatch(conn.out, /^bob/m);
  const names = (JSON.parse((await cli('peer', 'list', '--pool', 'sp', '--disconnected', '--json')).out) as { name: string }[]).map((p) => p.name);
  assert.deepEqual(names, ['bob']);
  const both = await cli('peer', 'list', '--pool', 'sp', '--connected', '--disconnected');
  assert.equal(both.code, 64);
  assert.match(both.err, /--connected and --disconnected exclude each other/);
});

test('status shows connected peers per node', async () => {
  const r = await cli('status', '--json');
  assert.equal(r.code, 0, r.err);
  const rows = (JSON.parse(r.out) as { nodes: { pool: string; name: string; connected: number | null }[] }).nodes.filter((n) => n.pool === 'sp');
  assert.deepEqual(rows.map((n) => [n.name, n.connected]), [['n1', 0], ['n2', 1]]);
  assert.match((await cli('status')).out, /CONNECTED/);
});

test('humanBytes', () => {
  assert.equal(humanBytes(0), '0 B');
  assert.equal(humanBytes(1023), '1023 B');
  assert.equal(humanBytes(1024 ** 3 * 5), '5.00 GiB');
  assert.equal(humanBytes(null), null);
});

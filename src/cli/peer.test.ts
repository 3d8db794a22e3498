import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../client/api-client.js';
import { FabricError } from '../protocol/errors.js';
import type { RunningServer } from '../server/start.js';
import { startCliRig, type CliRig } from './testing/cli-rig.js';
import { parseConfig } from '../wg/config.js';
import { parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import { addPeer } from './peer.js';

/** The CLI's peer commands as an operator meets them: keys never lost, preshared keys, expiry, update, hints. */

let rig: CliRig;
let server: RunningServer;
let dir: string;
const cli = (...argv: string[]) => rig.cli(...argv);

before(async () => {
  rig = await startCliRig('wgf-peer-');
  ({ server, dir } = rig);
  await server.control.createPool({ name: 'pp', ipv4Prefix: '10.84.0.0/24', endpoint: 'vpn.example.net:51820' }, { actor: 't' });
});
after(async () => {
  await rig.close();
});

const api = () => new ApiClient({ baseUrl: server.url, token: server.bootstrapToken! });

test('peer add --json carries the client config, whose private key belongs to the registered peer', async () => {
  const r = await cli('peer', 'add', 'j1', '--pool', 'pp', '--json');
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as { peer: { publicKey: string; expired: boolean }; configFile: null; config: string };
  assert.equal(out.configFile, null);
  const cfg = parseConfig(out.config);
  assert.equal(toBase64(publicKeyOf(parseKey(cfg.interface.privateKey!))), out.peer.publicKey);
  assert.equal(out.peer.expired, false);
});

test('peer add --out to an unwritable path fails before registering: path, OS reason, stable code and exit code', async () => {
  const r = await cli('peer', 'add', 'j2', '--pool', 'pp', '--out', '/nonexistent-wgf/x.conf');
  assert.equal(r.code, 73);
  assert.match(r.err, /cannot write \/nonexistent-wgf\/x\.conf: no such file or directory \(ENOENT\); nothing was registered \[WGF_ERR_OUTPUT_FILE\]/);
  await assert.rejects(api().getPeer('pp', 'j2'), (e: FabricError) => e.code === 'WGF_ERR_NOT_FOUND', 'no peer without its key');
  const asDir = await cli('peer', 'add', 'j2', '--pool', 'pp', '--out', dir, '--json');
  assert.equal(asDir.code, 73);
  assert.equal(JSON.parse(asDir.err).error.code, 'WGF_ERR_OUTPUT_FILE');
  assert.match(JSON.parse(asDir.err).error.message, /is a directory/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left behind');
});

test('a config that cannot be written after registering removes the peer again', async () => {
  let discarded = false;
  const failing = { commit: async () => { throw new FabricError('WGF_ERR_OUTPUT_FILE', 'cannot write /x: disk full (ENOSPC)'); }, discard: async () => { discarded = true; } };
  await assert.rejects(addPeer(api(), 'j3', { pool: 'pp' }, failing), (e: FabricError) => e.code === 'WGF_ERR_OUTPUT_FILE' && /removed again/.test(e.message));
  await assert.rejects(api().getPeer('pp', 'j3'), (e: FabricError) => e.code === 'WGF_ERR_NOT_FOUND');
  assert.equal(discarded, false, 'commit failed itself; nothing else to discard');
  // A refused registration discards the prepared file.
  await assert.rejects(addPeer(api(), 'j1', { pool: 'pp' }, { commit: async () => {}, discard: async () => { discarded = true; } }), (e: FabricError) => e.code === 'WGF_ERR_ALREADY_EXISTS');
  assert.equal(discarded, true);
});

test('peer add --psk: the preshared key is in the 0600 config and never in show or list', async () => {
  const file = join(dir, 'psk.conf');
  const r = await cli('peer', 'add', 'k1', '--pool', 'pp', '--psk', '--out', file);
  assert.equal(r.code, 0, r.err);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const psk = parseConfig(readFileSync(file, 'utf8')).peers[0]!.presharedKey!;
  assert.equal(Buffer.from(psk, 'base64').length, 32);
  const shown = await cli('peer', 'show', 'k1', '--pool', 'pp', '--json');
  assert.equal(JSON.parse(shown.out).hasPresharedKey, true);
  const listed = await cli('peer', 'list', '--pool', 'pp');
  for (const text of [shown.out, listed.out]) assert.ok(!text.includes(psk));
  assert.match(listed.out, /k1\s+10\.84\.0\.\d+\/32\s+enabled\s+-\s+yes/);
  // Reproducing the config needs the preshared key too: only its holder has it.
  writeFileSync(join(dir, 'k1.key'), parseConfig(readFileSync(file, 'utf8')).interface.privateKey! + '\n');
  const again = await cli('peer', 'config', 'k1', '--pool', 'pp', '--key-file', join(dir, 'k1.key'));
  assert.equal(again.code, 64);
  assert.match(again.err, /has a preshared key: pass it with --psk-file/);
  writeFileSync(join(dir, 'k1.psk'), psk + '\n');
  const ok = await cli('peer', 'config', 'k1', '--pool', 'pp', '--key-file', join(dir, 'k1.key'), '--psk-file', join(dir, 'k1.psk'));
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, readFileSync(file, 'utf8'));
});

test('peer update: rotate and remove the preshared key, expiry set/cleared with an expired mark, enable/disable, AllowedIPs', async () => {
  const rot = await cli('peer', 'update', 'k1', '--pool', 'pp', '--psk');
  assert.equal(rot.code, 0, rot.err);
  const old = parseConfig(readFileSync(join(dir, 'psk.conf'), 'utf8')).peers[0]!.presharedKey!;
  const fresh = rot.out.trim();
  assert.equal(Buffer.from(fresh, 'base64').length, 32);
  assert.notEqual(fresh, old, 'a new key');
  const cfgFile = join(dir, 'k1-new.conf');
  const withCfg = await cli('peer', 'update', 'k1', '--pool', 'pp', '--psk', '--key-file', join(dir, 'k1.key'), '--out', cfgFile);
  assert.equal(withCfg.code, 0, withCfg.err);
  assert.ok(parseConfig(readFileSync(cfgFile, 'utf8')).peers[0]!.presharedKey, 'the whole new config, with the new key');
  const past = await cli('peer', 'update', 'k1', '--pool', 'pp', '--expires', '2020-01-01T00:00:00Z', '--disable', '--allowed-ips', '192.168.84.0/24', '--no-psk', '--json');
  assert.equal(past.code, 0, past.err);
  assert.match(past.err, /warning: --expires 2020-01-01T00:00:00Z is in the past/);
  const p = JSON.parse(past.out).peer;
  assert.deepEqual([p.enabled, p.expired, p.hasPresharedKey, p.allowedIps], [false, true, false, ['192.168.84.0/24']]);
  const back = await cli('peer', 'update', 'k1', '--pool', 'pp', '--no-expires', '--enable', '--allowed-ips', '', '--json');
  const q = JSON.parse(back.out).peer;
  assert.deepEqual([q.enabled, q.expired, q.expiresAt, q.allowedIps], [true, false, null, []]);
  const none = await cli('peer', 'update', 'k1', '--pool', 'pp');
  assert.equal(none.code, 64);
  assert.match(none.err, /nothing to change/);
});

test('peer add with a past expiry warns and is listed as expired (table and JSON)', async () => {
  const r = await cli('peer', 'add', 'old', '--pool', 'pp', '--expires', '2020-01-01T00:00:00Z', '--out', join(dir, 'old.conf'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning: --expires 2020-01-01T00:00:00Z is in the past: peer old is registered but expired/);
  const table = await cli('peer', 'list', '--pool', 'pp');
  assert.match(table.out, /old\s+10\.84\.0\.\d+\/32\s+expired\s+2020-01-01/);
  const json = JSON.parse((await cli('peer', 'list', '--pool', 'pp', '--json')).out) as { name: string; expired: boolean }[];
  assert.equal(json.find((x) => x.name === 'old')?.expired, true);
  assert.equal(json.find((x) => x.name === 'j1')?.expired, false);
  assert.match((await cli('peer', 'show', 'old', '--pool', 'pp')).out, /state:\s+expired/);
});

test('peer config: help and errors say only the private key holder can reproduce it; a key of the wrong kind is named', async () => {
  const help = await cli('peer', 'config', '--help');
  assert.match(help.out.replace(/\s+/g, ' '), /Only the holder of the private key/);
  const missing = await cli('peer', 'config', 'j1', '--pool', 'pp', '--key-file', join(dir, 'nope.key'));
  assert.equal(missing.code, 64);
  assert.match(missing.err, /cannot read the private key file .*nope\.key: no such file or directory \(ENOENT\)\. Only the holder of the private key can produce a config again/);
  const j1 = await api().getPeer('pp', 'j1');
  writeFileSync(join(dir, 'pub.key'), j1.publicKey + '\n');
  const pub = await cli('peer', 'config', 'j1', '--pool', 'pp', '--key-file', join(dir, 'pub.key'));
  assert.equal(pub.code, 65);
  assert.match(pub.err, /holds peer j1's PUBLIC key; give its private key/);
  assert.match(pub.err, /WGF_ERR_KEY_MISMATCH/);
  assert.doesNotMatch(pub.err, /32 bytes/, 'not the misleading length hint');
});

test('hints: a server URL without a scheme, pool rm without --force, overlapping pools', async () => {
  const noScheme = await cli('pool', 'list', '--server', server.url.replace(/^http:\/\//, ''));
  assert.equal(noScheme.code, 64);
  assert.match(noScheme.err, /no scheme; add http:\/\/ or https:\/\//);
  assert.doesNotMatch(noScheme.err, /not reachable/);
  const rm = await cli('pool', 'rm', 'pp');
  assert.equal(rm.code, 73);
  assert.match(rm.err, /--force/);
  const overlap = await cli('pool', 'create', 'pp2', '--ipv4', '10.84.0.128/25');
  assert.equal(overlap.code, 73);
  assert.match(overlap.err, /tunnel prefix 10\.84\.0\.128\/25 overlaps 10\.84\.0\.0\/24 of pool pp.*--allow-overlap.*WGF_ERR_POOL_OVERLAP/);
  const allowed = await cli('pool', 'create', 'pp2', '--ipv4', '10.84.0.128/25', '--allow-overlap');
  assert.equal(allowed.code, 0, allowed.err);
});

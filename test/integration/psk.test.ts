import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_METRICS_PORT, labDown, labUp, lbStatus, spawnDetached, startWireguardGo, type Lab } from '../../src/lab/lab.js';
import type { LabHost } from '../../src/lab/plan.js';
import { ping } from '../../src/lab/traffic.js';
import { probe } from '../../src/probe/probe.js';
import { run } from '../../src/sys/exec.js';
import { parseConfig, renderConfig, renderSetconf } from '../../src/wg/config.js';
import { generateKeyPair, parseKey, toBase64 } from '../../src/wg/keys.js';
import { UapiClient } from '../../src/wg/uapi.js';
import { assertNoSecretsInLogs } from './fixtures/log-secrets.js';

/**
 * Preshared keys end to end on the lab, with stock wireguard-go everywhere: a client made by
 * `peer add --psk` handshakes through the LB's VIP (and the LB's own probe peer, without a
 * preshared key, keeps every backend up); the same client with a wrong preshared key does
 * not; `peer update --psk` rotates it; a legacy wg0.conf whose peers use preshared keys
 * serves a client before `import` and, after it, the fabric's agent serves the same client.
 */

const BIN = fileURLToPath(new URL('../../bin/wgfabric.js', import.meta.url));
let lab: Lab;
let base: string;
let client: LabHost;

function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const env = {
    ...process.env, WGFABRIC_SERVER: lab.plan.serverUrl, WGFABRIC_TOKEN_FILE: join(lab.state.dir, 'admin.token'),
    ...(lab.state.tls ? { WGFABRIC_CA_FILE: lab.state.tls.caFile } : {}),
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...argv], { env }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

/** Replaces the client's wireguard-go config (key, addresses, peer, a fresh session) with a wg-quick config. */
async function configureClient(text: string): Promise<void> {
  const cfg = parseConfig(text);
  if (client.listenPort !== undefined) cfg.interface.listenPort = client.listenPort;
  const file = join(lab.state.dir, `${client.name}.psk-test.setconf`);
  writeFileSync(file, renderSetconf(cfg), { mode: 0o600 });
  await run('wg', ['setconf', client.wgIface, file], { netns: client.netns });
  await run('ip', ['addr', 'flush', 'dev', client.wgIface], { netns: client.netns });
  for (const a of cfg.interface.addresses) await run('ip', ['addr', 'add', a, 'dev', client.wgIface], { netns: client.netns });
  for (const r of cfg.peers[0]!.allowedIps) await run('ip', ['route', 'replace', r, 'dev', client.wgIface], { netns: client.netns });
}

/** Pings `target` from the client until an echo returns (true) or `limitMs` passes (false). */
async function getsThrough(target: string, limitMs: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if ((await ping(client.netns, target, 1, 0.2, 1)).received > 0) return true;
  }
  return false;
}

/** The client's latest handshake with its one peer (unix s; 0 = never). */
async function clientHandshake(): Promise<number> {
  const { stdout } = await run('wg', ['show', client.wgIface, 'latest-handshakes'], { netns: client.netns });
  return Number(stdout.trim().split(/\s+/)[1] ?? 0);
}

async function until(what: string, cond: () => Promise<boolean>, limitMs = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > limitMs) assert.fail(`timed out after ${limitMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The preshared key a device holds for a peer (undefined: none, or no such peer). */
async function deviceKeyOf(iface: string, publicKey: string): Promise<string | undefined> {
  return (await new UapiClient(iface).get()).peers.find((p) => p.publicKey === publicKey)?.presharedKey;
}

const withPsk = (text: string, psk: string) => text.replace(/^PresharedKey = .*$/m, `PresharedKey = ${psk}`);

describe('preshared keys end to end (lab with an LB, stock wireguard-go clients)', { timeout: 600_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-hb-psk-'));
    lab = await labUp({ backends: 2, clients: 1, base, lb: true, reconcileInterval: 2 });
    client = lab.plan.clients[0]!;
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('peer add --psk: handshakes through the VIP, every backend holds the key, the LB probe peer (no key) keeps them up; a wrong key does not handshake; rotation works', async () => {
    const file = join(lab.state.dir, 'psk-client.conf');
    const added = await cli('peer', 'add', 'psk-client', '--pool', lab.plan.pool.name, '--psk', '--out', file, '--json');
    assert.equal(added.code, 0, added.err);
    const peer = JSON.parse(added.out).peer as { publicKey: string; hasPresharedKey: boolean };
    assert.equal(peer.hasPresharedKey, true);
    const text = readFileSync(file, 'utf8');
    const psk = parseConfig(text).peers[0]!.presharedKey!;
    assert.match(parseConfig(text).peers[0]!.endpoint!, new RegExp(`^${lab.plan.lb!.vip.replace(/\./g, '\\.')}:`), 'the config points at the VIP');
    for (const b of lab.plan.backends) await until(`${b.name} sets the preshared key`, async () => (await deviceKeyOf(b.wgIface, peer.publicKey)) === psk);
    await configureClient(text);
    const t0 = Date.now();
    assert.ok(await getsThrough(lab.plan.pool.serverTunnelIp, 20_000), 'the client with the right preshared key gets through the VIP');
    console.log(`# psk client through the VIP after ${Date.now() - t0} ms`);
    assert.ok((await clientHandshake()) > 0);
    const lb = await lbStatus(lab);
    assert.ok(lb && lb.backends.length === 2 && lb.backends.every((b) => b.state === 'up' && b.inTable), `LB probe keeps every backend up: ${JSON.stringify(lb?.backends)}`);

    // The same client with a wrong preshared key: a fresh session (setconf) never completes its handshake.
    await configureClient(withPsk(text, randomBytes(32).toString('base64')));
    assert.equal(await getsThrough(lab.plan.pool.serverTunnelIp, 8_000), false, 'no traffic with a wrong preshared key');
    assert.equal(await clientHandshake(), 0, 'no handshake with a wrong preshared key');

    // Rotation: the new config (written by peer update --psk --key-file) works, the old key no longer does.
    const keyFile = join(lab.state.dir, 'psk-client.key');
    writeFileSync(keyFile, parseConfig(text).interface.privateKey! + '\n', { mode: 0o600 });
    const rotated = join(lab.state.dir, 'psk-client.rotated.conf');
    const upd = await cli('peer', 'update', 'psk-client', '--pool', lab.plan.pool.name, '--psk', '--key-file', keyFile, '--out', rotated);
    assert.equal(upd.code, 0, upd.err);
    const psk2 = parseConfig(readFileSync(rotated, 'utf8')).peers[0]!.presharedKey!;
    assert.notEqual(psk2, psk);
    for (const b of lab.plan.backends) await until(`${b.name} rotates the preshared key`, async () => (await deviceKeyOf(b.wgIface, peer.publicKey)) === psk2);
    await configureClient(readFileSync(rotated, 'utf8'));
    assert.ok(await getsThrough(lab.plan.pool.serverTunnelIp, 20_000), 'the rotated key gets through');
    await configureClient(text);
    assert.equal(await getsThrough(lab.plan.pool.serverTunnelIp, 6_000), false, 'the old preshared key is refused after rotation');
    // No list, show or log of the control plane carries the key.
    const listed = await cli('peer', 'list', '--pool', lab.plan.pool.name, '--json');
    const shown = await cli('peer', 'show', 'psk-client', '--pool', lab.plan.pool.name, '--json');
    for (const s of [listed.out, shown.out, readFileSync(join(lab.state.dir, 'server.log'), 'utf8')]) {
      assert.ok(!s.includes(psk) && !s.includes(psk2), 'no preshared key in list, show or the server log');
    }
  });

  test('a legacy wg0.conf with PresharedKey: the client works before the import and through the fabric after it; probe with and without a key', async () => {
    const b0 = lab.plan.backends[0]!;
    const port = 51831;
    const server = generateKeyPair();
    const c1 = generateKeyPair();
    const c2 = generateKeyPair();
    const psk = randomBytes(32).toString('base64');
    const wg0 = [
      '[Interface]', `PrivateKey = ${toBase64(server.privateKey)}`, 'Address = 10.78.0.1/24', `ListenPort = ${port}`, '',
      '[Peer]', '# Name = legacy-psk', `PublicKey = ${toBase64(c1.publicKey)}`, `PresharedKey = ${psk}`, 'AllowedIPs = 10.78.0.2/32', '',
      '[Peer]', '# Name = legacy-plain', `PublicKey = ${toBase64(c2.publicKey)}`, 'AllowedIPs = 10.78.0.3/32', '',
    ].join('\n');
    const wg0File = join(lab.state.dir, 'legacy-wg0.conf');
    writeFileSync(wg0File, wg0, { mode: 0o600 });
    const clientText = renderConfig({
      interface: { privateKey: toBase64(c1.privateKey), addresses: ['10.78.0.2/32'], dns: [], preUp: [], postUp: [], preDown: [], postDown: [] },
      peers: [{ publicKey: toBase64(server.publicKey), presharedKey: psk, allowedIps: ['10.78.0.0/24'], endpoint: `${b0.address}:${port}` }],
    });
    // Before: a plain wireguard-go server configured from wg0.conf (as wg-quick would), in backend 1's namespace.
    const legacy: LabHost = { ...b0, name: `${b0.name}-legacy`, wgIface: b0.wgIface.replace(/w$/, 'h') };
    await startWireguardGo(lab.state, legacy);
    const setconf = join(lab.state.dir, 'legacy.setconf');
    writeFileSync(setconf, renderSetconf(parseConfig(wg0)), { mode: 0o600 });
    await run('wg', ['setconf', legacy.wgIface, setconf], { netns: b0.netns });
    await run('ip', ['addr', 'add', '10.78.0.1/24', 'dev', legacy.wgIface], { netns: b0.netns });
    await run('ip', ['link', 'set', legacy.wgIface, 'up'], { netns: b0.netns });
    await configureClient(clientText);
    assert.ok(await getsThrough('10.78.0.1', 20_000), 'before the import: the legacy server serves the client with its preshared key');

    // The dry run says the key is kept and never prints it.
    const dry = await cli('import', wg0File, '--pool', 'legacy', '--dry-run');
    assert.equal(dry.code, 0, dry.err);
    console.log(dry.out.trimEnd().split('\n').map((l) => `# ${l}`).join('\n'));
    assert.match(dry.out, /1 with a preshared key, kept/);
    assert.match(dry.out, /peer legacy-psk: 10\.78\.0\.2\/32, preshared key kept/);
    assert.ok(!dry.out.includes(psk) && !dry.err.includes(psk));
    const dryJson = JSON.parse((await cli('import', wg0File, '--pool', 'legacy', '--dry-run', '--json')).out) as { peers: { name: string; presharedKey: boolean }[] };
    assert.deepEqual(dryJson.peers.map((p) => [p.name, p.presharedKey]), [['legacy-psk', true], ['legacy-plain', false]]);
    const imp = await cli('import', wg0File, '--pool', 'legacy', '--endpoint', `${b0.address}:${port}`);
    assert.equal(imp.code, 0, imp.err);
    assert.doesNotMatch(imp.out, /not imported: PresharedKey/);

    // After: the legacy daemon goes, a fresh wireguard-go comes up empty, and the fabric's agent fills it.
    const legacyPid = [...lab.state.pids].reverse().find((p) => p.what === `wireguard-go ${legacy.name}`)!.pid;
    process.kill(legacyPid, 'SIGTERM');
    await until('the legacy wireguard-go to exit', async () => !(await run('ip', ['link', 'show', legacy.wgIface], { netns: b0.netns, allowFailure: true })).stdout.includes(legacy.wgIface));
    await startWireguardGo(lab.state, legacy);
    assert.equal((await new UapiClient(legacy.wgIface).get()).peers.length, 0, 'the new device starts empty');
    await run('ip', ['addr', 'add', '10.78.0.1/24', 'dev', legacy.wgIface], { netns: b0.netns });
    await run('ip', ['link', 'set', legacy.wgIface, 'up'], { netns: b0.netns });
    await lab.api.createNode('legacy', { name: legacy.name, endpoint: `${b0.address}:${port}` });
    const token = await lab.api.createToken({ name: `agent-${legacy.name}`, role: 'node', pool: 'legacy', node: legacy.name });
    const tokenFile = join(lab.state.dir, `${legacy.name}.token`);
    writeFileSync(tokenFile, token.secret + '\n', { mode: 0o600 });
    spawnDetached(lab.state, `agent ${legacy.name}`, [
      process.execPath, BIN, 'agent', '--server', lab.plan.serverUrl, '--token-file', tokenFile, '--pool', 'legacy', '--node', legacy.name,
      '--interface', legacy.wgIface, '--listen', `${b0.address}:${AGENT_METRICS_PORT + 1}`, '--reconcile-interval', '2', '--report-interval', '1',
    ], join(lab.state.dir, `${legacy.name}.agent.log`), b0.netns);
    await until('the agent to set the imported preshared key', async () => (await deviceKeyOf(legacy.wgIface, toBase64(c1.publicKey))) === psk, 30_000);
    assert.equal(await deviceKeyOf(legacy.wgIface, toBase64(c2.publicKey)), undefined, 'the peer without a key stays without');
    await configureClient(clientText);
    assert.ok(await getsThrough('10.78.0.1', 20_000), 'after the import: the same client config works through the fabric');

    // wgfabric probe (our own initiator) with and without a preshared key against the imported pool.
    const target = { host: b0.address, port, serverPublicKey: server.publicKey, ping: { target: '10.78.0.1', source: '10.78.0.3' }, timeoutMs: 3000 };
    const plain = await probe({ ...target, privateKey: c2.privateKey });
    assert.ok(plain.handshakeMs >= 0, 'probe without a preshared key');
    const sourced = { ...target, ping: { target: '10.78.0.1', source: '10.78.0.2' } };
    const keyed = await probe({ ...sourced, privateKey: c1.privateKey, presharedKey: parseKey(psk) });
    assert.ok(keyed.handshakeMs >= 0, 'probe with the preshared key');
    await assert.rejects(probe({ ...sourced, privateKey: c1.privateKey, presharedKey: randomBytes(32), timeoutMs: 1500 }), 'probe with a wrong preshared key fails');
  });

  test('no API token, private key or preshared key in any log line of this lab (server, agents, LB)', () => {
    const r = assertNoSecretsInLogs(lab.state.dir);
    console.log(`scanned ${r.files} log files for ${r.secrets} known secrets and any token text: nothing found`);
  });
});

/**
 * The probe against real wireguard-go, in network namespaces (needs root):
 *
 *   client ns (198.18.61.2/30) --veth-- server ns (198.18.61.1/30)
 *   probe / capture fixtures            wireguard-go, wg iface 10.77.0.1/24, port 51820
 *                                        garbage listener on 51821
 *
 * Also the real-world checks of the protocol code: a handshake initiation captured from
 * wireguard-go must carry a mac1 that verifies with the responder key we configured, and our
 * test responder's answer must complete wireguard-go's handshake.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sandbox, stopProcess } from '../../src/sys/netns.js';
import { run } from '../../src/sys/exec.js';
import { generateKeyPair, toBase64, type KeyPair } from '../../src/wg/keys.js';
import { mac1Key, verifyMac1 } from '../../src/wg/macs.js';
import { parseInitiation } from '../../src/wg/messages.js';

const TSX = import.meta.resolve('tsx');
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const SERVER_IP = '198.18.61.1';
const CLIENT_IP = '198.18.61.2';
const WG_PORT = 51820;
const GARBAGE_PORT = 51821;
const CAPTURE_PORT = 51999;

interface ProbeOut {
  handshakeMs: number;
  echoMs?: number;
  echoFrom?: string;
  attempts: number;
  serverIndex: number;
}
interface Outcome {
  ok: boolean;
  result?: ProbeOut;
  results?: ProbeOut[];
  localPorts?: number[];
  error?: { code: string; message: string };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('probe against wireguard-go in network namespaces', { concurrency: false }, () => {
  const sb = new Sandbox('wgp');
  const server = generateKeyPair();
  const prober = generateKeyPair(); // a peer on the server, tunnel address 10.77.0.2
  const pskProber = generateKeyPair(); // a peer with a preshared key, 10.77.0.3
  const psk = generateKeyPair().privateKey;
  let srvNs = '';
  let cliNs = '';
  let wg = '';
  let keyDir = '';

  /** Starts a fixture inside a namespace and resolves once it printed "listening". */
  async function startFixture(ns: string, name: string, args: string[], input?: string): Promise<{ child: ChildProcess; output: Promise<string> }> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', TSX, fixture(name), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    sb.defer(() => stopProcess(child));
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const output = new Promise<string>((resolve) => child.once('exit', () => resolve(stdout)));
    const listening = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (b: Buffer) => {
        stdout += b.toString();
        if (stdout.includes('listening\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening: ${stderr}`)));
    });
    child.stdin!.end(input ?? '');
    await listening;
    return { child, output };
  }

  async function runProbe(o: { serverKey?: Uint8Array; client?: KeyPair; psk?: Uint8Array; port?: number; ping?: { target: string; source: string }; timeoutMs: number; repeat?: number; stickyPort?: boolean; occupy?: boolean }): Promise<Outcome> {
    const input = JSON.stringify({
      host: SERVER_IP,
      port: o.port ?? WG_PORT,
      serverPublicKey: toBase64(o.serverKey ?? server.publicKey),
      privateKey: toBase64((o.client ?? prober).privateKey),
      ...(o.psk ? { presharedKey: toBase64(o.psk) } : {}),
      ...(o.ping ? { ping: o.ping } : {}),
      timeoutMs: o.timeoutMs,
      ...(o.repeat ? { repeat: o.repeat } : {}),
      ...(o.stickyPort ? { stickyPort: true } : {}),
      ...(o.occupy ? { occupy: true } : {}),
    });
    const r = await run(process.execPath, ['--import', TSX, fixture('probe-runner.ts')], { netns: cliNs, input });
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Outcome;
  }

  async function secretFile(name: string, key: Uint8Array): Promise<string> {
    const path = join(keyDir, name);
    await writeFile(path, toBase64(key) + '\n', { mode: 0o600 });
    return path;
  }

  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'wgp-keys-'));
    sb.defer(() => rm(keyDir, { recursive: true, force: true }));
    srvNs = await sb.addNetns('s');
    cliNs = await sb.addNetns('c');
    await sb.veth({ ns: srvNs, addr: `${SERVER_IP}/30` }, { ns: cliNs, addr: `${CLIENT_IP}/30` }, 'v');
    wg = sb.name('w');
    await sb.startWireguardGo(srvNs, wg);
    // wg reads keys from files (Node's child stdin is a socket, which /dev/stdin cannot open).
    const serverKeyFile = await secretFile('server.key', server.privateKey);
    const pskFile = await secretFile('psk', psk);
    await run('wg', ['set', wg, 'private-key', serverKeyFile, 'listen-port', String(WG_PORT), 'peer', toBase64(prober.publicKey), 'allowed-ips', '10.77.0.2/32'], { netns: srvNs });
    await run('wg', ['set', wg, 'peer', toBase64(pskProber.publicKey), 'preshared-key', pskFile, 'allowed-ips', '10.77.0.3/32'], { netns: srvNs });
    await run('ip', ['addr', 'add', '10.77.0.1/24', 'dev', wg], { netns: srvNs });
    await run('ip', ['link', 'set', wg, 'up'], { netns: srvNs });
  });

  after(() => sb.cleanup());

  test('handshake and ICMP echo through the tunnel succeed (5 probes in one process)', async (t) => {
    const o = await runProbe({ ping: { target: '10.77.0.1', source: '10.77.0.2' }, timeoutMs: 5000, repeat: 5 });
    assert.equal(o.ok, true, JSON.stringify(o.error));
    const rs = o.results!;
    assert.equal(rs.length, 5);
    for (const r of rs) {
      assert.equal(r.echoFrom, '10.77.0.1');
      assert.ok(r.handshakeMs > 0 && r.echoMs! > 0);
    }
    assert.equal(new Set(rs.map((r) => r.serverIndex)).size, 5, 'a new session each time');
    const ms = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    t.diagnostic(`handshake ms: ${ms(rs.map((r) => r.handshakeMs))} (median ${median(rs.map((r) => r.handshakeMs)).toFixed(2)})`);
    t.diagnostic(`echo ms: ${ms(rs.map((r) => r.echoMs!))} (median ${median(rs.map((r) => r.echoMs!)).toFixed(2)}); attempts ${rs.map((r) => r.attempts).join(',')}`);
    const shown = await run('wg', ['show', wg, 'latest-handshakes'], { netns: srvNs });
    assert.match(shown.stdout, new RegExp(`${toBase64(prober.publicKey).replace(/[+/]/g, '\\$&')}\\t[1-9]`), 'the server recorded the handshake');
  });

  test('a second probe right after the first works too (fresh timestamp, new session)', async () => {
    const o = await runProbe({ timeoutMs: 5000 });
    assert.equal(o.ok, true, JSON.stringify(o.error));
  });

  test('a re-used local port: one source port for every probe, and the server\'s endpoint is that port; a taken port falls back', async (t) => {
    const o = await runProbe({ timeoutMs: 5000, repeat: 3, stickyPort: true });
    assert.equal(o.ok, true, JSON.stringify(o.error));
    const ports = o.localPorts!;
    assert.equal(ports.length, 3);
    assert.equal(new Set(ports).size, 1, `one local port for all probes: ${ports.join(',')}`);
    const endpoints = (await run('wg', ['show', wg, 'endpoints'], { netns: srvNs })).stdout;
    const line = endpoints.split('\n').find((l) => l.startsWith(toBase64(prober.publicKey)));
    assert.equal(line?.split('\t')[1], `${CLIENT_IP}:${ports[0]}`, 'the server saw the probes from that port');

    const busy = await runProbe({ timeoutMs: 5000, repeat: 2, stickyPort: true, occupy: true });
    assert.equal(busy.ok, true, `a taken local port must not fail the probe: ${JSON.stringify(busy.error)}`);
    assert.notEqual(busy.localPorts![1], busy.localPorts![0], 'the second probe fell back to another port');
    t.diagnostic(`sticky port ${ports[0]} for 3 probes; taken port ${busy.localPorts![0]} -> fell back to ${busy.localPorts![1]}`);
  });

  test('with the matching preshared key', async () => {
    const o = await runProbe({ client: pskProber, psk, timeoutMs: 5000 });
    assert.equal(o.ok, true, JSON.stringify(o.error));
  });

  const failures: { name: string; opts: () => Parameters<typeof runProbe>[0]; code: string; match: RegExp }[] = [
    {
      name: 'wrong --server-key: wireguard-go drops the initiation at mac1, so it is a timeout that names the server key',
      opts: () => ({ serverKey: generateKeyPair().publicKey, timeoutMs: 1500 }),
      code: 'WGF_ERR_PROBE_TIMEOUT',
      match: /^no handshake response from 198\.18\.61\.1:51820 within 1500 ms \(wrong server key, wrong port, unknown client key, or server down\)$/,
    },
    { name: 'unknown client key: timeout', opts: () => ({ client: generateKeyPair(), timeoutMs: 1500 }), code: 'WGF_ERR_PROBE_TIMEOUT', match: /unknown client key/ },
    { name: 'wrong preshared key: the response does not decrypt', opts: () => ({ client: pskProber, psk: generateKeyPair().privateKey, timeoutMs: 1500 }), code: 'WGF_ERR_PROBE_BAD_REPLY', match: /preshared key/ },
    { name: 'missing preshared key: the response does not decrypt', opts: () => ({ client: pskProber, timeoutMs: 1500 }), code: 'WGF_ERR_PROBE_BAD_REPLY', match: /does not decrypt/ },
    { name: 'wrong port (nothing listens): timeout that mentions port unreachable', opts: () => ({ port: 51830, timeoutMs: 1500 }), code: 'WGF_ERR_PROBE_TIMEOUT', match: /port unreachable/ },
    { name: 'ping to an address the server does not own: WGF_ERR_PROBE_PING', opts: () => ({ ping: { target: '10.77.0.99', source: '10.77.0.2' }, timeoutMs: 1500 }), code: 'WGF_ERR_PROBE_PING', match: /no ICMP echo reply from 10\.77\.0\.99/ },
  ];
  for (const f of failures) {
    test(f.name, async () => {
      const o = await runProbe(f.opts());
      assert.equal(o.ok, false, 'the probe must fail');
      assert.equal(o.error!.code, f.code, o.error!.message);
      assert.match(o.error!.message, f.match);
    });
  }

  test('a bogus listener that answers with garbage: WGF_ERR_PROBE_BAD_REPLY saying what failed', async () => {
    await startFixture(srvNs, 'garbage-server.ts', [String(GARBAGE_PORT)]);
    const o = await runProbe({ port: GARBAGE_PORT, timeoutMs: 1500 });
    assert.equal(o.error?.code, 'WGF_ERR_PROBE_BAD_REPLY');
    assert.match(o.error!.message, /mac1 does not verify/);
  });

  test('through the CLI command (registerProbeCommand) with --json', async () => {
    const keyFile = await secretFile('prober.key', prober.privateKey);
    const args = [`${SERVER_IP}:${WG_PORT}`, '--server-key', toBase64(server.publicKey), '--key-file', keyFile, '--ping', '10.77.0.1', '--source', '10.77.0.2', '--json'];
    const r = await run(process.execPath, ['--import', TSX, fixture('probe-cli.ts'), 'probe', ...args], { netns: cliNs });
    const out = JSON.parse(r.stdout) as { ok: boolean; endpoint: string; handshakeMs: number; echoFrom: string };
    assert.equal(out.ok, true);
    assert.equal(out.endpoint, `${SERVER_IP}:${WG_PORT}`);
    assert.equal(out.echoFrom, '10.77.0.1');
    assert.ok(!r.stdout.includes(toBase64(prober.privateKey)));

    const bad = await run(process.execPath, ['--import', TSX, fixture('probe-cli.ts'), 'probe', args[0]!, '--server-key', toBase64(generateKeyPair().publicKey), '--key-file', keyFile, '--timeout', '800', '--json'], {
      netns: cliNs,
      allowFailure: true,
    });
    assert.equal(bad.code, 2, 'exit code of WGF_ERR_PROBE_TIMEOUT');
    assert.equal((JSON.parse(bad.stderr) as { error: { code: string } }).error.code, 'WGF_ERR_PROBE_TIMEOUT');
  });

  test('real-world mac1 and responder check: wireguard-go initiates to our test responder', async () => {
    const responderKeys = generateKeyPair();
    const capture = await startFixture(cliNs, 'capture-responder.ts', [String(CAPTURE_PORT)], toBase64(responderKeys.privateKey));
    // A peer whose endpoint is the capture socket; persistent keepalive makes wireguard-go initiate now.
    await run('wg', ['set', wg, 'peer', toBase64(responderKeys.publicKey), 'endpoint', `${CLIENT_IP}:${CAPTURE_PORT}`, 'allowed-ips', '10.77.0.200/32', 'persistent-keepalive', '1'], { netns: srvNs });
    const out = JSON.parse((await capture.output).trim().split('\n').pop()!) as { initiation?: string; initiatorPublicKey?: string; firstTransport?: { counter: string; plaintextLength: number }; error?: string };
    assert.equal(out.error, undefined);
    const initiation = new Uint8Array(Buffer.from(out.initiation!, 'hex'));
    assert.equal(initiation.length, 148);
    assert.equal(parseInitiation(initiation).type, 1);
    assert.ok(verifyMac1(initiation, mac1Key(responderKeys.publicKey)), 'mac1 of the real initiation verifies with the responder key');
    assert.equal(verifyMac1(initiation, mac1Key(server.publicKey)), false, 'and not with another key');
    assert.deepEqual(initiation.subarray(132), new Uint8Array(16), 'no cookie, so mac2 is zero');
    assert.equal(out.initiatorPublicKey, toBase64(server.publicKey), 'our responder decrypted the static key');
    // wireguard-go accepted our response: it sent a transport message (its keepalive) that our session decrypts.
    assert.deepEqual(out.firstTransport, { counter: '0', plaintextLength: 0 });
    let handshake = '';
    for (let i = 0; i < 50 && !/\t[1-9]/.test(handshake); i++) {
      handshake = (await run('wg', ['show', wg, 'latest-handshakes'], { netns: srvNs })).stdout.split('\n').find((l) => l.startsWith(toBase64(responderKeys.publicKey))) ?? '';
      if (!/\t[1-9]/.test(handshake)) await sleep(50);
    }
    assert.match(handshake, /\t[1-9]\d*$/, 'wireguard-go records a completed handshake with our responder');
  });
});

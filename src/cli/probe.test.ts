import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { FabricError } from '../protocol/errors.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import type { ProbeOptions, ProbeResult } from '../probe/probe.js';
import { formatResult, parseHostPort, registerProbeCommand } from './probe.js';

describe('parseHostPort', () => {
  const ok = [
    { text: '198.18.0.1:51820', host: '198.18.0.1', port: 51820 },
    { text: '[fd00::1]:51820', host: 'fd00::1', port: 51820 },
    { text: '[::ffff:198.18.0.1]:1', host: '::ffff:198.18.0.1', port: 1 },
    { text: 'vpn.example.com:65535', host: 'vpn.example.com', port: 65535 },
    { text: 'localhost:443', host: 'localhost', port: 443 },
  ];
  for (const c of ok) test(`accepts ${c.text}`, () => assert.deepEqual(parseHostPort(c.text), { host: c.host, port: c.port }));
  const bad = ['fd00::1:51820', '198.18.0.1', '198.18.0.1:0', '198.18.0.1:70000', '[198.18.0.1]:5', 'host:port', '', ':51820', '[fd00::1]', 'a b:1', '[fd00::1]:5:5', '-x.example:1'];
  for (const text of bad) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseHostPort(text), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_VALIDATION');
    });
  }
});

describe('probe command', () => {
  const server = generateKeyPair();
  const client = generateKeyPair();
  const psk = generateKeyPair().privateKey;
  let dir = '';
  let keyFile = '';
  let pskFile = '';
  let badKeyFile = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgf-probe-cli-'));
    keyFile = join(dir, 'client.key');
    pskFile = join(dir, 'psk');
    badKeyFile = join(dir, 'bad.key');
    await writeFile(keyFile, toBase64(client.privateKey) + '\n', { mode: 0o600 });
    await writeFile(pskFile, toBase64(psk) + '\n', { mode: 0o600 });
    await writeFile(badKeyFile, 'c2VjcmV0LXRoYXQtaXMtbm90LWEta2V5\n', { mode: 0o600 });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const result: ProbeResult = { endpoint: '198.18.0.1:51820', handshakeMs: 1.84, echoMs: 0.91, echoFrom: '10.0.0.1', serverIndex: 7, clientIndex: 9, attempts: 1, cookieUsed: false };

  async function runCli(args: string[], outcome: ProbeResult | FabricError = result) {
    const out: string[] = [];
    const calls: ProbeOptions[] = [];
    const program = new Command('wgfabric').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerProbeCommand(program, {
      write: (t) => out.push(t),
      probe: async (o) => {
        calls.push(o);
        if (outcome instanceof FabricError) throw outcome;
        return outcome;
      },
    });
    let error: unknown;
    try {
      await program.parseAsync(['probe', ...args], { from: 'user' });
    } catch (e) {
      error = e;
    }
    return { out: out.join(''), calls, error };
  }
  const base = () => ['198.18.0.1:51820', '--server-key', toBase64(server.publicKey), '--key-file', keyFile];

  test('prints one human line and passes decoded keys and the default timeout', async () => {
    const r = await runCli([...base(), '--ping', '10.0.0.1', '--source', '10.0.0.2']);
    assert.equal(r.error, undefined);
    assert.equal(r.out, 'handshake with 198.18.0.1:51820 ok in 1.8 ms; echo reply from 10.0.0.1 in 0.9 ms\n');
    const o = r.calls[0]!;
    assert.deepEqual(o.privateKey, client.privateKey);
    assert.deepEqual(o.serverPublicKey, server.publicKey);
    assert.equal(o.timeoutMs, 5000);
    assert.deepEqual(o.ping, { target: '10.0.0.1', source: '10.0.0.2' });
    assert.equal(o.presharedKey, undefined);
  });

  test('--json prints the result as one JSON object; --psk-file and --timeout are passed on', async () => {
    const r = await runCli([...base(), '--json', '--psk-file', pskFile, '--timeout', '1500']);
    assert.deepEqual(JSON.parse(r.out), { ok: true, ...result });
    assert.deepEqual(r.calls[0]!.presharedKey, psk);
    assert.equal(r.calls[0]!.timeoutMs, 1500);
  });

  test('the private key never appears in the output', async () => {
    for (const extra of [[], ['--json']]) {
      const r = await runCli([...base(), ...extra]);
      assert.ok(!r.out.includes(toBase64(client.privateKey)));
    }
  });

  test('probe failures propagate as the FabricError for main() to report', async () => {
    const err = new FabricError('WGF_ERR_PROBE_TIMEOUT', 'no handshake response');
    const r = await runCli(base(), err);
    assert.equal(r.error, err);
    assert.equal(r.out, '');
  });

  const refusals: { name: string; args: () => string[]; code: string; match: RegExp }[] = [
    { name: 'unreadable key file', args: () => ['198.18.0.1:1', '--server-key', toBase64(server.publicKey), '--key-file', join(dir, 'missing')], code: 'WGF_ERR_VALIDATION', match: /cannot read the private key file .*: ENOENT/ },
    { name: 'malformed key file (its content is not echoed)', args: () => ['198.18.0.1:1', '--server-key', toBase64(server.publicKey), '--key-file', badKeyFile], code: 'WGF_ERR_INVALID_KEY', match: /^private key in .* is 32 characters long; a key is 32 bytes/ },
    { name: 'weak server key', args: () => ['198.18.0.1:1', '--server-key', 'A'.repeat(43) + '=', '--key-file', keyFile], code: 'WGF_ERR_WEAK_KEY', match: /--server-key/ },
    { name: '--ping without --source', args: () => [...base(), '--ping', '10.0.0.1'], code: 'WGF_ERR_VALIDATION', match: /go together/ },
    { name: '--ping with a non-IP', args: () => [...base(), '--ping', 'gateway', '--source', '10.0.0.2'], code: 'WGF_ERR_VALIDATION', match: /IP addresses/ },
    { name: 'bad --timeout', args: () => [...base(), '--timeout', '5s'], code: 'WGF_ERR_VALIDATION', match: /--timeout/ },
    { name: 'bad endpoint', args: () => ['fd00::1:51820', '--server-key', toBase64(server.publicKey), '--key-file', keyFile], code: 'WGF_ERR_VALIDATION', match: /\[IPv6\]:PORT/ },
  ];
  for (const c of refusals) {
    test(`refuses: ${c.name}`, async () => {
      const r = await runCli(c.args());
      assert.ok(r.error instanceof FabricError, `not a FabricError: ${String(r.error)}`);
      assert.equal(r.error.code, c.code);
      assert.match(r.error.message, c.match);
      assert.ok(!r.error.message.includes('c2VjcmV0'), 'key file content not echoed');
      assert.equal(r.calls.length, 0);
    });
  }
});

test('formatResult mentions retries and cookies', () => {
  const r: ProbeResult = { endpoint: '[fd00::1]:51820', handshakeMs: 12.345, serverIndex: 1, clientIndex: 2, attempts: 3, cookieUsed: true };
  assert.equal(formatResult(r), 'handshake with [fd00::1]:51820 ok in 12.3 ms (3 initiations, server under load, cookie used)');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFabricError } from '../protocol/errors.js';
import { dnsRunSettings, parseDnsServer, readTsigKeyFile } from './config.js';

const ok = { zone: 'Example.NET.', name: 'vpn.example.net', server: '198.18.0.53:5353', ttl: 10, source: 'nodes' };

test('dns run settings: normalized, the name inside the zone, server forms', () => {
  assert.deepEqual(dnsRunSettings(ok), { zone: 'example.net', name: 'vpn.example.net', server: { host: '198.18.0.53', port: 5353 }, ttl: 10, source: 'nodes' });
  assert.deepEqual(parseDnsServer('198.18.0.53'), { host: '198.18.0.53', port: 53 });
  assert.deepEqual(parseDnsServer('[fd00::53]:5300'), { host: 'fd00::53', port: 5300 });
  assert.deepEqual(parseDnsServer('fd00::53'), { host: 'fd00::53', port: 53 });
});

test('dns run settings: every bad flag is WGF_ERR_VALIDATION naming it', () => {
  const cases: [Partial<typeof ok>, RegExp][] = [
    [{ name: 'vpn.example.org' }, /--name vpn.example.org is not in --zone example.net/],
    [{ zone: '.' }, /--zone must name a zone/],
    [{ zone: 'exa mple.net' }, /--zone/],
    [{ name: 'vpn..example.net' }, /--name/],
    [{ ttl: 0 }, /--ttl must be 1..86400/],
    [{ ttl: 100000 }, /--ttl/],
    [{ source: 'lb' }, /--source must be nodes or lbs/],
    [{ server: 'ns1.example.net:53' }, /--dns-server must be IP/],
    [{ server: '198.18.0.53:99999' }, /--dns-server/],
  ];
  for (const [patch, re] of cases) {
    assert.throws(() => dnsRunSettings({ ...ok, ...patch }), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && re.test((e as Error).message), JSON.stringify(patch));
  }
});

test('the TSIG key file: missing is a clear error, group-readable is a warning', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-dn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true })); // the key file is world-readable on purpose
  assert.throws(() => readTsigKeyFile(join(dir, 'nope.key')), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && /ENOENT/.test((e as Error).message));
  const f = join(dir, 'k.key');
  writeFileSync(f, 'hmac-sha256:k:UEvQE4dD7AVRL+k4/0tRS+0nuBRJ9cHmAXQ+OtWvnKI=\n', { mode: 0o644 });
  const warnings: string[] = [];
  assert.equal(readTsigKeyFile(f, (m) => warnings.push(m)).name, 'k');
  assert.match(warnings[0] ?? '', /chmod 600/);
});

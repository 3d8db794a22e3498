import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../client/api-client.js';
import { makeTestPki, type TestPki } from '../client/testing/pki.js';
import { isFabricError } from '../protocol/errors.js';
import { startServer } from './start.js';
import { loadServerTls } from './tls.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

test('loadServerTls: a matching PEM pair loads; anything else is WGF_ERR_VALIDATION naming the file and the flag, never the content', async () => {
  const good = await pki.issue(['127.0.0.1', 'api.example.net']);
  const other = await pki.issue(['127.0.0.1']);
  const loaded = await loadServerTls(good);
  assert.match(loaded.subjectAltName, /IP Address:127\.0\.0\.1, DNS:api\.example\.net/);
  assert.equal(loaded.keyInsecureMode, false);
  assert.ok(loaded.validTo.getTime() > Date.now());
  const garbage = join(pki.dir, 'garbage.pem');
  await writeFile(garbage, 'hello\n');
  const cases: [string, { certFile: string; keyFile: string }, string, string][] = [
    ['cert missing', { certFile: join(pki.dir, 'nope.crt'), keyFile: good.keyFile }, 'tlsCert', 'nope.crt'],
    ['key missing', { certFile: good.certFile, keyFile: join(pki.dir, 'nope.key') }, 'tlsKey', 'nope.key'],
    ['cert is not a certificate', { certFile: garbage, keyFile: good.keyFile }, 'tlsCert', 'garbage.pem'],
    ['the key given as the certificate', { certFile: good.keyFile, keyFile: good.keyFile }, 'tlsCert', good.keyFile],
    ['key is not a key', { certFile: good.certFile, keyFile: garbage }, 'tlsKey', 'garbage.pem'],
    ['the certificate given as the key', { certFile: good.certFile, keyFile: good.certFile }, 'tlsKey', good.certFile],
    ['key of another certificate', { certFile: good.certFile, keyFile: other.keyFile }, 'tlsKey', 'does not belong'],
  ];
  const keyText = (await readFile(good.keyFile, 'utf8')).split('\n')[1]!;
  for (const [name, files, field, says] of cases) {
    await assert.rejects(loadServerTls(files), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === field
      && e.message.includes(says) && !e.message.includes(keyText), name);
  }
  await chmod(good.keyFile, 0o640);
  assert.equal((await loadServerTls(good)).keyInsecureMode, true);
  await chmod(good.keyFile, 0o600);
});

test('startServer with tls serves HTTPS, says so in its log without key material, and warns about a key others can read', async () => {
  const cert = await pki.issue(['127.0.0.1']);
  await chmod(cert.keyFile, 0o644);
  const lines: string[] = [];
  const s = await startServer({
    dataDir: join(pki.dir, 'data'), host: '127.0.0.1', port: 0, tls: cert, handleSignals: false, stdout: { write: () => true },
    logger: { level: 'info', stream: { write: (l: string) => lines.push(l) } },
  });
  try {
    assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const api = new ApiClient({ baseUrl: s.url, token: s.bootstrapToken!, ca: pki.caPem });
    assert.equal((await api.whoami()).role, 'admin');
    const log = lines.join('');
    assert.match(log, /serving HTTPS with the certificate for IP Address:127\.0\.0\.1, valid until 20\d\d-/);
    assert.match(log, /"level":40.*TLS key file .* is accessible to group or others/);
    const keyBody = cert.key.split('\n').slice(1, -2).join('');
    assert.ok(!log.includes('PRIVATE KEY') && !log.includes(keyBody.slice(0, 40)), 'no key material in the log');
  } finally {
    await s.close();
  }
});

test('startServer without tls warns that it is plain HTTP when not on loopback; a bad TLS file is refused before the data dir is made', async () => {
  const lines: string[] = [];
  const s = await startServer({
    dataDir: join(pki.dir, 'plain'), host: '0.0.0.0', port: 0, handleSignals: false, stdout: { write: () => true },
    logger: { level: 'info', stream: { write: (l: string) => lines.push(l) } },
  });
  await s.close();
  assert.match(s.url, /^http:\/\//);
  assert.match(lines.join(''), /"level":40.*serving plain HTTP: API tokens and the pool private keys agents fetch travel in clear text/);
  const dataDir = join(pki.dir, 'never');
  await assert.rejects(startServer({ dataDir, host: '127.0.0.1', port: 0, tls: { certFile: join(pki.dir, 'x.crt'), keyFile: join(pki.dir, 'x.key') }, logger: false, handleSignals: false }),
    (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.message.includes('x.crt'));
  assert.equal(existsSync(dataDir), false);
});

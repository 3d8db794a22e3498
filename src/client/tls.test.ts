import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isFabricError } from '../protocol/errors.js';
import { ApiClient } from './api-client.js';
import { makeTestPki, type TestPki } from './testing/pki.js';
import { readCaFile, tlsProblem } from './tls.js';

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(() => pki.cleanup());

test('readCaFile reads a PEM bundle; a missing file or one without a valid certificate is WGF_ERR_VALIDATION naming the file', async () => {
  const other = await makeTestPki('other');
  const bundle = join(pki.dir, 'bundle.pem');
  await writeFile(bundle, `# two CAs\n${pki.caPem}${other.caPem}`);
  await other.cleanup();
  assert.equal((readCaFile(bundle).match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
  const bad: [string, string | null][] = [
    ['missing.pem', null],
    ['empty.pem', ''],
    ['key.pem', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n'],
    ['garbled.pem', '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n'],
  ];
  for (const [name, content] of bad) {
    const file = join(pki.dir, name);
    if (content !== null) await writeFile(file, content);
    assert.throws(() => readCaFile(file), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.message.includes(file) && e.details?.['field'] === 'caFile', name);
  }
});

test('tlsProblem finds TLS codes anywhere in the cause chain and leaves other failures alone', () => {
  const fetchFailure = (code: string, message = 'x') => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(message), { code }) });
  const cases: [string, unknown, string | null, RegExp?][] = [
    ['unknown CA', fetchFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', /not signed by a trusted CA/],
    ['self-signed', fetchFailure('DEPTH_ZERO_SELF_SIGNED_CERT'), 'DEPTH_ZERO_SELF_SIGNED_CERT', /self-signed/],
    ['expired', fetchFailure('CERT_HAS_EXPIRED'), 'CERT_HAS_EXPIRED', /expired/],
    ['wrong host, with Node\'s detail', fetchFailure('ERR_TLS_CERT_ALTNAME_INVALID', "IP: 10.0.0.2 is not in the cert's list: 10.0.0.1"), 'ERR_TLS_CERT_ALTNAME_INVALID', /not valid for this host.*10\.0\.0\.2/],
    ['not TLS', fetchFailure('ERR_SSL_WRONG_VERSION_NUMBER'), 'ERR_SSL_WRONG_VERSION_NUMBER', /handshake failed/],
    ['nested deeper', new Error('a', { cause: fetchFailure('CERT_NOT_YET_VALID') }), 'CERT_NOT_YET_VALID', /not valid yet/],
    ['refused', fetchFailure('ECONNREFUSED'), null],
    ['socket closed', fetchFailure('UND_ERR_SOCKET'), null],
    ['timeout', Object.assign(new Error('t'), { name: 'TimeoutError' }), null],
    ['not an error', 'nope', null],
  ];
  for (const [name, e, code, reason] of cases) {
    const p = tlsProblem(e);
    assert.equal(p?.code ?? null, code, name);
    if (reason) assert.match(p!.reason, reason, name);
  }
});

test('the client passes a dispatcher to fetch only with a CA: https with public roots uses fetch as it is', async () => {
  const inits: (RequestInit & { dispatcher?: unknown })[] = [];
  const fake = (async (_url: URL, init: RequestInit) => {
    inits.push(init);
    return new Response('{"status":"ok"}', { headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof fetch;
  await new ApiClient({ baseUrl: 'https://api.example.net', fetch: fake }).health();
  await new ApiClient({ baseUrl: 'https://api.example.net', fetch: fake, ca: pki.caPem }).health();
  assert.equal('dispatcher' in inits[0]!, false);
  assert.equal(typeof (inits[1]!.dispatcher as { dispatch?: unknown })?.dispatch, 'function');
});

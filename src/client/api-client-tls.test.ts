import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFabricError } from '../protocol/errors.js';
import { harness, type Harness } from '../server/testing/harness.js';
import { ApiClient } from './api-client.js';
import { makeTestPki, type TestPki } from './testing/pki.js';

let pki: TestPki;
let h: Harness;
let url: string;

before(async () => {
  pki = await makeTestPki();
  const { cert, key } = await pki.issue(['127.0.0.1']);
  h = await harness({ https: { cert, key } });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  url = `https://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await h.close();
  await pki.cleanup();
});

/** A bare HTTPS server with this certificate that answers every request with `{}`. */
async function httpsServer(cert: { cert: string; key: string }): Promise<{ url: string; server: HttpsServer }> {
  const server = createHttpsServer(cert, (_req, res) => res.setHeader('content-type', 'application/json').end('{"status":"ok"}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closeServer(server: HttpsServer): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

/** The clear TLS error: WGF_ERR_UNAVAILABLE, says TLS, names the URL, carries the TLS code. */
function tlsError(code: string, base: string, advice?: RegExp) {
  return (e: unknown) => {
    assert.ok(isFabricError(e, 'WGF_ERR_UNAVAILABLE'), String(e));
    assert.equal(e.details?.['tls'], code);
    assert.match(e.message, /^TLS problem with the control plane at /);
    assert.ok(e.message.includes(new URL(base).origin), e.message);
    if (advice) assert.match(e.message, advice);
    return true;
  };
}

test('with the CA: the API works over HTTPS, also the pool private key a node token reads', async () => {
  const api = new ApiClient({ baseUrl: url, token: h.tokens.admin, ca: pki.caPem });
  assert.equal((await api.whoami()).role, 'admin');
  const node = new ApiClient({ baseUrl: url, token: h.tokens.node, ca: pki.caPem });
  assert.match(await node.poolPrivateKey('p1'), /^[A-Za-z0-9+/]{43}=$/);
});

test('without the CA (public roots only) the server is refused with a clear TLS error naming the URL', async () => {
  const api = new ApiClient({ baseUrl: url, token: h.tokens.admin });
  await assert.rejects(api.whoami(), tlsError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', url, /--ca-file or WGFABRIC_CA_FILE/));
  const other = await makeTestPki('other');
  try {
    await assert.rejects(new ApiClient({ baseUrl: url, token: h.tokens.admin, ca: other.caPem }).whoami(), tlsError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', url), 'another CA is no better');
  } finally {
    await other.cleanup();
  }
});

test('a certificate for another IP address is refused: ERR_TLS_CERT_ALTNAME_INVALID', async () => {
  const s = await httpsServer(await pki.issue(['127.0.0.2']));
  try {
    await assert.rejects(new ApiClient({ baseUrl: s.url, ca: pki.caPem }).health(), tlsError('ERR_TLS_CERT_ALTNAME_INVALID', s.url, /subjectAltName/));
  } finally {
    await closeServer(s.server);
  }
});

test('an expired certificate is refused: CERT_HAS_EXPIRED', async () => {
  const cert = await pki.issue(['127.0.0.1'], 0); // notAfter = now
  const notAfter = new Date(new X509Certificate(cert.cert).validTo).getTime();
  await sleep(Math.max(0, notAfter - Date.now() + 1100)); // validity has a one-second resolution
  const s = await httpsServer(cert);
  try {
    await assert.rejects(new ApiClient({ baseUrl: s.url, ca: pki.caPem }).health(), tlsError('CERT_HAS_EXPIRED', s.url, /renew/));
  } finally {
    await closeServer(s.server);
  }
});

test('wrong scheme either way: https:// to a plain-HTTP port is a TLS error, http:// to the HTTPS port says to use https://', async () => {
  const plain = await harness();
  try {
    await plain.app.listen({ host: '127.0.0.1', port: 0 });
    const httpsToPlain = `https://127.0.0.1:${(plain.app.server.address() as AddressInfo).port}`;
    await assert.rejects(new ApiClient({ baseUrl: httpsToPlain, ca: pki.caPem }).health(), tlsError('ERR_SSL_WRONG_VERSION_NUMBER', httpsToPlain, /serves HTTPS/));
  } finally {
    await plain.close();
  }
  await assert.rejects(new ApiClient({ baseUrl: url.replace('https:', 'http:') }).health(),
    (e) => isFabricError(e, 'WGF_ERR_UNAVAILABLE') && /use an https:\/\/ URL/.test(e.message) && e.details === undefined);
});

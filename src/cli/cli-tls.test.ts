import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestPki, type TestPki } from '../client/testing/pki.js';
import { isFabricError } from '../protocol/errors.js';
import { startServer, type RunningServer } from '../server/start.js';
import { resolveCa } from './context.js';

let pki: TestPki;
let server: RunningServer;
let base: NodeJS.ProcessEnv;

const RUNNER = fileURLToPath(new URL('./testing/run-cli.ts', import.meta.url));

/** Runs the CLI in a child process with this environment (WGFABRIC_CA_FILE not inherited). */
function cli(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { WGFABRIC_CA_FILE: _, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', RUNNER, ...argv], { env: { ...inherited, ...env } }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

before(async () => {
  pki = await makeTestPki();
  const tls = await pki.issue(['127.0.0.1']);
  server = await startServer({ dataDir: join(pki.dir, 'data'), host: '127.0.0.1', port: 0, tls, logger: false, handleSignals: false, stdout: { write: () => true } });
  writeFileSync(join(pki.dir, 'admin.token'), server.bootstrapToken! + '\n');
  base = { WGFABRIC_SERVER: server.url, WGFABRIC_TOKEN_FILE: join(pki.dir, 'admin.token') };
});
after(async () => {
  await server.close();
  await pki.cleanup();
});

test('--ca-file and WGFABRIC_CA_FILE reach the client: API commands work against an HTTPS server with a private CA', async () => {
  const created = await cli(base, 'pool', 'create', 'tls', '--ipv4', '10.81.0.0/24', '--ca-file', pki.ca.certFile, '--json');
  assert.equal(created.code, 0, created.err);
  const listed = await cli({ ...base, WGFABRIC_CA_FILE: pki.ca.certFile }, 'pool', 'list', '--json');
  assert.equal(listed.code, 0, listed.err);
  assert.deepEqual(JSON.parse(listed.out).map((p: { name: string }) => p.name), ['tls']);
});

test('without the CA the CLI fails with WGF_ERR_UNAVAILABLE (exit 69) saying it is a TLS problem at that URL', async () => {
  const r = await cli(base, 'pool', 'list');
  assert.equal(r.code, 69, r.err);
  assert.match(r.err, /TLS problem with the control plane at https:\/\/127\.0\.0\.1:\d+: its certificate is not signed by a trusted CA/);
  assert.match(r.err, /\[WGF_ERR_UNAVAILABLE\]/);
  const j = await cli(base, 'pool', 'list', '--json');
  assert.equal(JSON.parse(j.err).error.details.tls, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('an unreadable or non-PEM --ca-file is WGF_ERR_VALIDATION (exit 64) naming the file; --ca-file wins over the env', async () => {
  const r = await cli({ ...base, WGFABRIC_CA_FILE: pki.ca.certFile }, 'pool', 'list', '--ca-file', join(pki.dir, 'missing.pem'));
  assert.equal(r.code, 64, r.err);
  assert.match(r.err, /cannot read the CA file .*missing\.pem: ENOENT/);
  const notPem = join(pki.dir, 'token-as-ca.pem');
  writeFileSync(notPem, 'wgf_not_a_certificate\n');
  assert.throws(() => resolveCa({}, { WGFABRIC_CA_FILE: notPem }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.message.includes(notPem));
  assert.equal(resolveCa({}, { WGFABRIC_CA_FILE: '' }), undefined, 'an empty variable is no CA');
  assert.equal(resolveCa({ caFile: pki.ca.certFile }, { WGFABRIC_CA_FILE: notPem }), pki.caPem);
});

test('the agent takes --ca-file too', async () => {
  const r = await cli({}, 'agent', '--help');
  assert.match(r.out, /--ca-file <file>\s+PEM CA certificate/);
});

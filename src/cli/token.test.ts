import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../client/api-client.js';
import type { RunningServer } from '../server/start.js';
import { startCliRig, type CliRig } from './testing/cli-rig.js';
import { parseExpiry } from './token.js';

let rig: CliRig;
let server: RunningServer;
let dir: string;
const cli = (...argv: string[]) => rig.cli(...argv);

before(async () => {
  rig = await startCliRig('wgf-token-');
  ({ server, dir } = rig);
});
after(async () => {
  await rig.close();
});

test('parseExpiry: durations and RFC 3339 times; anything else is refused', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.equal(parseExpiry('30d', now), '2030-01-31T00:00:00.000Z');
  assert.equal(parseExpiry('12h', now), '2030-01-01T12:00:00.000Z');
  assert.equal(parseExpiry('2031-05-01T10:00:00Z', now), '2031-05-01T10:00:00.000Z');
  assert.throws(() => parseExpiry('tomorrow', now), /--expires "tomorrow" must be a duration/);
});

test('token create shows the secret once and it works; list never shows it; rm by name revokes it', async () => {
  const made = await cli('token', 'create', 'grafana', '--role', 'read-only', '--expires', '30d', '--json');
  assert.equal(made.code, 0, made.err);
  const { token, secret } = JSON.parse(made.out) as { token: { id: string; role: string; expiresAt: string }; secret: string };
  assert.equal(token.role, 'read-only');
  assert.ok(Date.parse(token.expiresAt) > Date.now() + 29 * 86_400_000);
  assert.equal((await new ApiClient({ baseUrl: server.url, token: secret }).whoami()).name, 'grafana');
  const list = await cli('token', 'list');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /grafana\s+read-only/);
  assert.ok(!list.out.includes(secret) && !list.out.includes(secret.slice(-43)), 'no secret in the list');
  const rm = await cli('token', 'rm', 'grafana');
  assert.equal(rm.code, 0, rm.err);
  await assert.rejects(new ApiClient({ baseUrl: server.url, token: secret }).whoami(), /UNAUTHORIZED|401|token/i);
});

test('token create --out writes the secret 0600 and prints it nowhere; an unwritable path creates no token', async () => {
  const file = join(dir, 'lb.token');
  const made = await cli('token', 'create', 'lb1', '--role', 'operator', '--out', file);
  assert.equal(made.code, 0, made.err);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const secret = readFileSync(file, 'utf8').trim();
  assert.ok(!made.out.includes(secret), 'not printed');
  assert.equal((await new ApiClient({ baseUrl: server.url, token: secret }).whoami()).role, 'operator');
  const bad = await cli('token', 'create', 'lost', '--role', 'operator', '--out', '/nonexistent/dir/x.token');
  assert.equal(bad.code, 64);
  assert.match(bad.err, /cannot write the token to \/nonexistent\/dir\/x\.token: ENOENT/);
  const list = await cli('token', 'list', '--json');
  assert.ok(!(JSON.parse(list.out) as { items: { name: string }[] }).items.some((t) => t.name === 'lost'), 'no token was made');
  const typo = await cli('token', 'create', 'x', '--role', 'admni');
  assert.notEqual(typo.code, 0);
  assert.match(typo.err, /admni/);
});

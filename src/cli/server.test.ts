import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { isFabricError } from '../protocol/errors.js';
import type { RunningServer, StartServerOptions } from '../server/start.js';
import { DEFAULT_DATA_DIR, parseListen, registerServerCommand } from './server.js';

test('parseListen accepts IPv4, names and bracketed IPv6, and refuses the rest', () => {
  assert.deepEqual(parseListen('127.0.0.1:7080'), { host: '127.0.0.1', port: 7080 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
  for (const bad of ['7080', '::1:80', '[nope]:80', 'host:70000', 'a b:1', '']) {
    assert.throws(() => parseListen(bad), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'), bad);
  }
});

test('the server command passes its flags to startServer and runs until the server closes', async () => {
  const seen: StartServerOptions[] = [];
  let close!: () => void;
  const closed = new Promise<void>((r) => (close = r));
  const start = async (o: StartServerOptions) => {
    seen.push(o);
    return { url: 'http://x', app: { log: { info: () => {} } }, closed } as unknown as RunningServer;
  };
  const program = new Command().exitOverride();
  registerServerCommand(program, { start });
  let done = false;
  const run = program.parseAsync(['server', '--listen', '[::1]:9000', '--master-key-file', '/k', '--bootstrap-token-file', '/t'], { from: 'user' }).then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'still running while the server is up');
  close();
  await run;
  assert.deepEqual(seen, [{ dataDir: DEFAULT_DATA_DIR, host: '::1', port: 9000, masterKeyFile: '/k', bootstrapTokenFile: '/t' }]);
});

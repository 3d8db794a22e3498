import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { isFabricError } from '../protocol/errors.js';
import type { RunningServer, StartServerOptions } from '../server/start.js';
import { DEFAULT_AUTO_COMPACT } from '../control/compaction.js';
import { DEFAULT_DATA_DIR, parseCompactFlags, parseListen, parseTlsFlags, parseWatchFlags, registerServerCommand } from './server.js';
import { DEFAULT_WATCH_LIMITS } from '../server/stream-limits.js';

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
  assert.deepEqual(seen, [{ dataDir: DEFAULT_DATA_DIR, host: '::1', port: 9000, masterKeyFile: '/k', bootstrapTokenFile: '/t', autoCompact: DEFAULT_AUTO_COMPACT, watchLimits: DEFAULT_WATCH_LIMITS, logLevel: 'info' }]);
});

test('parseWatchFlags: whole numbers within the limits, anything else is WGF_ERR_VALIDATION naming the flag', () => {
  const ok = { maxWatches: '200', maxWatchesPerToken: '100', watchBufferBytes: '65536' };
  assert.deepEqual(parseWatchFlags(ok), { ...DEFAULT_WATCH_LIMITS, maxTotal: 200, maxPerToken: 100, bufferBytes: 65536 });
  const bad: [Partial<typeof ok>, string][] = [
    [{ maxWatches: '0' }, 'max-watches'], [{ maxWatches: 'x' }, 'max-watches'], [{ maxWatchesPerToken: '300' }, 'max-watches-per-token'],
    [{ watchBufferBytes: '10' }, 'watch-buffer-bytes'], [{ watchBufferBytes: '-5' }, 'watch-buffer-bytes'],
  ];
  for (const [patch, field] of bad) {
    assert.throws(() => parseWatchFlags({ ...ok, ...patch }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.field === field, JSON.stringify(patch));
  }
});

test('parseCompactFlags: whole numbers, keep 0 turns compaction off, anything else is WGF_ERR_VALIDATION naming the flag', () => {
  assert.deepEqual(parseCompactFlags({ compactKeep: '10000', compactIntervalMs: '60000' }), DEFAULT_AUTO_COMPACT);
  assert.deepEqual(parseCompactFlags({ compactKeep: '0', compactIntervalMs: '1000' }), { keepRevisions: 0, intervalMs: 1000 });
  const bad: [string, string, string][] = [
    ['-1', '60000', 'compactKeep'], ['', '60000', 'compactKeep'], ['1e4', '60000', 'compactKeep'], ['1.5', '60000', 'compactKeep'], ['0x10', '60000', 'compactKeep'],
    ['100', '999', 'compactIntervalMs'], ['100', '', 'compactIntervalMs'], ['100', '60s', 'compactIntervalMs'], ['100', ' 60000', 'compactIntervalMs'],
  ];
  for (const [compactKeep, compactIntervalMs, field] of bad) {
    assert.throws(() => parseCompactFlags({ compactKeep, compactIntervalMs }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.field === field, `${compactKeep} ${compactIntervalMs}`);
  }
});

test('the server command passes --compact-keep/--compact-interval-ms and refuses bad values before starting', async () => {
  const seen: StartServerOptions[] = [];
  const start = async (o: StartServerOptions) => {
    seen.push(o);
    return { url: 'http://x', app: { log: { info: () => {} } }, closed: Promise.resolve() } as unknown as RunningServer;
  };
  const run = (args: string[]) => {
    const program = new Command().exitOverride();
    registerServerCommand(program, { start });
    return program.parseAsync(['server', ...args], { from: 'user' });
  };
  await run(['--compact-keep', '0', '--compact-interval-ms', '5000']);
  assert.deepEqual(seen.map((o) => o.autoCompact), [{ keepRevisions: 0, intervalMs: 5000 }]);
  await assert.rejects(run(['--compact-keep', 'lots']), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && /--compact-keep/.test(e.message));
  assert.equal(seen.length, 1, 'not started with a bad flag');
});

test('--tls-cert and --tls-key go together and reach startServer; one alone is WGF_ERR_VALIDATION naming the missing flag', async () => {
  assert.equal(parseTlsFlags({}), undefined);
  assert.deepEqual(parseTlsFlags({ tlsCert: '/c', tlsKey: '/k' }), { certFile: '/c', keyFile: '/k' });
  assert.throws(() => parseTlsFlags({ tlsCert: '/c' }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && /--tls-key is missing/.test(e.message));
  assert.throws(() => parseTlsFlags({ tlsKey: '/k' }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && /--tls-cert is missing/.test(e.message));
  const seen: StartServerOptions[] = [];
  const start = async (o: StartServerOptions) => {
    seen.push(o);
    return { url: 'https://x', app: { log: { info: () => {} } }, closed: Promise.resolve() } as unknown as RunningServer;
  };
  const run = (args: string[]) => registerServerCommand(new Command().exitOverride(), { start }).parent!.parseAsync(['server', ...args], { from: 'user' });
  await run(['--tls-cert', '/c.pem', '--tls-key', '/k.pem']);
  assert.deepEqual(seen[0]!.tls, { certFile: '/c.pem', keyFile: '/k.pem' });
  await assert.rejects(run(['--tls-cert', '/c.pem']), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
  assert.equal(seen.length, 1, 'refused before starting');
});

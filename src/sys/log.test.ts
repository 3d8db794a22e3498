import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLogLine, createLogger, logFnOf, parseLogLevel } from './log.js';

function capture(): { lines: string[]; dest: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, dest: { write: (s: string) => void lines.push(...s.split('\n').filter(Boolean)) } };
}

test('every role logs one JSON object per line of the same shape: level name, ISO time, role, pid, msg, fields', () => {
  for (const role of ['server', 'agent', 'lb', 'dns', 'lab'] as const) {
    const c = capture();
    logFnOf(createLogger(role, 'info', c.dest))('warn', 'backend down', { backend: 'b1', detectionMs: 12 });
    assert.equal(c.lines.length, 1);
    assert.equal(checkLogLine(c.lines[0]!), null, c.lines[0]);
    const o = JSON.parse(c.lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o).slice(0, 4), ['level', 'time', 'role', 'pid']);
    assert.equal(o.level, 'warn');
    assert.equal(o.role, role);
    assert.equal(o.msg, 'backend down');
    assert.equal(o.backend, 'b1');
  }
});

test('--log-level filters: debug lines only at debug, nothing at silent', () => {
  const at = (level: 'debug' | 'info' | 'warn' | 'silent') => {
    const c = capture();
    const log = logFnOf(createLogger('agent', level, c.dest));
    log('debug', 'poll');
    log('info', 'synced');
    log('error', 'device gone');
    return c.lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  };
  assert.deepEqual(at('debug'), ['poll', 'synced', 'device gone']);
  assert.deepEqual(at('info'), ['synced', 'device gone']);
  assert.deepEqual(at('warn'), ['device gone']);
  assert.deepEqual(at('silent'), []);
});

test('fields named token, privateKey or presharedKey are redacted', () => {
  const c = capture();
  logFnOf(createLogger('lb', 'info', c.dest))('info', 'x', { token: 'wgf_secret', privateKey: 'k', presharedKey: 'p', peer: 'ok' });
  assert.ok(!c.lines[0]!.includes('wgf_secret'));
  assert.deepEqual(JSON.parse(c.lines[0]!).privateKey, '[redacted]');
  assert.equal(JSON.parse(c.lines[0]!).peer, 'ok');
});

test('parseLogLevel accepts the level names in any case and refuses others with WGF_ERR_VALIDATION', () => {
  assert.equal(parseLogLevel('DEBUG'), 'debug');
  assert.equal(parseLogLevel('silent'), 'silent');
  assert.throws(() => parseLogLevel('verbose'), (e: Error & { code?: string }) => e.code === 'WGF_ERR_VALIDATION' && /debug, info, warn, error, silent/.test(e.message));
});

test('checkLogLine names what is wrong with a line', () => {
  assert.equal(checkLogLine('plain text'), 'not JSON');
  assert.equal(checkLogLine('[1]'), 'not a JSON object');
  assert.match(checkLogLine('{"level":30,"time":"2026-01-01T00:00:00Z","role":"lb","pid":1,"msg":"m"}')!, /level 30/);
  assert.match(checkLogLine('{"level":"info","time":1,"role":"lb","pid":1,"msg":"m"}')!, /time 1/);
  assert.match(checkLogLine('{"level":"info","time":"2026-01-01T00:00:00Z","role":"x","pid":1,"msg":"m"}')!, /role "x"/);
  assert.equal(checkLogLine('{"level":"info","time":"2026-01-01T00:00:00.5Z","role":"lb","pid":1,"msg":"m"}'), null);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { checkLogLine } from '../sys/log.js';
import { WATCHDOG_SCRIPT } from './watchdog.js';

test('the watchdog, firing after its process died, writes one log line of the common shape with the role', () => {
  // stdin closed at once = the guarded process is gone; the socket does not exist, so birdc fails quietly.
  const r = spawnSync('bash', ['-c', WATCHDOG_SCRIPT, 'wgfabric-watchdog', '/nonexistent/wgf-bird.ctl', '0.2', 'lb', 'wgf_anycast4', 'wgf_anycast6'], { input: '', encoding: 'utf8' });
  assert.equal(r.status, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.equal(checkLogLine(lines[0]!), null, lines[0]);
  const o = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(o.role, 'lb');
  assert.equal(o.level, 'warn');
  assert.equal(o.protocols, 'wgf_anycast4 wgf_anycast6');
  assert.match(String(o.msg), /no heartbeat within 0\.2s/);
});

test('a clean stop ("stop" on its stdin) exits without a word', () => {
  const r = spawnSync('bash', ['-c', WATCHDOG_SCRIPT, 'wgfabric-watchdog', '/nonexistent/wgf-bird.ctl', '5', 'agent', 'wgf_anycast4'], { input: 'stop\n', encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
});

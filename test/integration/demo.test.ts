/**
 * The main job: `bash scripts/demo.sh --check` (2 LB instances behind the ECMP router, 3
 * backends, 6 clients) kills a backend and shows the LBs taking it out and its clients coming
 * back elsewhere, with the times, then removes everything it made. Setup (deps, build) is
 * skipped: scripts/test.sh has done it. Prints the failover part of the demo's output.
 */
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { run } from '../../src/sys/exec.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

test('demo.sh --check: both LBs take the killed backend out, its clients answer again on other backends (times printed), and the lab is gone after', { timeout: 900_000 }, async () => {
  const r = await sh('bash', ['scripts/demo.sh', '--check'], { WGF_DEMO_SKIP_SETUP: '1' });
  const failover = r.out.slice(r.out.indexOf('== failover'), r.out.indexOf('== where to look next'));
  console.log(failover || r.out);
  assert.equal(r.code, 0, r.out.slice(-3000));
  const tag = /^lab ([0-9a-f]{4}) is up/m.exec(r.out)?.[1];
  assert.ok(tag, 'the demo names its lab');
  const killed = /^killing (backend-\d)'s wireguard-go/m.exec(r.out)?.[1];
  assert.ok(killed, 'the demo kills a backend');
  for (const i of [1, 2]) assert.match(r.out, new RegExp(`\\+\\d+\\.\\ds  lab${tag}-${i} took ${killed} out of its table`));
  const back = [...r.out.matchAll(/\+\d+\.\ds {2}(client-\d) gets through again, now on (backend-\d)/g)];
  assert.ok(back.length > 0, 'some client was on the killed backend and came back');
  for (const m of back) assert.notEqual(m[2], killed, `${m[1]} came back on another backend`);
  assert.match(r.out, /^failover OK: killed backend-\d$/m);
  assert.match(r.out, /^demo check: OK/m);
  assert.match(r.out, /dashboard: https:\/\/[\d.]+:\d+\/ui\/ +\(sign in with the token in \S+operator\.token/);
  // Everything it made is gone: its state directory and every namespace of the lab.
  assert.equal(existsSync(join(ROOT, '.wgfabric', 'labs', tag)), false);
  const ns = (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`wgl${tag}`));
  assert.deepEqual(ns, []);
});

test('lab failover on a lab that is not there: a clear error with its code', async () => {
  const r = await sh(process.execPath, ['bin/wgfabric.js', 'lab', 'failover', '--tag', 'ffff', '--base', '/nonexistent-dm']);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /no lab with tag ffff.*WGF_ERR_NOT_FOUND/);
});

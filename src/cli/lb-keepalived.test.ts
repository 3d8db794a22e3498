import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { healthzCheckCommand, renderKeepalivedConfig } from '../lb/keepalived.js';
import { FabricError } from '../protocol/errors.js';
import { DEFAULT_HEALTH_URL, registerLbKeepalivedCommand } from './lb-keepalived.js';
import { buildProgram } from './main.js';

const NODE = '/usr/bin/node';
const required = ['--interface', 'eth0', '--vip', '198.18.9.2/32', '--router-id', '51', '--priority', '100'];

async function runCli(args: string[]) {
  const out: string[] = [];
  const warnings: string[] = [];
  const program = new Command('wgfabric').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerLbKeepalivedCommand(program.command('lb'), { write: (t) => out.push(t), warn: (t) => warnings.push(t), nodePath: NODE });
  let error: unknown;
  try {
    await program.parseAsync(['lb', 'keepalived', ...args], { from: 'user' });
  } catch (e) {
    error = e;
  }
  return { out: out.join(''), warnings: warnings.join(''), error };
}

describe('lb keepalived', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgf-keepalived-cli-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('prints exactly what the renderer makes from the defaults', async () => {
    const r = await runCli(required);
    assert.equal(r.error, undefined);
    assert.equal(r.out, renderKeepalivedConfig({
      name: 'wgfabric', interface: 'eth0', vips: ['198.18.9.2/32'], routerId: 51, priority: 100,
      check: { command: healthzCheckCommand(NODE, DEFAULT_HEALTH_URL) },
    }));
    assert.equal(r.warnings, '', '/usr/bin/node exists here');
  });

  test('every option reaches the config', async () => {
    const r = await runCli([
      ...required, '--vip', 'fd00::2/128', '--vip', '198.18.10.1/24@eth1', '--name', 'lbx', '--state', 'MASTER', '--preempt',
      '--advert-interval-ms', '500', '--unicast-src', '198.18.9.11', '--unicast-peer', '198.18.9.12', '--unicast-peer', '198.18.9.13',
      '--unicast-src', 'fd00::11', '--unicast-peer', 'fd00::12', '--health-url', 'http://198.18.9.11:7090/healthz', '--node', '/opt/node/bin/node',
      '--check-interval', '3', '--check-timeout', '1', '--check-fall', '4', '--check-rise', '5', '--script-user', 'nobody',
    ]);
    assert.equal(r.error, undefined);
    assert.equal(r.out, renderKeepalivedConfig({
      name: 'lbx', interface: 'eth0', vips: ['198.18.9.2/32', 'fd00::2/128', '198.18.10.1/24@eth1'], routerId: 51, priority: 100,
      initialState: 'MASTER', preempt: true, advertIntervalMs: 500, scriptUser: 'nobody',
      unicastSources: ['198.18.9.11', 'fd00::11'], unicastPeers: ['198.18.9.12', '198.18.9.13', 'fd00::12'],
      check: { command: healthzCheckCommand('/opt/node/bin/node', 'http://198.18.9.11:7090/healthz', 1), intervalS: 3, timeoutS: 1, fall: 4, rise: 5 },
    }));
    assert.match(r.warnings, /\/opt\/node\/bin\/node does not exist on this host; keepalived would run without the health check/);
  });

  test('--check-command replaces the node check, split on spaces', async () => {
    const r = await runCli([...required, '--check-command', '  /usr/bin/curl -fsS -m 1  http://127.0.0.1:7090/healthz ']);
    assert.equal(r.error, undefined);
    assert.match(r.out, /\n    script "\/usr\/bin\/curl -fsS -m 1 http:\/\/127\.0\.0\.1:7090\/healthz"\n/);
  });

  test('--out writes the file with mode 0644 (also over a 0600 file) and prints where', async () => {
    const file = join(dir, 'keepalived.conf');
    await writeFile(file, 'old\n', { mode: 0o600 });
    const r = await runCli([...required, '--out', file]);
    assert.equal(r.error, undefined);
    assert.equal(r.out, `keepalived config written to ${file}; check it with: keepalived -t -f ${file}\n`);
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    assert.equal(await readFile(file, 'utf8'), (await runCli(required)).out);
  });

  /** `parser`: refused by the option parser (positiveInt), whose errors carry no details. */
  const refusals: { name: string; args: string[]; flag: string; parser?: boolean }[] = [
    { name: 'router id 0', args: ['--interface', 'eth0', '--vip', '198.18.9.2/32', '--router-id', '0', '--priority', '100'], flag: '--router-id' },
    { name: 'router id not a number', args: ['--interface', 'eth0', '--vip', '198.18.9.2/32', '--router-id', 'x', '--priority', '100'], flag: '--router-id', parser: true },
    { name: 'priority 255', args: ['--interface', 'eth0', '--vip', '198.18.9.2/32', '--router-id', '1', '--priority', '255'], flag: '--priority' },
    { name: 'bad interface', args: ['--interface', 'eth0}', '--vip', '198.18.9.2/32', '--router-id', '1', '--priority', '1'], flag: '--interface' },
    { name: 'second VIP bad', args: [...required, '--vip', '198.18.9.300/32'], flag: '--vip' },
    { name: 'MASTER without --preempt', args: [...required, '--state', 'MASTER'], flag: '--state' },
    { name: 'unknown state', args: [...required, '--state', 'FAULT'], flag: '--state' },
    { name: 'advert interval not in centiseconds', args: [...required, '--advert-interval-ms', '15'], flag: '--advert-interval-ms' },
    { name: 'unicast peer with a newline', args: [...required, '--unicast-peer', '198.18.9.3\n}'], flag: '--unicast-peer' },
    { name: 'unicast source without peers', args: [...required, '--unicast-src', '198.18.9.1'], flag: '--unicast-src' },
    { name: 'https health URL', args: [...required, '--health-url', 'https://127.0.0.1:7090/healthz'], flag: '--health-url' },
    { name: 'relative node', args: [...required, '--node', 'node'], flag: '--node' },
    { name: 'check command with a quote', args: [...required, '--check-command', '/bin/sh -c "x"'], flag: '--check-command' },
    { name: 'check interval 0', args: [...required, '--check-interval', '0'], flag: '--check-interval' },
    { name: 'script user with a brace', args: [...required, '--script-user', 'root}'], flag: '--script-user' },
    { name: 'bad name', args: [...required, '--name', 'a b'], flag: '--name' },
  ];
  for (const c of refusals) {
    test(`refuses: ${c.name}`, async () => {
      const r = await runCli(c.args);
      assert.ok(r.error instanceof FabricError, `not a FabricError: ${String(r.error)}`);
      assert.equal(r.error.code, 'WGF_ERR_VALIDATION');
      assert.ok(r.error.message.startsWith(c.flag), r.error.message);
      if (!c.parser) assert.equal(r.error.details?.flag, c.flag);
      assert.equal(r.out, '');
    });
  }

  test('messages name the flag and which of its repeats was wrong', async () => {
    const vip = await runCli([...required, '--vip', '198.18.9.2/33']);
    assert.ok(vip.error instanceof FabricError);
    assert.match(vip.error.message, /^--vip #2 prefix must be 1\.\.32 for IPv4$/);
    const word = await runCli([...required, '--check-command', '/bin/echo a$b']);
    assert.ok(word.error instanceof FabricError);
    assert.match(word.error.message, /^--check-command word #2 must be printable ASCII without quotes/);
    const url = await runCli([...required, '--health-url', "http://127.0.0.1:7090/it's"]);
    assert.ok(url.error instanceof FabricError);
    assert.match(url.error.message, /^--health-url must be printable ASCII/);
  });

  test('a missing --vip is a usage error from commander', async () => {
    const r = await runCli(['--interface', 'eth0', '--router-id', '51', '--priority', '100']);
    assert.ok(r.error instanceof CommanderError);
    assert.equal(r.error.code, 'commander.missingMandatoryOptionValue');
  });

  test('refuses --check-command together with --health-url', async () => {
    const r = await runCli([...required, '--check-command', '/bin/true', '--health-url', DEFAULT_HEALTH_URL]);
    assert.ok(r.error instanceof FabricError && r.error.code === 'WGF_ERR_VALIDATION');
    assert.match(r.error.message, /do not combine/);
  });

  test('an unwritable --out is a validation error naming the file', async () => {
    const r = await runCli([...required, '--out', join(dir, 'missing-dir', 'k.conf')]);
    assert.ok(r.error instanceof FabricError && r.error.code === 'WGF_ERR_VALIDATION');
    assert.match(r.error.message, /cannot write .*missing-dir/);
  });
});

// Through the real entry point in a child process, once `lb keepalived` is wired into src/cli/lb.ts.
const wired = buildProgram().commands.find((c) => c.name() === 'lb')?.commands.some((c) => c.name() === 'keepalived') ?? false;
const RUNNER = fileURLToPath(new URL('./testing/run-cli.ts', import.meta.url));
function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', RUNNER, ...argv], (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

describe('wgfabric lb keepalived (child process)', { skip: wired ? false : 'not wired into src/cli/lb.ts yet' }, () => {
  test('prints the config on stdout and exits 0', async () => {
    const r = await cli('lb', 'keepalived', ...required);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^vrrp_instance wgfabric_v4 \{$/m);
    assert.match(r.out, /^    script "\/\S+ -e '/m);
  });

  test('a bad value exits 64 with WGF_ERR_VALIDATION and the flag', async () => {
    const r = await cli('lb', 'keepalived', '--interface', 'eth0', '--vip', '198.18.9.2/32', '--router-id', '300', '--priority', '100');
    assert.equal(r.code, 64);
    assert.match(r.err, /^error: --router-id must be an integer 1\.\.255 \[WGF_ERR_VALIDATION\]/);
  });
});

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { bindEnvironment, envNameOf } from './env.js';
import { buildProgram } from './main.js';

const touched: string[] = [];
function setEnv(name: string, value: string): void {
  touched.push(name);
  process.env[name] = value;
}
afterEach(() => {
  for (const n of touched.splice(0)) delete process.env[n];
});

function program(seen: (o: Record<string, unknown>) => void): Command {
  const p = new Command('t').exitOverride();
  p.command('run')
    .option('--data-dir <dir>', 'where', '/var/lib/x')
    .requiredOption('--pool <name>', 'pool')
    .option('--verbose', 'talk')
    .option('--no-tls', 'plain')
    .action((o: Record<string, unknown>) => seen(o));
  return bindEnvironment(p);
}

test('the naming rule: WGFABRIC_ + flag in upper case, dashes as underscores', () => {
  assert.equal(envNameOf('--data-dir'), 'WGFABRIC_DATA_DIR');
  assert.equal(envNameOf('--etcd-endpoints'), 'WGFABRIC_ETCD_ENDPOINTS');
  assert.equal(envNameOf('--no-tls'), 'WGFABRIC_NO_TLS');
});

test('the environment fills flags (also required ones); the command line wins; defaults stay otherwise', async () => {
  let got: Record<string, unknown> = {};
  setEnv('WGFABRIC_POOL', 'office');
  setEnv('WGFABRIC_DATA_DIR', '/srv/wgf');
  await program((o) => (got = o)).parseAsync(['run'], { from: 'user' });
  assert.deepEqual({ pool: got.pool, dataDir: got.dataDir, tls: got.tls, verbose: got.verbose }, { pool: 'office', dataDir: '/srv/wgf', tls: true, verbose: undefined });
  await program((o) => (got = o)).parseAsync(['run', '--data-dir', '/cli'], { from: 'user' });
  assert.equal(got.dataDir, '/cli');
});

test('boolean flags read 1/true/yes/on; 0/false leave them alone; anything else is an error naming the variable', async () => {
  let got: Record<string, unknown> = {};
  setEnv('WGFABRIC_POOL', 'p');
  setEnv('WGFABRIC_VERBOSE', 'yes');
  setEnv('WGFABRIC_NO_TLS', '1');
  await program((o) => (got = o)).parseAsync(['run'], { from: 'user' });
  assert.equal(got.verbose, true);
  assert.equal(got.tls, false);
  setEnv('WGFABRIC_VERBOSE', '0');
  setEnv('WGFABRIC_NO_TLS', 'false');
  await program((o) => (got = o)).parseAsync(['run'], { from: 'user' });
  assert.equal(got.verbose, undefined);
  assert.equal(got.tls, true);
  setEnv('WGFABRIC_VERBOSE', 'maybe');
  await assert.rejects(program(() => {}).parseAsync(['run'], { from: 'user' }), /WGFABRIC_VERBOSE="maybe" is not a boolean/);
});

test('every long flag of the real program has its environment variable (help and version excepted)', () => {
  const missing: string[] = [];
  const walk = (c: Command, path: string): void => {
    for (const o of c.options) if (o.long && !['--help', '--version'].includes(o.long) && o.envVar !== envNameOf(o.long)) missing.push(`${path} ${o.long}`);
    for (const s of c.commands) walk(s, `${path} ${s.name()}`);
  };
  walk(buildProgram(), 'wgfabric');
  assert.deepEqual(missing, []);
});

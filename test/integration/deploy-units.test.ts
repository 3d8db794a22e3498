/**
 * The systemd units in deploy/systemd are valid (systemd-analyze verify: known keys, ExecStart
 * executables, dependencies) and their example EnvironmentFiles name only flags that the
 * unit's command really has (WGFABRIC_<FLAG>, src/cli/env.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { run } from '../../src/sys/exec.js';
import { buildProgram } from '../../src/cli/main.js';
import { envNameOf } from '../../src/cli/env.js';

const DIR = fileURLToPath(new URL('../../deploy/systemd/', import.meta.url));
let tmp = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'wgf-units-'));
  // verify checks that ExecStart is executable: stand a stub in for the installed CLI.
  writeFileSync(join(tmp, 'wgfabric'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(tmp, 'wgfabric'), 0o755);
  for (const f of readdirSync(DIR)) {
    const text = readFileSync(join(DIR, f), 'utf8').replaceAll('/usr/local/bin/wgfabric', join(tmp, 'wgfabric'));
    writeFileSync(join(tmp, f), text);
  }
  // Instances of the templates, as systemctl would start them.
  copyFileSync(join(tmp, 'wgfabric-agent@.service'), join(tmp, 'wgfabric-agent@wg0.service'));
  copyFileSync(join(tmp, 'wireguard-go@.service'), join(tmp, 'wireguard-go@wg0.service'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('systemd-analyze verify accepts every unit, with no unknown or ignored setting', async () => {
  const units = ['wgfabric-server.service', 'wgfabric-lb.service', 'wireguard-go@wg0.service', 'wgfabric-agent@wg0.service'];
  const r = await run('systemd-analyze', ['verify', '--man=no', ...units.map((u) => join(tmp, u))], { allowFailure: true });
  const ours = (r.stdout + r.stderr).split('\n').filter((l) => l.includes(tmp) || /wgfabric|wireguard-go/.test(l));
  assert.deepEqual(ours, [], 'no complaint about our units');
  assert.equal(r.code, 0, r.stderr);
});

test('hardening fits each role: the server has no capabilities, agent and LB only what they need', () => {
  const unit = (f: string) => readFileSync(join(DIR, f), 'utf8');
  assert.match(unit('wgfabric-server.service'), /^CapabilityBoundingSet=$/m);
  assert.match(unit('wgfabric-server.service'), /^LoadCredential=master\.key:/m);
  assert.match(unit('wgfabric-agent@.service'), /^CapabilityBoundingSet=CAP_NET_ADMIN$/m);
  for (const f of ['wgfabric-server.service', 'wgfabric-agent@.service', 'wgfabric-lb.service', 'wireguard-go@.service']) {
    assert.match(unit(f), /^NoNewPrivileges=yes$/m, f);
    assert.match(unit(f), /^ProtectSystem=strict$/m, f);
    assert.match(unit(f), /^Restart=(always|on-failure)$/m, f);
  }
});

function command(path: string[]): Command {
  let c: Command = buildProgram();
  for (const name of path) {
    const next = c.commands.find((x) => x.name() === name);
    assert.ok(next, `command ${path.join(' ')}`);
    c = next;
  }
  return c;
}

test('every variable in the example EnvironmentFiles is a flag of the unit\'s command', () => {
  const files: [string, string[]][] = [['server.env.example', ['server']], ['agent.env.example', ['agent']], ['lb.env.example', ['lb', 'run']]];
  for (const [file, path] of files) {
    const flags = new Set(command(path).options.map((o) => (o.long ? envNameOf(o.long) : '')));
    const vars = readFileSync(join(DIR, file), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0]!);
    assert.ok(vars.length > 0, file);
    for (const v of vars) assert.ok(flags.has(v), `${file}: ${v} is not a flag of wgfabric ${path.join(' ')}`);
  }
});

test('the guide\'s table of ports (docs/deploy.md) is what the example files, the defaults and the cloud health check use', async () => {
  const { DEFAULT_LISTEN_PORT } = await import('../../src/control/pools.js');
  const guide = readFileSync(fileURLToPath(new URL('../../docs/deploy.md', import.meta.url)), 'utf8');
  const row = (role: string, what: RegExp): string => {
    const line = guide.split('\n').find((l) => l.startsWith(`| ${role} |`) && what.test(l));
    assert.ok(line, `a row for ${role} in the guide's port table`);
    return /(\d{2,5})/.exec(line.split('|')[2]!)![1]!;
  };
  const envPort = (file: string, v: string): string => /:(\d+)\s*$/m.exec(readFileSync(join(DIR, file), 'utf8').split('\n').find((l) => l.startsWith(`${v}=`)) ?? '')?.[1] ?? 'none';
  const server = row('server', /HTTPS/), agent = row('agent', /readyz/), lb = row('LB', /status/), vip = row('LB', /WireGuard/), backend = row('backend', /WireGuard/);
  assert.equal(server, envPort('server.env.example', 'WGFABRIC_LISTEN'));
  assert.equal(server, /:(\d+)$/.exec(String(command(['server']).options.find((o) => o.long === '--listen')!.defaultValue))![1]);
  assert.equal(agent, envPort('agent.env.example', 'WGFABRIC_LISTEN'));
  assert.equal(lb, envPort('lb.env.example', 'WGFABRIC_LISTEN'));
  assert.equal(vip, envPort('lb.env.example', 'WGFABRIC_VIP'));
  assert.equal(backend, String(DEFAULT_LISTEN_PORT));
  assert.match(guide, new RegExp(`health check HTTP on port ${agent} path \`/readyz\``));
  console.log(`ports: server ${server}/tcp, agent ${agent}/tcp, LB ${lb}/tcp, VIP and backends ${vip}/udp (guide = example files = defaults)`);
});

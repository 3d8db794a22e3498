import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from './main.js';
import { bashCompletion, completionTable, zshCompletion } from './completion.js';

/** Runs the bash completion function on the words typed so far; returns the candidates. */
function complete(script: string, words: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-compl-'));
  try {
    writeFileSync(join(dir, 'c.bash'), script);
    const arr = words.map((w) => `'${w}'`).join(' ');
    const out = execFileSync('bash', ['-c', `source ${join(dir, 'c.bash')}; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _wgfabric; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the table holds every command path of the real program with its flags', () => {
  const t = completionTable(buildProgram());
  assert.ok(t['']!.commands.includes('peer') && t['']!.commands.includes('doctor'));
  assert.ok(t['peer add']!.flags.includes('--pool'));
  assert.deepEqual(t['doctor']!.choices['--role'], ['agent', 'lb', 'server']);
});

test('bash: subcommands, then flags of the command typed, then a flag\'s choices', () => {
  const script = bashCompletion(completionTable(buildProgram()));
  assert.ok(complete(script, ['wgfabric', 'po']).includes('pool'));
  const peer = complete(script, ['wgfabric', 'peer', '']);
  assert.ok(peer.includes('add') && peer.includes('list'), peer.join(' '));
  assert.ok(complete(script, ['wgfabric', 'peer', 'add', 'alice', '--po']).includes('--pool'));
  assert.deepEqual(complete(script, ['wgfabric', 'doctor', '--role', '']), ['agent', 'lb', 'server']);
  assert.ok(complete(script, ['wgfabric', 'peer', 'add', 'alice', '']).includes('--out'), 'an argument (the peer name) is skipped');
});

test('zsh: a compdef function naming every command path', () => {
  const t = completionTable(buildProgram());
  const z = zshCompletion(t);
  assert.match(z, /^#compdef wgfabric/);
  for (const p of Object.keys(t).filter(Boolean)) assert.ok(z.includes(`'${p}'`), p);
});

/**
 * The include the bird driver writes, parsed by the real bird2 (`bird -p`, parse only, no root):
 * IPv4 /32 and IPv6 /128 announcements with every attribute, in a speaker config that exports
 * them over IPv4 and IPv6 sessions, and the lab router's config with IPv6 neighbours. Skipped
 * where bird is not installed (scripts/deps.sh installs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_ATTRIBUTES, type AnnounceAttributes } from './announcer.js';
import { renderBirdInclude } from './bird-config.js';
import { renderRouterConfig, renderSpeakerConfig } from '../lab/bird.js';

const hasBird = spawnSync('bird', ['--version']).error === undefined;

function parse(dir: string, name: string, text: string): { ok: boolean; out: string } {
  const file = join(dir, name);
  writeFileSync(file, text);
  const r = spawnSync('bird', ['-p', '-c', file], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

test('bird -p accepts the announcer include for IPv4 /32 and IPv6 /128 with every attribute', { skip: hasBird ? false : 'bird not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-bg-birdp-'));
  try {
    const full: AnnounceAttributes = { gracefulShutdown: true, communities: ['65001:7', '64512:100'], med: 50, prepend: 2, localPref: 200 };
    const cases: [string, readonly string[], AnnounceAttributes, boolean][] = [
      ['v4 only, plain', ['198.51.100.7'], NO_ATTRIBUTES, true],
      ['v6 only, every attribute', ['2001:db8::7'], full, true],
      ['both families, every attribute', ['198.51.100.7', '2001:db8::7'], full, true],
      ['withdrawn', ['198.51.100.7', '2001:db8::7'], full, false],
    ];
    for (const [name, addresses, attributes, enabled] of cases) {
      const include = join(dir, `${name.replace(/\W+/g, '_')}.inc`);
      writeFileSync(include, renderBirdInclude({ prefix: 'wgf_anycast', localAs: 65001, addresses, attributes, enabled }));
      const r = parse(dir, 'speaker.conf', renderSpeakerConfig('198.51.100.2', '198.51.100.1', include, 'wgf_anycast', '2001:db8::1'));
      assert.ok(r.ok, `${name}: ${r.out}`);
    }
    const router = parse(dir, 'router.conf', renderRouterConfig('198.51.100.1', [{ name: 'b1', address: '198.51.100.2' }], [{ name: 'b1', address: '2001:db8::2' }]));
    assert.ok(router.ok, router.out);
    // The check is real: a broken include is refused.
    writeFileSync(join(dir, 'bad.inc'), 'protocol static x { ipv6; route 2001:db8::7/128 blackhole { bgp_local_pref = ; }; }\n');
    assert.equal(parse(dir, 'bad.conf', renderSpeakerConfig('198.51.100.2', '198.51.100.1', join(dir, 'bad.inc'), 'wgf_anycast')).ok, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

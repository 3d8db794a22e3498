import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { parseConfig, renderConfig } from './config.js';
import { keyPairs, randomConfig } from './testing/gen-config.js';
import { Rng, testSeed } from './testing/random.js';

// Characters that matter to the grammar, plus a few that should never be accepted.
const INTERESTING = ['=', '#', '[', ']', '\n', '\r', '\r\n', '\0', ',', ':', '/', ' ', '\t', '\uFEFF', '\u00e9', '\x7f', '0', 'f', 'A', '+', '-', '.'];

function mutate(rng: Rng, text: string): string {
  let s = text;
  const rounds = rng.range(1, 4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(9)) {
      case 0: s = s.slice(0, at) + s.slice(at + rng.range(1, 8)); break; // delete a few chars
      case 1: s = s.slice(0, at) + rng.pick(INTERESTING) + s.slice(at); break; // insert a grammar char
      case 2: s = s.slice(0, at) + String.fromCharCode(rng.int(0x3000)) + s.slice(at); break; // any char
      case 3: s = s.slice(0, at); break; // truncate
      case 4: { // duplicate a line
        const lines = s.split('\n');
        const i = rng.int(lines.length);
        lines.splice(i, 0, lines[i]!);
        s = lines.join('\n');
        break;
      }
      case 5: { // swap two lines
        const lines = s.split('\n');
        const i = rng.int(lines.length);
        const j = rng.int(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        s = lines.join('\n');
        break;
      }
      case 6: { // replace a line with random bytes
        const lines = s.split('\n');
        lines[rng.int(lines.length)] = Buffer.from(rng.bytes(rng.range(0, 40))).toString('latin1');
        s = lines.join('\n');
        break;
      }
      case 7: s = rng.bool() ? s.toUpperCase() : s.toLowerCase(); break; // flip case everywhere
      default: { // flip one character's case or digit
        const c = s[at] ?? '';
        const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
        s = s.slice(0, at) + (/[0-9]/.test(c) ? String((Number(c) + 1) % 10) : flipped) + s.slice(at + 1);
      }
    }
  }
  return s;
}

test('mutated configs: the parser throws only WGF_ERR_CONFIG_PARSE, and what it accepts round-trips (fuzz)', () => {
  const seed = testSeed(31337);
  const rng = new Rng(seed);
  const keys = keyPairs(rng, 16);
  const secrets = keys.map((k) => k.privateKey);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 5000; i++) {
    const base = renderConfig(randomConfig(rng, keys, 4));
    const text = mutate(rng, base);
    let cfg;
    try {
      cfg = parseConfig(text);
    } catch (e) {
      assert.ok(e instanceof FabricError, `seed ${seed} case ${i}: threw ${String(e)} for ${JSON.stringify(text)}`);
      assert.equal(e.code, 'WGF_ERR_CONFIG_PARSE');
      assert.equal(typeof e.details?.line, 'number');
      for (const s of secrets) assert.ok(!e.message.includes(s.slice(0, 16)), `seed ${seed} case ${i}: key material in "${e.message}"`);
      refused++;
      continue;
    }
    accepted++;
    // Whatever the parser accepts is a valid model: it renders, and the rendering is stable.
    const out = renderConfig(cfg);
    assert.deepEqual(parseConfig(out), cfg, `seed ${seed} case ${i}: accepted input does not round-trip`);
  }
  // Both outcomes must be exercised, or the mutations are too weak or too strong.
  assert.ok(accepted > 500 && refused > 500, `accepted ${accepted}, refused ${refused}`);
});

test('random bytes: the parser throws only WGF_ERR_CONFIG_PARSE (fuzz)', () => {
  const rng = new Rng(testSeed(4711));
  for (let i = 0; i < 3000; i++) {
    const text = Buffer.from(rng.bytes(rng.range(0, 300))).toString(rng.bool() ? 'utf8' : 'latin1');
    const withHeader = rng.bool() ? `[Interface]\n${text}` : text;
    try {
      const cfg = parseConfig(withHeader);
      assert.deepEqual(parseConfig(renderConfig(cfg)), cfg);
    } catch (e) {
      assert.ok(e instanceof FabricError && e.code === 'WGF_ERR_CONFIG_PARSE', `case ${i}: ${String(e)}`);
    }
  }
});

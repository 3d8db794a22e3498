import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { REJECT_AFTER_MESSAGES, ReplayWindow, WINDOW_SIZE } from './replay.js';
import { seededInt, seededRandom } from './testing/rng.js';

const W = WINDOW_SIZE;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => BigInt(from + i));

describe('replay window: sequences of (counter, accepted?)', () => {
  const cases: { name: string; steps: [bigint, boolean][] }[] = [
    { name: 'counter 0 is accepted once', steps: [[0n, true], [0n, false]] },
    { name: 'in order, then a replay', steps: [[1n, true], [2n, true], [3n, true], [2n, false]] },
    { name: 'out of order inside the window', steps: [[5n, true], [3n, true], [4n, true], [3n, false], [5n, false], [0n, true]] },
    { name: 'exactly WINDOW_SIZE behind the top is accepted, one more is not', steps: [[W + 10n, true], [10n, true], [9n, false]] },
    {
      name: 'a jump clears stale ring blocks (counters that reuse a block slot are new)',
      steps: [...range(0, 32).map((c): [bigint, boolean] => [c, true]), [4136n, true], [4096n, true], [4097n, true], [4096n, false], [31n, false]],
    },
    { name: 'a jump far beyond the ring', steps: [[3n, true], [1_000_000n, true], [999_999n, true], [3n, false], [1_000_000n, false]] },
    { name: 'the last usable counter and the limit', steps: [[REJECT_AFTER_MESSAGES - 1n, true], [REJECT_AFTER_MESSAGES, false], [REJECT_AFTER_MESSAGES - 2n, true]] },
    { name: 'negative counters are refused', steps: [[-1n, false]] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const w = new ReplayWindow();
      c.steps.forEach(([counter, ok], i) => assert.equal(w.accept(counter), ok, `step ${i}: counter ${counter}`));
    });
  }
});

test('wouldAccept does not record the counter', () => {
  const w = new ReplayWindow();
  assert.equal(w.wouldAccept(7n), true);
  assert.equal(w.wouldAccept(7n), true);
  assert.equal(w.accept(7n), true);
  assert.equal(w.wouldAccept(7n), false);
});

test('property: a locally shuffled stream with every packet duplicated is accepted exactly once per counter', () => {
  const int = seededInt(seededRandom(7));
  const n = 5000;
  const stream = range(0, n);
  for (let i = 0; i < n; i++) {
    const j = Math.min(n - 1, i + int(200)); // reordering far less than the window
    [stream[i], stream[j]] = [stream[j]!, stream[i]!];
  }
  const w = new ReplayWindow();
  const accepted = new Set<bigint>();
  for (const c of stream) {
    if (w.accept(c)) {
      assert.ok(!accepted.has(c), `counter ${c} accepted twice`);
      accepted.add(c);
    }
    assert.equal(w.accept(c), false, `duplicate of ${c} accepted`);
  }
  assert.equal(accepted.size, n);
});

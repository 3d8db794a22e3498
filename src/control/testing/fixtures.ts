import assert from 'node:assert/strict';
import { isFabricError, type ErrorCode } from '../../protocol/errors.js';
import type { Store } from '../../store/store.js';
import { generateKeyPair, toBase64 } from '../../wg/keys.js';
import { ControlPlane } from '../plane.js';
import { SecretBox } from '../secrets.js';

/** A clock that moves one second per reading, so times are distinct and deterministic. */
export function fakeClock(start = Date.parse('2030-01-01T00:00:00Z')): { now(): Date } {
  let t = start;
  return { now: () => new Date((t += 1000)) };
}

export function makePlane(store: Store, secrets = SecretBox.random()): ControlPlane {
  return new ControlPlane({ store, secrets, clock: fakeClock() });
}

/** A fresh valid public key (base64). */
export function pubkey(): string {
  return toBase64(generateKeyPair().publicKey);
}

/** Low-order and all-zero Curve25519 points (base64), which must be refused as peer keys. */
export const WEAK_KEYS = [
  Buffer.alloc(32).toString('base64'),
  Buffer.from([1, ...new Array(31).fill(0)]).toString('base64'),
  Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex').toString('base64'),
  Buffer.from('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex').toString('base64'),
];

export const admin = { actor: 'tester' };

/** Asserts that `p` rejects with a FabricError of `code`; returns the error. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, label = ''): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(isFabricError(e), `${label}: expected FabricError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `${label}: ${e.message}`);
    return e;
  }
  assert.fail(`${label}: expected ${code}, but it succeeded`);
}

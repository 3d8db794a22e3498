import { FabricError } from '../protocol/errors.js';
import type { Compare, KeyValue, Op } from '../store/store.js';
import { commit, type Ctx } from './context.js';
import * as K from './keys.js';
import { decode, peerPskContext, poolKeyContext, type PeerRecord, type PoolRecord } from './records.js';
import { sealedKeyId } from './secrets.js';
import * as V from './validate.js';

/**
 * Online master-key rotation. The store key `masterkey` records which master key the fabric
 * seals with (`primary`), the keys a finished rotation retired, and an unfinished rotation:
 *
 *   {"primary": "<id>", "retired": ["<id>", ...], "rotation": {"from": "<id>", "to": "<id>", "startedAt": "..."}}
 *
 * Absent (never rotated): each replica seals with the first key of its key file.
 *
 * Every txn that seals a secret compares `masterkey` and seals under its `primary`, so once a
 * rotation has switched `primary` no replica can commit a secret sealed with the old key. The
 * rotation then re-seals every secret still under the old key (pool private keys, peers'
 * preshared keys), each in a txn guarded by the object's revision, and finally records the old
 * key as retired in one txn that carries the one audit entry. A crash at any point loses
 * nothing: each secret is under the old or the new key, both in the key file until the end,
 * and running the rotation again finishes it. Afterwards a server whose key file holds only
 * retired keys refuses to start (WGF_ERR_MASTER_KEY_RETIRED).
 */

export const MASTER_KEY_STATE_KEY = 'masterkey';

export interface MasterKeyState {
  readonly primary: string;
  readonly retired: readonly string[];
  readonly rotation?: { readonly from: string; readonly to: string; readonly startedAt: string };
}

/** What a rotation did. */
export interface RotationResult {
  readonly from: string;
  readonly to: string;
  readonly resealed: { readonly pools: number; readonly presharedKeys: number };
  /** Revision of the txn that finished the rotation (its audit entry's revision). */
  readonly revision: number;
}

async function readState(ctx: Ctx): Promise<{ kv: KeyValue | undefined; state: MasterKeyState | null }> {
  const kv = await ctx.store.get(MASTER_KEY_STATE_KEY);
  return { kv, state: kv ? decode<MasterKeyState>(kv) : null };
}

/**
 * How a txn that stores a new secret seals it: under the fabric's current key, with the
 * compare that makes the txn fail (and be planned again) if a rotation switches keys meanwhile.
 */
export async function sealer(ctx: Ctx): Promise<{ seal: (plaintext: Uint8Array, context: string) => string; compare: Compare }> {
  const { kv, state } = await readState(ctx);
  const id = state?.primary ?? ctx.secrets.keyId;
  return { seal: (p, c) => ctx.secrets.sealWith(id, p, c), compare: { key: MASTER_KEY_STATE_KEY, modRevision: kv?.modRevision ?? 0 } };
}

/**
 * At server start: the key file must hold the fabric's current key (and, during an unfinished
 * rotation, the old one too). WGF_ERR_MASTER_KEY_RETIRED when it holds only retired keys,
 * WGF_ERR_MASTER_KEY_MISSING otherwise. Retired keys are dropped from the loaded ring.
 * Returns a warning for an unfinished rotation, else null.
 */
export async function checkMasterKeyState(ctx: Ctx): Promise<string | null> {
  const { state } = await readState(ctx);
  if (!state) return null;
  const held = ctx.secrets.keyIds;
  ctx.secrets.retire(state.retired);
  const need = [state.primary, ...(state.rotation ? [state.rotation.from] : [])];
  const missing = need.filter((id) => !ctx.secrets.has(id));
  if (missing.length > 0) {
    const retiredHeld = held.filter((id) => state.retired.includes(id));
    if (retiredHeld.length > 0 && retiredHeld.length === held.length) {
      throw new FabricError('WGF_ERR_MASTER_KEY_RETIRED', `the master key file holds only retired key(s) ${retiredHeld.join(', ')}; the fabric seals with key ${state.primary} since a rotation`, { retired: retiredHeld, primary: state.primary });
    }
    throw new FabricError('WGF_ERR_MASTER_KEY_MISSING', `the master key file lacks key(s) ${missing.join(', ')} that the fabric needs (it holds ${held.join(', ')})`, { missing, held });
  }
  return state.rotation ? `a master-key rotation from ${state.rotation.from} to ${state.rotation.to} is unfinished; run wgfabric admin rotate-master-key again to finish it` : null;
}

/**
 * Rotates to key `to` (default: the one key of the key file that is neither current nor
 * retired); finishes an unfinished rotation. See the file comment.
 */
export async function rotateMasterKey(ctx: Ctx, to: string | undefined, actor: string): Promise<RotationResult> {
  if (to !== undefined && !/^[0-9a-f]{16}$/.test(to)) throw V.invalid('keyId', 'must be a master key id (16 hex digits, as printed by wgfabric admin add-master-key)');
  ctx.secrets.refresh(); // the operator added the new key to the key file since this server started
  let { kv, state } = await readState(ctx);
  const current = state?.primary ?? ctx.secrets.keyId;
  const retired = state?.retired ?? [];
  let from: string;
  let target: string;
  if (state?.rotation) {
    ({ from, to: target } = state.rotation);
    if (to !== undefined && to !== target) {
      throw new FabricError('WGF_ERR_CONFLICT', `a rotation to key ${target} is unfinished; finish it first (run this again without --key-id)`, { to: target });
    }
  } else {
    from = current;
    const candidates = ctx.secrets.keyIds.filter((id) => id !== current && !retired.includes(id));
    if (to === undefined) {
      if (candidates.length !== 1) {
        throw V.invalid('keyId', candidates.length === 0
          ? `the master key file of this server holds no new key (current: ${current}); add one to every replica's key file (wgfabric admin add-master-key) first`
          : `the master key file holds several new keys (${candidates.join(', ')}); name one with --key-id`);
      }
      target = candidates[0]!;
    } else {
      if (to === current) throw V.invalid('keyId', `key ${to} is already the current master key`);
      if (retired.includes(to)) throw V.invalid('keyId', `key ${to} was retired by an earlier rotation and cannot come back`);
      target = to;
    }
    if (!ctx.secrets.has(target)) {
      throw new FabricError('WGF_ERR_MASTER_KEY_MISSING', `this server does not hold key ${target}; add it to the master key file of every replica first`, { keyId: target });
    }
    // Switch: from here on every replica seals under `target` (see sealer).
    const next: MasterKeyState = { primary: target, retired, rotation: { from, to: target, startedAt: ctx.clock.now().toISOString() } };
    const res = await ctx.store.txn([{ key: MASTER_KEY_STATE_KEY, modRevision: kv?.modRevision ?? 0 }], [{ type: 'put', key: MASTER_KEY_STATE_KEY, value: JSON.stringify(next) }]);
    if (!res.succeeded) throw new FabricError('WGF_ERR_CONFLICT', 'another master-key rotation started at the same time; run this again');
  }
  if (!ctx.secrets.has(from)) throw new FabricError('WGF_ERR_MASTER_KEY_MISSING', `this server does not hold the old key ${from}, which secrets may still be sealed with`, { keyId: from });
  const resealed = await resealAll(ctx, target);
  // Finish: the old key retired, in one txn with the one audit entry of the rotation.
  const revision = await commit(ctx, actor, async () => {
    ({ kv, state } = await readState(ctx));
    if (!kv || state?.rotation?.to !== target) throw new FabricError('WGF_ERR_CONFLICT', 'the master-key state changed during the rotation; run this again');
    const done: MasterKeyState = { primary: target, retired: [...new Set([...state.retired, from])] };
    return {
      compares: [{ key: MASTER_KEY_STATE_KEY, modRevision: kv.modRevision }],
      ops: [{ type: 'put', key: MASTER_KEY_STATE_KEY, value: JSON.stringify(done) }],
      audit: { action: 'update', kind: 'master-key', object: `master-key/${target}` },
      result: (rev) => rev,
    };
  });
  ctx.secrets.retire([from]);
  return { from, to: target, resealed, revision };
}

const BATCH = 50;

/** Re-seals every secret not under `to`; returns how many of each kind it changed. */
async function resealAll(ctx: Ctx, to: string): Promise<{ pools: number; presharedKeys: number }> {
  let pools = 0;
  let presharedKeys = 0;
  for (const p of (await ctx.store.range(K.POOL_LIST_PREFIX)).kvs) {
    const name = p.key.slice(K.POOL_LIST_PREFIX.length);
    pools += await resealKeys(ctx, [K.poolKey(name)], to, (kv) => {
      const rec = decode<PoolRecord>(kv);
      if (sealedKeyId(rec.privateKeySealed) === to) return null;
      return { ...rec, privateKeySealed: reseal(ctx, rec.privateKeySealed, poolKeyContext(name), to) };
    });
    let after: string | undefined;
    for (;;) {
      const page = await ctx.store.range(K.peersPrefix(name), { limit: 1000, ...(after !== undefined ? { after } : {}) });
      const keys = page.kvs.filter((kv) => decode<PeerRecord>(kv).presharedKeySealed !== undefined).map((kv) => kv.key);
      for (let i = 0; i < keys.length; i += BATCH) {
        presharedKeys += await resealKeys(ctx, keys.slice(i, i + BATCH), to, (kv) => {
          const rec = decode<PeerRecord>(kv);
          if (rec.presharedKeySealed === undefined || sealedKeyId(rec.presharedKeySealed) === to) return null;
          return { ...rec, presharedKeySealed: reseal(ctx, rec.presharedKeySealed, peerPskContext(rec.pool, rec.name), to) };
        });
      }
      if (!page.more) break;
      after = page.kvs.at(-1)!.key;
    }
  }
  return { pools, presharedKeys };
}

function reseal(ctx: Ctx, sealed: string, context: string, to: string): string {
  const plain = ctx.secrets.open(sealed, context);
  try {
    return ctx.secrets.sealWith(to, plain, context);
  } finally {
    plain.fill(0);
  }
}

/**
 * Rewrites the records at `keys` with `change` (null: nothing to do) in one txn guarded by
 * their revisions; read and retried until it commits (a concurrent edit moved a record).
 * Not audited and with no other change: the records' contents stay the same.
 */
async function resealKeys(ctx: Ctx, keys: readonly string[], to: string, change: (kv: KeyValue) => object | null): Promise<number> {
  for (let attempt = 0; attempt < ctx.maxAttempts; attempt++) {
    const compares: Compare[] = [];
    const ops: Op[] = [];
    for (const key of keys) {
      const kv = await ctx.store.get(key);
      if (!kv) continue; // deleted meanwhile
      const next = change(kv);
      if (!next) continue;
      compares.push({ key, modRevision: kv.modRevision });
      ops.push({ type: 'put', key, value: JSON.stringify(next) });
    }
    if (ops.length === 0) return 0;
    if ((await ctx.store.txn(compares, ops)).succeeded) return ops.length;
  }
  throw new FabricError('WGF_ERR_UNAVAILABLE', `gave up re-sealing under key ${to} after ${ctx.maxAttempts} attempts under write contention; run the rotation again`);
}

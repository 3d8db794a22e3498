import { anycastSettingsOf, DEFAULT_ANYCAST_SETTINGS } from '../protocol/announce.js';
import type { PoolCreate, PoolListFilter, PoolUpdate } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { Page, Pool } from '../protocol/types.js';
import type { KeyValue, Op } from '../store/store.js';
import { generateKeyPair, parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import { checkIfMatch, commit, notFound, txnWithAudit, type Ctx, type MutationOptions } from './context.js';
import { formatNet, overlaps, parseNet, parsePoolPrefix } from '../protocol/ipam.js';
import * as K from './keys.js';
import { nodeTokenDeletes } from './node-tokens.js';
import { scanPage, type PageRequest } from './paging.js';
import { DEFAULT_LB_SETTINGS } from '../protocol/lb-settings.js';
import { decode, lbSettingsOf, poolEntity, poolKeyContext, type PoolRecord } from './records.js';
import { sealer } from './master-key.js';
import * as V from './validate.js';
import type { Reader } from './overlay.js';

/** Pool CRUD. The server key pair is made here; only its sealed private key is stored. */

export const DEFAULT_LISTEN_PORT = 51820;

/** Creates a pool with a fresh (or imported) server key pair; at least one prefix is required. */
export async function createPool(ctx: Ctx, input: PoolCreate, opts: MutationOptions): Promise<Pool> {
  const name = V.name('name', input.name);
  const ipv4 = input.ipv4Prefix == null ? null : formatNet(parsePoolPrefix(input.ipv4Prefix, 4, 'ipv4Prefix'));
  const ipv6 = input.ipv6Prefix == null ? null : formatNet(parsePoolPrefix(input.ipv6Prefix, 6, 'ipv6Prefix'));
  if (ipv4 === null && ipv6 === null) throw V.invalid('ipv4Prefix', 'or ipv6Prefix is required: the pool needs a tunnel prefix');
  const fields = poolFields(input);
  const lb = input.lb === undefined ? { ...DEFAULT_LB_SETTINGS } : V.lbSettings('lb', input.lb, DEFAULT_LB_SETTINGS);
  const anycast = V.anycastSettings('anycast', input.anycast ?? {}, DEFAULT_ANYCAST_SETTINGS);
  let privateKey: Uint8Array;
  if (input.privateKey !== undefined) {
    privateKey = parseKey(input.privateKey, 'privateKey');
  } else {
    privateKey = generateKeyPair().privateKey;
  }
  const publicKey = toBase64(publicKeyOf(privateKey));
  const now = ctx.clock.now().toISOString();
  const rec: PoolRecord = {
    name, description: fields.description ?? '', publicKey, privateKeySealed: '',
    listenPort: fields.listenPort ?? DEFAULT_LISTEN_PORT, ipv4Prefix: ipv4, ipv6Prefix: ipv6, endpoint: fields.endpoint ?? null,
    dns: fields.dns ?? [], mtu: fields.mtu ?? null, persistentKeepalive: fields.persistentKeepalive ?? 0, labels: fields.labels ?? {}, lb, anycast,
    createdAt: now, updatedAt: now,
  };
  const allowOverlap = input.allowOverlap === undefined ? false : V.bool('allowOverlap', input.allowOverlap);
  try {
    return await commit(ctx, opts.actor, async () => {
    if (await ctx.store.get(K.poolKey(name))) throw exists(name);
    const sealing = await sealer(ctx); // under the fabric's current master key (master-key.ts)
    rec.privateKeySealed = sealing.seal(privateKey, poolKeyContext(name));
    const seq = await ctx.store.get(K.POOL_SEQ_KEY);
    if (!allowOverlap) await assertNoOverlap(ctx, name, [ipv4, ipv6]);
    return {
      compares: [{ key: K.poolKey(name), modRevision: 0 }, { key: K.poolNameKey(name), modRevision: 0 }, { key: K.POOL_SEQ_KEY, modRevision: seq?.modRevision ?? 0 }, sealing.compare],
      ops: [
        { type: 'put', key: K.poolKey(name), value: JSON.stringify(rec) }, { type: 'put', key: K.poolNameKey(name), value: '' },
        { type: 'put', key: K.POOL_SEQ_KEY, value: String(Number(seq?.value ?? 0) + 1) },
      ],
      audit: { action: 'create', kind: 'pool', object: `pools/${name}` },
      result: (rev) => poolEntity(rec, rev),
    };
    });
  } finally {
    privateKey.fill(0);
  }
}

/** The pool (never its private key); WGF_ERR_NOT_FOUND when absent. */
export async function getPool(ctx: Ctx, name: string): Promise<Pool> {
  const { kv, rec } = await readPool(ctx, name);
  return poolEntity(rec, kv.modRevision);
}

/** A page of pools, filtered by label selector. */
export async function listPools(ctx: Ctx, filter: PageRequest & { label?: string | undefined }): Promise<Page<Pool>> {
  const want = V.labelSelector('label', filter.label);
  return scanPage(ctx.store, K.POOL_LIST_PREFIX, K.POOL_LIST_PREFIX, filter, async (kv) => {
    const pool = await ctx.store.get(K.poolKey(kv.key.slice(K.POOL_LIST_PREFIX.length)));
    if (!pool) return null; // deleted between the two reads
    const rec = decode<PoolRecord>(pool);
    return V.matchesLabels(rec.labels, want) ? poolEntity(rec, pool.modRevision) : null;
  });
}

/**
 * Partial update (prefixes are fixed); If-Match honoured. `lb` is merged field by field into
 * the pool's current LB settings (a pool stored without them starts from the defaults).
 */
export async function updatePool(ctx: Ctx, name: string, patch: PoolUpdate, opts: MutationOptions): Promise<Pool> {
  V.name('pool', name);
  const fields = poolFields(patch);
  // Shape and values are checked before the txn (a bad value never waits for the store).
  if (patch.lb !== undefined) V.lbSettings('lb', patch.lb, DEFAULT_LB_SETTINGS);
  if (patch.anycast !== undefined) V.anycastSettings('anycast', patch.anycast, DEFAULT_ANYCAST_SETTINGS);
  return commit(ctx, opts.actor, async () => {
    const { kv, rec } = await readPool(ctx, name);
    checkIfMatch(kv, opts.ifMatch, `pools/${name}`);
    if (rec.deleting) throw beingDeleted(name);
    const lb = patch.lb === undefined ? {} : { lb: V.lbSettings('lb', patch.lb, lbSettingsOf(rec)) };
    if (lb.lb) {
      // A Maglev table needs a slot per backend at least; every LB of the pool would refuse it.
      const nodes = await ctx.store.count(K.nodesPrefix(name));
      if (lb.lb.tableSize < nodes) throw V.invalid('lb.tableSize', `${lb.lb.tableSize} is smaller than the pool's ${nodes} nodes (aim for more than 100 slots per node)`);
    }
    const anycast = patch.anycast === undefined ? {} : { anycast: V.anycastSettings('anycast', patch.anycast, anycastSettingsOf(rec)) };
    const next: PoolRecord = { ...rec, ...fields, ...lb, ...anycast, updatedAt: ctx.clock.now().toISOString() };
    return {
      compares: [{ key: K.poolKey(name), modRevision: kv.modRevision }],
      ops: [{ type: 'put', key: K.poolKey(name), value: JSON.stringify(next) }],
      audit: { action: 'update', kind: 'pool', object: `pools/${name}` },
      result: (rev) => poolEntity(next, rev),
    };
  });
}

/**
 * Deletes a pool. Without `force` it is refused (WGF_ERR_IN_USE) while the pool has nodes or
 * peers; with `force` everything of the pool goes in one txn. Two phases keep this correct
 * with concurrent writers: first the pool record is marked `deleting` (every child mutation
 * compares the pool record, so in-flight ones fail and new ones are refused), then the
 * children are read and everything is deleted in one txn that compares the mark.
 */
export async function deletePool(ctx: Ctx, name: string, opts: MutationOptions & { force?: boolean }): Promise<void> {
  V.name('pool', name);
  const path = `pools/${name}`;
  let ifMatch = opts.ifMatch;
  for (let attempt = 0; attempt < ctx.maxAttempts; attempt++) {
    const { kv, rec } = await readPool(ctx, name);
    checkIfMatch(kv, ifMatch, path);
    let markRev = kv.modRevision;
    if (!rec.deleting) {
      if (!opts.force) await assertEmpty(ctx, name); // the common refusal writes nothing
      const marked: PoolRecord = { ...rec, deleting: true };
      const mark = await ctx.store.txn([{ key: K.poolKey(name), modRevision: kv.modRevision }], [{ type: 'put', key: K.poolKey(name), value: JSON.stringify(marked) }]);
      if (!mark.succeeded) continue;
      markRev = mark.revision;
      ifMatch = undefined; // it held for the record we marked; the mark moved the revision
    }
    const keys = await poolKeys(ctx, name);
    const children = keys.filter((k) => K.classifyPoolKey(name, k)?.kind === 'node' || K.classifyPoolKey(name, k)?.kind === 'peer');
    if (!opts.force && children.length > 0) {
      // A child slipped in before the mark (or a crashed delete left a stale mark): undo it, refuse.
      const { deleting: _, ...unmarked } = rec;
      await ctx.store.txn([{ key: K.poolKey(name), modRevision: markRev }], [{ type: 'put', key: K.poolKey(name), value: JSON.stringify(unmarked) }]);
      await assertEmpty(ctx, name);
      continue;
    }
    // The node tokens of the pool go with it (see nodeTokenDeletes).
    const ops = [...keys.map((key): Op => ({ type: 'delete', key })), ...(await nodeTokenDeletes(ctx, name))];
    const res = await txnWithAudit(ctx, opts.actor, [{ key: K.poolKey(name), modRevision: markRev }], ops, { action: 'delete', kind: 'pool', object: path });
    if (res.succeeded) return;
  }
  throw new FabricError('WGF_ERR_UNAVAILABLE', `pool ${name} kept changing while being deleted; retry`);
}

/** The pool's server private key (base64), decrypted. The caller audits the read. */
export async function poolPrivateKey(ctx: Ctx, name: string, opts: MutationOptions): Promise<string> {
  const { rec } = await readPool(ctx, name);
  const key = ctx.secrets.open(rec.privateKeySealed, poolKeyContext(name));
  const b64 = toBase64(key);
  key.fill(0);
  await commit(ctx, opts.actor, async () => ({
    compares: [], ops: [], audit: { action: 'read', kind: 'pool', object: `pools/${name}/private-key` }, result: () => undefined,
  }));
  return b64;
}

/** Reads the pool record or throws WGF_ERR_NOT_FOUND. */
export async function readPool(ctx: Ctx, name: string, r: Reader = ctx.store): Promise<{ kv: KeyValue; rec: PoolRecord }> {
  V.name('pool', name);
  const kv = await r.get(K.poolKey(name));
  if (!kv) throw notFound(`pool ${name}`, `pools/${name}`);
  return { kv, rec: decode<PoolRecord>(kv) };
}

/** Reads the pool for a child mutation: it must exist and not be being deleted. */
/**
 * A key under pool `pool` (a node, an LB report), or WGF_ERR_NOT_FOUND: for the pool when the
 * pool itself is missing, else for `what` at `path`.
 */
export async function readPoolChild(ctx: Ctx, pool: string, key: string, what: string, path: string): Promise<KeyValue> {
  const kv = await ctx.store.get(key);
  if (!kv) {
    await readPool(ctx, pool); // a missing pool is reported as such
    throw notFound(what, path);
  }
  return kv;
}

export async function readPoolForChild(ctx: Ctx, name: string, r: Reader = ctx.store): Promise<{ kv: KeyValue; rec: PoolRecord }> {
  const p = await readPool(ctx, name, r);
  if (p.rec.deleting) throw beingDeleted(name);
  return p;
}

function poolFields(input: PoolUpdate): Partial<PoolRecord> {
  const out: Partial<PoolRecord> = {};
  if (input.description !== undefined) out.description = V.text('description', input.description, 256);
  if (input.listenPort !== undefined) out.listenPort = V.int('listenPort', input.listenPort, 1, 65535);
  if (input.endpoint !== undefined) out.endpoint = V.endpoint('endpoint', input.endpoint);
  if (input.dns !== undefined) out.dns = V.dnsList('dns', input.dns);
  if (input.mtu !== undefined) out.mtu = input.mtu === null ? null : V.int('mtu', input.mtu, 1280, 9000);
  if (input.persistentKeepalive !== undefined) out.persistentKeepalive = V.int('persistentKeepalive', input.persistentKeepalive, 0, 65535);
  if (input.labels !== undefined) out.labels = V.labels('labels', input.labels);
  return out;
}

/**
 * Refuses tunnel prefixes that overlap another pool's (WGF_ERR_POOL_OVERLAP, naming it): two
 * pools handing out the same addresses would route one client's traffic to another.
 */
async function assertNoOverlap(ctx: Ctx, name: string, prefixes: readonly (string | null)[]): Promise<void> {
  const mine = prefixes.filter((p): p is string => p !== null).map((p) => parseNet(p));
  for (const kv of (await ctx.store.range(K.POOL_LIST_PREFIX)).kvs) {
    const other = kv.key.slice(K.POOL_LIST_PREFIX.length);
    const okv = await ctx.store.get(K.poolKey(other));
    if (!okv || other === name) continue;
    const o = decode<PoolRecord>(okv);
    for (const theirs of [o.ipv4Prefix, o.ipv6Prefix]) {
      if (theirs === null) continue;
      const hit = mine.find((m) => overlaps(m, parseNet(theirs)));
      if (hit) {
        throw new FabricError('WGF_ERR_POOL_OVERLAP', `tunnel prefix ${formatNet(hit)} overlaps ${theirs} of pool ${other}; pick another prefix, or allow it with --allow-overlap (API: allowOverlap)`, {
          prefix: formatNet(hit), pool: other, other: theirs,
        });
      }
    }
  }
}

async function assertEmpty(ctx: Ctx, name: string): Promise<void> {
  const [nodes, peers] = await Promise.all([ctx.store.count(K.nodesPrefix(name)), ctx.store.count(K.peersPrefix(name))]);
  if (nodes + peers > 0) {
    throw new FabricError('WGF_ERR_IN_USE', `pool ${name} still has ${nodes} node(s) and ${peers} peer(s); delete them first, or delete everything with --force (API: ?force=true)`, { nodes, peers });
  }
}

async function poolKeys(ctx: Ctx, name: string): Promise<string[]> {
  const keys: string[] = [];
  for (const prefix of K.poolOwnedPrefixes(name)) {
    for (const kv of (await ctx.store.range(prefix)).kvs) keys.push(kv.key);
  }
  for (const key of K.poolOwnedKeys(name)) if (await ctx.store.get(key)) keys.push(key);
  return keys;
}

function exists(name: string): FabricError {
  return new FabricError('WGF_ERR_ALREADY_EXISTS', `pool ${name} already exists`, { object: `pools/${name}` });
}

function beingDeleted(name: string): FabricError {
  return new FabricError('WGF_ERR_IN_USE', `pool ${name} is being deleted; repeat the delete to finish it`, { object: `pools/${name}` });
}

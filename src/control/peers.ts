import type { PeerCreate, PeerUpdate } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { Page, Peer } from '../protocol/types.js';
import type { Compare, KeyValue, Op } from '../store/store.js';
import type { Plan } from './group-commit.js';
import type { Reader } from './overlay.js';
import { canonicalPublicKey, parseKey, toBase64, toHex as keyHex } from '../wg/keys.js';
import { allocate, claimKeyOf, claimRequested, type Claim } from './alloc.js';
import { checkIfMatch, notFound, type Ctx, type MutationOptions } from './context.js';
import { formatNet, fromHex, networkOf, overlaps, parseNet, toHex, type Net } from '../protocol/ipam.js';
import * as K from './keys.js';
import { scanPage, type PageRequest } from './paging.js';
import { readPool, readPoolForChild } from './pools.js';
import { decode, peerEntity, peerPskContext, type PeerRecord, type PoolRecord, type PskOpener } from './records.js';
import { sealer } from './master-key.js';
import * as V from './validate.js';
import { pskOpenerOf } from './snapshot-stream.js';

/**
 * Peer CRUD with its claims: tunnel addresses (alloc.ts), the public key (one peer per key
 * per pool) and extra AllowedIPs (no overlap with the pool prefixes or with another peer's
 * AllowedIPs). All of a peer's claims change in the same txn as the peer record. This
 * process commits the peer mutations of one pool that arrive together in one txn (group
 * commit, group-commit.ts; each keeps its audit entry and its answer) so its own requests do
 * not race; other writers are handled by the compares. The plan* functions validate their
 * input at once (throwing) and return the plan, which reads through `r` (an Overlay).
 */

/** Parsed pool prefixes by text (a Net is immutable): every creation of a pool parses the same two. */
const prefixes = new Map<string, Net>();
function poolPrefix(text: string): Net {
  let net = prefixes.get(text);
  if (!net) {
    if (prefixes.size >= 1024) prefixes.clear();
    net = parseNet(text);
    prefixes.set(text, net);
  }
  return net;
}

/** The lane of a pool's peer mutations. */
export const peerLane = (pool: string): string => `peers/${pool}`;

export async function createPeer(ctx: Ctx, pool: string, input: PeerCreate, opts: MutationOptions): Promise<Peer> {
  const plan = planCreatePeer(ctx, pool, input);
  return ctx.group.submit(peerLane(pool), opts.actor, plan);
}

/** Validates a creation and returns its plan. */
export function planCreatePeer(ctx: Ctx, pool: string, input: PeerCreate): Plan<Peer> {
  V.name('pool', pool);
  const name = V.name('name', input.name);
  const publicKey = canonicalPublicKey(input.publicKey, 'publicKey');
  const requested = requestedAddresses(input.addresses);
  const extra = V.allowedIps('allowedIps', input.allowedIps);
  const enabled = input.enabled === undefined ? true : V.bool('enabled', input.enabled);
  const labels = V.labels('labels', input.labels);
  const expiresAt = V.time('expiresAt', input.expiresAt);
  const psk = input.presharedKey === undefined ? undefined : presharedKeyOf(input.presharedKey);
  const path = `pools/${pool}/peers/${name}`;
  return async (r, attempt) => {
    const p = await readPoolForChild(ctx, pool, r);
    if (await r.get(K.peerKey(pool, name))) throw new FabricError('WGF_ERR_ALREADY_EXISTS', `peer ${name} already exists in pool ${pool}`, { object: path });
    const pk = await pubkeyClaim(r, pool, publicKey, name);
    const claims: Claim[] = [];
    for (const [fam, text] of [[4, p.rec.ipv4Prefix], [6, p.rec.ipv6Prefix]] as const) {
      const want = requested.get(fam);
      if (text === null) {
        if (want) throw new FabricError('WGF_ERR_ADDRESS_OUTSIDE_POOL', `pool ${pool} has no IPv${fam} prefix`, { address: formatNet(want) });
        continue;
      }
      const prefix = poolPrefix(text);
      claims.push(want ? await claimRequested(r, pool, prefix, want, name) : await allocate(r, pool, prefix, name, attempt));
    }
    const cidr = await cidrClaims(r, pool, p.rec, extra, [], name);
    const now = ctx.clock.now().toISOString();
    const sealing = psk ? await sealer(ctx) : null; // under the fabric's current master key (master-key.ts)
    const rec: PeerRecord = {
      pool, name, publicKey, addresses: claims.map((c) => c.address), allowedIps: extra.map(formatNet), enabled, labels, expiresAt,
      ...(psk && sealing ? { presharedKeySealed: sealing.seal(psk, peerPskContext(pool, name)) } : {}), createdAt: now, updatedAt: now,
    };
    return {
      compares: [...(sealing ? [sealing.compare] : []),
        { key: K.poolKey(pool), modRevision: p.kv.modRevision }, { key: K.peerKey(pool, name), modRevision: 0 },
        ...pk.compares, ...claims.flatMap((c) => c.compares), ...cidr.compares,
      ],
      ops: [{ type: 'put', key: K.peerKey(pool, name), value: JSON.stringify(rec) }, ...pk.ops, ...claims.flatMap((c) => c.ops), ...cidr.ops],
      audit: { action: 'create', kind: 'peer', object: path },
      // The holder who set the preshared key gets it back in this answer, and nobody else.
      result: (rev) => peerEntity(rec, rev, psk ? () => toBase64(psk) : undefined),
    };
  };
}

/** The peer; WGF_ERR_NOT_FOUND for a missing pool or peer. */
export async function getPeer(ctx: Ctx, pool: string, name: string): Promise<Peer> {
  const kv = await readPeer(ctx, ctx.store, pool, name);
  return peerEntity(decode<PeerRecord>(kv), kv.modRevision);
}

/** A page of the pool's peers, filtered by enabled, label selector and name prefix. */
export async function listPeers(
  ctx: Ctx, pool: string,
  filter: PageRequest & { label?: string | undefined; enabled?: boolean | undefined; prefix?: string | undefined; keep?: ((publicKey: string) => boolean) | undefined },
): Promise<Page<Peer>> {
  await readPool(ctx, pool);
  const want = V.labelSelector('label', filter.label);
  if (filter.prefix !== undefined && !/^[a-z0-9._-]{1,63}$/.test(filter.prefix)) throw V.invalid('prefix', 'must be the start of a peer name');
  const scan = K.peersPrefix(pool) + (filter.prefix ?? '');
  return scanPage(ctx.store, K.peersPrefix(pool), scan, filter, (kv) => {
    const rec = decode<PeerRecord>(kv);
    if ((filter.enabled !== undefined && rec.enabled !== filter.enabled) || !V.matchesLabels(rec.labels, want)) return null;
    if (filter.keep && !filter.keep(rec.publicKey)) return null; // e.g. the connected filter (runtime session state)
    return peerEntity(rec, kv.modRevision);
  });
}

/** Partial update (re-key, AllowedIPs, enabled, labels, expiry); claims move in the same txn. */
export async function updatePeer(ctx: Ctx, pool: string, name: string, patch: PeerUpdate, opts: MutationOptions): Promise<Peer> {
  const plan = planUpdatePeer(ctx, pool, name, patch, opts.ifMatch);
  return ctx.group.submit(peerLane(pool), opts.actor, plan);
}

/** Validates an update and returns its plan. */
export function planUpdatePeer(ctx: Ctx, pool: string, name: string, patch: PeerUpdate, ifMatch: number | undefined): Plan<Peer> {
  const publicKey = patch.publicKey === undefined ? undefined : canonicalPublicKey(patch.publicKey, 'publicKey');
  const extra = patch.allowedIps === undefined ? undefined : V.allowedIps('allowedIps', patch.allowedIps);
  const fields: Partial<PeerRecord> = {};
  if (patch.enabled !== undefined) fields.enabled = V.bool('enabled', patch.enabled);
  if (patch.labels !== undefined) fields.labels = V.labels('labels', patch.labels);
  if (patch.expiresAt !== undefined) fields.expiresAt = V.time('expiresAt', patch.expiresAt);
  const psk = patch.presharedKey === undefined || patch.presharedKey === null ? patch.presharedKey : presharedKeyOf(patch.presharedKey);
  const path = `pools/${pool}/peers/${name}`;
  return async (r) => {
    const p = await readPoolForChild(ctx, pool, r);
    const kv = await readPeer(ctx, r, pool, name);
    checkIfMatch(kv, ifMatch, path);
    const old = decode<PeerRecord>(kv);
    const compares: Compare[] = [{ key: K.poolKey(pool), modRevision: p.kv.modRevision }, { key: kv.key, modRevision: kv.modRevision }];
    const ops: Op[] = [];
    const next: PeerRecord = { ...old, ...fields, updatedAt: ctx.clock.now().toISOString() };
    if (psk === null) delete next.presharedKeySealed;
    else if (psk !== undefined) {
      const sealing = await sealer(ctx); // under the fabric's current master key (master-key.ts)
      next.presharedKeySealed = sealing.seal(psk, peerPskContext(pool, name));
      compares.push(sealing.compare);
    }
    if (publicKey !== undefined && publicKey !== old.publicKey) {
      const pk = await pubkeyClaim(r, pool, publicKey, name);
      compares.push(...pk.compares);
      ops.push(...pk.ops, { type: 'delete', key: pubkeyKeyOf(pool, old.publicKey) });
      next.publicKey = publicKey;
    }
    if (extra !== undefined) {
      const oldNets = old.allowedIps.map((t) => parseNet(t));
      const cidr = await cidrClaims(r, pool, p.rec, extra, oldNets, name);
      compares.push(...cidr.compares);
      ops.push(...cidr.ops);
      next.allowedIps = extra.map(formatNet);
    }
    ops.unshift({ type: 'put', key: kv.key, value: JSON.stringify(next) });
    return {
      compares, ops, audit: { action: 'update', kind: 'peer', object: path },
      result: (rev) => peerEntity(next, rev, psk ? () => toBase64(psk) : undefined),
    };
  };
}

/** Deletes a peer and frees its claims. Allowed while its pool is being deleted. */
export async function deletePeer(ctx: Ctx, pool: string, name: string, opts: MutationOptions): Promise<void> {
  await ctx.group.submit(peerLane(pool), opts.actor, planDeletePeer(ctx, pool, name, opts.ifMatch));
}

/** Returns the plan of a deletion. */
export function planDeletePeer(ctx: Ctx, pool: string, name: string, ifMatch: number | undefined): Plan<void> {
  const path = `pools/${pool}/peers/${name}`;
  return async (r) => {
    const kv = await readPeer(ctx, r, pool, name);
    checkIfMatch(kv, ifMatch, path);
    return {
      compares: [{ key: kv.key, modRevision: kv.modRevision }],
      ops: claimKeysOf(decode<PeerRecord>(kv)).map((key): Op => ({ type: 'delete', key })),
      audit: { action: 'delete', kind: 'peer', object: path },
      result: () => undefined,
    };
  };
}

/** Opens peers' sealed preshared keys with the master key (for the pool's node views). */
export function pskOpener(ctx: Ctx): PskOpener {
  return pskOpenerOf(ctx.secrets);
}

/** A preshared key from the API: 32 bytes, not all zero (WireGuard reads all-zero as "none"). */
function presharedKeyOf(text: string): Uint8Array {
  const key = parseKey(text, 'presharedKey');
  if (key.every((b) => b === 0)) throw V.invalid('presharedKey', 'is all zero, which WireGuard reads as "no preshared key"; make one with `wg genpsk`');
  return key;
}

/** Every store key a peer owns: its record and all its claims (used by delete and checks). */
export function claimKeysOf(rec: PeerRecord): string[] {
  return [
    K.peerKey(rec.pool, rec.name),
    pubkeyKeyOf(rec.pool, rec.publicKey),
    ...rec.addresses.map((a) => claimKeyOf(rec.pool, parseNet(a, 'address', false))),
    ...rec.allowedIps.map((c) => cidrKeyOf(rec.pool, parseNet(c))),
  ];
}

/** The public key claim key of a peer key (any accepted form). */
export function pubkeyKeyOf(pool: string, publicKey: string): string {
  return K.pubkeyKey(pool, keyHex(parseKey(publicKey)));
}

/** The claim key of one extra AllowedIPs prefix. */
export function cidrKeyOf(pool: string, n: Net): string {
  return K.cidrKey(pool, n.family, toHex(n.family, networkOf(n)), n.len);
}

async function readPeer(ctx: Ctx, r: Reader, pool: string, name: string): Promise<KeyValue> {
  V.name('pool', pool);
  V.name('peer', name);
  const kv = await r.get(K.peerKey(pool, name));
  if (!kv) {
    await readPool(ctx, pool);
    throw notFound(`peer ${name} in pool ${pool}`, `pools/${pool}/peers/${name}`);
  }
  return kv;
}

async function pubkeyClaim(r: Reader, pool: string, publicKey: string, peer: string): Promise<{ compares: Compare[]; ops: Op[] }> {
  const key = pubkeyKeyOf(pool, publicKey);
  const holder = await r.get(key);
  if (holder) {
    throw new FabricError('WGF_ERR_ALREADY_EXISTS', `this public key is already used by peer ${holder.value} of pool ${pool}`, { peer: holder.value });
  }
  return { compares: [{ key, modRevision: 0 }], ops: [{ type: 'put', key, value: peer }] };
}

/**
 * Claims for a peer's new extra AllowedIPs (`want`, replacing `have`): none may overlap the
 * pool's tunnel prefixes (IPAM hands those out) or another peer's AllowedIPs. The txn also
 * bumps cidrseq/<pool>, so two concurrent checks of one pool cannot both pass.
 */
async function cidrClaims(r: Reader, pool: string, p: PoolRecord, want: Net[], have: Net[], peer: string): Promise<{ compares: Compare[]; ops: Op[] }> {
  const key = (n: Net) => cidrKeyOf(pool, n);
  const haveKeys = new Set(have.map(key));
  const wantKeys = new Set(want.map(key));
  const added = want.filter((n) => !haveKeys.has(key(n)));
  const ops: Op[] = have.filter((n) => !wantKeys.has(key(n))).map((n): Op => ({ type: 'delete', key: key(n) }));
  if (added.length === 0) return { compares: [], ops };
  for (const prefix of [p.ipv4Prefix, p.ipv6Prefix]) {
    if (prefix === null) continue;
    const hit = added.find((n) => overlaps(n, parseNet(prefix)));
    if (hit) {
      throw new FabricError('WGF_ERR_ALLOWED_IPS_OVERLAP', `allowedIps ${formatNet(hit)} overlaps the pool's tunnel prefix ${prefix}, from which peers get their addresses`, {
        cidr: formatNet(hit), prefix,
      });
    }
  }
  const seq = await r.get(K.cidrSeqKey(pool));
  const base = K.cidrPrefix(pool);
  for (const kv of (await r.range(base)).kvs) {
    if (kv.value === peer) continue;
    const [fam, hex, len] = kv.key.slice(base.length).split('/');
    const other: Net = { family: fam === '6' ? 6 : 4, value: fromHex(hex ?? '0'), len: Number(len) };
    const hit = added.find((n) => overlaps(n, other));
    if (hit) {
      throw new FabricError('WGF_ERR_ALLOWED_IPS_OVERLAP', `allowedIps ${formatNet(hit)} overlaps ${formatNet(other)} of peer ${kv.value}`, {
        cidr: formatNet(hit), peer: kv.value, other: formatNet(other),
      });
    }
  }
  return {
    compares: [{ key: K.cidrSeqKey(pool), modRevision: seq?.modRevision ?? 0 }, ...added.map((n) => ({ key: key(n), modRevision: 0 }))],
    ops: [
      ...ops, ...added.map((n): Op => ({ type: 'put', key: key(n), value: peer })),
      { type: 'put', key: K.cidrSeqKey(pool), value: String(Number(seq?.value ?? 0) + 1) },
    ],
  };
}

function requestedAddresses(list: readonly string[] | undefined): Map<4 | 6, Net> {
  const out = new Map<4 | 6, Net>();
  if (list === undefined) return out;
  if (!Array.isArray(list) || list.length > 2) throw V.invalid('addresses', 'must list at most one IPv4 and one IPv6 address');
  for (const [i, text] of list.entries()) {
    const n = parseNet(typeof text === 'string' ? text : '', `addresses[${i}]`, false);
    if (n.len !== (n.family === 4 ? 32 : 128)) throw V.invalid(`addresses[${i}]`, 'must be a host address (/32 or /128)');
    if (out.has(n.family)) throw V.invalid('addresses', `lists two IPv${n.family} addresses`);
    out.set(n.family, n);
  }
  return out;
}

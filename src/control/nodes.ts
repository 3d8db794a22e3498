import { ANNOUNCE_STATES, type AnnounceReport } from '../protocol/announce.js';
import type { NodeCreate, NodeStatusInput, NodeUpdate } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import { DEFAULT_NODE_WEIGHT } from '../protocol/lb-settings.js';
import type { AdminState, DsrReport, Node, NodeStatus, Page } from '../protocol/types.js';
import type { KeyValue } from '../store/store.js';
import { checkIfMatch, commit, type Ctx, type MutationOptions } from './context.js';
import * as K from './keys.js';
import { scanPage, type PageRequest } from './paging.js';
import { nodeTokenDeletes } from './node-tokens.js';
import { readPool, readPoolChild, readPoolForChild } from './pools.js';
import { decode, lbSettingsOf, nodeEntity, statusEntity, type NodeRecord } from './records.js';
import * as V from './validate.js';

/**
 * Node CRUD and agent status reports. A node record is desired state (endpoint, adminState,
 * weight, labels) and lives in the pool's change stream; its status lives apart (keys.ts) and is
 * merged in when a node is read through the API.
 */

export async function createNode(ctx: Ctx, pool: string, input: NodeCreate, opts: MutationOptions): Promise<Node> {
  V.name('pool', pool);
  const name = V.name('name', input.name);
  const endpoint = V.endpoint('endpoint', input.endpoint);
  const adminState = input.adminState === undefined ? 'active' : V.adminState('adminState', input.adminState);
  const weight = input.weight === undefined ? DEFAULT_NODE_WEIGHT : V.weight('weight', input.weight);
  const labels = V.labels('labels', input.labels);
  const announcePolicy = input.announcePolicy === undefined ? undefined : V.nodeAnnouncePolicy('announcePolicy', input.announcePolicy);
  const path = `pools/${pool}/nodes/${name}`;
  return commit(ctx, opts.actor, async () => {
    const p = await readPoolForChild(ctx, pool);
    if (await ctx.store.get(K.nodeKey(pool, name))) throw new FabricError('WGF_ERR_ALREADY_EXISTS', `node ${name} already exists in pool ${pool}`, { object: path });
    const { tableSize } = lbSettingsOf(p.rec);
    if ((await ctx.store.count(K.nodesPrefix(pool))) >= tableSize) {
      throw new FabricError('WGF_ERR_VALIDATION', `pool ${pool} has ${tableSize}-slot LB tables: no room for another node; raise the pool's lb.tableSize first`, { field: 'lb.tableSize', object: path });
    }
    const now = ctx.clock.now().toISOString();
    const rec: NodeRecord = { pool, name, endpoint, adminState, weight, labels, ...(announcePolicy ? { announcePolicy } : {}), createdAt: now, updatedAt: now };
    return {
      compares: [{ key: K.poolKey(pool), modRevision: p.kv.modRevision }, { key: K.nodeKey(pool, name), modRevision: 0 }],
      ops: [{ type: 'put', key: K.nodeKey(pool, name), value: JSON.stringify(rec) }],
      audit: { action: 'create', kind: 'node', object: path },
      result: (rev) => nodeEntity(rec, rev, null),
    };
  });
}

/** The node with its last reported status; WGF_ERR_NOT_FOUND for a missing pool or node. */
export async function getNode(ctx: Ctx, pool: string, name: string): Promise<Node> {
  const kv = await readNode(ctx, pool, name);
  return nodeEntity(decode<NodeRecord>(kv), kv.modRevision, statusEntity(await ctx.store.get(K.statusKey(pool, name))));
}

/** A page of the pool's nodes, filtered by adminState and label selector. */
export async function listNodes(
  ctx: Ctx, pool: string, filter: PageRequest & { label?: string | undefined; adminState?: AdminState | undefined },
): Promise<Page<Node>> {
  await readPool(ctx, pool);
  const want = V.labelSelector('label', filter.label);
  const state = filter.adminState === undefined ? undefined : V.adminState('adminState', filter.adminState);
  return scanPage(ctx.store, K.nodesPrefix(pool), K.nodesPrefix(pool), filter, async (kv) => {
    const rec = decode<NodeRecord>(kv);
    if ((state !== undefined && rec.adminState !== state) || !V.matchesLabels(rec.labels, want)) return null;
    return nodeEntity(rec, kv.modRevision, statusEntity(await ctx.store.get(K.statusKey(pool, rec.name))));
  });
}

/** Partial update; If-Match honoured; refused while the pool is being deleted. */
export async function updateNode(ctx: Ctx, pool: string, name: string, patch: NodeUpdate, opts: MutationOptions): Promise<Node> {
  const fields: Partial<NodeRecord> = {};
  if (patch.endpoint !== undefined) fields.endpoint = V.endpoint('endpoint', patch.endpoint);
  if (patch.adminState !== undefined) fields.adminState = V.adminState('adminState', patch.adminState);
  if (patch.weight !== undefined) fields.weight = V.weight('weight', patch.weight);
  if (patch.labels !== undefined) fields.labels = V.labels('labels', patch.labels);
  // null (or an empty policy) clears the node's own policy: the pool's settings apply again.
  const policy = patch.announcePolicy === undefined ? undefined : { value: patch.announcePolicy === null ? undefined : V.nodeAnnouncePolicy('announcePolicy', patch.announcePolicy) };
  const path = `pools/${pool}/nodes/${name}`;
  return commit(ctx, opts.actor, async () => {
    const p = await readPoolForChild(ctx, pool);
    const kv = await readNode(ctx, pool, name);
    checkIfMatch(kv, opts.ifMatch, path);
    const next: NodeRecord = { ...decode<NodeRecord>(kv), ...fields, updatedAt: ctx.clock.now().toISOString() };
    if (policy) {
      if (policy.value) next.announcePolicy = policy.value;
      else delete next.announcePolicy;
    }
    const status = statusEntity(await ctx.store.get(K.statusKey(pool, name)));
    return {
      compares: [{ key: K.poolKey(pool), modRevision: p.kv.modRevision }, { key: kv.key, modRevision: kv.modRevision }],
      ops: [{ type: 'put', key: kv.key, value: JSON.stringify(next) }],
      audit: { action: 'update', kind: 'node', object: path },
      result: (rev) => nodeEntity(next, rev, status),
    };
  });
}

/** Deletes a node and its status. Allowed while its pool is being deleted. */
export async function deleteNode(ctx: Ctx, pool: string, name: string, opts: MutationOptions): Promise<void> {
  const path = `pools/${pool}/nodes/${name}`;
  await commit(ctx, opts.actor, async () => {
    const kv = await readNode(ctx, pool, name);
    checkIfMatch(kv, opts.ifMatch, path);
    return {
      compares: [{ key: kv.key, modRevision: kv.modRevision }],
      // Its tokens go in the same txn: a retired (or stolen) node credential cannot read the pool key any more.
      ops: [{ type: 'delete', key: kv.key }, { type: 'delete', key: K.statusKey(pool, name) }, ...(await nodeTokenDeletes(ctx, pool, name))],
      audit: { action: 'delete', kind: 'node', object: path },
      result: () => undefined,
    };
  });
}

/**
 * Records what a node's agent reports. Not audited (an observation, not a change), and kept
 * out of the pool's change stream. The server stamps `reportedAt`.
 */
export async function putNodeStatus(ctx: Ctx, pool: string, name: string, input: NodeStatusInput, opts: MutationOptions): Promise<Node> {
  const status: NodeStatus = {
    reportedAt: ctx.clock.now().toISOString(),
    appliedRevision: V.int('appliedRevision', input.appliedRevision, 0, Number.MAX_SAFE_INTEGER),
    peersDesired: V.int('peersDesired', input.peersDesired, 0, Number.MAX_SAFE_INTEGER),
    peersApplied: V.int('peersApplied', input.peersApplied, 0, Number.MAX_SAFE_INTEGER),
    lastReconcileAt: V.time('lastReconcileAt', input.lastReconcileAt),
    driftRepairs: V.int('driftRepairs', input.driftRepairs, 0, Number.MAX_SAFE_INTEGER),
    ready: V.bool('ready', input.ready),
    message: V.text('message', input.message, 512),
    ...(input.announce !== undefined ? { announce: announceReport('announce', input.announce) } : {}),
    ...(input.dsr !== undefined ? { dsr: dsrReport(input.dsr) } : {}),
  };
  return commit(ctx, opts.actor, async () => {
    const kv = await readNode(ctx, pool, name);
    return {
      // The node must still exist when the status lands, or the status would outlive it.
      compares: [{ key: kv.key, modRevision: kv.modRevision }],
      ops: [{ type: 'put', key: K.statusKey(pool, name), value: JSON.stringify(status) }],
      audit: null,
      result: () => nodeEntity(decode<NodeRecord>(kv), kv.modRevision, status),
    };
  });
}

/** The announcement part of a node or LB report (the wire schema bounds it; the state is checked again here for direct callers). */
export function announceReport(field: string, a: AnnounceReport): AnnounceReport {
  if (!ANNOUNCE_STATES.includes(a.state)) throw V.invalid(`${field}.state`, `must be one of ${ANNOUNCE_STATES.join(', ')}`);
  return { kind: V.text(`${field}.kind`, a.kind, 16), state: a.state, reason: V.text(`${field}.reason`, a.reason, 256), addresses: [...a.addresses], since: V.time(`${field}.since`, a.since) ?? new Date(0).toISOString() };
}

/** NodeStatus.dsr as reported (agent --vip), bounded like the rest of a report. */
function dsrReport(d: DsrReport): DsrReport {
  if (!Array.isArray(d.vips) || d.vips.length > 64) throw V.invalid('dsr.vips', 'must be a list of at most 64 addresses');
  return {
    vips: d.vips.map((v, i) => V.text(`dsr.vips[${i}]`, v, 64)), inPlace: V.bool('dsr.inPlace', d.inPlace), repairs: V.int('dsr.repairs', d.repairs, 0, Number.MAX_SAFE_INTEGER),
    ...(d.error !== undefined ? { error: V.text('dsr.error', d.error, 256) } : {}),
  };
}

async function readNode(ctx: Ctx, pool: string, name: string): Promise<KeyValue> {
  V.name('pool', pool);
  V.name('node', name);
  return readPoolChild(ctx, pool, K.nodeKey(pool, name), `node ${name} in pool ${pool}`, `pools/${pool}/nodes/${name}`);
}

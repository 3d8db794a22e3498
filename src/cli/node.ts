import type { AnnounceReport } from '../protocol/announce.js';
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient } from '../client/api-client.js';
import type { Node } from '../protocol/types.js';
import type { NodeUpdate } from '../protocol/api.js';
import { apiClient, apiOptions, collectLabel, positiveInt, type ApiFlags } from './context.js';
import { allLbReports, lbSummary } from './lb-reports.js';
import { emit, renderFields, renderTable } from './output.js';
import { NODE_POLICY_FLAG_HELP, nodePolicyFromFlags, type NodePolicyFlags } from './node-policy.js';
import { connectedByNode } from './sessions.js';
import { drainTimeout, renderDrainRows, waitForDrain } from './node-drain.js';

interface NodeFlags extends ApiFlags, NodePolicyFlags { pool?: string; endpoint?: string; weight?: number; label?: Record<string, string>; out?: string; ifMatch?: number; wait?: boolean; timeout?: number }

const WEIGHT_HELP = 'share of new load-balanced flows relative to the pool\'s other nodes, 1..1000 (default 1)';

/**
 * One row per node with its sync state against the control plane's revision, and `lb`: how the
 * pool's load balancers see it (lbSummary in lb-reports.ts; '?' when the reports could not be read).
 */
export interface NodeRow {
  pool: string; name: string; adminState: string; weight: number; endpoint: string | null; ready: boolean | null; applied: number | null; lag: number | null; peers: string;
  reportAgeS: number | null; lb: string; message: string;
  /** The node's announcement as it last reported it: 'announced', 'draining', 'withdrawn (<reason>)', '-' when it announces nothing. */
  announced: string;
  /** Peers whose live session this node holds (session reports; null when unknown). */
  connected?: number | null;
}

/** @param pending pool changes after the node's applied revision (its lag), null if unknown */
export function nodeRow(n: Node, pending: number | null, now = Date.now(), lb = '-'): NodeRow {
  const s = n.status;
  return {
    pool: n.pool, name: n.name, adminState: n.adminState, weight: n.weight, endpoint: n.endpoint, ready: s ? s.ready : null,
    applied: s ? s.appliedRevision : null, lag: s ? pending : null,
    peers: s ? `${s.peersApplied}/${s.peersDesired}` : '-', reportAgeS: s ? Math.round((now - Date.parse(s.reportedAt)) / 1000) : null,
    lb, message: s ? s.message : 'no report yet', announced: announcedText(s?.announce),
  };
}

/** The ANNOUNCED column: the state, with the reason when not announced. */
export function announcedText(a: AnnounceReport | undefined): string {
  if (!a) return '-';
  return a.state === 'announced' ? 'announced' : `${a.state} (${a.reason})`;
}

const hasPolicyFlag = (f: NodePolicyFlags): boolean => [f.bgpCommunity, f.bgpMed, f.bgpPrepend, f.bgpLocalPref].some((v) => v !== undefined);

/** `node show` / `node update` output. */
export function nodeFields(n: Node): [string, unknown][] {
  return [['pool', n.pool], ['name', n.name], ['admin state', n.adminState], ['weight', n.weight], ['endpoint', n.endpoint],
    ['labels', n.labels], ['bgp policy', n.announcePolicy ? JSON.stringify(n.announcePolicy) : "pool's"], ['status', n.status ? JSON.stringify(n.status) : null], ['revision', n.revision]];
}

export function renderNodeRows(rows: readonly NodeRow[], revision: number): string {
  return `control plane revision ${revision}\n` + renderTable(rows, [
    { header: 'POOL', get: (r) => r.pool }, { header: 'NODE', get: (r) => r.name }, { header: 'STATE', get: (r) => r.adminState },
    { header: 'WEIGHT', get: (r) => r.weight },
    { header: 'READY', get: (r) => (r.ready === null ? '-' : r.ready ? 'yes' : 'NO') }, { header: 'APPLIED', get: (r) => r.applied },
    { header: 'LAG', get: (r) => (r.applied === null ? null : r.lag === null ? '?' : r.lag) }, { header: 'PEERS', get: (r) => r.peers },
    { header: 'REPORTED', get: (r) => (r.reportAgeS === null ? null : `${r.reportAgeS}s ago`) }, { header: 'LB', get: (r) => r.lb },
    { header: 'ANNOUNCED', get: (r) => r.announced },
    { header: 'CONNECTED', get: (r) => (r.connected === undefined || r.connected === null ? null : r.connected) },
    { header: 'MESSAGE', get: (r) => r.message },
  ]);
}

/**
 * Every node of the given pools (all pools when none given), with its lag: the number of the
 * pool's changes after the revision the node applied (0 = in sync). Counting the pool's own
 * changes, not store revisions, keeps status reports and other pools out of the figure. The LB
 * column summarises the pool's LB reports (read once per pool).
 */
export async function collectNodeRows(api: ApiClient, pools?: string[]): Promise<{ revision: number; rows: NodeRow[] }> {
  const { revision } = await api.ready();
  const connected = await connectedByNode(api);
  const names = pools ?? [];
  if (!pools) for await (const p of ApiClient.all((c) => api.listPools({ limit: 1000, ...(c ? { cursor: c } : {}) }))) names.push(p.name);
  const rows: NodeRow[] = [];
  for (const pool of names) {
    const lbs = await allLbReports(api, pool).catch(() => null); // e.g. a server without LB reports
    for await (const n of ApiClient.all((c) => api.listNodes(pool, { limit: 1000, ...(c ? { cursor: c } : {}) }))) {
      const applied = n.status?.appliedRevision;
      const pending = applied === undefined ? null : await api.poolChanges(pool, applied).then((r) => r.changes.length, () => null);
      const now = Date.now();
      rows.push({ ...nodeRow(n, pending, now, lbs === null ? '?' : lbSummary(n.name, lbs, now)), connected: connected ? connected.get(`${pool}/${n.name}`) ?? 0 : null });
    }
  }
  return { revision, rows };
}

/** `wgfabric node add|list|show|update|rm|drain|undrain|disable|token` and `wgfabric status`. */
export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('nodes: the WireGuard backends of a pool');
  apiOptions(node.command('add <pool> <name>').description('register a backend in a pool'))
    .option('--endpoint <host:port>', 'public endpoint of this backend (health checks, load balancers)')
    .option('--weight <n>', WEIGHT_HELP, positiveInt('--weight'))
    .option('--label <k=v>', 'label (repeatable)', collectLabel)
    .action(async (pool: string, name: string, f: NodeFlags) => {
      const n = await apiClient(f).createNode(pool, {
        name, ...(f.endpoint ? { endpoint: f.endpoint } : {}), ...(f.weight !== undefined ? { weight: f.weight } : {}), ...(f.label ? { labels: f.label } : {}),
      });
      emit(!!f.json, n, () => `added node ${n.name} to pool ${n.pool}\n`);
    });
  const update = apiOptions(node.command('update <pool> <name>').description("change a node's endpoint, weight, labels or BGP policy (every load balancer of the pool follows a new weight; its agent a new policy)"))
    .option('--endpoint <host:port>', 'public endpoint of this backend')
    .option('--weight <n>', WEIGHT_HELP, positiveInt('--weight'))
    .option('--label <k=v>', 'label (repeatable; replaces all labels)', collectLabel)
    .option('--if-match <revision>', 'only if the node is still at this revision', positiveInt('--if-match'));
  for (const [flag, help] of NODE_POLICY_FLAG_HELP) update.option(flag, help);
  update
    .action(async (pool: string, name: string, f: NodeFlags) => {
      nodePolicyFromFlags(undefined, f); // bad --bgp-* values are refused before any request
      const api = apiClient(f);
      // --bgp-* flags change fields of the node's policy: read it first (the update replaces the whole policy).
      const policy = nodePolicyFromFlags(f.bgpPolicyClear ? undefined : (await (hasPolicyFlag(f) ? api.getNode(pool, name) : null))?.announcePolicy, f);
      const patch: NodeUpdate = {
        ...(f.endpoint !== undefined ? { endpoint: f.endpoint } : {}), ...(f.weight !== undefined ? { weight: f.weight } : {}), ...(f.label ? { labels: f.label } : {}),
        ...(policy !== undefined ? { announcePolicy: policy } : {}),
      };
      const n = await api.updateNode(pool, name, patch, f.ifMatch !== undefined ? { ifMatch: f.ifMatch } : {});
      emit(!!f.json, n, () => renderFields(nodeFields(n)));
    });
  apiOptions(node.command('list').description('list nodes with their sync state'))
    .option('--pool <pool>', 'only this pool')
    .action(async (f: NodeFlags) => {
      const { revision, rows } = await collectNodeRows(apiClient(f), f.pool ? [f.pool] : undefined);
      emit(!!f.json, { revision, nodes: rows }, () => renderNodeRows(rows, revision));
    });
  apiOptions(node.command('show <pool> <name>').description('show one node')).action(async (pool: string, name: string, f: NodeFlags) => {
    const n = await apiClient(f).getNode(pool, name);
    emit(!!f.json, n, () => renderFields(nodeFields(n)));
  });
  apiOptions(node.command('rm <pool> <name>').description('remove a node (and its node tokens: a retired node cannot read the pool key any more)')).action(async (pool: string, name: string, f: NodeFlags) => {
    await apiClient(f).deleteNode(pool, name);
    emit(!!f.json, { deleted: name }, () => `removed node ${name}\n`);
  });
  for (const [verb, state, text] of [['drain', 'draining', 'no new flows; existing flows stay until idle'], ['undrain', 'active', 'back in service'], ['disable', 'disabled', 'out of service now']] as const) {
    const cmd = apiOptions(node.command(`${verb} <pool> <name>`).description(`${verb} a node: ${text}`));
    if (verb === 'drain') {
      cmd.option('--wait', 'then show the flows left on the node per LB instance until none are left (exit 0) or --timeout passed (WGF_ERR_DRAIN_TIMEOUT)')
        .option('--timeout <s>', 'with --wait: give up after this many seconds', positiveInt('--timeout'), 300);
    }
    cmd.action(async (pool: string, name: string, f: NodeFlags) => {
      const api = apiClient(f);
      const n = await api.updateNode(pool, name, { adminState: state });
      if (!f.wait) {
        emit(!!f.json, n, () => `node ${n.name}: ${n.adminState}\n`);
        return;
      }
      const timeoutS = f.timeout ?? 300;
      if (!f.json) process.stdout.write(`node ${n.name}: ${n.adminState}; waiting up to ${timeoutS}s for its flows to end\n`);
      const r = await waitForDrain({ node: name, timeoutMs: timeoutS * 1000, reports: () => allLbReports(api, pool), progress: (l) => void (!f.json && process.stdout.write(l)) });
      emit(!!f.json, r, () => `${renderDrainRows(r.instances)}${r.drained ? `node ${name} drained after ${r.waitedS}s: no flows left\n` : ''}`);
      if (!r.drained) throw drainTimeout(r);
    });
  }
  apiOptions(node.command('token <pool> <name>').description('create the credential an agent uses (reads its pool, reports its own status)'))
    .requiredOption('--out <file>', 'write the token here (mode 0600)')
    .action(async (pool: string, name: string, f: NodeFlags) => {
      const t = await apiClient(f).createToken({ name: `node-${pool}-${name}`.slice(0, 63), role: 'node', pool, node: name });
      writeFileSync(f.out!, t.secret + '\n', { mode: 0o600 });
      emit(!!f.json, { id: t.token.id, file: f.out }, () => `node token for ${pool}/${name} written to ${f.out}\n`);
    });
  apiOptions(program.command('status').description('every node of every pool: ready, applied revision, lag and LB view at a glance'))
    .action(async (f: NodeFlags) => {
      const { revision, rows } = await collectNodeRows(apiClient(f));
      emit(!!f.json, { revision, nodes: rows }, () => renderNodeRows(rows, revision));
    });
}

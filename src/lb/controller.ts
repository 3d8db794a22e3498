/**
 * The decision core of one VIP: turns the backend set and the health decisions into one nftables
 * transaction, and then cuts the flows that must move (conntrack). Ports are injected (ruleset
 * applier, conntrack, clock), so the whole policy is tested in memory.
 *
 * Order matters on a removal: first apply the table without the backend, THEN delete its
 * conntrack entries. The other way round, a packet in between would be hashed by the old table
 * and pinned to the old backend again.
 *
 * Flows of a backend that leaves the table:
 * - decision.keepFlows false (down, disabled), removed from the backend set, or address/port
 *   changed: deleted at once, so the next packet of each flow is hashed to a live backend;
 * - decision.keepFlows true (draining, agent not in sync, ...): kept, so sessions carry on, until
 *   they idle out in the kernel or `drainTimeoutMs` after the backend left; then deleted. Coming
 *   back into the table cancels that; a later decision with keepFlows false deletes them at once.
 * A failed conntrack delete is retried on the next update(). update() with unchanged inputs
 * never touches nft; call it periodically anyway (or at nextDeadline()) so drain deadlines fire.
 *
 * Table settings (affinity, table size) are the pool's (Pool.lb), the same on every instance;
 * setSettings() changes them. The next update() then rebuilds the table and writes the whole
 * ruleset (the map size and the hash expression of the rule change, which no slot delta can
 * express). Flows are not cut: conntrack keeps every established flow on its backend, and only
 * new flows are hashed with the new table.
 *
 * Restart sweep. The rules above only see backends leave during this controller's life. After an
 * LB restart (crash, upgrade) the kernel may still hold entries of VIP:port DNATed by the previous
 * ruleset to backends that are not in the new table (died, removed, disabled meanwhile); their
 * clients would stay black-holed until the entries idle out, which WireGuard keepalives may never
 * let happen. So after the first successful apply of its life, the controller lists the targets
 * of the VIP's entries (ConntrackPort.listFlowTargets) and treats every one not in the applied
 * table as a leaver: held until the drain deadline when a backend now listed with that
 * address:port has a decision with keepFlows true, cut at once otherwise (this includes entries
 * that were never NATed, reply source vip:port, left from before any table existed). A failed
 * listing does not block the apply: it is reported like a failed delete and retried on the next
 * update() until it succeeds once.
 */
import { FabricError } from '../protocol/errors.js';
import { LB_AFFINITIES, sameLbSettings } from '../protocol/lb-settings.js';
import type { LbSettings } from '../protocol/types.js';
import { checkPort, parseIp } from './addr.js';
import type { ConntrackPort } from './conntrack.js';
import type { HealthDecision, HealthState } from './health.js';
import { buildMaglevTable, DEFAULT_FLOW_SEED, DEFAULT_TABLE_SIZE, isPrime, MAX_TABLE_SIZE, MAX_WEIGHT, MIN_TABLE_SIZE, sortByName } from './maglev.js';
import type { Affinity, NftVip, ReturnPath } from './nft.js';
import type { RulesetApplier } from './nft-apply.js';
import { nftTableWriter } from './dataplane/nft-writer.js';
import type { TableWriter } from './dataplane/port.js';

/** One backend of the VIP. `name` is its Maglev identity (table order is by name). */
export interface LbBackend {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** Relative share of new flows, an integer in 1..MAX_WEIGHT. */
  readonly weight: number;
}

/** Configuration and ports of one VIP's controller. */
export interface LbControllerOptions {
  readonly vip: string;
  readonly port: number;
  /** Initial affinity (default 'src-ip-port'); setSettings() changes it. Must be the same on every LB instance. */
  readonly affinity?: Affinity;
  /** Initial Maglev table size, a prime (default 65537); setSettings() changes it. Must be the same on every LB instance. */
  readonly tableSize?: number;
  /** jhash seed (default DEFAULT_FLOW_SEED). Must be the same on every LB instance. */
  readonly seed?: number;
  /** Default 'via-lb' (see nft.ts). */
  readonly returnPath?: ReturnPath;
  /**
   * Rewrite only the slots that change once a table of ours is in the kernel (default true):
   * removing one of N backends writes about M/N slots instead of M, and nft's time grows with
   * the elements it parses. false: every change replaces the whole table.
   */
  readonly incremental?: boolean;
  /** nftables table (inet family) this controller owns; default defaultNftTable(vip, port). */
  readonly nftTable?: string;
  /** Kept flows are deleted this long after their backend left the table (default 300 s). */
  readonly drainTimeoutMs?: number;
  /** nft: applies the rendered scripts (used when no `writer` is given). */
  readonly applier?: RulesetApplier;
  /** The data path's table writer (bpf); default: the nft writer over `applier`. */
  readonly writer?: TableWriter;
  /** The data path's flow table: conntrack for nft, the LRU flow map for bpf. */
  readonly conntrack: ConntrackPort;
  /** Monotonic milliseconds; the clock of the health decisions. */
  readonly now: () => number;
}

/** Status of one backend as the controller sees it. */
export interface LbBackendStatus {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** From the last health decision; 'unknown' when there is none. */
  readonly state: HealthState | 'unknown';
  readonly reason: string;
  /** In the table the kernel holds now (after the last successful apply). */
  readonly inTable: boolean;
  /** Slots of the applied table this backend owns (0 when out). */
  readonly slots: number;
  /** Since of the health decision; null when there is none. */
  readonly since: number | null;
  /** Clock time its kept flows will be deleted; null when none are kept. */
  readonly flowsKeptUntil: number | null;
}

/** Status of one VIP. */
export interface LbStatus {
  readonly vip: string;
  readonly port: number;
  /** Settings of the table in the kernel (before the first apply: the ones the first apply will use). */
  readonly tableSize: number;
  readonly affinity: Affinity;
  /** Number of successful applies so far (0: nothing applied yet). */
  readonly generation: number;
  readonly appliedAt: number | null;
  /** Backends in name order. */
  readonly backends: readonly LbBackendStatus[];
  /** The last apply or conntrack failure, cleared by an update that fully succeeds. */
  readonly lastError: string | null;
}

/** What one update() did. */
export interface UpdateResult {
  /** A new ruleset was applied (exactly one nft transaction). */
  readonly applied: boolean;
  readonly generation: number;
  /**
   * Conntrack entries deleted, per backend name (only backends whose flows were cut); a stale
   * target of the restart sweep that matches no backend is named by its "address:port".
   */
  readonly flowsDeleted: ReadonlyMap<string, number>;
  /**
   * Conntrack deletes that failed, and the restart listing if it failed (both retried on the
   * next update).
   */
  readonly errors: readonly string[];
  /**
   * How the table reached the kernel: 'delta' (only the changed slots), 'full' (the whole
   * ruleset) or 'none' (nothing in the kernel changed); and how many slots were written.
   */
  readonly write: { readonly mode: 'none' | 'delta' | 'full'; readonly slots: number };
}

/** The default nftables table of a VIP:port, e.g. `wgflb_198_18_0_1_51820`. */
export function defaultNftTable(vip: string, port: number): string {
  return `wgflb_${parseIp(vip, 'vip').text.replace(/[.:]/g, '_')}_${checkPort(port)}`;
}

interface Target {
  readonly address: string;
  readonly port: number;
}
interface Held extends Target {
  readonly deadline: number;
}

const sameTarget = (a: Target, b: Target): boolean => a.address === b.address && a.port === b.port;
const targetKey = (t: Target): string => `${t.address}|${t.port}`;
const targetLabel = (t: Target): string => (t.address.includes(':') ? `[${t.address}]:${t.port}` : `${t.address}:${t.port}`);
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function invalid(message: string, field: string, value?: unknown): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', message, { field, ...(value === undefined ? {} : { value }) });
}

function checkSettings(s: LbSettings): LbSettings {
  if (!LB_AFFINITIES.includes(s.affinity)) throw invalid(`affinity must be ${LB_AFFINITIES.join(' or ')}`, 'affinity', s.affinity);
  if (!isPrime(s.tableSize) || s.tableSize < MIN_TABLE_SIZE || s.tableSize > MAX_TABLE_SIZE) {
    throw invalid(`tableSize must be a prime in ${MIN_TABLE_SIZE}..${MAX_TABLE_SIZE}`, 'tableSize', s.tableSize);
  }
  return { affinity: s.affinity, tableSize: s.tableSize };
}

/**
 * Load-balancer controller of one VIP:port. Calls are serialized; each reconciles the latest
 * inputs given, so a burst of updates while nft runs costs at most one more transaction.
 */
export class LbController {
  private readonly vip: string;
  private readonly family: 4 | 6;
  /** The settings the next reconcile builds with (setSettings). */
  private settings: LbSettings;
  private readonly nftTable: string;
  private readonly drainTimeoutMs: number;
  private desired: { backends: readonly LbBackend[]; decisions: ReadonlyMap<string, HealthDecision> } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private appliedKey: string | undefined;
  private tableKey: string | undefined;
  private table: Int32Array | undefined;
  /** What the kernel holds after the last successful write (undefined: unknown, write it whole). */
  private appliedVip: NftVip | undefined;
  private applied = new Map<string, Target>();
  private slots = new Map<string, number>();
  private readonly held = new Map<string, Held>();
  private readonly pending = new Map<string, Target & { readonly name: string }>();
  private generation = 0;
  private readonly writer: TableWriter;
  /** The restart sweep (see the file header) has listed the kernel's entries once. */
  private swept = false;
  private appliedAt: number | null = null;
  private lastError: string | null = null;

  /** Throws WGF_ERR_VALIDATION for a bad VIP, port, affinity, table size or drain timeout. */
  constructor(private readonly o: LbControllerOptions) {
    const vip = parseIp(o.vip, 'vip');
    this.vip = vip.text;
    this.family = vip.family;
    checkPort(o.port, 'port');
    this.settings = checkSettings({ affinity: o.affinity ?? 'src-ip-port', tableSize: o.tableSize ?? DEFAULT_TABLE_SIZE });
    this.nftTable = o.nftTable ?? defaultNftTable(o.vip, o.port);
    this.drainTimeoutMs = o.drainTimeoutMs ?? 300_000;
    if (!(this.drainTimeoutMs >= 0)) throw invalid('drainTimeoutMs must be >= 0', 'drainTimeoutMs', o.drainTimeoutMs);
    if (!o.writer && !o.applier) throw invalid('an nft applier or a table writer is required', 'applier');
    this.writer = o.writer ?? nftTableWriter({
      table: this.nftTable, seed: o.seed ?? DEFAULT_FLOW_SEED, returnPath: o.returnPath ?? 'via-lb', incremental: o.incremental !== false, applier: o.applier!,
    });
  }

  /**
   * Makes the kernel match `backends` filtered by `decisions` (a backend without a decision is
   * out): rebuilds the Maglev table only when the in-table names, their weights or the table
   * size changed (setSettings), applies the ruleset once when anything in it changed (affinity
   * included) and never otherwise, then deletes the flows
   * that must move (see the file header). Throws WGF_ERR_VALIDATION for bad backends (nothing
   * changes) and WGF_ERR_NFT when the apply fails (kernel and flows unchanged; the next call
   * retries). Conntrack failures do not throw: see UpdateResult.errors.
   */
  update(backends: readonly LbBackend[], decisions: ReadonlyMap<string, HealthDecision>): Promise<UpdateResult> {
    try {
      this.validate(backends);
    } catch (e) {
      return Promise.reject(e);
    }
    this.desired = { backends: backends.map((b) => ({ ...b, address: parseIp(b.address).text })), decisions: new Map(decisions) };
    const run = this.queue.then(() => this.reconcile());
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Changes the table settings (the pool's LB settings). Returns false when they are the ones
   * in use (nothing happens). Otherwise the current table is void: the next update() rebuilds
   * it with the new size and writes the whole ruleset with the new flow hash, never a slot delta
   * (also when a reconcile with the old settings is running now: it finishes, the next one
   * rewrites). Established flows keep their backends (conntrack). Throws WGF_ERR_VALIDATION
   * (field affinity or tableSize) for settings no instance could build; nothing changes then.
   */
  setSettings(settings: LbSettings): boolean {
    const next = checkSettings(settings);
    if (sameLbSettings(next, this.settings)) return false;
    // Both keys of reconcile() hold the settings: the table in use no longer matches either,
    // and write() never sends a delta across settings. Nothing else to reset (a reconcile
    // running now keeps its own table).
    this.settings = next;
    return true;
  }

  /** The settings the next update() builds with. */
  get tableSettings(): LbSettings {
    return this.settings;
  }

  /** The earliest drain deadline pending, or null: call update() at that time. */
  nextDeadline(): number | null {
    let min: number | null = null;
    for (const h of this.held.values()) if (min === null || h.deadline < min) min = h.deadline;
    return min;
  }

  /** Per-backend state, reason, membership and slots, and the table generation. */
  status(): LbStatus {
    const backends = sortByName(this.desired?.backends ?? []).map((b): LbBackendStatus => {
      const d = this.desired!.decisions.get(b.name);
      return {
        name: b.name, address: b.address, port: b.port, weight: b.weight,
        state: d?.state ?? 'unknown',
        reason: d?.reason ?? 'no health decision yet',
        inTable: this.applied.has(b.name),
        slots: this.slots.get(b.name) ?? 0,
        since: d?.since ?? null,
        flowsKeptUntil: this.held.get(b.name)?.deadline ?? null,
      };
    });
    const s = this.appliedVip ? { affinity: this.appliedVip.affinity, tableSize: this.appliedVip.table.length } : this.settings;
    return {
      vip: this.vip, port: this.o.port, tableSize: s.tableSize, affinity: s.affinity, generation: this.generation, appliedAt: this.appliedAt,
      backends, lastError: this.lastError,
    };
  }

  private validate(backends: readonly LbBackend[]): void {
    if (!Array.isArray(backends)) throw invalid('backends must be an array', 'backends');
    const names = new Set<string>();
    backends.forEach((b, i) => {
      const f = `backends[${i}]`;
      if (typeof b.name !== 'string' || b.name.length === 0) throw invalid('backend name must be a non-empty string', `${f}.name`);
      if (names.has(b.name)) throw invalid(`duplicate backend name ${JSON.stringify(b.name)}`, `${f}.name`, b.name);
      names.add(b.name);
      if (parseIp(b.address, `${f}.address`).family !== this.family) {
        throw invalid(`backend address family must match the VIP (IPv${this.family})`, `${f}.address`, b.address);
      }
      checkPort(b.port, `${f}.port`);
      if (!Number.isInteger(b.weight) || b.weight < 1 || b.weight > MAX_WEIGHT) {
        throw invalid(`backend weight must be an integer 1..${MAX_WEIGHT}`, `${f}.weight`, b.weight);
      }
    });
  }

  private async reconcile(): Promise<UpdateResult> {
    const { backends, decisions } = this.desired!;
    const now = this.o.now();
    const listed = new Map(backends.map((b) => [b.name, b]));
    const want = sortByName(backends.filter((b) => decisions.get(b.name)?.inTable === true));
    // The settings are part of both keys, so a reconcile that overlaps setSettings() is redone.
    const { affinity, tableSize } = this.settings;
    const key = JSON.stringify([affinity, tableSize, want.map((b) => [b.name, b.weight, b.address, b.port])]);
    let applied = false;
    let write: { mode: 'none' | 'delta' | 'full'; slots: number } = { mode: 'none', slots: 0 };

    if (key !== this.appliedKey) {
      const tableKey = JSON.stringify([tableSize, want.map((b) => [b.name, b.weight])]);
      if (tableKey !== this.tableKey || this.table === undefined) {
        if (want.length > tableSize) {
          // The control plane refuses such settings; a hand-edited store must still show up, not freeze the LB silently.
          this.lastError = `table size ${tableSize} is smaller than the ${want.length} backends to place: nothing applied; raise the pool's lb.tableSize`;
          throw invalid(this.lastError, 'tableSize', tableSize);
        }
        this.table = buildMaglevTable(want, tableSize);
        this.tableKey = tableKey;
      }
      const spec: NftVip = { vip: this.vip, port: this.o.port, affinity, backends: want, table: this.table };
      write = await this.write(spec);
      this.appliedVip = spec;
      applied = write.mode !== 'none';
      this.appliedKey = key;
      if (applied) this.generation++;
      this.appliedAt = now;
      const before = this.applied;
      this.applied = new Map(want.map((b) => [b.name, { address: b.address, port: b.port }]));
      this.slots = new Map(want.map((b) => [b.name, 0]));
      for (const i of spec.table) if (i >= 0) this.slots.set(want[i]!.name, this.slots.get(want[i]!.name)! + 1);
      for (const [name, t] of before) {
        const cur = this.applied.get(name);
        if (cur && sameTarget(cur, t)) continue;
        const b = listed.get(name);
        if (!cur && b && sameTarget(b, t) && decisions.get(name)?.keepFlows === true) {
          this.held.set(name, { ...t, deadline: now + this.drainTimeoutMs });
        } else {
          this.pending.set(targetKey(t), { name, ...t });
        }
      }
    }

    const errors: string[] = [];
    if (!this.swept) {
      // Only once a table of ours is in the kernel (a failed apply threw above): entries listed
      // now that point elsewhere were made by an older ruleset, and cutting them re-hashes them
      // with ours, not the old one.
      try {
        this.adoptStaleTargets(await this.o.conntrack.listFlowTargets(this.vip, this.o.port), backends, decisions, now);
        this.swept = true;
      } catch (e) {
        errors.push(`listing the flows of ${targetLabel({ address: this.vip, port: this.o.port })} failed: ${message(e)}`);
      }
    }

    for (const [name, h] of this.held) {
      const cur = this.applied.get(name);
      const b = listed.get(name);
      if (cur && sameTarget(cur, h)) {
        this.held.delete(name); // back in the table: its flows simply carry on
      } else if (!b || !sameTarget(b, h) || decisions.get(name)?.keepFlows !== true || now >= h.deadline) {
        this.held.delete(name);
        this.pending.set(targetKey(h), { name, ...h });
      }
    }

    const flowsDeleted = new Map<string, number>();
    const live = new Set([...this.applied.values()].map(targetKey));
    for (const [k, p] of this.pending) {
      if (live.has(k)) {
        this.pending.delete(k); // serving again: nothing to cut
        continue;
      }
      try {
        const n = await this.o.conntrack.deleteFlowsTo(this.vip, this.o.port, p.address, p.port);
        flowsDeleted.set(p.name, (flowsDeleted.get(p.name) ?? 0) + n);
        this.pending.delete(k);
      } catch (e) {
        errors.push(`deleting the flows of ${p.name} (${p.address}:${p.port}) failed: ${message(e)}`);
      }
    }
    this.lastError = errors.length > 0 ? errors.join('; ') : null;
    return { applied, generation: this.generation, flowsDeleted, errors, write };
  }

  /**
   * Puts `spec` into the kernel through the data path's table writer (nft: one transaction with
   * only the changed slots when it can, the whole ruleset otherwise; bpf: map updates). Other
   * settings than the applied table's (setSettings) always mean the whole table.
   */
  private async write(spec: NftVip): Promise<{ mode: 'none' | 'delta' | 'full'; slots: number }> {
    try {
      const r = await this.writer.write(this.appliedVip, spec);
      if (r.warning) this.lastError = r.warning;
      return r;
    } catch (e) {
      this.appliedVip = undefined;
      this.lastError = `apply failed: ${message(e)}`;
      throw e;
    }
  }

  /**
   * The restart sweep (see the file header): every listed target that is not in the applied
   * table becomes held (a backend listed with that address:port keeps its flows) or pending.
   */
  private adoptStaleTargets(
    listed: readonly Target[], backends: readonly LbBackend[], decisions: ReadonlyMap<string, HealthDecision>, now: number,
  ): void {
    const live = new Set([...this.applied.values()].map(targetKey));
    for (const l of listed) {
      const t: Target = { address: l.address, port: l.port };
      const k = targetKey(t);
      if (live.has(k) || this.pending.has(k)) continue;
      const owners = backends.filter((b) => sameTarget(b, t));
      const keeper = owners.find((b) => decisions.get(b.name)?.keepFlows === true);
      if (keeper === undefined) {
        this.pending.set(k, { name: owners[0]?.name ?? targetLabel(t), ...t });
        continue;
      }
      const old = this.held.get(keeper.name);
      if (old && sameTarget(old, t)) continue; // already held since it left this life's table
      if (old) this.pending.set(targetKey(old), { name: keeper.name, ...old });
      this.held.set(keeper.name, { ...t, deadline: now + this.drainTimeoutMs });
    }
  }
}

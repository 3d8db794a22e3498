/**
 * The BPF implementation of the data-path port: loads wglb.bpf.o (built by scripts/deps.sh),
 * attaches it with tc (clsact ingress, direct-action, one filter preference per VIP:port) on
 * every interface of the LB's network namespace but lo, and writes its maps with bpftool
 * batches (one bpftool process per write, whatever the number of slots).
 *
 * Lifetime, as the nft path: the program stays attached when `lb run` exits, so established
 * flows keep flowing through a restart. A starting LB adopts the program it finds at its VIP's
 * filter preference (maps, flows and learned indices included) and then runs the controller's
 * restart sweep over that flow table; it loads a fresh one only when none is attached.
 * Nothing is pinned longer than the attach itself: with several interfaces the program is pinned
 * under /sys/fs/bpf/wgfabric-<instance>-<pid>-<vip>-<port> for `tc ... object-pinned` and
 * unpinned at once; bpffs is mounted there first when it is not (in the private mount namespace
 * that `ip netns exec` gives).
 *
 * Table writes are per slot atomic (each slot holds the old backend or the new one), not per
 * table as one nft transaction is; a size change writes every slot before the new size.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FabricError } from '../../protocol/errors.js';
import { run } from '../../sys/exec.js';
import { parseIp } from '../addr.js';
import type { FlowTarget } from '../conntrack.js';
import type { NftVip, ReturnPath, SlotTarget } from '../nft.js';
import {
  BPF_MAX_SLOTS, configLine, hexArg, decodeFlows, decodeIndexes, mac1Line, mapDeleteLine, parseDump, readCounters, slotChanges, slotLines,
  type BpfConfig, type FlowEntry, type GuardLimits,
} from './bpf-maps.js';
import type { DataPath, WriteResult } from './port.js';
import { checkDsrBackends } from './dsr.js';
import { attachXdp, detachXdp, xdpCapable, type BpfAttach, type XdpCmd } from './xdp.js';
import { parseKey } from '../../wg/keys.js';
import type { Mac1State } from './port.js';

export interface BpfDataPathOptions {
  readonly vip: string;
  readonly port: number;
  readonly seed: number;
  readonly returnPath: ReturnPath;
  /** Names the pin directory. */
  readonly instance: string;
  /** Guard limits; undefined = guard off. */
  readonly guard?: GuardLimits;
  readonly indexTtlMs?: number;
  readonly flowTtlMs?: number;
  /** Interfaces to attach to (default: every interface of the namespace but lo). */
  readonly interfaces?: readonly string[];
  /** Run tc/bpftool in this network namespace (tests; `lb run` runs inside its namespace). */
  readonly netns?: string;
  /** Only adopt a program already attached (read it: tests, tools); attach nothing. */
  readonly adoptOnly?: boolean;
  /** The compiled program (default: build/bpf/wglb.bpf.o of this checkout, or $WGFABRIC_BPF_OBJECT). */
  readonly objectPath?: string;
  /**
   * 'xdp': also attach the program's XDP side (native, driver mode) in front of tc; it forwards
   * what it can and leaves the rest to tc (see xdp.ts). Default 'tc' (an XDP side of this VIP
   * left by an earlier run is removed).
   */
  readonly attach?: BpfAttach;
  /** xdp: veths count as XDP_REDIRECT targets (their peers run an XDP program or have GRO on). */
  readonly xdpVeth?: boolean;
  /**
   * Verify mac1 of initiations with the pool's public key (setPoolKey) and drop those that fail
   * (drop_mac1). Default true; false (`lb run --no-verify-mac1`) writes the check off.
   */
  readonly verifyMac1?: boolean;
}

const MAP_NAMES = ['wglb_cfg', 'wglb_slots', 'wglb_flows', 'wglb_idx', 'wglb_cnt'] as const;
type MapName = (typeof MAP_NAMES)[number];
/** The maps user space writes; wglb_tx (XDP's redirect targets) is absent from programs that predate XDP. */
type Maps = Record<MapName, number> & { wglb_tx?: number; wglb_mac1?: number };

/** The compiled program of this checkout. */
export function defaultBpfObject(): string {
  if (process.env.WGFABRIC_BPF_OBJECT) return process.env.WGFABRIC_BPF_OBJECT;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'build', 'bpf', 'wglb.bpf.o');
}

/** The tc filter preference of a VIP:port: one per VIP, so several VIPs chain on one interface. */
export function filterPref(vip: string, port: number): number {
  const b = parseIp(vip).bytes;
  let h = 2166136261;
  for (const x of [...b, port >> 8, port & 0xff]) h = Math.imul(h ^ x, 16777619) >>> 0;
  return 0xc000 + (h & 0x0fff);
}

function bpfError(message: string, details: Record<string, unknown>, cause?: unknown): FabricError {
  return new FabricError('WGF_ERR_BPF', message, details, cause === undefined ? undefined : { cause });
}

const u32Le = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/**
 * Pins the program (loaded from the object, or an attached one by id) for as long as it takes to
 * attach it with tc on every interface given, then unpins it. Mounts bpffs when it is missing.
 * Arguments: pin dir, object, "new" or program id, filter preference, interfaces.
 */
const PIN_AND_ATTACH = `set -e
D=$1; OBJ=$2; PROG=$3; PREF=$4; shift 4
grep -q ' /sys/fs/bpf .* - bpf ' /proc/self/mountinfo || mount -t bpf bpf /sys/fs/bpf
mkdir -p "$D"
trap 'rm -rf "$D"' EXIT
# loadall: the object holds an XDP program too (its type comes from its section).
if [ "$PROG" = new ]; then bpftool prog loadall "$OBJ" "$D/all"; P="$D/all/wglb_tc"; else bpftool prog pin id "$PROG" "$D/prog"; P="$D/prog"; fi
for dev in "$@"; do tc filter replace dev "$dev" ingress pref "$PREF" handle 1 bpf da object-pinned "$P"; done
`;

/** Monotonic ns, the clock of bpf_ktime_get_coarse_ns() (which lags it by at most a tick). */
const monoNs = (): bigint => process.hrtime.bigint();

export class BpfDataPath implements DataPath {
  readonly kind = 'bpf' as const;
  private maps: Maps | undefined;
  private progId: number | undefined;
  private interfaces: string[] = [];
  private readonly pref: number;
  private readonly flowTtlNs: bigint;
  private guard: GuardLimits | undefined;
  /** True once open() adopted a program that was already attached (restart). */
  adopted = false;

  constructor(private readonly o: BpfDataPathOptions) {
    const ip = parseIp(o.vip, 'vip');
    if (ip.family !== 4) throw new FabricError('WGF_ERR_VALIDATION', 'the BPF data path serves IPv4 VIPs only; use --dataplane nft (or auto) for IPv6', { field: 'vip', value: o.vip });
    this.pref = filterPref(o.vip, o.port);
    this.guard = o.guard;
    this.flowTtlNs = BigInt(o.flowTtlMs ?? 180_000) * 1_000_000n;
  }

  private async cmd(cmd: string, args: readonly string[], input?: string): Promise<string> {
    const r = await run(cmd, args, { ...(this.o.netns ? { netns: this.o.netns } : {}), ...(input === undefined ? {} : { input }), allowFailure: true, timeoutMs: 60_000 });
    if (r.code !== 0) throw bpfError(`${cmd} ${args.slice(0, 4).join(' ')} failed with exit code ${r.code}`, { stderr: r.stderr.trim().slice(0, 4000), netns: this.o.netns });
    return r.stdout;
  }

  /** The id of the program attached at this VIP's preference on `dev`, if any. */
  private async attachedProg(dev: string): Promise<number | undefined> {
    const text = await this.cmd('tc', ['-j', 'filter', 'show', 'dev', dev, 'ingress']).catch(() => '[]');
    const list = JSON.parse(text || '[]') as { pref?: number; options?: { prog?: { id?: number } } }[];
    return list.find((f) => f.pref === this.pref && f.options?.prog?.id !== undefined)?.options?.prog?.id;
  }

  /**
   * Loads (or adopts) the program and attaches it on every interface. Rejects with WGF_ERR_BPF
   * (nothing left attached by this call) when the object is missing or tc/bpftool refuse it.
   */
  async open(): Promise<void> {
    const obj = this.o.objectPath ?? defaultBpfObject();
    if (this.o.adoptOnly) {
      this.interfaces = [...(this.o.interfaces ?? await this.listInterfaces())];
      for (const dev of this.interfaces) this.progId ??= await this.attachedProg(dev);
      if (this.progId === undefined) throw bpfError(`no BPF data path attached for ${this.o.vip}:${this.o.port}`, { netns: this.o.netns });
      this.adopted = true;
      this.maps = await this.findMaps(this.progId);
      return;
    }
    if (!existsSync(obj)) throw bpfError(`BPF object ${obj} not found: run scripts/deps.sh (it builds it with clang)`, { object: obj });
    this.interfaces = [...(this.o.interfaces ?? await this.listInterfaces())];
    if (this.interfaces.length === 0) throw bpfError('no interface to attach the BPF program to', {});
    const attachedTo: string[] = [];
    try {
      let prog: number | undefined;
      for (const dev of this.interfaces) {
        await this.cmd('tc', ['qdisc', 'replace', 'dev', dev, 'clsact']);
        prog ??= await this.attachedProg(dev);
      }
      this.adopted = prog !== undefined;
      if (prog === undefined && this.interfaces.length === 1) {
        const dev = this.interfaces[0]!;
        await this.cmd('tc', ['filter', 'replace', 'dev', dev, 'ingress', 'pref', String(this.pref), 'handle', '1', 'bpf', 'da', 'obj', obj, 'sec', 'tc']);
        attachedTo.push(dev);
        prog = await this.attachedProg(dev);
      } else {
        const missing: string[] = [];
        for (const dev of this.interfaces) if (prog === undefined || (await this.attachedProg(dev)) !== prog) missing.push(dev);
        if (missing.length > 0) {
          attachedTo.push(...missing);
          // One shell: the pin must live in the mount namespace of the tc commands that use it.
          await this.cmd('sh', ['-c', PIN_AND_ATTACH, 'wgfabric-bpf', this.pinDir(), obj, prog === undefined ? 'new' : String(prog), String(this.pref), ...missing]);
        }
        prog ??= await this.attachedProg(this.interfaces[0]!);
      }
      if (prog === undefined) throw bpfError('the BPF program did not show up on the interface after attaching it', { interfaces: this.interfaces });
      this.progId = prog;
      this.maps = await this.findMaps(prog);
      if (this.o.attach === 'xdp') {
        this.xdp = await attachXdp(this.xdpCmd(), { object: obj, tcProg: prog, cfgMap: this.maps.wglb_cfg, interfaces: this.interfaces, pinDir: `${this.pinDir()}-xdp`, veth: this.o.xdpVeth ?? false });
      } else {
        await detachXdp(this.xdpCmd(), this.interfaces, this.maps.wglb_cfg);
      }
    } catch (e) {
      for (const dev of attachedTo) await this.cmd('tc', ['filter', 'del', 'dev', dev, 'ingress', 'pref', String(this.pref)]).catch(() => {});
      throw e;
    }
  }

  /** XDP side: the interfaces it runs on and those it redirects to (empty in tc mode). */
  xdp: { readonly attached: readonly string[]; readonly redirect: readonly string[] } | undefined;

  /** Where the program runs: 'xdp' (XDP in front of tc) or 'tc'. */
  get attachMode(): BpfAttach {
    return this.xdp && this.xdp.attached.length > 0 ? 'xdp' : 'tc';
  }

  /** Whether XDP can forward on every interface of this data path (`--dataplane auto`). */
  async xdpCapable(): Promise<{ ok: boolean; why?: string }> {
    return xdpCapable(this.xdpCmd(), this.o.interfaces ?? await this.listInterfaces(), this.o.xdpVeth ?? false);
  }

  private xdpCmd(): XdpCmd {
    return (cmd, args, input) => this.cmd(cmd, args, input);
  }

  /** Removes this VIP's filter from every interface (the program and its maps go with it). */
  async detach(): Promise<void> {
    const devs = this.interfaces.length > 0 ? this.interfaces : [...(this.o.interfaces ?? await this.listInterfaces())];
    const cfgMap = this.maps?.wglb_cfg ?? await this.attachedCfgMap(devs).catch(() => undefined);
    if (cfgMap !== undefined) await detachXdp(this.xdpCmd(), devs, cfgMap).catch(() => {});
    for (const dev of devs) await this.cmd('tc', ['filter', 'del', 'dev', dev, 'ingress', 'pref', String(this.pref)]).catch(() => {});
    this.maps = undefined;
  }

  /** Changes the guard limits (undefined: guard off); the next write() writes them. */
  setGuard(guard: GuardLimits | undefined): void {
    this.guard = guard;
  }

  /** The program id (after open). */
  get programId(): number | undefined {
    return this.progId;
  }

  /** The config map id of this VIP's attached tc program, if any. */
  private async attachedCfgMap(devs: readonly string[]): Promise<number | undefined> {
    let prog: number | undefined;
    for (const dev of devs) prog ??= await this.attachedProg(dev);
    return prog === undefined ? undefined : (await this.findMaps(prog)).wglb_cfg;
  }

  private async listInterfaces(): Promise<string[]> {
    const links = JSON.parse(await this.cmd('ip', ['-j', 'link', 'show'])) as { ifname: string }[];
    return links.map((l) => l.ifname).filter((n) => n !== 'lo');
  }

  private pinDir(): string {
    return `/sys/fs/bpf/wgfabric-${this.o.instance.replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}-${parseIp(this.o.vip).text.replace(/[.:]/g, '_')}-${this.o.port}`;
  }

  private async findMaps(prog: number): Promise<Maps> {
    const info = JSON.parse(await this.cmd('bpftool', ['-j', 'prog', 'show', 'id', String(prog)])) as { map_ids?: number[] };
    const out: Partial<Maps> = {};
    for (const id of info.map_ids ?? []) {
      const m = JSON.parse(await this.cmd('bpftool', ['-j', 'map', 'show', 'id', String(id)])) as { name?: string };
      if (MAP_NAMES.includes(m.name as MapName) || m.name === 'wglb_tx' || m.name === 'wglb_mac1') out[m.name as MapName] = id;
    }
    for (const n of MAP_NAMES) if (out[n] === undefined) throw bpfError(`program ${prog} has no map ${n}: not a wgfabric LB program`, { prog });
    return out as Maps;
  }

  private need(): Maps {
    if (!this.maps) throw bpfError('the BPF data path is not open', {});
    return this.maps;
  }

  private config(spec: NftVip): BpfConfig {
    return {
      vip: spec.vip, port: spec.port, affinity: spec.affinity, snat: this.o.returnPath === 'snat', dsr: this.o.returnPath === 'dsr', seed: this.o.seed,
      size: spec.backends.length === 0 ? 0 : spec.table.length,
      ...(this.guard ? { guard: this.guard } : {}),
      ...(this.o.indexTtlMs === undefined ? {} : { indexTtlMs: this.o.indexTtlMs }),
      ...(this.o.flowTtlMs === undefined ? {} : { flowTtlMs: this.o.flowTtlMs }),
    };
  }

  private lastConfig: string | undefined;

  /** One bpftool batch: the changed slots (the nft delta rule), then the configuration. */
  async write(from: NftVip | undefined, to: NftVip): Promise<WriteResult> {
    const maps = this.need();
    if (to.table.length > BPF_MAX_SLOTS) throw new FabricError('WGF_ERR_VALIDATION', `the BPF data path holds tables of at most ${BPF_MAX_SLOTS} slots`, { field: 'tableSize', value: to.table.length });
    if (this.o.returnPath === 'dsr') await checkDsrBackends(to, from, (args) => this.cmd('ip', args));
    const changes = slotChanges(from, to);
    const cfg = configLine(maps.wglb_cfg, this.config(to));
    const whole = from === undefined || from.table.length !== to.table.length || from.backends.length === 0;
    if (changes.length === 0 && cfg === this.lastConfig && !whole) return { mode: 'none', slots: 0 };
    const lines = [...slotLines(maps.wglb_slots, changes), cfg];
    await this.cmd('bpftool', ['batch', 'file', '-'], lines.join('\n') + '\n');
    this.lastConfig = cfg;
    return { mode: whole ? 'full' : 'delta', slots: changes.length };
  }

  private async dump(map: MapName): Promise<string> {
    return this.cmd('bpftool', ['-j', 'map', 'dump', 'id', String(this.need()[map])]);
  }

  /** Live entries of the flow table (idle ones beyond the flow TTL are left out). */
  async flows(): Promise<FlowEntry[]> {
    const now = monoNs();
    return decodeFlows(parseDump(await this.dump('wglb_flows'))).filter((f) => now - f.seenNs <= this.flowTtlNs);
  }

  /** Learned receiver indices. */
  async indexes(): Promise<ReturnType<typeof decodeIndexes>> {
    return decodeIndexes(parseDump(await this.dump('wglb_idx')));
  }

  async deleteFlowsTo(_vip: string, _port: number, backendAddr: string, backendPort: number): Promise<number> {
    const maps = this.need();
    const addr = parseIp(backendAddr).text;
    const hit = (t: { address: string; port: number }): boolean => t.address === addr && t.port === backendPort;
    const flows = decodeFlows(parseDump(await this.dump('wglb_flows'))).filter((f) => hit(f.target));
    const idx = (await this.indexes()).filter((i) => hit(i.target));
    const lines = [...flows.map((f) => mapDeleteLine(maps.wglb_flows, f.key)), ...idx.map((i) => mapDeleteLine(maps.wglb_idx, i.key))];
    // An entry may vanish (LRU) between dump and delete: delete one by one, tolerating that.
    for (let i = 0; i < lines.length; i += 1000) {
      await this.cmd('bpftool', ['batch', 'file', '-'], lines.slice(i, i + 1000).join('\n') + '\n').catch(async () => {
        for (const l of lines.slice(i, i + 1000)) await this.cmd('bpftool', l.split(' ')).catch(() => {});
      });
    }
    return flows.length;
  }

  async listFlowTargets(_vip: string, _port: number): Promise<FlowTarget[]> {
    const counts = new Map<string, FlowTarget>();
    for (const f of await this.flows()) {
      const k = `${f.target.address}|${f.target.port}`;
      const c = counts.get(k);
      counts.set(k, { address: f.target.address, port: f.target.port, flows: (c?.flows ?? 0) + 1 });
    }
    return [...counts.values()];
  }

  async readSlots(): Promise<(SlotTarget | undefined)[] | undefined> {
    const cfg = parseDump(await this.dump('wglb_cfg'))[0]?.value;
    const size = cfg ? cfg.readUInt32LE(8) : 0;
    if (size === 0) return undefined;
    // One batch of lookups: dumping the whole array would print all BPF_MAX_SLOTS entries.
    const id = this.need().wglb_slots;
    const lines = Array.from({ length: size }, (_, s) => `map lookup id ${id} key ${hexArg(u32Le(s))}`);
    const out: (SlotTarget | undefined)[] = [];
    const text = await this.cmd('bpftool', ['-j', 'batch', 'file', '-'], lines.join('\n') + '\n');
    const results = (JSON.parse(text) as { output?: unknown }[]).map((r) => r.output).filter((x) => x !== undefined);
    for (const e of parseDump(JSON.stringify(results))) {
      const s = e.key.readUInt32LE(0);
      if (e.value.readUInt32BE(0) === 0) continue;
      out[s] = { address: `${e.value[0]}.${e.value[1]}.${e.value[2]}.${e.value[3]}`, port: e.value.readUInt16BE(4) };
    }
    return out;
  }

  /** The table size and flow hash key the program uses now (read back from its config map). */
  async readHashKey(): Promise<{ size: number; affinity: 'src-ip' | 'src-ip-port' }> {
    const cfg = parseDump(await this.dump('wglb_cfg'))[0]?.value;
    if (!cfg) throw bpfError('the BPF config map is empty', {});
    return { size: cfg.readUInt32LE(8), affinity: cfg[6] === 1 ? 'src-ip' : 'src-ip-port' };
  }

  private poolKey: Uint8Array | undefined;
  private mac1Written: string | undefined;

  /**
   * The public key of the VIP's pool (base64; undefined: unknown): with verifyMac1 on, the
   * program drops initiations whose mac1 does not verify with it. Writes the key map at once when
   * it changes (the pool's key may rotate while the table stays). Rejects with WGF_ERR_BPF when
   * the write fails, WGF_ERR_VALIDATION for a key that is not one.
   */
  async setPoolKey(publicKey: string | undefined): Promise<void> {
    this.poolKey = publicKey === undefined ? undefined : parseKey(publicKey, 'pool public key');
    const maps = this.need();
    if (maps.wglb_mac1 === undefined) return;
    const line = mac1Line(maps.wglb_mac1, this.o.verifyMac1 === false ? undefined : this.poolKey);
    if (line === this.mac1Written) return;
    await this.cmd('bpftool', ['batch', 'file', '-'], line + '\n');
    this.mac1Written = line;
  }

  /** Whether initiations' mac1 is checked now, and why not. */
  mac1(): Mac1State {
    if (this.o.verifyMac1 === false) return { verify: false, reason: 'turned off (--no-verify-mac1)' };
    if (this.maps && this.maps.wglb_mac1 === undefined) return { verify: false, reason: 'the attached program was loaded before mac1 checks existed (kept for its flows; detach it to load the new one)' };
    if (!this.poolKey || this.mac1Written === undefined) return { verify: false, reason: 'the pool public key is not known yet' };
    return { verify: true };
  }

  async counters(): Promise<Record<string, number>> {
    return readCounters(await this.dump('wglb_cnt'));
  }
}

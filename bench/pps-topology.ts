/**
 * The namespaces, programs and nftables state of bench/pps.ts, and its three modes:
 *
 *   client ns --veth-- lb ns (forwarding) --veth-- 3 backend ns (one UDP sink each)
 *
 * - direct: the client sends each flow straight to the backend Maglev picks for it; no table
 *   in the lb namespace uses conntrack, so it only routes and nothing is tracked.
 * - direct+ct: the same direct routing, plus a firewall-style table in the lb namespace whose
 *   forward chain holds `ct state established,related accept`. A `ct` expression makes the
 *   kernel register its conntrack hooks for the namespace, so every forwarded packet is
 *   tracked (looked up, and refreshed) exactly as on a host with a stateful firewall; nothing
 *   is NATed. The rule never matches these flows (the sinks never reply, so a flow stays
 *   unreplied, not established); it is there to switch tracking on, and costs one rule.
 * - vip: the real LB ruleset (renderRuleset + applyRuleset, M = 65537): the client sends to
 *   VIP:port and the LB DNATs each flow through the Maglev jhash map, with conntrack.
 * - bpf: the BPF data path (src/lb/dataplane/bpf.ts, guard on) with the same table: the client
 *   sends to VIP:port, the tc program rewrites and redirects each packet; no conntrack, no nft
 *   rule. The program is attached once (also to lo, where nothing of the bench passes, so it
 *   and its maps survive the other modes) and attached to or removed from the veths by tc.
 * - dsr: the same program with direct server return (`--return-path dsr`): the packet leaves
 *   unchanged (still VIP:port) towards the backend's MAC; every backend holds the VIP on lo.
 *   Only its configuration differs from bpf (one map write when the mode changes). The sinks never
 *   answer, so this measures the forward path; replies would bypass the LB entirely.
 * - xdp: the same program with its XDP side attached in front of tc on the LB's veths
 *   (BpfDataPath attach 'xdp', xdpVeth): XDP rewrites and redirects each packet before an skb
 *   exists. For XDP_REDIRECT into a veth to deliver, the backends' ends of the veths have GRO on
 *   (it gives them the NAPI context redirected frames need); for XDP to forward at all the
 *   client's veth computes full UDP checksums (tx checksum offload off: a CHECKSUM_PARTIAL packet
 *   is left to tc, see wglb-xdp.bpf.h). Both settings hold in every mode, so every mode pays them.
 * The ruleset is applied once; a mode change deletes or re-adds its DNAT chain verbatim from the
 * rendered script, and adds or deletes the conntrack table, in one nft transaction: milliseconds,
 * where the 65537-slot map takes about a second.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultNftTable } from '../src/lb/controller.js';
import { buildMaglevTable, DEFAULT_FLOW_SEED, DEFAULT_TABLE_SIZE, flowHash, lookup, sortByName } from '../src/lb/maglev.js';
import { applyRuleset } from '../src/lb/nft-apply.js';
import { NFT_FAMILY, renderRuleset, type NftVip } from '../src/lb/nft.js';
import { BpfDataPath, defaultBpfObject, filterPref } from '../src/lb/dataplane/bpf.js';
import { DEFAULT_GUARD_LIMITS } from '../src/lb/dataplane/bpf-maps.js';
import { run } from '../src/sys/exec.js';
import type { Sandbox } from '../src/sys/netns.js';

export const M = DEFAULT_TABLE_SIZE;
export const PORT = 51820;
export const BACKENDS = 3;
const SPORT_BASE = 40001;
/** The firewall-style table of direct+ct mode, next to the LB's own table. */
const CT_TABLE = 'wgfpps_conntrack';

/** Measured in this order in every round. */
export const MODES = ['direct', 'direct+ct', 'vip', 'bpf', 'xdp', 'dsr'] as const;
export type Mode = (typeof MODES)[number];
/** What each mode loads in the lb namespace. */
const LOADED: Record<Mode, { readonly dnat: boolean; readonly ct: boolean; readonly bpf: boolean; readonly dsr?: boolean; readonly xdp?: boolean }> = {
  direct: { dnat: false, ct: false, bpf: false },
  'direct+ct': { dnat: false, ct: true, bpf: false },
  vip: { dnat: true, ct: false, bpf: false },
  bpf: { dnat: false, ct: false, bpf: true },
  xdp: { dnat: false, ct: false, bpf: true, xdp: true },
  dsr: { dnat: false, ct: false, bpf: true, dsr: true },
};

/** True for the modes the BPF program forwards (at tc or at XDP). */
export const isBpf = (mode: Mode): boolean => LOADED[mode].bpf;

export interface Backend {
  readonly name: string;
  readonly ns: string;
  readonly address: string;
}

/** The namespaces, programs and ruleset of one run. Backends are in table (name) order. */
export interface Topology {
  readonly bin: { readonly blast: string; readonly sink: string };
  readonly client: { readonly ns: string; readonly address: string };
  readonly lb: string;
  readonly vip: string;
  readonly backends: readonly Backend[];
  readonly table: Int32Array;
  /** nft scripts that delete / re-add the DNAT chain of the applied ruleset, and add / delete the conntrack table. */
  readonly nft: { readonly dnatOff: string; readonly dnatOn: string; readonly ctOn: string; readonly ctOff: string };
  readonly cpu: { readonly sender?: number; readonly sinks?: number };
  /** The BPF data path, or why it is not there (the bpf mode is then left out). */
  readonly bpf: { readonly legs: readonly string[]; readonly path: BpfDataPath } | { readonly missing: string };
  /** Why the xdp mode cannot run (the veth settings it needs failed), or undefined. */
  readonly xdpMissing?: string;
  mode: Mode;
}

/** One flow of a mode: its source port, Maglev backend (index in t.backends) and destination. */
export interface Flow {
  readonly sport: number;
  readonly backend: number;
  readonly dst: string;
  /** The sender's --flow argument. */
  readonly arg: string;
}

/** Why this machine cannot run the bench, or undefined when it can. */
export function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, nftables)';
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  const onPath = (cmd: string): boolean => dirs.some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  const missing = ['gcc', 'nft', 'conntrack', 'ip'].filter((c) => !onPath(c));
  return missing.length > 0 ? `needs ${missing.join(', ')} on PATH` : undefined;
}

/** Compiles bench/udp/blast.c and sink.c into dir. */
export async function compile(dir: string): Promise<Topology['bin']> {
  const out = { blast: join(dir, 'blast'), sink: join(dir, 'sink') };
  for (const name of ['blast', 'sink'] as const) {
    const src = fileURLToPath(new URL(`./udp/${name}.c`, import.meta.url));
    await run('gcc', ['-O2', '-Wall', '-Werror', '-o', out[name], src]);
  }
  return out;
}

/** A random third octet of 198.18.X.0/24 that no host address or route uses. */
async function pickOctet(): Promise<number> {
  const used = (await run('ip', ['-4', '-o', 'addr', 'show'])).stdout + (await run('ip', ['-4', 'route', 'show'])).stdout;
  for (let i = 0; i < 50; i++) {
    const octet = 1 + Math.floor(Math.random() * 250);
    if (!used.includes(`198.18.${octet}.`)) return octet;
  }
  throw new Error('no free 198.18.X.0/24 segment');
}

/**
 * Builds the namespaces and applies the real ruleset (vip mode). Layout in 198.18.X.0/24:
 * client link .0/28 (LB .1, client .2), VIP .100 on the LB's client leg, backend i link
 * .16(i+1)/28 (LB .16(i+1)+1, backend .16(i+1)+2). Forwarding on in the LB, rp_filter off
 * everywhere, default routes via the LB.
 */
export async function buildTopology(box: Sandbox, bin: Topology['bin']): Promise<Topology> {
  const base = `198.18.${await pickOctet()}`;
  const sysctls = ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'];
  const addNs = async (suffix: string): Promise<string> => {
    const ns = await box.addNetns(suffix);
    await run('sysctl', ['-q', '-w', ...sysctls], { netns: ns });
    return ns;
  };
  const lb = await addNs('lb');
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: lb });
  const client = { ns: await addNs('cl'), address: `${base}.2` };
  const { ifA: clientIf, ifB: lbClientLeg } = await box.veth({ ns: client.ns, addr: `${client.address}/28` }, { ns: lb, addr: `${base}.1/28` }, 'c');
  const xdpSettings: string[] = [];
  const ethtool = async (ns: string, args: string[]): Promise<void> => {
    const r = await run('ethtool', args, { netns: ns, allowFailure: true });
    if (r.code !== 0) xdpSettings.push(`ethtool ${args.join(' ')}: ${r.stderr.trim()}`);
  };
  await ethtool(client.ns, ['-K', clientIf, 'tx', 'off']);
  await run('ip', ['route', 'add', 'default', 'via', `${base}.1`], { netns: client.ns });
  const vip = `${base}.100`;
  await run('ip', ['addr', 'add', `${vip}/32`, 'dev', lbClientLeg], { netns: lb });

  const backends: Backend[] = [];
  const legs: string[] = [];
  for (let i = 0; i < BACKENDS; i++) {
    const net = 16 * (i + 1);
    const ns = await addNs(`b${i}`);
    const leg = await box.veth({ ns, addr: `${base}.${net + 2}/28` }, { ns: lb, addr: `${base}.${net + 1}/28` }, `v${i}`);
    legs.push(leg.ifB);
    await ethtool(ns, ['-K', leg.ifA, 'gro', 'on']);
    await run('ip', ['route', 'add', 'default', 'via', `${base}.${net + 1}`], { netns: ns });
    await run('ip', ['addr', 'add', `${base}.100/32`, 'dev', 'lo'], { netns: ns }); // the VIP, for dsr
    backends.push({ name: `be-${i}`, ns, address: `${base}.${net + 2}` });
  }
  const sorted = sortByName(backends);
  const table = buildMaglevTable(sorted.map((b) => ({ name: b.name, weight: 1 })), M);
  const nftTable = defaultNftTable(vip, PORT);
  const script = renderRuleset({
    table: nftTable,
    vips: [{ vip, port: PORT, affinity: 'src-ip-port', backends: sorted.map((b) => ({ name: b.name, address: b.address, port: PORT })), table }],
  });
  await applyRuleset(script, { netns: lb });

  // The rendered chain block, verbatim, to re-add into the existing table.
  const lines = script.split('\n');
  const start = lines.indexOf('\tchain prerouting {');
  const end = lines.indexOf('\t}', start);
  if (start < 0 || end < 0) throw new Error('the rendered ruleset has no prerouting chain block');
  const ct = `${NFT_FAMILY} ${CT_TABLE}`;
  const n = cpus().length;
  const bpf = await loadBpf(lb, [lbClientLeg, ...legs], { vip, port: PORT, affinity: 'src-ip-port', backends: sorted.map((b) => ({ name: b.name, address: b.address, port: PORT })), table });
  return {
    bin, client, lb, vip, backends: sorted, table, bpf, ...(xdpSettings.length > 0 ? { xdpMissing: xdpSettings.join('; ') } : {}),
    nft: {
      dnatOff: `flush chain ${NFT_FAMILY} ${nftTable} prerouting\ndelete chain ${NFT_FAMILY} ${nftTable} prerouting\n`,
      dnatOn: `table ${NFT_FAMILY} ${nftTable} {\n${lines.slice(start, end + 1).join('\n')}\n}\n`,
      ctOn: `table ${ct} {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n`
        + '\t\tct state established,related accept\n\t}\n}\n',
      ctOff: `delete table ${ct}\n`,
    },
    cpu: n >= 2 ? { sender: 0, sinks: 1 } : {},
    mode: 'vip',
  };
}

/** The BPF data path on lo and the legs with the bench's table written, then removed from the legs. */
async function loadBpf(lb: string, legs: readonly string[], spec: NftVip): Promise<Topology['bpf']> {
  if (!existsSync(defaultBpfObject())) return { missing: `no BPF object at ${defaultBpfObject()} (bash scripts/build-bpf.sh)` };
  const path = new BpfDataPath({ vip: spec.vip, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', instance: 'pps', netns: lb, interfaces: ['lo', ...legs], guard: DEFAULT_GUARD_LIMITS });
  try {
    await path.open();
    await path.write(undefined, spec);
  } catch (e) {
    return { missing: `the BPF program did not load: ${e instanceof Error ? e.message : String(e)}` };
  }
  for (const dev of legs) await run('tc', ['filter', 'del', 'dev', dev, 'ingress', 'pref', String(filterPref(spec.vip, PORT))], { netns: lb });
  return { legs, path };
}

/** The modes this run measures: bpf and dsr only where the program loaded. */
export function modesOf(t: Topology): Mode[] {
  // WGF_PPS_MODES=bpf,dsr narrows the BPF modes to these (for profiling; the full run measures all).
  const only = process.env.WGF_PPS_MODES?.split(',').filter((m) => m !== '');
  return MODES.filter((m) => !isBpf(m) || ('path' in t.bpf && (m !== 'xdp' || t.xdpMissing === undefined)))
    .filter((m) => !only || !isBpf(m) || only.includes(m));
}

/** Whether the program of a topology is configured for dsr now (it keeps its config across modes). */
const dsrConfigured = new WeakMap<Topology, boolean>();

/** Writes the program's configuration for bpf (via-lb) or dsr; dsr checks every backend is on-link first. */
async function writeBpfConfig(t: Topology, dsr: boolean, checkAll = false): Promise<void> {
  const path = new BpfDataPath({
    vip: t.vip, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: dsr ? 'dsr' : 'via-lb', instance: 'pps', netns: t.lb, interfaces: ['lo'], adoptOnly: true, guard: DEFAULT_GUARD_LIMITS,
  });
  await path.open();
  const spec: NftVip = { vip: t.vip, port: PORT, affinity: 'src-ip-port', backends: t.backends.map((b) => ({ name: b.name, address: b.address, port: PORT })), table: t.table };
  await path.write(checkAll ? undefined : spec, spec);
}

/** Switches the lb namespace to `mode`: one nft transaction, and the BPF filter on or off the veths. */
export async function setMode(t: Topology, mode: Mode): Promise<void> {
  if (t.mode === mode) return;
  const [from, to] = [LOADED[t.mode], LOADED[mode]];
  if ((from.bpf !== to.bpf || from.xdp !== to.xdp) && 'path' in t.bpf) {
    if (to.bpf) {
      // Adopts the program still attached to lo (maps and flows included) onto the veths; at tc
      // it also removes the XDP side, at XDP it attaches it.
      await new BpfDataPath({
        vip: t.vip, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', instance: 'pps', netns: t.lb, interfaces: ['lo', ...t.bpf.legs],
        attach: to.xdp ? 'xdp' : 'tc', xdpVeth: true,
      }).open();
    } else {
      for (const dev of t.bpf.legs) {
        await run('ip', ['link', 'set', 'dev', dev, 'xdp', 'off'], { netns: t.lb });
        await run('tc', ['filter', 'del', 'dev', dev, 'ingress', 'pref', String(filterPref(t.vip, PORT))], { netns: t.lb });
      }
    }
  }
  if (to.bpf && !!to.dsr !== (dsrConfigured.get(t) ?? false) && 'path' in t.bpf) {
    await writeBpfConfig(t, !!to.dsr, !!to.dsr);
    dsrConfigured.set(t, !!to.dsr);
  }
  const script = (from.dnat === to.dnat ? '' : to.dnat ? t.nft.dnatOn : t.nft.dnatOff)
    + (from.ct === to.ct ? '' : to.ct ? t.nft.ctOn : t.nft.ctOff);
  await applyRuleset(script, { netns: t.lb });
  t.mode = mode;
}

/** The first n flows and where they are sent in `mode`: VIP:PORT, or their backend directly. */
export function flows(t: Topology, n: number, mode: Mode): Flow[] {
  return Array.from({ length: n }, (_, i) => {
    const sport = SPORT_BASE + i;
    const backend = lookup(t.table, flowHash(t.client.address, sport));
    const dst = mode === 'vip' || isBpf(mode) ? t.vip : t.backends[backend]!.address;
    return { sport, backend, dst, arg: `${sport},${dst},${PORT}` };
  });
}

/**
 * The XDP side of the BPF data path (wglb-xdp.bpf.h): attaches the object's XDP program in
 * driver (native) mode on every interface but lo, sharing the maps of the tc program already
 * attached for the VIP (so both see one flow table, one set of learned indices, one guard), and
 * writes wglb_tx, the interfaces XDP may redirect to. The tc program stays attached behind it and
 * handles every packet XDP leaves to the stack (XDP_PASS).
 *
 * One XDP program runs per interface: an interface that already runs another XDP program (another
 * VIP's LB, another tool) is an error here, and `--dataplane auto` then stays on tc.
 */
import { FabricError } from '../../protocol/errors.js';

/** Where the program runs: tc only, or XDP in front of tc. */
export type BpfAttach = 'tc' | 'xdp';

/** Runs a command (in the data path's namespace) and returns its stdout; rejects on failure. */
export type XdpCmd = (cmd: string, args: readonly string[], input?: string) => Promise<string>;

export interface Link {
  readonly ifname: string;
  readonly ifindex: number;
  readonly linkinfo?: { readonly info_kind?: string };
  readonly xdp?: { readonly prog?: { readonly id?: number }; readonly attached?: readonly { readonly prog?: { readonly id?: number } }[] };
}

/** The XDP program id attached to a link, if any. */
export function xdpProgOf(l: Link): number | undefined {
  return l.xdp?.prog?.id ?? l.xdp?.attached?.find((a) => a.prog?.id !== undefined)?.prog?.id;
}

/**
 * True when XDP_REDIRECT into this interface delivers: a device without a link kind (a NIC; its
 * driver must implement ndo_xdp_xmit, which every native-XDP driver of note does), or a veth when
 * the caller vouches for its peer (a veth delivers redirected frames only when its peer has NAPI
 * on: an XDP program or GRO).
 */
export function redirectTarget(l: Link, veth: boolean): boolean {
  const kind = l.linkinfo?.info_kind;
  return kind === undefined || (kind === 'veth' && veth);
}

async function links(cmd: XdpCmd, names: readonly string[]): Promise<Link[]> {
  const all = JSON.parse(await cmd('ip', ['-j', '-d', 'link', 'show'])) as Link[];
  return all.filter((l) => l.ifname !== 'lo' && names.includes(l.ifname));
}

async function mapsOf(cmd: XdpCmd, prog: number): Promise<number[]> {
  return (JSON.parse(await cmd('bpftool', ['-j', 'prog', 'show', 'id', String(prog)])) as { map_ids?: number[] }).map_ids ?? [];
}

const u32Hex = (n: number): string[] => [0, 8, 16, 24].map((s) => `0x${((n >>> s) & 0xff).toString(16).padStart(2, '0')}`);

/** Loads the object again with the tc program's maps, pins it, attaches its XDP program on each device. */
const LOAD_AND_ATTACH = `set -e
D=$1; OBJ=$2; MAPS=$3; shift 3
grep -q ' /sys/fs/bpf .* - bpf ' /proc/self/mountinfo || mount -t bpf bpf /sys/fs/bpf
mkdir -p "$D"
trap 'rm -rf "$D"' EXIT
bpftool prog loadall "$OBJ" "$D/p" $MAPS
for dev in "$@"; do ip link set dev "$dev" xdpdrv pinned "$D/p/wglb_xdp"; done
`;

export interface AttachXdpOptions {
  readonly object: string;
  /** The attached tc program of the VIP: its maps are shared. */
  readonly tcProg: number;
  readonly cfgMap: number;
  readonly interfaces: readonly string[];
  readonly pinDir: string;
  readonly veth: boolean;
}

/**
 * Attaches (or adopts) the XDP side on every interface but lo and writes wglb_tx. Rejects with
 * WGF_ERR_BPF, leaving no XDP program of this call attached, when a device refuses native XDP or
 * runs another XDP program.
 */
export async function attachXdp(cmd: XdpCmd, o: AttachXdpOptions): Promise<{ attached: string[]; redirect: string[] }> {
  const ls = await links(cmd, o.interfaces);
  if (ls.length === 0) throw new FabricError('WGF_ERR_BPF', 'no interface for XDP (lo takes none)', {});
  const missing: string[] = [];
  for (const l of ls) {
    const id = xdpProgOf(l);
    if (id === undefined) missing.push(l.ifname);
    else if (!(await mapsOf(cmd, id)).includes(o.cfgMap)) {
      throw new FabricError('WGF_ERR_BPF', `interface ${l.ifname} already runs XDP program ${id}: one XDP program per interface`, { interface: l.ifname, prog: id });
    }
  }
  if (missing.length > 0) {
    const maps: string[] = [];
    for (const id of await mapsOf(cmd, o.tcProg)) {
      const m = JSON.parse(await cmd('bpftool', ['-j', 'map', 'show', 'id', String(id)])) as { name?: string };
      if (m.name?.startsWith('wglb_')) maps.push('map', 'name', m.name, 'id', String(id));
    }
    try {
      await cmd('sh', ['-c', LOAD_AND_ATTACH, 'wgfabric-xdp', o.pinDir, o.object, maps.join(' '), ...missing]);
    } catch (e) {
      await detachXdp(cmd, missing, o.cfgMap).catch(() => {});
      throw new FabricError('WGF_ERR_BPF', `native XDP did not attach: ${e instanceof Error ? e.message : String(e)}`, { interfaces: missing }, { cause: e });
    }
  }
  // wglb_tx belongs to the XDP program alone (tc never redirects through it).
  const now = await links(cmd, o.interfaces);
  const xdpProg = now.map(xdpProgOf).find((id) => id !== undefined);
  let txMap: number | undefined;
  for (const id of xdpProg === undefined ? [] : await mapsOf(cmd, xdpProg)) {
    if ((JSON.parse(await cmd('bpftool', ['-j', 'map', 'show', 'id', String(id)])) as { name?: string }).name === 'wglb_tx') txMap = id;
  }
  if (txMap === undefined) throw new FabricError('WGF_ERR_BPF', 'the XDP program has no wglb_tx map', { prog: xdpProg });
  const redirect = ls.filter((l) => redirectTarget(l, o.veth));
  const lines = redirect.map((l) => `map update id ${txMap} key ${u32Hex(l.ifindex).join(' ')} value ${u32Hex(l.ifindex).join(' ')}`);
  if (lines.length > 0) await cmd('bpftool', ['batch', 'file', '-'], lines.join('\n') + '\n');
  for (const l of ls.filter((x) => !redirect.includes(x))) {
    await cmd('bpftool', ['map', 'delete', 'id', String(txMap), 'key', ...u32Hex(l.ifindex)]).catch(() => {});
  }
  return { attached: ls.map((l) => l.ifname), redirect: redirect.map((l) => l.ifname) };
}

/** Removes the XDP program of this VIP (the one sharing cfgMap) from the interfaces; others stay. */
export async function detachXdp(cmd: XdpCmd, interfaces: readonly string[], cfgMap: number): Promise<void> {
  for (const l of await links(cmd, interfaces)) {
    const id = xdpProgOf(l);
    if (id !== undefined && (await mapsOf(cmd, id)).includes(cfgMap)) await cmd('ip', ['link', 'set', 'dev', l.ifname, 'xdp', 'off']);
  }
}

/** True when every interface but lo takes XDP_REDIRECT (what `--dataplane auto` needs to pick XDP). */
export async function xdpCapable(cmd: XdpCmd, interfaces: readonly string[], veth: boolean): Promise<{ ok: boolean; why?: string }> {
  const ls = await links(cmd, interfaces);
  const not = ls.filter((l) => !redirectTarget(l, veth)).map((l) => `${l.ifname} (${l.linkinfo?.info_kind ?? 'nic'})`);
  if (ls.length === 0) return { ok: false, why: 'no interface but lo' };
  return not.length === 0 ? { ok: true } : { ok: false, why: `XDP_REDIRECT cannot deliver into ${not.join(', ')}${veth ? '' : ' (veths: only with --xdp-veth, when their peers run XDP or GRO)'}` };
}

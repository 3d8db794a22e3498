/**
 * Picks and opens the data path of one VIP for `lb run --dataplane nft|bpf|auto`:
 * - nft: the nftables writer + conntrack; a BPF filter left at this VIP's preference by an
 *   earlier `--dataplane bpf` run is detached first (it would see the packets before nftables);
 * - bpf: loads or adopts the BPF program at tc (IPv4 only) or fails with WGF_ERR_BPF;
 * - xdp: the same program with its XDP side in front of tc (xdp.ts), or fails with WGF_ERR_BPF;
 * - auto: xdp when every interface takes XDP_REDIRECT (NICs; veths only with xdpVeth) and it
 *   attaches, else bpf at tc when the VIP is IPv4 and the program loads, nft otherwise (the
 *   reason is logged).
 * Return path 'dsr' exists on bpf only: with nft it is refused (WGF_ERR_VALIDATION), with auto
 * there is no fallback to nft (the bpf error is thrown).
 */
import { FabricError } from '../../protocol/errors.js';
import { parseIp } from '../addr.js';
import { conntrackPort, type ConntrackPort } from '../conntrack.js';
import { BpfDataPath, type BpfDataPathOptions } from './bpf.js';
import { xdpCapable, type BpfAttach } from './xdp.js';
import type { DataPathChoice, DataPathKind, TableWriter } from './port.js';

export interface ChosenDataPath {
  readonly kind: DataPathKind;
  /** The bpf writer; undefined for nft (the service renders nft scripts itself). */
  readonly writer?: TableWriter;
  readonly flows: ConntrackPort;
  readonly counters?: () => Promise<Record<string, number>>;
  /** bpf: where the program runs ('xdp' in front of tc, or 'tc'). */
  readonly attach?: BpfAttach;
}

/** What the BPF data path needs (bpf.ts), plus the choice and a log. */
export interface ChooseOptions extends Pick<BpfDataPathOptions, 'vip' | 'port' | 'seed' | 'returnPath' | 'instance' | 'guard' | 'xdpVeth' | 'netns' | 'interfaces' | 'verifyMac1'> {
  readonly choice: DataPathChoice;
  readonly log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

export async function chooseDataPath(o: ChooseOptions): Promise<ChosenDataPath> {
  const v4 = parseIp(o.vip, 'vip').family === 4;
  if (o.returnPath === 'dsr' && (o.choice === 'nft' || !v4)) {
    throw new FabricError('WGF_ERR_VALIDATION', `--return-path dsr needs the BPF data path (--dataplane bpf, xdp or auto, IPv4 VIP); got --dataplane ${o.choice} for ${o.vip}`, { field: 'returnPath', value: 'dsr' });
  }
  if (o.choice !== 'nft' && (v4 || o.choice !== 'auto')) {
    const base = { vip: o.vip, port: o.port, seed: o.seed, returnPath: o.returnPath, instance: o.instance, ...(o.guard ? { guard: o.guard } : {}),
      ...(o.netns ? { netns: o.netns } : {}), ...(o.interfaces ? { interfaces: o.interfaces } : {}), ...(o.xdpVeth ? { xdpVeth: true } : {}),
      ...(o.verifyMac1 === false ? { verifyMac1: false } : {}) };
    let attach: BpfAttach = o.choice === 'xdp' ? 'xdp' : 'tc';
    if (o.choice === 'auto') {
      const probe = new BpfDataPath(base);
      const cap = await probe.xdpCapable().catch((e: unknown) => ({ ok: false, why: e instanceof Error ? e.message : String(e) }));
      if (cap.ok) attach = 'xdp';
      else o.log('info', 'XDP cannot forward here, trying tc', { reason: cap.why });
    }
    for (;;) {
      try {
        const bpf = new BpfDataPath({ ...base, attach });
        await bpf.open();
        o.log('info', 'bpf data path attached', { program: bpf.programId, adopted: bpf.adopted, attach: bpf.attachMode, xdpRedirect: bpf.xdp?.redirect });
        return { kind: 'bpf', writer: bpf, flows: bpf, counters: () => bpf.counters(), attach: bpf.attachMode };
      } catch (e) {
        if (o.choice !== 'auto') throw e;
        const error = e instanceof Error ? e.message : String(e);
        if (attach === 'xdp') {
          o.log('warn', 'XDP did not attach, using tc', { error });
          attach = 'tc';
          continue;
        }
        if (o.returnPath === 'dsr') throw e;
        o.log('warn', 'bpf data path did not load, using nft', { error });
        break;
      }
    }
  } else if (o.choice === 'auto') {
    o.log('info', 'IPv6 VIP: nft data path');
  }
  if (v4) {
    // Best effort: tc may be missing where only nft is used.
    await new BpfDataPath({ vip: o.vip, port: o.port, seed: o.seed, returnPath: o.returnPath, instance: o.instance, ...(o.netns ? { netns: o.netns } : {}) }).detach().catch(() => {});
  }
  return { kind: 'nft', flows: conntrackPort() };
}

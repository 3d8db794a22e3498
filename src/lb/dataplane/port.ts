/**
 * The LB data-path port (Tailscale's Reconfig shape): the controller hands it the desired table
 * of one VIP and never knows whether nftables or a BPF program forwards the packets. Two
 * implementations stand behind it, held to one contract suite (test/integration/dataplane-contract.test.ts):
 * - nft (nft-writer.ts + ../conntrack.ts): jhash DNAT map, flows pinned by conntrack;
 * - bpf (bpf.ts): a tc program with the same Maglev table and the same jhash and seed, flows
 *   pinned by its own LRU flow table, WireGuard receiver-index steering and a guard.
 * Both pick the same backend for every new flow, so instances of either kind serve one VIP.
 */
import type { ConntrackPort } from '../conntrack.js';
import type { NftVip, SlotTarget } from '../nft.js';

/** The data path kinds ('xdp' is the bpf kind attached at XDP, 'auto' resolves to one of them). */
export type DataPathKind = 'nft' | 'bpf';
export const DATAPATH_CHOICES = ['nft', 'bpf', 'auto', 'xdp'] as const;
export type DataPathChoice = (typeof DATAPATH_CHOICES)[number];

/** What one write did: 'delta' (only changed slots), 'full' (everything), 'none' (nothing changed). */
export interface WriteResult {
  readonly mode: 'none' | 'delta' | 'full';
  readonly slots: number;
  /** Set when a delta failed and the whole table was written instead (reported as lastError). */
  readonly warning?: string;
}

/** Puts one VIP's desired table into the kernel. */
export interface TableWriter {
  /**
   * Makes the kernel hold `to`. `from` is what the last successful write put there (undefined:
   * unknown, write it whole); only the slots that differ are written when a delta can express
   * the change. Rejects (WGF_ERR_NFT / WGF_ERR_BPF) when nothing usable was written; the next
   * call then passes `from` undefined.
   */
  write(from: NftVip | undefined, to: NftVip): Promise<WriteResult>;
  /** bpf: the pool's public key, for the program's mac1 check of initiations (see bpf.ts). */
  setPoolKey?(publicKey: string | undefined): Promise<void>;
  /** bpf: whether mac1 is checked now. */
  mac1?(): Mac1State;
}

/** Whether the BPF program verifies initiations' mac1, and why not when it does not. */
export interface Mac1State {
  readonly verify: boolean;
  readonly reason?: string;
}

/** One VIP's data path: its table writer, its flow table (conntrack or the BPF LRU) and read-back. */
export interface DataPath extends TableWriter, ConntrackPort {
  readonly kind: DataPathKind;
  /** The slot -> backend map the kernel holds now (index = slot), undefined when none. */
  readSlots(): Promise<(SlotTarget | undefined)[] | undefined>;
  /** Packet counters by reason (bpf), empty for nft. */
  counters(): Promise<Record<string, number>>;
}

import { FabricError } from '../../protocol/errors.js';
import type { ConntrackPort, FlowTarget } from '../conntrack.js';

/** One recorded deleteFlowsTo() call. */
export interface ConntrackCall {
  readonly vip: string;
  readonly port: number;
  readonly address: string;
  readonly backendPort: number;
}

/**
 * In-memory ConntrackPort for tests of code that drives the LB: records every call, answers
 * with the number of flows set per backend address:port (default 0), and can be told to fail
 * like the tool does (WGF_ERR_CONNTRACK).
 *
 * `flows` is the kernel's table as the fake sees it: deleteFlowsTo() reports and removes the
 * count of its target, and listFlowTargets() lists every target with a count above 0.
 */
export class FakeConntrack implements ConntrackPort {
  /** Every deleteFlowsTo() call, in order, including failed ones. */
  readonly calls: ConntrackCall[] = [];
  /** Every listFlowTargets() call ("vip:port"), in order, including failed ones. */
  readonly lists: string[] = [];
  /** Flows per "address:port": what the next delete of that backend reports (then 0), and what a listing shows. */
  readonly flows = new Map<string, number>();
  /** When set, the next deleteFlowsTo() rejects with this stderr. */
  failNext: string | undefined;
  /** When set, the next listFlowTargets() rejects with this stderr. */
  failNextList: string | undefined;

  async deleteFlowsTo(vip: string, port: number, address: string, backendPort: number): Promise<number> {
    this.calls.push({ vip, port, address, backendPort });
    if (this.failNext !== undefined) {
      const stderr = this.failNext;
      this.failNext = undefined;
      throw new FabricError('WGF_ERR_CONNTRACK', 'conntrack -D failed with exit code 1', { exitCode: 1, stderr });
    }
    const key = `${address}:${backendPort}`;
    const n = this.flows.get(key) ?? 0;
    this.flows.delete(key);
    return n;
  }

  async listFlowTargets(vip: string, port: number): Promise<FlowTarget[]> {
    this.lists.push(`${vip}:${port}`);
    if (this.failNextList !== undefined) {
      const stderr = this.failNextList;
      this.failNextList = undefined;
      throw new FabricError('WGF_ERR_CONNTRACK', 'conntrack -L failed with exit code 1', { exitCode: 1, stderr });
    }
    return [...this.flows].filter(([, n]) => n > 0).map(([key, flows]) => {
      const i = key.lastIndexOf(':');
      return { address: key.slice(0, i), port: Number(key.slice(i + 1)), flows };
    });
  }

  /** The backend of every delete call (failed ones too), as "address:port", in call order. */
  targets(): string[] {
    return this.calls.map((c) => `${c.address}:${c.backendPort}`);
  }
}

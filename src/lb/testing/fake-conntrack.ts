import { FabricError } from '../../protocol/errors.js';
import type { ConntrackPort } from '../conntrack.js';

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
 */
export class FakeConntrack implements ConntrackPort {
  /** Every call, in order, including failed ones. */
  readonly calls: ConntrackCall[] = [];
  /** Flows per "address:port" that the next delete of that backend reports (then 0). */
  readonly flows = new Map<string, number>();
  /** When set, the next call rejects with this stderr. */
  failNext: string | undefined;

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

  /** The backend of every call (failed ones too), as "address:port", in call order. */
  targets(): string[] {
    return this.calls.map((c) => `${c.address}:${c.backendPort}`);
  }
}

import { FabricError } from '../../protocol/errors.js';
import type { RulesetApplier } from '../nft-apply.js';

/**
 * In-memory RulesetApplier for tests of code that drives the LB: records every applied script,
 * keeps the last successful one as "the kernel state", and can be told to fail like nft does
 * (WGF_ERR_NFT, state unchanged).
 */
export class FakeApplier implements RulesetApplier {
  /** Every script passed to apply(), in order, including failed ones. */
  readonly calls: string[] = [];
  /** The script of the last successful apply: what the kernel would hold. */
  current: string | undefined;
  /** When set, the next apply() rejects with this stderr and leaves `current` alone. */
  failNext: string | undefined;

  async apply(script: string): Promise<void> {
    this.calls.push(script);
    if (this.failNext !== undefined) {
      const stderr = this.failNext;
      this.failNext = undefined;
      throw new FabricError('WGF_ERR_NFT', 'nft -f - failed with exit code 1', { exitCode: 1, stderr });
    }
    this.current = script;
  }
}

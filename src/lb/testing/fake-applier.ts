import { FabricError } from '../../protocol/errors.js';
import type { RulesetApplier } from '../nft-apply.js';

const DELTA = /^delete element inet (\S+) (\S+) \{\n([\s\S]*?)\n\}\nadd element inet \1 \2 \{\n([\s\S]*?)\n\}\n$/m;

/**
 * In-memory RulesetApplier for tests of code that drives the LB: records every applied script,
 * keeps the kernel state as the text of a whole ruleset, and can be told to fail like nft does
 * (WGF_ERR_NFT, state unchanged). A slot delta (renderSlotDelta) is applied to that text the
 * way the kernel applies it to the map: each rewritten slot's element is replaced, so after a
 * delta `current` equals the whole ruleset rendered for the new state. A delta for a table or
 * map the state does not hold, or for a missing slot, fails like nft.
 */
export class FakeApplier implements RulesetApplier {
  /** Every script passed to apply(), in order, including failed ones. */
  readonly calls: string[] = [];
  /** The whole ruleset the kernel would hold after the successful applies so far. */
  current: string | undefined;
  /** When set, the next `failTimes` apply() calls reject with this stderr and leave `current` alone. */
  failNext: string | undefined;
  failTimes = 1;

  async apply(script: string): Promise<void> {
    this.calls.push(script);
    if (this.failNext !== undefined) {
      const stderr = this.failNext;
      if (--this.failTimes <= 0) {
        this.failNext = undefined;
        this.failTimes = 1;
      }
      throw nftError(stderr);
    }
    this.current = script.startsWith('delete element') || /^#[^\n]*slots of [^\n]*rewritten/.test(script) ? this.patch(script) : script;
  }

  private patch(script: string): string {
    const m = DELTA.exec(script);
    if (!m) throw nftError('fake nft: a delta script of an unknown shape');
    const [, table, map, , adds] = m;
    let text = this.current;
    if (text === undefined || !text.includes(`table inet ${table} {\n`) || !text.includes(`map ${map} {`)) {
      throw nftError(`Error: No such file or directory; did you mean table 'inet ${table}'?`);
    }
    for (const el of adds!.split(/,\s*/).map((x) => x.trim()).filter(Boolean)) {
      const slot = el.split(' : ')[0]!;
      const re = new RegExp(`(^|[\\t ])${slot} : [^,\\n]+`, 'm');
      if (!re.test(text)) throw nftError(`Error: Could not process rule: No such file or directory (slot ${slot})`);
      text = text.replace(re, (_all, lead: string) => `${lead}${el}`);
    }
    return text;
  }
}

function nftError(stderr: string): FabricError {
  return new FabricError('WGF_ERR_NFT', 'nft -f - failed with exit code 1', { exitCode: 1, stderr });
}

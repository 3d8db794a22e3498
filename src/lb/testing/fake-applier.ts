import { FabricError } from '../../protocol/errors.js';
import type { RulesetApplier } from '../nft-apply.js';

/** The statements of a slot delta (renderSlotDelta) once its comment lines are dropped. */
const DELTA = /^delete element inet (\S+) (\S+) \{\n([^}]*)\n\}\nadd element inet \1 \2 \{\n([^}]*)\n\}\n$/;

/** The table a whole-ruleset script (renderRuleset) replaces: its first statement, `table inet NAME {}`. */
const TABLE = /^table inet (\S+) \{\}$/m;

/**
 * In-memory RulesetApplier for tests of code that drives the LB: records every applied script,
 * keeps the kernel state as the text of a whole ruleset per nft table, and can be told to fail
 * like nft does (WGF_ERR_NFT, state unchanged). Several controllers may share one (one kernel,
 * one table each, as the services of one `lb run` process do). A whole ruleset (renderRuleset)
 * replaces its own table and leaves the others alone. A slot delta (renderSlotDelta) is applied
 * to its table's text the way the kernel applies it to the map: each rewritten slot's element
 * is replaced, so after a delta that table's text equals the whole ruleset rendered for the new
 * state. A script whose first statement (comments aside) is `delete element` is taken as a
 * delta; any other script must name its table as renderRuleset does. A delta for a table or
 * map the state does not hold, or for a missing slot, fails like nft; so does one that does
 * not add back exactly the slots it deletes (a hole the text model cannot hold).
 */
export class FakeApplier implements RulesetApplier {
  /** Every script passed to apply(), in order, including failed ones. */
  readonly calls: string[] = [];
  /** The whole ruleset of each table the kernel holds after the successful applies so far. */
  readonly tables = new Map<string, string>();
  /** When set, the next `failTimes` apply() calls reject with this stderr and leave the state alone. */
  failNext: string | undefined;
  failTimes = 1;

  /**
   * What the kernel holds: the one table's ruleset (several: their texts in name order);
   * undefined when none. Setting undefined deletes every table (someone flushed the ruleset).
   */
  get current(): string | undefined {
    if (this.tables.size === 0) return undefined;
    return [...this.tables].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, text]) => text).join('');
  }

  set current(text: string | undefined) {
    this.tables.clear();
    if (text !== undefined) this.tables.set(tableOf(text), text);
  }

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
    // nft comments run from '#' to the end of the line; the renderers only put them on lines of their own.
    const statements = script.split('\n').filter((line) => !line.trimStart().startsWith('#')).join('\n');
    if (statements.startsWith('delete element ')) {
      const [table, text] = this.patch(statements);
      this.tables.set(table, text);
    } else {
      this.tables.set(tableOf(script), script);
    }
  }

  /** The table a delta rewrites and that table's text after it. */
  private patch(statements: string): [string, string] {
    const m = DELTA.exec(statements);
    if (!m) throw nftError('fake nft: a delta script of an unknown shape');
    const [, table, map, deletes, adds] = m;
    const items = (block: string): string[] => block.split(',').map((x) => x.trim()).filter(Boolean);
    const deleted = items(deletes!);
    const added = items(adds!).map((el) => el.split(' : ')[0]!);
    if (deleted.join() !== added.join()) throw nftError('fake nft: a delta must add back exactly the slots it deletes');
    const text = this.tables.get(table!);
    const start = text?.indexOf(`\tmap ${map} {\n`) ?? -1;
    if (text === undefined || !text.includes(`table inet ${table} {\n`) || start < 0) {
      throw nftError(`Error: No such file or directory; did you mean table 'inet ${table}'?`);
    }
    // Only the elements of this map are rewritten, in one pass (a delta at M = 65537 has
    // thousands of slots): a slot number elsewhere in the ruleset can never match.
    const from = text.indexOf('elements = {\n', start);
    const end = text.indexOf('\n\t}\n', start);
    if (from < 0 || from > end) throw nftError(`Error: Could not process rule: No such file or directory (map ${map} has no elements)`);
    const wanted = new Map(items(adds!).map((el) => [el.split(' : ')[0]!, el]));
    const seen = new Set<string>();
    const elements = text.slice(from, end).replace(/(?<=[\t ])(\d+) : [^,\n]+/g, (old, slot: string) => {
      const el = wanted.get(slot);
      if (el === undefined) return old;
      seen.add(slot);
      return el;
    });
    const missing = [...wanted.keys()].find((slot) => !seen.has(slot));
    if (missing !== undefined) throw nftError(`Error: Could not process rule: No such file or directory (slot ${missing})`);
    return [table!, text.slice(0, from) + elements + text.slice(end)];
  }
}

function tableOf(script: string): string {
  const m = TABLE.exec(script);
  if (!m) throw nftError('fake nft: a script that is neither a slot delta nor a whole table (table inet NAME {})');
  return m[1]!;
}

function nftError(stderr: string): FabricError {
  return new FabricError('WGF_ERR_NFT', 'nft -f - failed with exit code 1', { exitCode: 1, stderr });
}

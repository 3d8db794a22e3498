/**
 * The nft implementation of the table writer: a slot delta (renderSlotDelta) when the kernel
 * holds a table of ours it can express, the whole ruleset otherwise, and the whole ruleset again
 * when a delta fails (someone deleted or edited the table).
 */
import { renderRuleset, renderSlotDelta, type ReturnPath } from '../nft.js';
import type { RulesetApplier } from '../nft-apply.js';
import type { TableWriter } from './port.js';

export interface NftWriterOptions {
  readonly table: string;
  readonly seed: number;
  readonly returnPath: ReturnPath;
  /** false: every change replaces the whole table. */
  readonly incremental: boolean;
  readonly applier: RulesetApplier;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export function nftTableWriter(o: NftWriterOptions): TableWriter {
  return {
    async write(from, spec) {
      const delta = from && o.incremental ? renderSlotDelta(o.table, from, spec) : undefined;
      if (delta?.slots === 0) return { mode: 'none', slots: 0 };
      let warning: string | undefined;
      if (delta !== undefined) {
        try {
          await o.applier.apply(delta.script);
          return { mode: 'delta', slots: delta.slots };
        } catch (e) {
          warning = `slot update failed, replacing the whole table: ${message(e)}`;
        }
      }
      await o.applier.apply(renderRuleset({ table: o.table, vips: [spec], returnPath: o.returnPath, seed: o.seed }));
      return { mode: 'full', slots: spec.table.length, ...(warning ? { warning } : {}) };
    },
  };
}

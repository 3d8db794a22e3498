/**
 * `wgfabric store-check [--data-dir DIR] [--full] [--json]`: checks the SQLite store of a
 * stopped server (the running server holds the file exclusively; use
 * POST /v1/admin/store/check on a running one). Exit 0 when sound; WGF_ERR_STORE_CORRUPT
 * (exit 74) listing the problems when damaged.
 */
import type { Command } from 'commander';
import { FabricError } from '../protocol/errors.js';
import { SqliteStore } from '../store/sqlite.js';
import { emit } from './output.js';
import { DEFAULT_DATA_DIR } from './server.js';

/** Adds the `store-check` command (also `store check`, beside store copy/backup/restore). */
export function registerStoreCheckCommand(program: Command): Command {
  return storeCheck(program.command('store-check'));
}

/** Options and action of the store check on `cmd`. */
export function storeCheck(cmd: Command): Command {
  return cmd
    .description('integrity check of a stopped server\'s store (quick by default, --full for everything)')
    .option('--data-dir <dir>', 'data directory of the server', DEFAULT_DATA_DIR)
    .option('--full', 'full integrity check (every index against its table), not only the quick one')
    .option('--json', 'JSON output')
    .action(async (f: { dataDir: string; full?: boolean; json?: boolean }) => {
      const store = await SqliteStore.open(f.dataDir, { check: 'none' });
      try {
        const res = await store.check(f.full ? 'full' : 'quick');
        if (!res.ok) {
          throw new FabricError('WGF_ERR_STORE_CORRUPT', `the store in ${f.dataDir} is damaged (${res.mode} check): ${res.problems.slice(0, 5).join('; ')}; restore the data directory from a backup`,
            { problems: res.problems, mode: res.mode });
        }
        emit(!!f.json, res, () => `store ok (${res.mode} integrity check, ${res.durationMs} ms)\n`);
      } finally {
        await store.close();
      }
    });
}

import type { Command } from 'commander';
import { isFabricError } from '../protocol/errors.js';
import { parseConfig } from '../wg/config.js';
import { apiClient, apiOptions, type ApiFlags } from './context.js';
import { planImport } from './import-plan.js';
import { emit } from './output.js';
import { readSecret } from './peer.js';

interface ImportFlags extends ApiFlags { pool: string; endpoint?: string; dryRun?: boolean; allowOverlap?: boolean }

/** `wgfabric import wg0.conf --pool NAME`: all or nothing (peers go in batches of 1,000; a failed batch removes the new pool again). */
export function registerImportCommand(program: Command): void {
  apiOptions(program.command('import <file>').description('turn an existing single-server wg-quick config into a pool with its peers'))
    .requiredOption('--pool <name>', 'name of the new pool')
    .option('--endpoint <host:port>', 'endpoint clients use (kept from nothing in the file: wg0.conf does not know it)')
    .option('--dry-run', 'only show what would be created (preshared keys are shown as kept, never printed)')
    .option('--allow-overlap', "accept a tunnel prefix that overlaps another pool's")
    .action(async (file: string, f: ImportFlags) => {
      const plan = planImport(parseConfig(readSecret(file, 'wg-quick config')), f.pool, f.endpoint);
      // The summary says whether a peer keeps a preshared key, never the key itself.
      const summary = {
        pool: plan.pool.name,
        peers: plan.peers.map((p) => ({ name: p.name, addresses: p.addresses ?? [], allowedIps: p.allowedIps ?? [], presharedKey: p.presharedKey !== undefined })),
        dropped: plan.dropped,
      };
      const withPsk = summary.peers.filter((p) => p.presharedKey).length;
      const pskNote = withPsk ? ` (${withPsk} with a preshared key, kept)` : '';
      if (f.dryRun) {
        const prefixes = [plan.pool.ipv4Prefix, plan.pool.ipv6Prefix, plan.pool.listenPort && `listen port ${plan.pool.listenPort}`].filter(Boolean).join(', ');
        return emit(!!f.json, { dryRun: true, ...summary }, () => `would create pool ${plan.pool.name} (${prefixes}) with ${plan.peers.length} peers${pskNote}\n`
          + summary.peers.map((p) => `  peer ${p.name}: ${[...p.addresses, ...p.allowedIps].join(', ') || '-'}${p.presharedKey ? ', preshared key kept' : ''}\n`).join('')
          + plan.dropped.map((d) => `  not imported: ${d}\n`).join(''));
      }
      const api = apiClient(f);
      await api.createPool({ ...plan.pool, ...(f.allowOverlap ? { allowOverlap: true } : {}) });
      try {
        // One batch (one revision, all or nothing) per 1,000 peers: agents apply each whole.
        for (let i = 0; i < plan.peers.length; i += 1000) {
          await api.peerBatch(plan.pool.name, plan.peers.slice(i, i + 1000).map((peer) => ({ op: 'create' as const, peer })));
        }
      } catch (e) {
        await api.deletePool(plan.pool.name, { force: true }).catch(() => {});
        if (isFabricError(e)) e.message = `import rolled back (pool ${plan.pool.name} removed): ${e.message}`;
        throw e;
      }
      emit(!!f.json, summary, () => `imported pool ${plan.pool.name} with ${plan.peers.length} peers${pskNote} from ${file}\n`
        + plan.dropped.map((d) => `  not imported: ${d}\n`).join(''));
    });
}

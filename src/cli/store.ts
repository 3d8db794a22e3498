/**
 * `wgfabric store copy --from SPEC --to SPEC`, `store backup --from SPEC --out FILE`,
 * `store restore --in FILE --to SPEC`. SPEC: sqlite:DIR (the server must be stopped: it holds
 * its SQLite file exclusively) or etcd:URL[,URL] with the --etcd-* flags (servers may run:
 * the copy is one snapshot). The backup file holds sealed secrets and token hashes: written
 * mode 0600.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { backupLines, copyStore, parseBackup, snapshotAll, writeAll } from '../store/copy.js';
import { openStore, type EtcdStoreOptions, type Store } from '../store/index.js';
import { emit } from './output.js';
import { storeCheck } from './store-check.js';

interface EtcdSide { etcdPrefix?: string; etcdCa?: string; etcdCert?: string; etcdKey?: string; etcdUser?: string; etcdPasswordFile?: string }

async function etcdOptions(f: EtcdSide): Promise<Omit<EtcdStoreOptions, 'endpoints'>> {
  const tls = f.etcdCa || f.etcdCert || f.etcdKey ? { ...(f.etcdCa ? { caFile: f.etcdCa } : {}), ...(f.etcdCert ? { certFile: f.etcdCert } : {}), ...(f.etcdKey ? { keyFile: f.etcdKey } : {}) } : undefined;
  const password = f.etcdPasswordFile ? (await readFile(f.etcdPasswordFile, 'utf8')).replace(/\r?\n$/, '') : undefined;
  return {
    ...(f.etcdPrefix !== undefined ? { prefix: f.etcdPrefix } : {}),
    ...(tls ? { tls } : {}),
    ...(f.etcdUser !== undefined && password !== undefined ? { auth: { username: f.etcdUser, password } } : {}),
  };
}

function etcdFlags(cmd: Command): Command {
  return cmd
    .option('--etcd-prefix <prefix>', 'key prefix of the fabric in etcd (default wgfabric/)')
    .option('--etcd-ca <file>', 'PEM CA of the etcd servers')
    .option('--etcd-cert <file>', 'PEM client certificate for etcd')
    .option('--etcd-key <file>', 'PEM key of --etcd-cert')
    .option('--etcd-user <name>', 'etcd user')
    .option('--etcd-password-file <file>', 'file holding the etcd password')
    .option('--json', 'JSON output');
}

async function withStores<T>(specs: string[], f: EtcdSide, fn: (stores: Store[]) => Promise<T>): Promise<T> {
  const opts = await etcdOptions(f);
  const stores: Store[] = [];
  try {
    for (const s of specs) stores.push(await openStore(s, opts));
    return await fn(stores);
  } finally {
    for (const s of stores) await s.close();
  }
}

/** Adds `store copy|backup|restore`. */
export function registerStoreCommands(program: Command): Command {
  const store = program.command('store').description('move a fabric between stores (SQLite, etcd); back it up and restore it; check it');
  storeCheck(store.command('check'));
  etcdFlags(store.command('copy')
    .description('copy every key (pools, peers, nodes, tokens, audit log) of one store into an empty one, as one snapshot')
    .requiredOption('--from <spec>', 'source: sqlite:DIR (server stopped) or etcd:URL[,URL]')
    .requiredOption('--to <spec>', 'target (must be empty): sqlite:DIR or etcd:URL[,URL]'))
    .action(async (f: EtcdSide & { from: string; to: string; json?: boolean }) => {
      const started = Date.now();
      const res = await withStores([f.from, f.to], f, ([a, b]) => copyStore(a!, b!));
      emit(!!f.json, { ...res, ms: Date.now() - started }, () => `copied ${res.keys} keys (source revision ${res.revision}) in ${Date.now() - started} ms\n`);
    });
  etcdFlags(store.command('backup')
    .description('write one consistent snapshot of a store to a file (mode 0600)')
    .requiredOption('--from <spec>', 'sqlite:DIR (server stopped) or etcd:URL[,URL]')
    .requiredOption('--out <file>', 'backup file to write'))
    .action(async (f: EtcdSide & { from: string; out: string; json?: boolean }) => {
      const snap = await withStores([f.from], f, ([a]) => snapshotAll(a!));
      const tmp = `${f.out}.tmp-${process.pid}`;
      await writeFile(tmp, [...backupLines(snap, new Date())].join(''), { mode: 0o600 });
      await rename(tmp, f.out);
      emit(!!f.json, { revision: snap.revision, keys: snap.kvs.length, file: f.out }, () => `backed up ${snap.kvs.length} keys at revision ${snap.revision} to ${f.out}\n`);
    });
  etcdFlags(store.command('restore')
    .description('write a backup file into an empty store')
    .requiredOption('--in <file>', 'backup file')
    .requiredOption('--to <spec>', 'target (must be empty): sqlite:DIR or etcd:URL[,URL]'))
    .action(async (f: EtcdSide & { in: string; to: string; json?: boolean }) => {
      const { header, entries } = parseBackup(await readFile(f.in, 'utf8'));
      const keys = await withStores([f.to], f, ([b]) => writeAll(b!, entries));
      emit(!!f.json, { keys, backupRevision: header.revision }, () => `restored ${keys} keys (backup of revision ${header.revision}, ${header.createdAt})\n`);
    });
  return store;
}

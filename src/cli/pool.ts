import type { Command } from 'commander';
import type { PoolCreate, PoolUpdate } from '../protocol/api.js';
import { DEFAULT_LB_TABLE_SIZE } from '../protocol/lb-settings.js';
import type { LbAffinity, Pool } from '../protocol/types.js';
import { ApiClient } from '../client/api-client.js';
import { apiClient, apiOptions, collectLabel, commaList, positiveInt, type ApiFlags } from './context.js';
import { emit, renderFields, renderTable } from './output.js';

interface PoolFlags extends ApiFlags {
  ipv4?: string; ipv6?: string; port?: number; endpoint?: string; dns?: string[]; mtu?: number; keepalive?: number;
  label?: Record<string, string>; description?: string; force?: boolean; allowOverlap?: boolean; ifMatch?: number; lbAffinity?: string; lbTableSize?: number;
  anycast?: string[]; anycastDrainSeconds?: number; anycastCommunity?: string[]; anycastMed?: string; anycastPrepend?: number;
}

export function poolFields(p: Pool): [string, unknown][] {
  return [['name', p.name], ['public key', p.publicKey], ['endpoint', p.endpoint], ['listen port', p.listenPort], ['ipv4 prefix', p.ipv4Prefix],
    ['ipv6 prefix', p.ipv6Prefix], ['dns', p.dns], ['mtu', p.mtu], ['keepalive', p.persistentKeepalive], ['labels', p.labels],
    ['lb affinity', p.lb.affinity], ['lb table size', p.lb.tableSize],
    ['anycast', p.anycast.addresses], ['anycast drain s', p.anycast.drainSeconds], ['anycast communities', p.anycast.communities],
    ['anycast med', p.anycast.med], ['anycast prepend', p.anycast.prepend], ['revision', p.revision]];
}

/** The API body of the setting flags. The control plane checks the values (`--lb-*`: fields lb.affinity, lb.tableSize). */
export function poolSettings(f: PoolFlags): PoolUpdate {
  const lb = {
    ...(f.lbAffinity !== undefined ? { affinity: f.lbAffinity as LbAffinity } : {}), ...(f.lbTableSize !== undefined ? { tableSize: f.lbTableSize } : {}),
  };
  const anycast = {
    ...(f.anycast !== undefined ? { addresses: f.anycast } : {}), ...(f.anycastDrainSeconds !== undefined ? { drainSeconds: f.anycastDrainSeconds } : {}),
    ...(f.anycastCommunity !== undefined ? { communities: f.anycastCommunity } : {}), ...(f.anycastPrepend !== undefined ? { prepend: f.anycastPrepend } : {}),
    ...(f.anycastMed !== undefined ? { med: f.anycastMed === 'none' ? null : positiveInt('--anycast-med')(f.anycastMed) } : {}),
  };
  return {
    ...(Object.keys(lb).length > 0 ? { lb } : {}), ...(Object.keys(anycast).length > 0 ? { anycast } : {}),
    ...(f.port !== undefined ? { listenPort: f.port } : {}), ...(f.endpoint !== undefined ? { endpoint: f.endpoint } : {}),
    ...(f.dns ? { dns: f.dns } : {}), ...(f.mtu !== undefined ? { mtu: f.mtu } : {}),
    ...(f.keepalive !== undefined ? { persistentKeepalive: f.keepalive } : {}), ...(f.label ? { labels: f.label } : {}),
    ...(f.description !== undefined ? { description: f.description } : {}),
  };
}

function settingOptions(cmd: Command): Command {
  return cmd
    .option('--port <n>', 'WireGuard listen port of the backends', positiveInt('--port'))
    .option('--endpoint <host:port>', 'endpoint clients connect to (VIP, anycast address or name)')
    .option('--dns <ips>', 'DNS servers for clients, comma-separated', commaList)
    .option('--mtu <n>', 'tunnel MTU', positiveInt('--mtu'))
    .option('--keepalive <s>', 'PersistentKeepalive written into client configs', positiveInt('--keepalive'))
    .option('--label <k=v>', 'label (repeatable)', collectLabel)
    .option('--description <text>', 'free text')
    .option('--lb-affinity <src-ip-port|src-ip>', 'load balancers hash new flows by source address and port (default) or source address only')
    .option('--lb-table-size <prime>', `Maglev table size of the pool's load balancers, a prime > 100 × nodes (default ${DEFAULT_LB_TABLE_SIZE})`, positiveInt('--lb-table-size'))
    .option('--anycast <ips>', "anycast addresses every node announces over BGP while it serves the pool (agent --announce bgp), comma-separated; '' for none", (v: string) => commaList(v))
    .option('--anycast-drain-seconds <s>', 'a draining node announces with GRACEFUL_SHUTDOWN this long, then withdraws (default 10)', positiveInt('--anycast-drain-seconds'))
    .option('--anycast-community <list>', 'BGP communities ASN:VALUE added to every announcement, comma-separated', (v: string) => commaList(v))
    .option('--anycast-med <n|none>', 'BGP MED sent with the anycast routes')
    .option('--anycast-prepend <n>', 'AS-path prepends (0..16) on the anycast routes', positiveInt('--anycast-prepend'));
}

/** `wgfabric pool create|list|show|set (alias update)|rm`. */
export function registerPoolCommands(program: Command): void {
  const pool = program.command('pool').description('pools: WireGuard endpoints served by a set of nodes with one key pair');
  settingOptions(apiOptions(pool.command('create <name>').description('create a pool (generates its server key pair)')))
    .option('--ipv4 <cidr>', 'IPv4 tunnel prefix peers get addresses from, e.g. 10.77.0.0/16')
    .option('--ipv6 <cidr>', 'IPv6 tunnel prefix, e.g. fd77::/64')
    .option('--allow-overlap', "accept tunnel prefixes that overlap another pool's (refused otherwise)")
    .action(async (name: string, f: PoolFlags) => {
      const body: PoolCreate = { name, ...poolSettings(f), ...(f.ipv4 ? { ipv4Prefix: f.ipv4 } : {}), ...(f.ipv6 ? { ipv6Prefix: f.ipv6 } : {}), ...(f.allowOverlap ? { allowOverlap: true } : {}) };
      const p = await apiClient(f).createPool(body);
      emit(!!f.json, p, () => `created pool ${p.name}\n` + renderFields(poolFields(p)));
    });
  apiOptions(pool.command('list').description('list pools')).action(async (f: ApiFlags) => {
    const api = apiClient(f);
    const items: Pool[] = [];
    for await (const p of ApiClient.all((cursor) => api.listPools({ limit: 1000, ...(cursor ? { cursor } : {}) }))) items.push(p);
    emit(!!f.json, items, () => renderTable(items, [
      { header: 'NAME', get: (p) => p.name }, { header: 'ENDPOINT', get: (p) => p.endpoint }, { header: 'PORT', get: (p) => p.listenPort },
      { header: 'IPV4', get: (p) => p.ipv4Prefix }, { header: 'IPV6', get: (p) => p.ipv6Prefix }, { header: 'PUBLIC KEY', get: (p) => p.publicKey },
    ]));
  });
  apiOptions(pool.command('show <name>').description('show one pool')).action(async (name: string, f: ApiFlags) => {
    const p = await apiClient(f).getPool(name);
    emit(!!f.json, p, () => renderFields(poolFields(p)));
  });
  settingOptions(apiOptions(pool.command('set <name>').alias('update').description('change pool settings (every load balancer of the pool follows new --lb-* settings)')))
    .option('--if-match <revision>', 'only if the pool is still at this revision', positiveInt('--if-match'))
    .action(async (name: string, f: PoolFlags) => {
      const p = await apiClient(f).updatePool(name, poolSettings(f), f.ifMatch !== undefined ? { ifMatch: f.ifMatch } : {});
      emit(!!f.json, p, () => renderFields(poolFields(p)));
    });
  apiOptions(pool.command('rm <name>').description('delete a pool (refused while it has nodes or peers unless --force)'))
    .option('--force', 'also delete its nodes and peers')
    .action(async (name: string, f: PoolFlags) => {
      await apiClient(f).deletePool(name, { force: !!f.force });
      emit(!!f.json, { deleted: name }, () => `deleted pool ${name}\n`);
    });
}

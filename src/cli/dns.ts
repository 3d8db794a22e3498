/**
 * `wgfabric dns run`: keeps the pool's name on an authoritative DNS server pointing only at
 * in-service nodes (or LB VIPs), through TSIG-signed RFC 2136 updates (see src/dns/updater.ts).
 * Runs centrally, next to the control plane, not on the nodes.
 */
import type { Command } from 'commander';
import { DnsAnnouncer } from '../announce/dns.js';
import { DnsClient } from '../dns/client.js';
import { DEFAULT_DNS_TTL, dnsRunSettings, readTsigKeyFile } from '../dns/config.js';
import { DnsUpdater } from '../dns/updater.js';
import type { LogFn } from '../sys/log.js';
import { DEFAULT_HEALTH_CONFIG, healthConfig } from '../lb/health.js';
import { FabricError } from '../protocol/errors.js';
import { apiClient, CA_FILE_HELP, positiveInt, type ApiFlags } from './context.js';
import { dnsRegistry, startDnsMetrics } from '../dns/metrics.js';
import { parseListen } from './server.js';
import { LOG_LEVEL_HELP, roleLog } from './log.js';
import { FOLLOW_MODES, type FollowMode } from '../follow/source.js';

interface DnsRunFlags extends ApiFlags {
  logLevel?: string;
  pool: string; zone: string; name: string; dnsServer: string; tsigKeyFile: string; ttl: number; source: string; probe: boolean;
  instance: string; keyFile?: string; readyMaxAgeMs: number; follow: string; pollMs: number; resyncMs: number; probeIntervalMs: number; probeTimeoutMs: number;
  failAfter: number; recoverAfter: number; listen?: string;
}


export function registerDnsCommands(program: Command): void {
  const dns = program.command('dns').description('health-aware DNS: the pool\'s name resolves only to in-service nodes or LB VIPs (RFC 2136 + TSIG)');
  dns.command('run').description('keep --name in --zone on an authoritative server (--dns-server) equal to the pool\'s in-service addresses, through TSIG-signed dynamic updates')
    .option('--server <url>', 'control plane URL')
    .option('--token-file <file>', 'API token file, operator or admin (reads nodes or LB reports, registers the probe peer)')
    .option('--ca-file <file>', CA_FILE_HELP)
    .requiredOption('--pool <pool>', 'pool whose nodes (or LB VIPs) the name points at')
    .requiredOption('--zone <zone>', 'the zone the server is authoritative for, e.g. example.net')
    .requiredOption('--name <fqdn>', 'the name clients put in Endpoint, inside --zone, e.g. vpn.example.net')
    .requiredOption('--dns-server <ip[:port]>', 'the authoritative server that accepts the updates (IP, IP:PORT or [IPv6]:PORT; port 53 by default)')
    .requiredOption('--tsig-key-file <file>', 'TSIG key: BIND key clause (tsig-keygen), Knot keymgr -t output, or one line hmac-sha256:NAME:BASE64 (keep it 0600)')
    .option('--ttl <s>', 'TTL of the records: how long resolvers may keep a removed address', positiveInt('--ttl'), DEFAULT_DNS_TTL)
    .option('--source <nodes|lbs>', 'publish the nodes\' endpoint addresses, or the VIPs of the pool\'s LB instances (from their reports)', 'nodes')
    .option('--no-probe', 'do not probe the nodes over WireGuard: admin state and agent readiness alone decide')
    .option('--instance <name>', 'names this updater\'s probe peer dnsprobe-<instance>', 'dns1')
    .option('--key-file <file>', 'keep the probe private key here (0600) and re-use it across restarts')
    .option('--ready-max-age-ms <ms>', 'an agent (or LB) report older than this counts as gone', positiveInt('--ready-max-age-ms'), 15_000)
    .option('--follow <stream|poll>', 'stream: follow the nodes through the control plane\'s change and readiness streams; poll: read them every --poll-ms (for servers without the readiness route)', 'stream')
    .option('--poll-ms <ms>', 'how often the control plane is read: the nodes with --follow poll, the LB reports with --source lbs', positiveInt('--poll-ms'), 500)
    .option('--resync-ms <ms>', 'how often the zone is read back and repaired even without a change', positiveInt('--resync-ms'), 10_000)
    .option('--probe-interval-ms <ms>', 'probe start interval per node', positiveInt('--probe-interval-ms'), DEFAULT_HEALTH_CONFIG.intervalMs)
    .option('--probe-timeout-ms <ms>', 'probe budget', positiveInt('--probe-timeout-ms'), DEFAULT_HEALTH_CONFIG.timeoutMs)
    .option('--fail-after <n>', 'consecutive failed probes that take a node out of the name', positiveInt('--fail-after'), DEFAULT_HEALTH_CONFIG.fall)
    .option('--listen <host:port>', 'serve /metrics (updates sent, failures, records of the name) here')
    .option('--recover-after <n>', 'consecutive good probes that put it back', positiveInt('--recover-after'), DEFAULT_HEALTH_CONFIG.rise)
    .option('--log-level <level>', LOG_LEVEL_HELP, 'info')
    .action(async (f: DnsRunFlags) => {
      const jsonLog: LogFn = roleLog('dns', f);
      if (!(FOLLOW_MODES as readonly string[]).includes(f.follow)) throw new FabricError('WGF_ERR_VALIDATION', `--follow must be stream or poll, got "${f.follow}"`, { field: 'follow' });
      const s = dnsRunSettings({ zone: f.zone, name: f.name, server: f.dnsServer, ttl: f.ttl, source: f.source });
      const health = healthConfig({ intervalMs: f.probeIntervalMs, timeoutMs: f.probeTimeoutMs, fall: f.failAfter, rise: f.recoverAfter });
      for (const [flag, v] of [['--poll-ms', f.pollMs], ['--resync-ms', f.resyncMs], ['--ready-max-age-ms', f.readyMaxAgeMs]] as const) {
        if (v < 100) throw new FabricError('WGF_ERR_VALIDATION', `${flag} must be at least 100, got ${v}`, { field: flag });
      }
      const listen = f.listen ? parseListen(f.listen) : undefined;
      let updates = 0;
      const key = readTsigKeyFile(f.tsigKeyFile, (m) => jsonLog('warn', m));
      const announcer = new DnsAnnouncer({
        client: new DnsClient({ server: s.server, key }), zone: s.zone, name: s.name, ttl: s.ttl,
        onUpdate: (plan, ms) => (updates++, jsonLog('info', 'dns records updated', { name: s.name, add: plan.add, remove: plan.remove, ttl: s.ttl, ms: Math.round(ms) })),
      });
      jsonLog('info', 'dns target', { zone: s.zone, name: s.name, ttl: s.ttl, dnsServer: `${s.server.host}:${s.server.port}`, tsigKey: key.name });
      const updater = new DnsUpdater({
        api: apiClient(f), announcer, pool: f.pool, source: s.source,
        probe: f.probe, instance: f.instance, health, readyMaxAgeMs: f.readyMaxAgeMs, follow: f.follow as FollowMode, pollMs: f.pollMs, resyncMs: f.resyncMs, log: jsonLog,
        ...(f.keyFile ? { keyFile: f.keyFile } : {}),
      });
      const http = listen
        ? await startDnsMetrics(dnsRegistry({ name: s.name, updates: () => updates, failures: () => updater.stats.failures, records: () => updater.status().desired.length }), listen.host, listen.port)
        : null;
      await updater.start();
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      // The records stay as they are: the name keeps working while the updater restarts.
      await updater.stop();
      http?.close();
    });
}

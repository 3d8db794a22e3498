/**
 * `wgfabric lb run|status|list|forget|keepalived`: the L4 load balancer of one or more VIPs, each
 * in front of one pool's backends. `lb run` must run as root in the namespace that owns the VIPs
 * (nft, conntrack, forwarding); it serves one VIP per `--pool P --vip IP:PORT` pair and reports
 * each pool's state to the control plane, where `lb list` reads it. The table settings (affinity,
 * table size) and the backends' weights are not flags: they are the pool's and the nodes'
 * (`pool update --lb-affinity/--lb-table-size`, `node update --weight`), so every instance of the
 * pool builds the identical table.
 */
import type { Command } from 'commander';
import { chooseDataPath, type ChosenDataPath } from '../lb/dataplane/choose.js';
import { DEFAULT_GUARD_LIMITS } from '../lb/dataplane/bpf-maps.js';
import { DATAPATH_CHOICES, type DataPathChoice } from '../lb/dataplane/port.js';
import { DEFAULT_FLOW_SEED } from '../lb/maglev.js';
import { DEFAULT_HEALTH_CONFIG, healthConfig, type DampingConfig, type HealthConfig } from '../lb/health.js';
import { nftApplier } from '../lb/nft-apply.js';
import { formatIpPort, parseIpPort } from '../lb/addr.js';
import { LbGroup } from '../lb/group.js';
import { startLbHttp, LbMetrics } from '../lb/service-http.js';
import { LbService, type LbServiceStatus } from '../lb/service.js';
import type { LogFn } from '../sys/log.js';
import { FabricError, fromErrorBody } from '../protocol/errors.js';
import { apiClient, apiOptions, CA_FILE_HELP, positiveInt, SERVER_HELP, type ApiFlags } from './context.js';
import { allLbReports, lbReportRows, renderLbReportRows } from './lb-reports.js';
import { collect, registerLbKeepalivedCommand } from './lb-keepalived.js';
import { emit, renderTable } from './output.js';
import { parseListen } from './server.js';
import { bgpSpeakerOptions, setUpBirdSpeaker, type BgpSpeakerFlags } from './announce-bgp.js';
import { announcedText } from './node.js';
import { LbAnnounce } from '../lb/announce.js';
import { registerAnnounceMetrics } from '../announce/metrics.js';
import type { AnnounceReport } from '../protocol/announce.js';

import { LOG_LEVEL_HELP, roleLog } from './log.js';
import { FOLLOW_MODES, type FollowMode } from '../follow/source.js';

interface RunFlags extends ApiFlags, BgpSpeakerFlags {
  logLevel?: string;
  pool: string[]; vip: string[]; instance: string; returnPath: string; probeIntervalMs: number; probeTimeoutMs: number;
  failAfter: number; recoverAfter: number; listen?: string; keyFile?: string; readyMaxAgeMs: number; pollMs: number; follow: string; resyncMs: number; reportIntervalMs: number;
  drainTimeoutMs: number; dampingPenalty?: number; dampingSuppressAbove?: number; dampingReuseBelow?: number; dampingHalfLifeMs?: number;
  dampingMaxSuppressMs?: number; dataplane: string; xdpVeth?: boolean; guard: boolean; guardSourceRate: number; guardGlobalRate: number; verifyMac1: boolean;
}

/** One VIP of `lb run`: the pool behind it and its canonical address and port. */
export interface LbRunPair {
  readonly pool: string;
  readonly vip: string;
  readonly port: number;
}

/**
 * The VIPs of `lb run` from its repeated `--pool` and `--vip` flags, paired in order, validated
 * (WGF_ERR_VALIDATION): as many of each, every VIP an IPv4:PORT or [IPv6]:PORT, no VIP:port
 * twice, no pool twice (each pool's service registers the probe peer lbprobe-<instance> in it,
 * so one process can serve a pool once). Pure.
 */
export function lbRunPairs(pools: readonly string[], vips: readonly string[]): LbRunPair[] {
  if (pools.length !== vips.length || pools.length === 0) {
    throw new FabricError('WGF_ERR_VALIDATION',
      `--pool and --vip go in pairs, in order (--pool a --vip IP:PORT --pool b --vip IP:PORT ...): got ${pools.length} --pool and ${vips.length} --vip`,
      { field: 'vip' });
  }
  const byVip = new Map<string, string>();
  const byPool = new Map<string, string>();
  return pools.map((pool, i) => {
    const { address, port } = parseIpPort(vips[i]!, '--vip');
    const vip = formatIpPort(address, port);
    const vipOwner = byVip.get(vip);
    if (vipOwner !== undefined) {
      throw new FabricError('WGF_ERR_VALIDATION', `--vip ${vip} is given twice (pools ${vipOwner} and ${pool}): a VIP:port is served by one pool`, { field: 'vip', value: vip });
    }
    const poolVip = byPool.get(pool);
    if (poolVip !== undefined) {
      throw new FabricError('WGF_ERR_VALIDATION',
        `--pool ${pool} is given twice (VIPs ${poolVip} and ${vip}): one lb run serves a pool once, as its probe peer lbprobe-<instance> is one per pool; `
        + 'to serve the pool on another VIP, run another instance with its own --instance', { field: 'pool', value: pool });
    }
    byVip.set(vip, pool);
    byPool.set(pool, vip);
    return { pool, vip: address, port };
  });
}

/** The health and drain settings of `lb run` from its flags, validated (WGF_ERR_VALIDATION). Pure. */
export function lbRunSettings(f: Pick<RunFlags, 'probeIntervalMs' | 'probeTimeoutMs' | 'failAfter' | 'recoverAfter' | 'drainTimeoutMs'
  | 'dampingPenalty' | 'dampingSuppressAbove' | 'dampingReuseBelow' | 'dampingHalfLifeMs' | 'dampingMaxSuppressMs'>): { health: HealthConfig; drainTimeoutMs: number } {
  const damping: Partial<DampingConfig> = {
    ...(f.dampingPenalty === undefined ? {} : { penalty: f.dampingPenalty }),
    ...(f.dampingSuppressAbove === undefined ? {} : { suppressAbove: f.dampingSuppressAbove }),
    ...(f.dampingReuseBelow === undefined ? {} : { reuseBelow: f.dampingReuseBelow }),
    ...(f.dampingHalfLifeMs === undefined ? {} : { halfLifeMs: f.dampingHalfLifeMs }),
    ...(f.dampingMaxSuppressMs === undefined ? {} : { maxSuppressMs: f.dampingMaxSuppressMs }),
  };
  if (!(Number.isInteger(f.drainTimeoutMs) && f.drainTimeoutMs >= 0)) {
    throw new FabricError('WGF_ERR_VALIDATION', `--drain-timeout-ms must be a whole number of milliseconds >= 0, got ${f.drainTimeoutMs}`, { field: 'drainTimeoutMs' });
  }
  return {
    health: healthConfig({ intervalMs: f.probeIntervalMs, timeoutMs: f.probeTimeoutMs, fall: f.failAfter, rise: f.recoverAfter, damping }),
    drainTimeoutMs: f.drainTimeoutMs,
  };
}

/** GET `path` of a running LB as JSON; `onNotFound` answers a 404 when given. */
async function lbGet(base: string, path: string, onNotFound?: () => Promise<unknown>): Promise<unknown> {
  const res = await fetch(`${base}${path}`).catch((e: unknown) => {
    throw new FabricError('WGF_ERR_UNAVAILABLE', `cannot reach the LB at ${base}: ${e instanceof Error ? e.message : String(e)}`);
  });
  if (res.status === 404 && onNotFound) return onNotFound();
  if (!res.ok) throw fromErrorBody(await res.json().catch(() => null), res.status);
  return res.json();
}

/** One VIP of `lb status`: a summary line, the last error, and a table of its backends. */
function renderLbStatus(s: LbServiceStatus): string {
  return `lb ${s.instance} ${formatIpPort(s.vip, s.port)} pool ${s.pool}  table ${s.tableSize} slots, affinity ${s.affinity}, generation ${s.generation}, data path ${s.dataplane ?? 'nft'}${s.attach ? ` at ${s.attach}` : ''}${s.mac1 ? (s.mac1.verify ? ', mac1 checked' : `, mac1 not checked: ${s.mac1.reason ?? 'off'}`) : ''}${s.returnPath ? `, return path ${s.returnPath}` : ''}${s.failOpen ? ', fail-open on readiness' : ''}`
    + `${s.lastError ? `\nlast error: ${s.lastError}` : ''}\n`
    + renderTable(s.backends, [
      { header: 'BACKEND', get: (b) => b.name }, { header: 'ADDRESS', get: (b) => `${b.address}:${b.port}` }, { header: 'STATE', get: (b) => b.state },
      { header: 'IN TABLE', get: (b) => (b.inTable ? 'yes' : 'no') }, { header: 'SLOTS', get: (b) => b.slots }, { header: 'FLOWS', get: (b) => b.flows ?? null }, { header: 'ADMIN', get: (b) => b.adminState },
      { header: 'RTT MS', get: (b) => (b.lastRttMs === null ? null : b.lastRttMs.toFixed(2)) },
      { header: 'LAST DETECTION MS', get: (b) => (b.lastDetectionMs === null ? null : Math.round(b.lastDetectionMs)) },
      { header: 'REASON', get: (b) => b.reason },
    ]);
}

export function registerLbCommands(program: Command): void {
  const lb = program.command('lb').description('L4 load balancer: VIPs in front of pools (Maglev + nftables + health checks)');
  bgpSpeakerOptions(lb.command('run'), 'its VIPs (each while its table is loaded with a backend in service; drain: lb drain)').description('run the load balancer of one or more VIPs, one per --pool/--vip pair (root, in the namespace that owns the VIPs); affinity and table size follow each pool (pool update --lb-affinity/--lb-table-size), weights the nodes (node update --weight)')
    .option('--server <url[,url...]>', SERVER_HELP)
    .option('--token-file <file>', 'API token file, operator or admin (reads nodes, manages the probe peers, reports the state)')
    .option('--ca-file <file>', CA_FILE_HELP)
    .requiredOption('--pool <pool>', 'pool whose nodes are the backends of the --vip of the same pair (repeatable, paired in order with --vip)', collect)
    .requiredOption('--vip <ip:port>', 'virtual IP and port clients connect to, [IPv6]:PORT for IPv6 (repeatable, paired in order with --pool)', collect)
    .option('--instance <name>', 'this LB instance (names its probe peer lbprobe-<instance> in every pool)', 'lb1')
    .option('--return-path <via-lb|snat|dsr>', 'via-lb: backends route replies through this LB (they see client addresses); snat: replies come back to this LB\'s address under any routing (several active LBs, ECMP); dsr: direct server return, bpf only: backends on this LB\'s L2 segment hold the VIP and answer clients directly', 'via-lb')
    .option('--probe-interval-ms <ms>', 'probe start interval per backend', positiveInt('--probe-interval-ms'), 200)
    .option('--probe-timeout-ms <ms>', 'probe budget', positiveInt('--probe-timeout-ms'), 300)
    .option('--fail-after <n>', 'consecutive failed probes that take a backend out', positiveInt('--fail-after'), 2)
    .option('--recover-after <n>', 'consecutive good probes that bring it back', positiveInt('--recover-after'), 3)
    .option('--ready-max-age-ms <ms>', 'an agent report older than this counts as not in sync', positiveInt('--ready-max-age-ms'), 15_000)
    .option('--follow <stream|poll>', 'stream: follow the pool through the control plane\'s change and readiness streams; poll: read it every --poll-ms (the former way)', 'stream')
    .option('--poll-ms <ms>', '--follow poll: how often the pool and its node list are read', positiveInt('--poll-ms'), 500)
    .option('--resync-ms <ms>', '--follow stream: safety-net re-read of the pool and its nodes', positiveInt('--resync-ms'), 60_000)
    .option('--report-interval-ms <ms>', 'heartbeat of the status reports to the control plane (changes are reported at once)', positiveInt('--report-interval-ms'), 2000)
    .option('--drain-timeout-ms <ms>', 'a drained or removed-but-held backend keeps its established flows at most this long', positiveInt('--drain-timeout-ms'), 300_000)
    .option('--damping-penalty <n>', `flap damping: penalty per flap (default ${DEFAULT_HEALTH_CONFIG.damping.penalty})`, positiveInt('--damping-penalty'))
    .option('--damping-suppress-above <n>', `flap damping: suppress a backend above this penalty (default ${DEFAULT_HEALTH_CONFIG.damping.suppressAbove})`, positiveInt('--damping-suppress-above'))
    .option('--damping-reuse-below <n>', `flap damping: let it back below this penalty (default ${DEFAULT_HEALTH_CONFIG.damping.reuseBelow})`, positiveInt('--damping-reuse-below'))
    .option('--damping-half-life-ms <ms>', `flap damping: penalty half-life (default ${DEFAULT_HEALTH_CONFIG.damping.halfLifeMs})`, positiveInt('--damping-half-life-ms'))
    .option('--damping-max-suppress-ms <ms>', `flap damping: longest suppression (default ${DEFAULT_HEALTH_CONFIG.damping.maxSuppressMs})`, positiveInt('--damping-max-suppress-ms'))
    .option('--key-file <file>', 'keep the probe private key here (0600) and re-use it across restarts; one key for every pool of this instance')
    .option('--listen <host:port>', 'serve /status, /status/all, /metrics and /healthz here')
    .option('--dataplane <nft|bpf|xdp|auto>', 'nft: nftables DNAT + conntrack; bpf: tc BPF program (IPv4: same Maglev table and hash, LRU flow table, WireGuard receiver-index steering, guard); xdp: the same program at XDP in front of tc; auto: xdp where every interface takes XDP_REDIRECT, else bpf where it loads, else nft', 'nft')
    .option('--xdp-veth', 'xdp/auto: veths take XDP_REDIRECT (their peers run an XDP program or have GRO on)')
    .option('--no-guard', 'bpf: let non-WireGuard packets and any initiation rate through to the backends')
    .option('--guard-source-rate <n>', 'bpf guard: initiations per second per source address (burst the same)', positiveInt('--guard-source-rate'), DEFAULT_GUARD_LIMITS.perSourceRate)
    .option('--log-level <level>', LOG_LEVEL_HELP, 'info')
    .option('--no-verify-mac1', 'bpf: do not check the mac1 of initiations with the pool\'s public key (by default those that fail are dropped before any backend, counted as drop_mac1)')
    .option('--guard-global-rate <n>', 'bpf guard: initiations per second at the VIP from all sources (burst a fifth of it)', positiveInt('--guard-global-rate'), DEFAULT_GUARD_LIMITS.globalRate)
    .action(async (f: RunFlags) => {
      const jsonLog: LogFn = roleLog('lb', f);
      if (!(DATAPATH_CHOICES as readonly string[]).includes(f.dataplane)) throw new FabricError('WGF_ERR_VALIDATION', `--dataplane must be nft, bpf, xdp or auto, got "${f.dataplane}"`);
      const guard = f.guard ? { perSourceRate: f.guardSourceRate, perSourceBurst: f.guardSourceRate, globalRate: f.guardGlobalRate, globalBurst: Math.max(1, Math.round(f.guardGlobalRate / 5)) } : undefined;
      const pairs = lbRunPairs(f.pool, f.vip);
      const returnPath = f.returnPath;
      if (returnPath !== 'via-lb' && returnPath !== 'snat' && returnPath !== 'dsr') throw new FabricError('WGF_ERR_VALIDATION', `--return-path must be via-lb, snat or dsr, got "${returnPath}"`);
      if (returnPath === 'dsr' && f.dataplane === 'nft') throw new FabricError('WGF_ERR_VALIDATION', '--return-path dsr needs --dataplane bpf (or auto): nftables cannot rewrite only the destination MAC', { field: 'returnPath', value: 'dsr' });
      if (!(FOLLOW_MODES as readonly string[]).includes(f.follow)) throw new FabricError('WGF_ERR_VALIDATION', `--follow must be stream or poll, got "${f.follow}"`, { field: 'follow' });
      if (f.reportIntervalMs < 100) throw new FabricError('WGF_ERR_VALIDATION', `--report-interval-ms must be at least 100, got ${f.reportIntervalMs}`);
      const { health, drainTimeoutMs } = lbRunSettings(f);
      const listen = f.listen ? parseListen(f.listen) : undefined;
      let announce: LbAnnounce | undefined;
      const speaker = await setUpBirdSpeaker(f, [], () => announce?.watchdogFired(), 'lb');
      const metrics = new LbMetrics({ instance: f.instance });
      const api = apiClient(f, process.env, { onFailover: (e) => jsonLog('warn', 'control plane replica failed; trying the next', { ...e }), fetch: metrics.countingFetch() });
      const paths: ChosenDataPath[] = [];
      for (const { pool, vip, port } of pairs) {
        paths.push(await chooseDataPath({
          choice: f.dataplane as DataPathChoice, vip, port, seed: DEFAULT_FLOW_SEED, returnPath, instance: f.instance, ...(guard ? { guard } : {}), ...(f.xdpVeth ? { xdpVeth: true } : {}),
          ...(f.verifyMac1 === false ? { verifyMac1: false } : {}),
          log: (level, msg, fields) => jsonLog(level, msg, { pool, vip: formatIpPort(vip, port), ...fields }),
        }));
      }
      const group = new LbGroup(pairs.map(({ pool, vip, port }, i) => {
        const path = paths[i]!;
        if (path.counters) metrics.attachDataPathCounters(pool, vip, port, path.counters);
        const service = new LbService({
          api, pool, vip, port, instance: f.instance, returnPath, dataplane: path.kind, ...(path.attach ? { attach: path.attach } : {}), ...(path.writer ? { writer: path.writer } : {}),
          health, applier: nftApplier(), conntrack: path.flows, readyMaxAgeMs: f.readyMaxAgeMs, pollMs: f.pollMs,
          follow: f.follow as FollowMode, resyncMs: f.resyncMs,
          reportMs: f.reportIntervalMs, drainTimeoutMs,
          // Every line names its pool and VIP: one process may serve several.
          log: (level, msg, fields) => jsonLog(level, msg, { pool, vip: formatIpPort(vip, port), ...fields }),
          ...(f.keyFile ? { keyFile: f.keyFile } : {}),
          ...(speaker ? { announceReport: (v: string) => announce!.reportFor(v) } : {}),
        }, metrics.hooksFor(pool, vip, port));
        metrics.attach(service);
        return service;
      }));
      if (speaker) {
        announce = new LbAnnounce({
          announcer: speaker.announcer, members: group.members, intervalMs: Math.max(20, f.announceInterval), onBeat: () => speaker.watchdog.beat(),
          log: (level, msg, fields) => jsonLog(level, msg, { instance: f.instance, ...fields }),
        });
        registerAnnounceMetrics(metrics.registry, announce);
      }
      const http = listen ? await startLbHttp(group, metrics, listen.host, listen.port, () => announce) : null;
      try {
        await group.start(); // all or none: a failure stops the ones started
      } catch (e) {
        http?.close();
        throw e;
      }
      announce?.start();
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      // A clean stop withdraws at once (nobody checks the VIPs any more), then the watchdog is told.
      await announce?.stop(true);
      speaker?.watchdog.stop();
      // The nft tables stay: established flows keep working while the LB is restarted.
      await group.stop();
      http?.close();
    });
  lb.command('status').description("a running LB's VIPs and their backends: state, reason, table membership and slots")
    .requiredOption('--url <url>', 'the LB\'s --listen address, e.g. http://198.18.0.5:7090')
    .option('--vip <ip:port>', 'only this VIP of the LB (default: every VIP it serves)')
    .option('--json', 'JSON output (with --vip one object, else an array)')
    .action(async (f: { url: string; vip?: string; json?: boolean }) => {
      const base = f.url.replace(/\/+$/, '');
      if (f.vip !== undefined) {
        const { address, port } = parseIpPort(f.vip, '--vip');
        const s = (await lbGet(base, `/status?vip=${encodeURIComponent(formatIpPort(address, port))}`)) as LbServiceStatus;
        emit(!!f.json, s, () => renderLbStatus(s));
        return;
      }
      // An LB from before /status/all (404) serves one VIP at /status.
      const all = (await lbGet(base, '/status/all', async () => [await lbGet(base, '/status')])) as LbServiceStatus[];
      // An LB without --announce (or from before it) answers 404: no ANNOUNCED line.
      const ann = (await lbGet(base, '/announce', async () => null)) as AnnounceReport | null;
      emit(!!f.json, all, () => (ann ? `announced: ${announcedText(ann)}${ann.addresses.length ? ` (${ann.addresses.join(', ')})` : ''}\n` : '') + all.map(renderLbStatus).join('\n'));
    });
  lb.command('drain').description("drain a running LB instance's BGP announcement (lb run --announce bgp): GRACEFUL_SHUTDOWN with the pool's communities for its anycast drain seconds, then withdrawn")
    .requiredOption('--url <url>', 'the LB\'s --listen address, e.g. http://198.18.0.5:7090')
    .option('--cancel', 'end the drain: the VIPs are announced again while they serve')
    .option('--json', 'JSON output')
    .action(async (f: { url: string; cancel?: boolean; json?: boolean }) => {
      const base = f.url.replace(/\/+$/, '');
      const res = await fetch(`${base}/announce/${f.cancel ? 'undrain' : 'drain'}`, { method: 'POST' }).catch((e: unknown) => {
        throw new FabricError('WGF_ERR_UNAVAILABLE', `cannot reach the LB at ${base}: ${e instanceof Error ? e.message : String(e)}`);
      });
      if (!res.ok) throw fromErrorBody(await res.json().catch(() => null), res.status);
      const r = (await res.json()) as AnnounceReport;
      emit(!!f.json, r, () => `${f.cancel ? 'drain cancelled' : 'draining'}: announcement ${announcedText(r)}${r.addresses.length ? ` (${r.addresses.join(', ')})` : ''}\n`);
    });
  apiOptions(lb.command('list').description("every LB instance's last report of its backends, from the control plane (a stale report: that LB stopped reporting)"))
    .requiredOption('--pool <pool>', 'pool')
    .action(async (f: ApiFlags & { pool: string }) => {
      const reports = await allLbReports(apiClient(f), f.pool);
      const rows = lbReportRows(reports, Date.now());
      emit(!!f.json, rows, () => renderLbReportRows(rows));
    });
  apiOptions(lb.command('forget <instance>').description("drop a retired LB instance's report from the control plane (a running one reports again)"))
    .requiredOption('--pool <pool>', 'pool')
    .action(async (instance: string, f: ApiFlags & { pool: string }) => {
      await apiClient(f).deleteLbStatus(f.pool, instance);
      emit(!!f.json, { forgotten: instance }, () => `forgot the report of LB instance ${instance}\n`);
    });
  registerLbKeepalivedCommand(lb);
}

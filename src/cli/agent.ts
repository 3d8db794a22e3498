import type { Command } from 'commander';
import { Agent, type LogFn } from '../agent/agent.js';
import type { WireGuardDevice } from '../agent/device.js';
import { UapiDeviceDriver } from '../agent/device-uapi.js';
import { WgToolDeviceDriver } from '../agent/device-wgtool.js';
import { agentMetrics, startAgentHttp } from '../agent/http.js';
import { bringUp } from '../agent/iface.js';
import { HttpSource } from '../agent/source-http.js';
import { startSessionReports } from './agent-sessions.js';
import { FabricError } from '../protocol/errors.js';
import { apiClient, CA_FILE_HELP, positiveInt, SERVER_HELP, type ApiFlags } from './context.js';
import { parseListen } from './server.js';
import { logLevelOption, roleLog } from './log.js';
import { announceMetrics, announceOptions, setUpAnnounce, type AgentAnnounceFlags } from './agent-announce.js';
import { ipHost, parseVips, VipKeeper } from '../agent/vip.js';

interface AgentFlags extends ApiFlags, AgentAnnounceFlags {
  pool: string; node: string; interface: string; driver: string; reconcileInterval: number; reportInterval: number;
  listen?: string; ifaceSetup: boolean; peerMetrics?: boolean; sessionInterval: number; sessionBytesInterval: number; logLevel?: string; vip: string[];
}


/** `wgfabric agent`: keeps one WireGuard device in sync with its pool. */
export function registerAgentCommand(program: Command): void {
  logLevelOption(announceOptions(program.command('agent').description("node agent: keep this node's WireGuard device identical to its pool's desired peer set")
    .option('--server <url[,url...]>', SERVER_HELP)
    .option('--token-file <file>', 'node token file (from `wgfabric node token`)')
    .option('--ca-file <file>', CA_FILE_HELP)
    .requiredOption('--pool <pool>', 'pool this node serves')
    .requiredOption('--node <name>', 'this node\'s name in the pool')
    .requiredOption('--interface <iface>', 'WireGuard interface (for uapi: /var/run/wireguard/<iface>.sock)')
    .option('--driver <uapi|wg>', 'device driver: uapi (wireguard-go, boringtun) or wg (kernel, via wg(8))', 'uapi')
    .option('--reconcile-interval <s>', 'seconds between full compare-and-repair runs', positiveInt('--reconcile-interval'), 30)
    .option('--report-interval <s>', 'seconds between status reports', positiveInt('--report-interval'), 5)
    .option('--listen <host:port>', 'serve /healthz, /readyz and /metrics here')
    .option('--peer-metrics', 'also export per-peer series (prometheus_wireguard_exporter names: wireguard_sent_bytes_total, ...): 3 series per peer')
    .option('--session-interval <s>', 'seconds between per-peer session reports (handshake, bytes, endpoint) to every control-plane replica; 0: none', positiveInt('--session-interval'), 10)
    .option('--session-bytes-interval <s>', 'least seconds between two reports of a peer whose byte counters alone changed', positiveInt('--session-bytes-interval'), 60)
    .option('--no-iface-setup', 'do not set tunnel addresses, MTU and link state on the interface')
    .option('--vip <addr[,addr...]>', 'direct server return: keep this LB VIP on lo with net.ipv4.conf.all.arp_ignore=1 and arp_announce=2 (repeatable; checked with every reconcile; left in place when the agent stops)', (v: string, prev: string[]) => [...prev, ...v.split(',')], [] as string[])))
    .action(async (f: AgentFlags) => {
      // One JSON line per event on stderr (sys/log.ts); fields never carry keys or tokens.
      const jsonLog: LogFn = roleLog('agent', f);
      let device: WireGuardDevice;
      if (f.driver === 'uapi') device = new UapiDeviceDriver(f.interface);
      else if (f.driver === 'wg') device = new WgToolDeviceDriver(f.interface);
      else throw new FabricError('WGF_ERR_VALIDATION', `--driver must be uapi or wg, got "${f.driver}"`);
      const api = apiClient(f, process.env, { onFailover: (e) => jsonLog('warn', 'control plane replica failed; trying the next', { ...e }) });
      let ann: Awaited<ReturnType<typeof setUpAnnounce>> = null;
      const vips = parseVips(f.vip);
      const host = vips.length > 0 ? new VipKeeper({ host: ipHost, vips, log: jsonLog }) : undefined;
      await host?.ensure(); // at start, before the control plane is reached: a host that refuses is an error now
      const agent: Agent = new Agent({
        pool: f.pool, node: f.node, source: new HttpSource(api), device, log: jsonLog,
        ...(f.announce === 'bgp' ? { announceReport: () => ann!.announce.report() } : {}),
        ...(host ? { host } : {}),
        reconcileIntervalMs: Math.max(1, f.reconcileInterval) * 1000, reportIntervalMs: Math.max(1, f.reportInterval) * 1000,
        ...(f.ifaceSetup ? { onConfigured: (pool) => bringUp(f.interface, pool) } : {}),
      });
      ann = await setUpAnnounce(f, () => agent, jsonLog);
      const registry = agentMetrics(agent, device, { pool: f.pool, node: f.node }, {
        ...(f.peerMetrics ? { peerMetrics: true, iface: f.interface, peerNames: () => agent.peerNames() } : {}),
      });
      announceMetrics(registry, ann?.announce);
      const sessions = startSessionReports(f, device, registry, jsonLog, api.servers);
      // The announcement is withdrawn (nobody checks this node any more), then the watchdog is told.
      const stopAround = async () => {
        await ann?.announce.stop(true);
        ann?.watchdog.stop();
        await sessions?.stop();
      };
      let http: Awaited<ReturnType<typeof startAgentHttp>> | null;
      try {
        http = f.listen ? await startAgentHttp(agent, registry, parseListen(f.listen).host, parseListen(f.listen).port) : null;
      } catch (e) {
        await stopAround(); // nothing started so far may keep the process alive after the error (WGF_ERR_LISTEN)
        throw e;
      }
      agent.start();
      ann?.announce.start();
      jsonLog('info', 'agent started', { pool: f.pool, node: f.node, interface: f.interface, driver: f.driver, listen: f.listen ?? null, servers: api.servers, ...(host ? { vips } : {}) });
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      // Stopping leaves the device exactly as it is: tunnels keep running without the agent.
      await stopAround();
      await agent.stop();
      http?.close();
    });
}

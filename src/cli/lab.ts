import type { Command } from 'commander';
import { labUp, openLab } from '../lab/lab.js';
import { loadStates, teardown, teardownOrphans } from '../lab/state.js';
import { latestHandshakes, peerEndpoints, ping } from '../lab/traffic.js';
import { serverUrlsFor } from '../lab/plan-cp.js';
import { FabricError } from '../protocol/errors.js';
import { positiveInt } from './context.js';
import { collectNodeRows, renderNodeRows, type NodeRow } from './node.js';
import { emit, renderTable } from './output.js';
import { LOG_LEVEL_HELP, logLevelOf } from './log.js';
import { labFailover } from '../lab/failover.js';
import { failoverProblems, failoverSummary } from '../lab/failover-core.js';

interface LabFlags { backends: number; clients: number; base: string; json?: boolean; tag?: string; all?: boolean; reconcileInterval: number; lb?: boolean; lbInstances: number; lbReturnPath?: string; tls: boolean; store: string; controlPlanes?: number; dns?: boolean; anycast?: boolean; announce?: string; logLevel?: string }

/** `wgfabric lab up|status|down`: the whole fabric on this host in network namespaces (root). */
export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description('a complete local fabric in network namespaces (needs root)');
  lab.command('up').description('build a lab: control plane, N backends (wireguard-go + agent), M clients; prints traffic through it')
    .option('--backends <n>', 'backend namespaces', positiveInt('--backends'), 3)
    .option('--clients <n>', 'client namespaces', positiveInt('--clients'), 2)
    .option('--reconcile-interval <s>', 'agent reconcile period', positiveInt('--reconcile-interval'), 30)
    .option('--anycast', 'a BGP router (bird2, BFD, ECMP) in front; every backend announces the anycast address while healthy (agent --announce bgp)')
    .option('--announce <bgp>', 'with --lb: the LB instances announce the VIP over BGP to a bird2 router (BFD, ECMP) instead of static ECMP routes; implied by --anycast --lb')
    .option('--lb', 'put a load balancer (wgfabric lb run) in front of the backends; clients connect to its VIP')
    .option('--lb-instances <n>', 'LB instances with --lb; two or more sit behind an ECMP router namespace and SNAT replies', positiveInt('--lb-instances'), 1)
    .option('--lb-return-path <dsr>', 'with --lb (one instance): dsr = direct server return on the bpf data path; backends hold the VIP and answer clients through a router, not the LB')
    .option('--store <sqlite|etcd>', 'sqlite: one control plane on SQLite; etcd: an etcd cluster (one namespace per member) and server replicas on it', 'sqlite')
    .option('--control-planes <n>', 'etcd members and server replicas with --store etcd (default 3); agents and LBs get every replica\'s URL', positiveInt('--control-planes'))
    .option('--dns', 'add an authoritative DNS server (knot) kept current by wgfabric dns run; clients use the pool\'s name vpn.lab.test')
    .option('--no-tls', 'serve the control plane over plain HTTP instead of HTTPS with a CA made for the lab')
    .option('--base <dir>', 'state directory', '.wgfabric')
    .option('--json', 'JSON output')
    .option('--log-level <level>', `${LOG_LEVEL_HELP}, of every server, agent, LB and dns process of the lab (their logs: <base>/<tag>/*.log)`, 'info')
    .action(async (f: LabFlags) => {
      // The lab's processes inherit it through the environment rule (WGFABRIC_LOG_LEVEL).
      process.env.WGFABRIC_LOG_LEVEL = logLevelOf(f);
      const l = await labUp({
        backends: f.backends, clients: f.clients, base: f.base, reconcileInterval: f.reconcileInterval, lb: !!f.lb || f.lbInstances > 1, lbInstances: f.lbInstances, anycast: !!f.anycast,
        ...(f.announce === undefined ? {} : f.announce === 'bgp' ? { lbAnnounce: 'bgp' as const } : fail(`--announce must be bgp, got "${f.announce}"`)),
        ...(f.lbReturnPath === undefined ? {} : f.lbReturnPath === 'dsr' ? { lbReturnPath: 'dsr' as const } : fail(`--lb-return-path must be dsr, got "${f.lbReturnPath}"`)),
        tls: f.tls, dns: !!f.dns, log: (s) => !f.json && console.log(s),
        ...(f.store === 'etcd' || f.store === 'sqlite' ? { store: f.store } : fail(`--store must be sqlite or etcd, got "${f.store}"`)),
        ...(f.controlPlanes !== undefined ? { controlPlanes: f.controlPlanes } : {}),
      });
      const caFile = l.state.tls?.caFile;
      const pings: { client: string; backend: string; sent: number; received: number; avgMs: number | null }[] = [];
      for (const [j, h] of l.plan.clients.entries()) {
        const r = await ping(h.netns, l.plan.pool.serverTunnelIp, 3);
        const via = l.state.dns ? `${l.state.dns.name} -> ${[...(await peerEndpoints(h.netns, h.wgIface)).values()][0] ?? 'none'}` : l.plan.lb ? `VIP ${l.plan.lb.vip}` : l.plan.backends[j % l.plan.backends.length]!.name;
        pings.push({ client: h.name, backend: via, ...r });
      }
      emit(!!f.json, { tag: l.plan.tag, server: serverUrlsFor(l.plan), ...(l.plan.controlPlanes ? { etcd: l.plan.controlPlanes.members.map((m) => m.clientUrl) } : {}), adminTokenFile: `${l.state.dir}/admin.token`, caFile: caFile ?? null, ...(l.plan.lb ? { lbStatus: l.plan.lb.instances.map((i) => i.statusUrl) } : {}), pings }, () =>
        '\ntraffic through the fabric (client -> its backend -> 10.77.0.1):\n'
        + renderTable(pings, [{ header: 'CLIENT', get: (p) => p.client }, { header: 'VIA', get: (p) => p.backend },
          { header: 'SENT', get: (p) => p.sent }, { header: 'RECEIVED', get: (p) => p.received }, { header: 'AVG MS', get: (p) => p.avgMs }])
        + `\nlab ${l.plan.tag} is up. Try:\n`
        + `  export WGFABRIC_SERVER=${serverUrlsFor(l.plan)} WGFABRIC_TOKEN_FILE=${l.state.dir}/operator.token${caFile ? ` WGFABRIC_CA_FILE=${caFile}` : ''}\n`
        + '  npx wgfabric status\n'
        + `  ip netns exec ${l.plan.clients[0]?.netns ?? l.plan.backends[0]!.netns} ping ${l.plan.pool.serverTunnelIp}\n`
        + (l.plan.lb?.instances ?? []).map((i) => `  npx wgfabric lb status --url ${i.statusUrl}\n`).join('')
        + (l.state.dns ? `  ip netns exec ${l.plan.clients[0]?.netns ?? l.state.dns.netns} kdig ${l.state.dns.name} A   # the in-service backends\n` : '')
        + `  npx wgfabric lab status   |   npx wgfabric lab down --tag ${l.plan.tag}\n`
        + `  (operator.token operates the fabric; ${l.state.dir}/admin.token, the bootstrap admin token, also manages tokens)\n`);
    });
  lab.command('status').description('nodes, peers, handshakes and lag of every lab on this host')
    .option('--base <dir>', 'state directory', '.wgfabric')
    .option('--json', 'JSON output')
    .action(async (f: LabFlags) => {
      const out: { tag: string; server: string; revision: number; nodes: NodeRow[]; clients: { client: string; lastHandshakeAgeS: number | null }[] }[] = [];
      for (const st of loadStates(f.base)) {
        const l = openLab(st);
        const { revision, rows } = await collectNodeRows(l.api, [st.plan.pool.name]).catch(() => ({ revision: 0, rows: [] }));
        const handshakes: { client: string; lastHandshakeAgeS: number | null }[] = [];
        for (const c of st.plan.clients) {
          const hs = [...(await latestHandshakes(c.netns, c.wgIface)).values()][0] ?? 0;
          handshakes.push({ client: c.name, lastHandshakeAgeS: hs ? Math.round(Date.now() / 1000 - hs) : null });
        }
        out.push({ tag: st.plan.tag, server: serverUrlsFor(st.plan), revision, nodes: rows, clients: handshakes });
      }
      emit(!!f.json, out, () => out.length === 0 ? 'no labs\n' : out.map((o) => `lab ${o.tag} (${o.server})\n${renderNodeRows(o.nodes, o.revision)}`
        + renderTable(o.clients, [{ header: 'CLIENT', get: (c) => c.client }, { header: 'LAST HANDSHAKE', get: (c) => (c.lastHandshakeAgeS === null ? 'never' : `${c.lastHandshakeAgeS}s ago`) }])).join('\n'));
    });
  lab.command('failover').description('on a lab with --lb: kill the wireguard-go of the backend serving the most clients and show, live, the LBs taking it out and its clients coming back on other backends (times since the kill); then start it again')
    .option('--tag <tag>', 'the lab (default: the newest)')
    .option('--base <dir>', 'state directory', '.wgfabric')
    .option('--json', 'JSON output (the measured times)')
    .option('--timeout <s>', 'how long each step (LB removal, each client back, the backend back) may take', positiveInt('--timeout'), 120)
    .action(async (f: LabFlags & { timeout: number }) => {
      const states = loadStates(f.base).filter((s) => !f.tag || s.plan.tag === f.tag);
      const st = states[states.length - 1];
      if (!st) throw new FabricError('WGF_ERR_NOT_FOUND', f.tag ? `no lab with tag ${f.tag}` : 'no lab: run lab up --lb-instances 2 first');
      const r = await labFailover(st, (line) => void (!f.json && console.log(line)), f.timeout * 1000);
      const problems = failoverProblems(r);
      emit(!!f.json, { ...r, ok: problems.length === 0, problems }, () => `\n${failoverSummary(r).join('\n')}\n`);
      if (problems.length > 0) throw new FabricError('WGF_ERR_UNAVAILABLE', `the failover did not complete: ${problems.join('; ')}`);
    });
  lab.command('down').description('remove a lab (or all) with everything it made, also after a crash')
    .option('--tag <tag>', 'only this lab')
    .option('--all', 'every lab, including leftovers without a state file')
    .option('--base <dir>', 'state directory', '.wgfabric')
    .action(async (f: LabFlags) => {
      const states = loadStates(f.base).filter((s) => f.all || !f.tag || s.plan.tag === f.tag);
      if (f.tag && states.length === 0 && !f.all) throw new FabricError('WGF_ERR_NOT_FOUND', `no lab with tag ${f.tag}`);
      for (const s of states) {
        await teardown(s);
        console.log(`lab ${s.plan.tag} removed`);
      }
      const orphans = await teardownOrphans(f.all ? undefined : states.map((s) => s.plan.tag));
      if (orphans.length) console.log(`removed leftovers: ${orphans.join(' ')}`);
    });
}

function fail(message: string): never {
  throw new FabricError('WGF_ERR_VALIDATION', message, { field: 'store' });
}

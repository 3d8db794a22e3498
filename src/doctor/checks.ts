/**
 * `wgfabric doctor`'s judgement: pure functions from what was read on a host (HostFacts) to
 * findings, each with what was found, what the role wants, and the command that fixes it.
 * The I/O that gathers the facts lives in facts.ts; nothing here touches the system.
 */

/** What the host is used for; each role needs different settings. */
export type DoctorRole = 'agent' | 'lb' | 'server';
export const DOCTOR_ROLES: readonly DoctorRole[] = ['agent', 'lb', 'server'];

/** ok: fine; warn: costs throughput or robustness; fail: the role cannot work as it should; skip: not applicable or not readable. */
export type FindingStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** Stable id, usable with --ignore. */
  readonly id: string;
  readonly status: FindingStatus;
  /** What was found, in words and figures. */
  readonly found: string;
  /** What the role wants (present unless ok/skip made it moot). */
  readonly want?: string;
  /** A command that fixes it (present for warn and fail). */
  readonly fix?: string;
  /** Why it matters for this role. */
  readonly why?: string;
}

export interface InterfaceFacts {
  readonly name: string;
  readonly mtu: number;
  /** ethtool -k; undefined when ethtool could not read the interface. */
  readonly offloads?: { readonly gro?: boolean; readonly gso?: boolean };
  /** Number of receive queues (ethtool -l combined/rx, or /sys queues). */
  readonly rxQueues?: number;
  /** True when any rx queue has a non-zero rps_cpus mask (receive packet steering). */
  readonly rps?: boolean;
}

export interface HostFacts {
  /** sysctl values by dotted name; undefined = not present in this namespace/kernel. */
  readonly sysctl: Readonly<Record<string, string | undefined>>;
  readonly cpus: number;
  /** RLIMIT_NOFILE of the process running the doctor (the role's service inherits its unit's limit). */
  readonly nofile?: { readonly soft: number; readonly hard: number };
  /** /sys/module/wireguard exists (the kernel module is loaded). */
  readonly wireguardModule: boolean;
  /** The module exists on disk but is not loaded. */
  readonly wireguardModuleAvailable: boolean;
  /** Path of wireguard-go, or null. */
  readonly wireguardGo: string | null;
  /** true/false when a time daemon answered; null when none could be asked. */
  readonly clockSynced: boolean | null;
  readonly clockSource?: string;
  /** The uplink (--interface), when given and present. */
  readonly uplink?: InterfaceFacts;
  /** The WireGuard interface (--wg-interface), when given and present. */
  readonly wg?: InterfaceFacts;
  /** Interfaces named on the command line that do not exist. */
  readonly missingInterfaces: readonly string[];
  /** conntrack entries in use now (nf_conntrack_count). */
  readonly conntrackCount?: number;
}

export interface DoctorOptions {
  readonly role: DoctorRole;
  /** Concurrent client flows this host should carry (LB: conntrack sizing). */
  readonly expectedFlows?: number;
  /** Check IPv6 forwarding too. */
  readonly ipv6?: boolean;
  /** Finding ids to leave out. */
  readonly ignore?: readonly string[];
}

/** wireguard-go asks for 7 MiB socket buffers (conn/controlfns_linux.go); below that the kernel caps it unless it has CAP_NET_ADMIN. */
export const WG_SOCKET_BUFFER = 7 << 20;
/** Open files a control plane needs: every agent and LB holds a watch stream, plus clients. */
export const SERVER_NOFILE = 65_536;
/** Outer IPv6 + UDP + WireGuard header overhead (40 + 8 + 32). */
export const WG_OVERHEAD_V6 = 80;

const forwardingRoles: readonly DoctorRole[] = ['agent', 'lb'];

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim().split(/\s+/)[0]);
  return Number.isFinite(n) ? n : undefined;
}

function sysctlFix(name: string, value: string | number): string {
  return `sysctl -w ${name}=${value} && echo '${name} = ${value}' > /etc/sysctl.d/90-wgfabric-${name.split('.').slice(-1)[0]!.replace(/_/g, '-')}.conf`;
}

function skip(id: string, found: string): Finding {
  return { id, status: 'skip', found };
}

function checkForwarding(f: HostFacts, o: DoctorOptions): Finding[] {
  const out: Finding[] = [];
  const families: [string, string, string][] = [['ip-forward', 'net.ipv4.ip_forward', 'IPv4']];
  if (o.ipv6) families.push(['ipv6-forward', 'net.ipv6.conf.all.forwarding', 'IPv6']);
  for (const [id, name, fam] of families) {
    if (!forwardingRoles.includes(o.role)) {
      out.push(skip(id, `not needed for role ${o.role}`));
      continue;
    }
    const v = num(f.sysctl[name]);
    if (v === undefined) out.push(skip(id, `${name} not readable`));
    else if (v === 1) out.push({ id, status: 'ok', found: `${name} = 1` });
    else {
      out.push({
        id, status: 'fail', found: `${name} = ${v}`, want: `${name} = 1`, fix: sysctlFix(name, 1),
        why: o.role === 'lb' ? `the LB forwards ${fam} packets from clients to backends` : `the backend routes ${fam} packets between the tunnel and the networks its clients reach`,
      });
    }
  }
  return out;
}

function checkRpFilter(f: HostFacts, o: DoctorOptions): Finding {
  const id = 'rp-filter';
  if (!forwardingRoles.includes(o.role)) return skip(id, `not relevant for role ${o.role}`);
  const all = num(f.sysctl['net.ipv4.conf.all.rp_filter']);
  const dev = f.uplink ? num(f.sysctl[`net.ipv4.conf.${f.uplink.name}.rp_filter`]) : undefined;
  if (all === undefined) return skip(id, 'net.ipv4.conf.all.rp_filter not readable');
  // The kernel uses the larger of conf.all and conf.<dev>.
  const effective = Math.max(all, dev ?? 0);
  const where = f.uplink ? `all=${all}, ${f.uplink.name}=${dev ?? '?'}` : `all=${all}`;
  if (effective !== 1) return { id, status: 'ok', found: `rp_filter ${where} (${effective === 0 ? 'off' : 'loose'})` };
  const name = dev === 1 && f.uplink ? `net.ipv4.conf.${f.uplink.name}.rp_filter` : 'net.ipv4.conf.all.rp_filter';
  return {
    id, status: 'warn', found: `rp_filter ${where} (strict)`, want: 'rp_filter 2 (loose) or 0',
    fix: sysctlFix(name, 2),
    why: 'strict reverse-path filtering drops packets that arrive on another interface than the reply would leave by: ECMP and anycast tiers, asymmetric return routes, tunnel traffic',
  };
}

function checkSocketBuffers(f: HostFacts, o: DoctorOptions): Finding[] {
  return (['rmem_max', 'wmem_max'] as const).map((k) => {
    const id = `socket-${k.replace('_', '-')}`;
    if (o.role !== 'agent') return skip(id, `not relevant for role ${o.role}`);
    const name = `net.core.${k}`;
    const v = num(f.sysctl[name]);
    if (v === undefined) return skip(id, `${name} not readable`);
    if (v >= WG_SOCKET_BUFFER) return { id, status: 'ok', found: `${name} = ${v}` } satisfies Finding;
    return {
      id, status: 'warn', found: `${name} = ${v} (${(v / 1048576).toFixed(2)} MiB)`, want: `>= ${WG_SOCKET_BUFFER} (7 MiB)`,
      fix: sysctlFix(name, WG_SOCKET_BUFFER),
      why: `wireguard-go asks for 7 MiB ${k.startsWith('r') ? 'receive' : 'send'} buffers on its UDP socket; the kernel caps that at ${name} unless the process has CAP_NET_ADMIN, and small buffers drop bursts (UDP RcvbufErrors)`,
    } satisfies Finding;
  });
}

function checkConntrack(f: HostFacts, o: DoctorOptions): Finding {
  const id = 'conntrack-max';
  if (o.role !== 'lb') return skip(id, `not relevant for role ${o.role}`);
  const max = num(f.sysctl['net.netfilter.nf_conntrack_max']);
  if (max === undefined) return skip(id, 'nf_conntrack not loaded (the nft data path loads it on first use)');
  const flows = o.expectedFlows ?? 0;
  // Every client flow holds one entry, the LB's probes a few more; leave headroom for bursts of new flows.
  const want = Math.max(flows * 2, (f.conntrackCount ?? 0) * 2);
  if (max >= want) return { id, status: 'ok', found: `nf_conntrack_max = ${max}${flows ? ` for ${flows} expected flows` : ''}${f.conntrackCount !== undefined ? `, ${f.conntrackCount} in use` : ''}` };
  return {
    id, status: 'fail', found: `nf_conntrack_max = ${max}${f.conntrackCount !== undefined ? `, ${f.conntrackCount} in use` : ''}`,
    want: `>= ${want} (2 x ${flows ? `${flows} expected flows` : 'entries in use'})`,
    fix: sysctlFix('net.netfilter.nf_conntrack_max', want),
    why: 'a full conntrack table drops new flows at the LB: clients cannot handshake',
  };
}

function checkNofile(f: HostFacts, o: DoctorOptions): Finding {
  const id = 'nofile';
  if (!f.nofile) return skip(id, 'RLIMIT_NOFILE not readable');
  const want = o.role === 'server' ? SERVER_NOFILE : 4096;
  if (f.nofile.soft >= want) return { id, status: 'ok', found: `open files soft=${f.nofile.soft} hard=${f.nofile.hard}` };
  return {
    id, status: 'warn', found: `open files soft=${f.nofile.soft} hard=${f.nofile.hard}`, want: `soft >= ${want}`,
    fix: `set LimitNOFILE=${want} in the wgfabric-${o.role} unit (systemctl edit wgfabric-${o.role}), or ulimit -n ${want}`,
    why: o.role === 'server' ? 'every agent, LB and CLI watch holds a connection' : 'sockets, device and probe files',
  };
}

function checkWireGuard(f: HostFacts, o: DoctorOptions): Finding {
  const id = 'wireguard';
  if (o.role !== 'agent') return skip(id, `not needed for role ${o.role}`);
  if (f.wireguardModule) return { id, status: 'ok', found: 'kernel module loaded (fastest path)' };
  if (f.wireguardModuleAvailable) {
    return {
      id, status: 'warn', found: `kernel module available but not loaded${f.wireguardGo ? `; wireguard-go at ${f.wireguardGo}` : ''}`,
      want: 'the kernel module', fix: 'modprobe wireguard && echo wireguard > /etc/modules-load.d/wireguard.conf',
      why: 'the kernel module moves packets with less CPU per packet than userspace wireguard-go',
    };
  }
  if (f.wireguardGo) return { id, status: 'ok', found: `userspace wireguard-go at ${f.wireguardGo} (no kernel module on this kernel)` };
  return {
    id, status: 'fail', found: 'neither the wireguard kernel module nor wireguard-go', want: 'one WireGuard implementation',
    fix: 'apt-get install -y wireguard-go wireguard-tools', why: 'the agent configures a WireGuard device',
  };
}

function checkClock(f: HostFacts): Finding {
  const id = 'clock';
  if (f.clockSynced === null) return skip(id, `cannot tell (${f.clockSource ?? 'no time daemon answered'})`);
  if (f.clockSynced) return { id, status: 'ok', found: `synchronized (${f.clockSource ?? 'ntp'})` };
  return {
    id, status: 'warn', found: `not synchronized (${f.clockSource ?? 'ntp'})`, want: 'NTP-synchronized clock',
    fix: 'apt-get install -y systemd-timesyncd && timedatectl set-ntp true',
    why: 'peer expiry, token expiry, TLS certificate checks and report ages compare clocks across hosts',
  };
}

function checkOffloads(f: HostFacts, o: DoctorOptions): Finding[] {
  if (o.role === 'server') return [skip('nic-gro', 'not relevant for role server'), skip('nic-rss', 'not relevant for role server')];
  const u = f.uplink;
  if (!u) return [skip('nic-gro', 'no --interface given'), skip('nic-rss', 'no --interface given')];
  const out: Finding[] = [];
  if (u.offloads?.gro === undefined) out.push(skip('nic-gro', `ethtool could not read ${u.name}`));
  else if (u.offloads.gro) out.push({ id: 'nic-gro', status: 'ok', found: `${u.name}: generic-receive-offload on` });
  else out.push({ id: 'nic-gro', status: 'warn', found: `${u.name}: generic-receive-offload off`, want: 'on', fix: `ethtool -K ${u.name} gro on`, why: 'GRO batches received packets: fewer trips through the stack per byte' });
  if (u.rxQueues === undefined) out.push(skip('nic-rss', `receive queues of ${u.name} not readable`));
  else if (u.rxQueues > 1 || f.cpus < 2) out.push({ id: 'nic-rss', status: 'ok', found: `${u.name}: ${u.rxQueues} receive queue(s), ${f.cpus} CPU(s)` });
  else if (u.rps) out.push({ id: 'nic-rss', status: 'ok', found: `${u.name}: 1 receive queue, spread by RPS over CPUs` });
  else {
    const mask = ((1n << BigInt(Math.min(f.cpus, 64))) - 1n).toString(16);
    out.push({
      id: 'nic-rss', status: 'warn', found: `${u.name}: 1 receive queue, no RPS, ${f.cpus} CPUs`, want: 'RSS (several queues) or RPS',
      fix: `ethtool -L ${u.name} combined ${f.cpus} || echo ${mask} > /sys/class/net/${u.name}/queues/rx-0/rps_cpus`,
      why: 'with one queue one core takes every packet interrupt while the others idle',
    });
  }
  return out;
}

function checkMtu(f: HostFacts, o: DoctorOptions): Finding {
  const id = 'mtu';
  if (o.role !== 'agent') return skip(id, `not relevant for role ${o.role}`);
  if (!f.uplink || !f.wg) return skip(id, 'give --interface and --wg-interface to compare MTUs');
  const max = f.uplink.mtu - WG_OVERHEAD_V6;
  if (f.wg.mtu <= max) return { id, status: 'ok', found: `${f.wg.name} mtu ${f.wg.mtu} + ${WG_OVERHEAD_V6} <= ${f.uplink.name} mtu ${f.uplink.mtu}` };
  return {
    id, status: 'warn', found: `${f.wg.name} mtu ${f.wg.mtu} + ${WG_OVERHEAD_V6} > ${f.uplink.name} mtu ${f.uplink.mtu}`, want: `${f.wg.name} mtu <= ${max}`,
    fix: `ip link set dev ${f.wg.name} mtu ${max}  # and the pool's --mtu, so clients use it too`,
    why: 'encapsulated packets larger than the path MTU are fragmented or dropped (check every hop of the path, not only this link)',
  };
}

function checkInterfaces(f: HostFacts): Finding[] {
  return f.missingInterfaces.map((name) => ({
    id: 'interface', status: 'fail' as const, found: `interface ${name} does not exist here`, want: 'an existing interface',
    fix: 'ip -br link  # pick the right name', why: 'the checks of that interface could not run',
  }));
}

/** Runs every check for the role, in a stable order, minus the ignored ids. */
export function diagnose(f: HostFacts, o: DoctorOptions): Finding[] {
  const all = [
    ...checkInterfaces(f),
    ...checkForwarding(f, o),
    checkRpFilter(f, o),
    ...checkSocketBuffers(f, o),
    checkConntrack(f, o),
    ...checkOffloads(f, o),
    checkMtu(f, o),
    checkWireGuard(f, o),
    checkClock(f),
    checkNofile(f, o),
  ];
  const ignore = new Set(o.ignore ?? []);
  return all.filter((x) => !ignore.has(x.id));
}

/** Exit code of `wgfabric doctor`: 0 nothing to change, 1 something to change (warn or fail). */
export function doctorExitCode(findings: readonly Finding[]): number {
  return findings.some((x) => x.status === 'warn' || x.status === 'fail') ? 1 : 0;
}

/** The sysctls diagnose reads (facts.ts reads exactly these, plus the uplink's rp_filter). */
export const DOCTOR_SYSCTLS = [
  'net.ipv4.ip_forward',
  'net.ipv6.conf.all.forwarding',
  'net.ipv4.conf.all.rp_filter',
  'net.core.rmem_max',
  'net.core.wmem_max',
  'net.netfilter.nf_conntrack_max',
  'net.netfilter.nf_conntrack_count',
] as const;

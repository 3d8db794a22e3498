/**
 * Reads what `wgfabric doctor` judges, from the namespace the process runs in: /proc/sys (the
 * net.* values are per network namespace, except net.core.rmem_max/wmem_max, which are
 * host-wide), /sys/class/net, ethtool, the resource limits, the WireGuard implementations
 * present and the time daemon. Anything that cannot be read is left undefined; the checks then
 * say "skip" instead of guessing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { delimiter, join } from 'node:path';
import { run } from '../sys/exec.js';
import { DOCTOR_SYSCTLS, type HostFacts, type InterfaceFacts } from './checks.js';

export interface FactOptions {
  readonly interface?: string;
  readonly wgInterface?: string;
}

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `net.ipv4.ip_forward` -> /proc/sys/net/ipv4/ip_forward (interface names may contain dots: only the known prefix is split). */
export function sysctlPath(name: string): string {
  const m = /^net\.ipv([46])\.conf\.(.+)\.([a-z_]+)$/.exec(name);
  if (m) return `/proc/sys/net/ipv${m[1]}/conf/${m[2]}/${m[3]}`;
  return '/proc/sys/' + name.replace(/\./g, '/');
}

/** Parses `ethtool -k` output into the offloads the checks use. */
export function parseEthtoolFeatures(text: string): { gro?: boolean; gso?: boolean } {
  const get = (key: string): boolean | undefined => {
    const m = new RegExp(`^${key}:\\s+(on|off)`, 'm').exec(text);
    return m ? m[1] === 'on' : undefined;
  };
  const out: { gro?: boolean; gso?: boolean } = {};
  const gro = get('generic-receive-offload');
  const gso = get('generic-segmentation-offload');
  if (gro !== undefined) out.gro = gro;
  if (gso !== undefined) out.gso = gso;
  return out;
}

/** Parses /proc/self/limits for "Max open files". */
export function parseNofile(limits: string): { soft: number; hard: number } | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!m) return undefined;
  const n = (s: string) => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  return { soft: n(m[1]!), hard: n(m[2]!) };
}

async function interfaceFacts(name: string): Promise<InterfaceFacts | undefined> {
  const dir = `/sys/class/net/${name}`;
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(name) || !existsSync(dir)) return undefined;
  const mtu = Number(readTrim(join(dir, 'mtu')) ?? 0);
  let rxQueues: number | undefined;
  let rps: boolean | undefined;
  try {
    const rx = readdirSync(join(dir, 'queues')).filter((q) => q.startsWith('rx-'));
    rxQueues = rx.length;
    rps = rx.some((q) => /[1-9a-f]/i.test(readTrim(join(dir, 'queues', q, 'rps_cpus')) ?? '0'));
  } catch {
    // no queues directory (some virtual devices)
  }
  const eth = await run('ethtool', ['-k', name], { allowFailure: true, timeoutMs: 5000 }).catch(() => undefined);
  const offloads = eth && eth.code === 0 ? parseEthtoolFeatures(eth.stdout) : undefined;
  return { name, mtu, ...(offloads ? { offloads } : {}), ...(rxQueues !== undefined ? { rxQueues } : {}), ...(rps !== undefined ? { rps } : {}) };
}

function which(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const p = join(d, cmd);
    if (d && existsSync(p)) return p;
  }
  return null;
}

async function clock(): Promise<{ synced: boolean | null; source: string }> {
  const td = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { allowFailure: true, timeoutMs: 3000 }).catch(() => undefined);
  if (td && td.code === 0 && /^(yes|no)$/.test(td.stdout.trim())) return { synced: td.stdout.trim() === 'yes', source: 'timedatectl' };
  const ch = await run('chronyc', ['-n', 'tracking'], { allowFailure: true, timeoutMs: 3000 }).catch(() => undefined);
  if (ch && ch.code === 0) {
    const leap = /^Leap status\s*:\s*(.+)$/m.exec(ch.stdout)?.[1]?.trim();
    if (leap) return { synced: leap === 'Normal', source: 'chronyc' };
  }
  return { synced: null, source: 'neither timedatectl nor chronyc answered' };
}

/** Gathers the facts for diagnose(). Never throws for a missing tool or file. */
export async function gatherFacts(o: FactOptions): Promise<HostFacts> {
  const names: string[] = [...DOCTOR_SYSCTLS];
  if (o.interface) names.push(`net.ipv4.conf.${o.interface}.rp_filter`);
  const sysctl: Record<string, string | undefined> = {};
  for (const n of names) sysctl[n] = readTrim(sysctlPath(n));
  const missing: string[] = [];
  const uplink = o.interface ? await interfaceFacts(o.interface) : undefined;
  if (o.interface && !uplink) missing.push(o.interface);
  const wg = o.wgInterface ? await interfaceFacts(o.wgInterface) : undefined;
  if (o.wgInterface && !wg) missing.push(o.wgInterface);
  const limits = readTrim('/proc/self/limits');
  const nofile = limits ? parseNofile(limits) : undefined;
  const rel = release();
  const c = await clock();
  const count = Number(sysctl['net.netfilter.nf_conntrack_count']);
  return {
    sysctl,
    cpus: cpus().length || 1,
    ...(nofile ? { nofile } : {}),
    wireguardModule: existsSync('/sys/module/wireguard'),
    wireguardModuleAvailable: ['kernel/drivers/net/wireguard', 'updates/dkms'].some((d) => {
      try {
        return readdirSync(`/lib/modules/${rel}/${d}`).some((f) => f.startsWith('wireguard.ko'));
      } catch {
        return false;
      }
    }),
    wireguardGo: which('wireguard-go'),
    clockSynced: c.synced,
    clockSource: c.source,
    ...(uplink ? { uplink } : {}),
    ...(wg ? { wg } : {}),
    missingInterfaces: missing,
    ...(Number.isFinite(count) && sysctl['net.netfilter.nf_conntrack_count'] !== undefined ? { conntrackCount: count } : {}),
  };
}

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../sys/exec.js';
import { LAB_PREFIX, type LabPlan } from './plan.js';
import type { LabTls } from './tls.js';
import type { LabDns } from './dns.js';

/** What a lab made, persisted after every step so `lab down` can undo it even after a crash. */
export interface LabState {
  readonly plan: LabPlan;
  readonly dir: string;
  pids: { readonly pid: number; readonly what: string }[];
  netns: string[];
  links: string[];
  adminToken?: string;
  /** Present when the control plane serves HTTPS (plan.serverUrl is https://). */
  tls?: LabTls;
  /** Present with `lab up --dns` (see src/lab/dns.ts). */
  dns?: LabDns;
  /** Files and directories outside the lab directory (e.g. /etc/netns/<ns>), removed at teardown. */
  paths?: string[];
  startedAt: string;
}

export function labsRoot(base: string): string {
  return join(base, 'labs');
}

export function saveState(state: LabState): void {
  mkdirSync(state.dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(state.dir, 'state.json'), JSON.stringify(state, null, 2), { mode: 0o600 });
}

export function loadStates(base: string): LabState[] {
  const root = labsRoot(base);
  if (!existsSync(root)) return [];
  const out: LabState[] = [];
  for (const d of readdirSync(root)) {
    try {
      out.push(JSON.parse(readFileSync(join(root, d, 'state.json'), 'utf8')) as LabState);
    } catch {
      // a lab directory without a readable state: teardownOrphans handles its kernel objects
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills a recorded process if it is still the one we started (its cmdline names the lab tag). */
async function killRecorded(pid: number, tag: string): Promise<void> {
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // gone
  }
  if (!cmdline.includes(tag)) return; // pid reused by something else: leave it alone
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 40 && alive(pid); i++) await sleep(50);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Removes everything the lab made: processes, namespaces, links, UAPI sockets, files. */
export async function teardown(state: LabState): Promise<void> {
  for (const p of [...state.pids].reverse()) await killRecorded(p.pid, state.plan.tag);
  for (const ns of state.netns) await run('ip', ['netns', 'del', ns], { allowFailure: true });
  for (const link of state.links) await run('ip', ['link', 'del', link], { allowFailure: true });
  for (const h of [...state.plan.backends, ...state.plan.clients]) rmSync(`/var/run/wireguard/${h.wgIface}.sock`, { force: true });
  for (const p of state.paths ?? []) rmSync(p, { recursive: true, force: true });
  rmSync(state.dir, { recursive: true, force: true });
}

/**
 * Removes lab kernel objects that no state file accounts for (a lab whose state was lost):
 * namespaces and links named `wgl<tag>…` for the given tags, or for every tag when none given.
 */
export async function teardownOrphans(tags?: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  const match = (name: string) => name.startsWith(LAB_PREFIX) && (!tags || tags.some((t) => name.startsWith(LAB_PREFIX + t)));
  const { stdout: nsList } = await run('ip', ['netns', 'list'], { allowFailure: true });
  for (const line of nsList.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    if (!match(ns)) continue;
    const { stdout: pids } = await run('ip', ['netns', 'pids', ns], { allowFailure: true });
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
    removed.push(ns);
  }
  const { stdout: links } = await run('ip', ['-o', 'link', 'show'], { allowFailure: true });
  for (const line of links.split('\n')) {
    const name = line.split(': ')[1]?.split('@')[0] ?? '';
    if (!match(name)) continue;
    await run('ip', ['link', 'del', name], { allowFailure: true });
    removed.push(name);
  }
  return removed;
}

/** The token file a lab process of `role` runs with: its own (writeRoleToken), or admin.token in a lab made before those existed. */
export function roleTokenFile(state: Pick<LabState, 'dir'>, role: string): string {
  const own = join(state.dir, `${role}.token`);
  return existsSync(own) ? own : join(state.dir, 'admin.token');
}

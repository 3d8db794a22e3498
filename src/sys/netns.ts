import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './exec.js';

/** Linux limits interface names to 15 bytes; wireguard-go's UAPI socket path is host-global. */
export const IFNAME_MAX = 15;

/** A short random tag (hex) for names that must not collide between runs. */
export function uniqueTag(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

export const UAPI_DIR = '/var/run/wireguard';

export function uapiSocketPath(iface: string): string {
  return `${UAPI_DIR}/${iface}.sock`;
}

/**
 * Tracks every namespace, link and process it makes and removes them all in `cleanup()`,
 * in reverse order, ignoring what is already gone. Integration tests and the lab hold one
 * per run and call cleanup in a finally/after hook, so a failing run leaves nothing behind.
 */
export class Sandbox {
  private readonly undo: (() => Promise<void>)[] = [];
  readonly tag: string;

  /** @param prefix a short letter prefix; with the tag it names every resource (max 15 bytes). */
  constructor(readonly prefix: string, tag = uniqueTag()) {
    this.tag = tag;
  }

  /** A resource name `<prefix><tag><suffix>`, checked against the 15-byte interface limit. */
  name(suffix: string): string {
    const n = `${this.prefix}${this.tag}${suffix}`;
    if (n.length > IFNAME_MAX) throw new Error(`name ${n} is longer than ${IFNAME_MAX} bytes`);
    return n;
  }

  async addNetns(suffix: string): Promise<string> {
    const ns = this.name(suffix);
    await run('ip', ['netns', 'add', ns]);
    this.undo.push(async () => {
      await run('ip', ['netns', 'del', ns], { allowFailure: true });
    });
    await run('ip', ['link', 'set', 'lo', 'up'], { netns: ns });
    return ns;
  }

  /** A veth pair between two namespaces with the given CIDR addresses, both ends up. */
  async veth(a: { ns: string; addr: string }, b: { ns: string; addr: string }, suffix: string): Promise<{ ifA: string; ifB: string }> {
    const ifA = this.name(`${suffix}a`);
    const ifB = this.name(`${suffix}b`);
    await run('ip', ['link', 'add', ifA, 'netns', a.ns, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.ns]);
    this.undo.push(async () => {
      await run('ip', ['link', 'del', ifA], { netns: a.ns, allowFailure: true });
    });
    await run('ip', ['addr', 'add', a.addr, 'dev', ifA], { netns: a.ns });
    await run('ip', ['addr', 'add', b.addr, 'dev', ifB], { netns: b.ns });
    await run('ip', ['link', 'set', ifA, 'up'], { netns: a.ns });
    await run('ip', ['link', 'set', ifB, 'up'], { netns: b.ns });
    return { ifA, ifB };
  }

  /**
   * Starts `wireguard-go -f IFACE` inside a namespace and waits for its UAPI socket.
   * The process is killed (and its socket removed) on cleanup.
   */
  async startWireguardGo(ns: string, iface: string): Promise<ChildProcess> {
    const child = spawn('ip', ['netns', 'exec', ns, 'wireguard-go', '-f', iface], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'error' },
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    this.undo.push(async () => {
      await stopProcess(child);
      await run('rm', ['-f', uapiSocketPath(iface)], { allowFailure: true });
    });
    const sock = uapiSocketPath(iface);
    for (let i = 0; i < 200; i++) {
      if (existsSync(sock)) return child;
      if (child.exitCode !== null) break;
      await sleep(25);
    }
    throw new Error(`wireguard-go ${iface} did not come up: ${stderr.trim()}`);
  }

  /** Registers an extra cleanup step (run before the ones registered earlier). */
  defer(fn: () => Promise<void>): void {
    this.undo.push(fn);
  }

  async cleanup(): Promise<void> {
    while (this.undo.length > 0) {
      const fn = this.undo.pop()!;
      try {
        await fn();
      } catch {
        // best effort: keep removing the rest
      }
    }
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
export async function stopProcess(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

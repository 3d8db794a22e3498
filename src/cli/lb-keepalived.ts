/**
 * `wgfabric lb keepalived`: renders the keepalived (VRRP) configuration that floats the VIP
 * between the LB hosts of one VIP (see src/lb/keepalived.ts for the choices it makes).
 * Run it on each LB host with that host's priority and unicast source/peers.
 */
import { chmodSync, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { healthzCheckCommand, KEEPALIVED_DEFAULTS, renderKeepalivedConfig, type KeepalivedSpec } from '../lb/keepalived.js';
import { FabricError, isFabricError } from '../protocol/errors.js';
import { positiveInt } from './context.js';

/** Where `lb run --listen 127.0.0.1:7090` serves /healthz. */
export const DEFAULT_HEALTH_URL = 'http://127.0.0.1:7090/healthz';

export interface LbKeepalivedDeps {
  /** Where the config goes without --out (default stdout). */
  readonly write?: (text: string) => void;
  /** Warnings (default stderr). */
  readonly warn?: (text: string) => void;
  /** Default of --node (default: the node running this CLI). */
  readonly nodePath?: string;
}

interface KeepalivedFlags {
  interface: string; vip: string[]; routerId: number; priority: number; name: string; state: string; preempt?: boolean;
  advertIntervalMs: number; unicastSrc?: string[]; unicastPeer?: string[]; healthUrl?: string; node?: string; checkCommand?: string;
  checkInterval: number; checkTimeout: number; checkFall: number; checkRise: number; scriptUser: string; out?: string;
}

/** Collects a repeatable option (commander passes undefined before the first one). */
export const collect = (value: string, prev: string[] = []): string[] => [...prev, value];

/** Spec field (as named in WGF_ERR_VALIDATION details) -> the flag a CLI user typed. */
const FLAG_OF: readonly (readonly [RegExp, string])[] = [
  [/^name$/, '--name'], [/^interface$/, '--interface'], [/^vips$/, '--vip'], [/^routerId$/, '--router-id'],
  [/^priority$/, '--priority'], [/^initialState$/, '--state'], [/^advertIntervalMs$/, '--advert-interval-ms'],
  [/^unicastSources$/, '--unicast-src'], [/^unicastPeers$/, '--unicast-peer'], [/^healthUrl$/, '--health-url'],
  [/^check\.intervalS$/, '--check-interval'], [/^check\.timeoutS$/, '--check-timeout'], [/^check\.fall$/, '--check-fall'],
  [/^check\.rise$/, '--check-rise'], [/^scriptUser$/, '--script-user'],
];

/** The flag a renderer field came from; `[i]` of a repeatable flag becomes ` #i+1`. */
function flagOf(field: string, customCommand: boolean): string | undefined {
  const m = /^(.*?)(?:\[(\d+)\])?$/.exec(field)!;
  const [base, index] = [m[1]!, m[2] === undefined ? undefined : Number(m[2])];
  if (base === 'check.command') {
    if (customCommand) return index === undefined ? '--check-command' : `--check-command word #${index + 1}`;
    return index === 0 ? '--node' : '--health-url';
  }
  const flag = FLAG_OF.find(([re]) => re.test(base))?.[1];
  return flag && index !== undefined ? `${flag} #${index + 1}` : flag;
}

/** Re-words a renderer validation error with the flag the user typed, keeping code and details. */
function asFlagError(e: unknown, customCommand: boolean): unknown {
  if (!isFabricError(e, 'WGF_ERR_VALIDATION') || typeof e.details?.field !== 'string') return e;
  const field = e.details.field;
  const flag = flagOf(field, customCommand);
  if (!flag) return e;
  const message = e.message.startsWith(`${field} `) ? `${flag}${e.message.slice(field.length)}` : `${flag}: ${e.message}`;
  return new FabricError(e.code, message, { ...e.details, flag: flag.split(' ')[0] }, { cause: e });
}

/** Writes through a temporary file and a rename, so keepalived never reads half a file; mode 0644. */
function writeConfigFile(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    chmodSync(tmp, 0o644); // the umask may have narrowed it
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new FabricError('WGF_ERR_VALIDATION', `cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`, { field: 'out' });
  }
}

/** Adds `keepalived` under the `lb` command. */
export function registerLbKeepalivedCommand(lb: Command, deps: LbKeepalivedDeps = {}): Command {
  const write = deps.write ?? ((t: string) => void process.stdout.write(t));
  const warn = deps.warn ?? ((t: string) => void process.stderr.write(t));
  const d = KEEPALIVED_DEFAULTS;
  return lb.command('keepalived')
    .description('print a keepalived (VRRP) config that floats the VIP between LB hosts and gives it up when the local LB stops answering /healthz')
    .requiredOption('--interface <if>', 'interface that carries the VIP and the VRRP adverts')
    .requiredOption('--vip <cidr[@if]>', 'VIP as ADDRESS/PREFIX, e.g. 198.18.9.2/32; @IF puts it on another interface (repeatable)', collect)
    .requiredOption('--router-id <1-255>', 'VRRP virtual router id, the same on every LB host, unique on the segment', positiveInt('--router-id'))
    .requiredOption('--priority <1-254>', 'this host\'s priority; the highest wins the first election', positiveInt('--priority'))
    .option('--name <name>', 'names the VRRP instances, sync group and check script', 'wgfabric')
    .option('--state <BACKUP|MASTER>', 'initial state (BACKUP everywhere is recommended; MASTER needs --preempt)', d.initialState)
    .option('--preempt', 'let a recovered higher-priority host take the VIP back (default: nopreempt)')
    .option('--advert-interval-ms <ms>', 'VRRPv3 advert interval, a multiple of 10; takeover after about 3 intervals', positiveInt('--advert-interval-ms'), d.advertIntervalMs)
    .option('--unicast-src <ip>', 'unicast VRRP source address, one per family (repeatable)', collect)
    .option('--unicast-peer <ip>', 'the other LB hosts, for networks without multicast (repeatable)', collect)
    .option('--health-url <url>', `the local LB's /healthz (lb run --listen) (default ${DEFAULT_HEALTH_URL})`)
    .option('--node <path>', 'node binary the default check runs (default: the one running this command)')
    .option('--check-command <cmd>', 'replace the default check: absolute program path and arguments separated by spaces (no quoting)')
    .option('--check-interval <s>', 'seconds between checks', positiveInt('--check-interval'), d.intervalS)
    .option('--check-timeout <s>', 'seconds before a check counts as failed', positiveInt('--check-timeout'), d.timeoutS)
    .option('--check-fall <n>', 'failed checks that give up the VIP', positiveInt('--check-fall'), d.fall)
    .option('--check-rise <n>', 'good checks before the host may hold the VIP again', positiveInt('--check-rise'), d.rise)
    .option('--script-user <user>', 'user the check runs as', d.scriptUser)
    .option('--out <file>', 'write the config here (mode 0644) instead of stdout')
    .action((f: KeepalivedFlags) => {
      if (f.checkCommand !== undefined && (f.healthUrl !== undefined || f.node !== undefined)) {
        throw new FabricError('WGF_ERR_VALIDATION', '--check-command replaces the default check: do not combine it with --health-url or --node', { field: 'checkCommand' });
      }
      let text: string;
      let program: string;
      try {
        const command = f.checkCommand !== undefined
          ? f.checkCommand.trim().split(/\s+/)
          : healthzCheckCommand(f.node ?? deps.nodePath ?? process.execPath, f.healthUrl ?? DEFAULT_HEALTH_URL, f.checkTimeout);
        program = command[0]!;
        const spec: KeepalivedSpec = {
          name: f.name, interface: f.interface, vips: f.vip, routerId: f.routerId, priority: f.priority,
          initialState: f.state as KeepalivedSpec['initialState'], preempt: !!f.preempt, advertIntervalMs: f.advertIntervalMs,
          unicastSources: f.unicastSrc, unicastPeers: f.unicastPeer, scriptUser: f.scriptUser,
          check: { command, intervalS: f.checkInterval, timeoutS: f.checkTimeout, fall: f.checkFall, rise: f.checkRise },
        };
        text = renderKeepalivedConfig(spec);
      } catch (e) {
        throw asFlagError(e, f.checkCommand !== undefined);
      }
      // keepalived drops a track script whose program is missing and then holds the VIP unchecked.
      if (!existsSync(program)) warn(`warning: the check program ${program} does not exist on this host; keepalived would run without the health check\n`);
      if (f.out) {
        writeConfigFile(f.out, text);
        write(`keepalived config written to ${f.out}; check it with: keepalived -t -f ${f.out}\n`);
      } else {
        write(text);
      }
    });
}

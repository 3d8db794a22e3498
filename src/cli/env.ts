/**
 * Every long flag of every command can also come from the environment, by one rule:
 * `--data-dir` is `WGFABRIC_DATA_DIR`, `--etcd-endpoints` is `WGFABRIC_ETCD_ENDPOINTS`
 * (WGFABRIC_ + the flag name in upper case, dashes as underscores). A flag on the command
 * line wins over the environment, the environment over the default. Boolean flags take
 * 1/true/yes/on (set) or 0/false/no/off/empty (left alone); `--no-tls` is `WGFABRIC_NO_TLS=1`.
 * This is what systemd units' EnvironmentFile= use (deploy/systemd/).
 */
import type { Command, Option } from 'commander';
import { FabricError } from '../protocol/errors.js';

const SKIP = new Set(['help', 'version']);

/** The environment variable for a long flag: `--data-dir` -> WGFABRIC_DATA_DIR. */
export function envNameOf(long: string): string {
  return 'WGFABRIC_' + long.replace(/^--/, '').toUpperCase().replace(/-/g, '_');
}

/** Interprets a boolean flag's environment value; throws on anything else, naming the variable. */
export function envBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new FabricError('WGF_ERR_VALIDATION', `${name}="${value}" is not a boolean: use 1/true/yes/on or 0/false/no/off`);
}

function bind(cmd: Command, opt: Option): void {
  if (!opt.long || opt.envVar) return;
  const bare = opt.long.replace(/^--/, '');
  if (SKIP.has(bare)) return;
  const name = envNameOf(opt.long);
  opt.envVar = name;
  const event = `option:${opt.name()}`;
  // Command extends EventEmitter at run time; its typings leave emit out.
  const emit = (...args: unknown[]): boolean => (cmd as unknown as NodeJS.EventEmitter).emit(event, ...args);
  // Commander emits optionEnv:<name> only when the flag was not given on the command line.
  cmd.on(`optionEnv:${opt.name()}`, () => {
    const raw = process.env[name] ?? '';
    if (opt.required || opt.optional) {
      emit(raw);
      return;
    }
    if (envBoolean(name, raw)) emit();
  });
}

/** Binds every long flag of the program and its subcommands to its environment variable. */
export function bindEnvironment(program: Command): Command {
  const walk = (cmd: Command): void => {
    for (const opt of cmd.options as readonly Option[]) bind(cmd, opt);
    for (const sub of cmd.commands) walk(sub);
  };
  walk(program);
  return program;
}

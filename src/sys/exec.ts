import { spawn } from 'node:child_process';
import { FabricError, type ErrorCode } from '../protocol/errors.js';

export interface RunOptions {
  /** Run inside this network namespace (ip netns exec). */
  readonly netns?: string;
  /** Written to the child's stdin. Never logged. */
  readonly input?: string;
  readonly timeoutMs?: number;
  /** Error code used when the command fails (default WGF_ERR_INTERNAL). */
  readonly errorCode?: ErrorCode;
  /** Do not throw on a non-zero exit. */
  readonly allowFailure?: boolean;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/**
 * Runs a command without a shell and collects its output. A non-zero exit becomes a
 * FabricError carrying the command name and its stderr (inputs are never included: they
 * may hold keys).
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 30_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new FabricError(opts.errorCode ?? 'WGF_ERR_INTERNAL', `cannot run ${cmd}: ${e.message}`, undefined, { cause: e })));
    child.on('close', (code, signal) => {
      const res = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? 128 };
      if (res.code === 0 || opts.allowFailure) return resolve(res);
      const why = signal ? `killed by ${signal}` : `exit ${res.code}`;
      reject(new FabricError(opts.errorCode ?? 'WGF_ERR_INTERNAL', `${cmd} ${args[0] ?? ''} failed (${why}): ${res.stderr.trim().slice(0, 500)}`, { exitCode: res.code }));
    });
    child.stdin.on('error', () => {}); // the child may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Test support: a control plane on a temp SQLite store plus a way to run the CLI against it in
 * a child process (the CLI's stdout must not mix with the test runner's). One rig per test file.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from '../../server/start.js';

const RUNNER = fileURLToPath(new URL('./run-cli.ts', import.meta.url));

export interface CliResult { readonly code: number; readonly out: string; readonly err: string }

export interface CliRig {
  readonly server: RunningServer;
  /** Temp directory (the store under data/, the admin token file); removed by close(). */
  readonly dir: string;
  /** WGFABRIC_SERVER and WGFABRIC_TOKEN_FILE pointing at the rig's server as admin. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs `wgfabric ARGV...` with the rig's environment. */
  cli(...argv: string[]): Promise<CliResult>;
  close(): Promise<void>;
}

/** Runs the CLI from source in a child process with `env` added to this process's environment. */
export function runCli(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', RUNNER, ...argv], { env: { ...process.env, ...env } }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

/** Starts the rig's server; `prefix` names its temp directory. */
export async function startCliRig(prefix: string): Promise<CliRig> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const server = await startServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, logger: false, handleSignals: false, stdout: { write: () => true } });
  writeFileSync(join(dir, 'admin.token'), server.bootstrapToken! + '\n');
  const env = { WGFABRIC_SERVER: server.url, WGFABRIC_TOKEN_FILE: join(dir, 'admin.token') };
  return {
    server, dir, env,
    cli: (...argv) => runCli(env, ...argv),
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

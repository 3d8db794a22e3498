/**
 * Thin I/O shell around the `nft` binary: applies a rendered script and reads tables back.
 * The renderer (nft.ts) stays pure; everything that touches the kernel is here.
 */
import { spawn } from 'node:child_process';
import { FabricError } from '../protocol/errors.js';

/** Where and how to run nft. */
export interface NftOptions {
  /** Run inside this network namespace (`ip netns exec NAME nft ...`). */
  readonly netns?: string;
  /** Kill nft after this long (default 60 s; a 65537-slot map applies in about 1 s). */
  readonly timeoutMs?: number;
}

/** The narrow boundary the LB reconciler depends on; a fake lives in testing/fake-applier.ts. */
export interface RulesetApplier {
  /** Applies one nft script as one transaction; rejects with WGF_ERR_NFT and changes nothing on failure. */
  apply(script: string): Promise<void>;
}

const MAX_STDERR = 4000;

function run(args: readonly string[], stdin: string | undefined, opts: NftOptions): Promise<string> {
  const [cmd, argv] = opts.netns === undefined ? ['nft', [...args]] : ['ip', ['netns', 'exec', opts.netns, 'nft', ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // nft may exit (for example on a syntax error) before it read all of stdin: that EPIPE is
    // not the error to report, the exit status and stderr are.
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      reject(new FabricError('WGF_ERR_NFT', `could not run ${cmd}: ${e.message}`, { command: cmd, netns: opts.netns }, { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      const stderr = Buffer.concat(err).toString('utf8').trim().slice(0, MAX_STDERR);
      reject(new FabricError('WGF_ERR_NFT', `nft ${args.join(' ')} failed${signal ? ` (${signal})` : ` with exit code ${code}`}`, {
        exitCode: code, signal, stderr, netns: opts.netns,
      }));
    });
    child.stdin.end(stdin ?? '');
  });
}

/**
 * Applies `script` with `nft -f -` (script on stdin). nft sends the whole script as one
 * transaction, so on failure nothing changed. Rejects with WGF_ERR_NFT carrying nft's stderr
 * (details.stderr) and exit code, or when nft (or ip, for netns) cannot be started.
 */
export async function applyRuleset(script: string, opts: NftOptions = {}): Promise<void> {
  await run(['-f', '-'], script, opts);
}

/**
 * Runs `nft -j list table <family> <name>` and returns the parsed JSON (see slotsFromNftJson).
 * Rejects with WGF_ERR_NFT when the table does not exist or nft fails.
 */
export async function listTableJson(family: string, name: string, opts: NftOptions = {}): Promise<unknown> {
  const text = await run(['-j', 'list', 'table', family, name], undefined, opts);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new FabricError('WGF_ERR_NFT', 'nft -j printed something that is not JSON', { netns: opts.netns }, { cause: e });
  }
}

/** A RulesetApplier backed by the real nft binary (optionally in a network namespace). */
export function nftApplier(opts: NftOptions = {}): RulesetApplier {
  return { apply: (script) => applyRuleset(script, opts) };
}

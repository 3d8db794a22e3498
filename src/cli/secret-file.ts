import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FabricError } from '../protocol/errors.js';

/**
 * A file a command will write a secret to (a client config, a preshared key), proven
 * writable BEFORE anything is registered: `prepare` creates a 0600 temporary file beside the
 * target, `commit` fills it and renames it over the target in one step, `discard` removes it.
 * So a bad --out fails before the control plane learns of a key whose private half would be
 * lost, and a reader never sees a half-written config.
 */
export class SecretFile {
  private constructor(readonly path: string, private readonly tmp: string) {}

  /** Checks that `path` can be written; throws WGF_ERR_OUTPUT_FILE naming the path and the OS reason. */
  static async prepare(path: string): Promise<SecretFile> {
    const st = await stat(path).catch(() => null);
    if (st?.isDirectory()) throw outputError(path, 'it is a directory', 'EISDIR');
    const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await (await open(tmp, 'wx', 0o600)).close();
    } catch (e) {
      throw outputError(path, reasonOf(e), (e as NodeJS.ErrnoException).code);
    }
    return new SecretFile(path, tmp);
  }

  /** Writes `text` (mode 0600) and moves it into place. */
  async commit(text: string): Promise<void> {
    try {
      const fh = await open(this.tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(this.tmp, this.path);
    } catch (e) {
      await this.discard();
      throw outputError(this.path, reasonOf(e), (e as NodeJS.ErrnoException).code);
    }
  }

  /** Removes the temporary file (after a failure). */
  async discard(): Promise<void> {
    await rm(this.tmp, { force: true });
  }
}

/** The OS reason of a fs error: "no such file or directory (ENOENT)". */
export function reasonOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const m = /^[A-Z0-9_]+: ([^,]+)/.exec(err?.message ?? '');
  return m ? `${m[1]} (${err.code})` : String(err?.message ?? e);
}

function outputError(path: string, reason: string, code: string | undefined): FabricError {
  return new FabricError('WGF_ERR_OUTPUT_FILE', `cannot write ${path}: ${reason}`, { path, ...(code ? { errno: code } : {}) });
}

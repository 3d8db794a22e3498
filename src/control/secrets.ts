import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FabricError } from '../protocol/errors.js';

/**
 * Encryption at rest of server (pool) private keys and peers' preshared keys: AES-256-GCM
 * under a 32-byte master key that lives in a file outside the database (a key ring of several
 * during a rotation, see master-key.ts). The sealed form names the key it was sealed
 * with ("v1.<key id>.<base64 nonce|ciphertext|tag>"), so a wrong master key is reported as
 * such (WGF_ERR_CRYPTO) and never yields garbage. Messages never include key material.
 */

export const MASTER_KEY_LEN = 32;
const NONCE_LEN = 12;
const TAG_LEN = 16;

/** Public id of a master key: a hash of it (16 hex), named in every value it sealed. */
export function masterKeyId(key: Uint8Array): string {
  return createHash('sha256').update('wgfabric master key id\0').update(key).digest('hex').slice(0, 16);
}

/** Options of SecretBox. */
export interface SecretBoxOptions {
  /**
   * Reads the key ring again (the key file); called, at most once a second, when a value was
   * sealed under a key this box does not hold (another replica started using a new key).
   */
  readonly reload?: () => readonly Uint8Array[];
}

/**
 * Seals and opens small secrets under a ring of master keys, binding each to a context string
 * (associated data). Sealing uses the primary key (the first one, unless set otherwise) or a
 * named one; opening uses the key the value names. Retired keys are dropped and never come
 * back through a reload.
 */
export class SecretBox {
  private readonly keys = new Map<string, Buffer>();
  private readonly retired = new Set<string>();
  private primary: string;
  private lastReload = 0;

  constructor(masterKeys: Uint8Array | readonly Uint8Array[], private readonly opts: SecretBoxOptions = {}) {
    const list = masterKeys instanceof Uint8Array ? [masterKeys] : [...masterKeys];
    if (list.length === 0) throw new FabricError('WGF_ERR_CRYPTO', 'the master key file holds no key');
    for (const k of list) this.add(k);
    this.primary = masterKeyId(list[0]!);
  }

  /** A box with a fresh random key (tests and throwaway servers). */
  static random(): SecretBox {
    return new SecretBox(randomBytes(MASTER_KEY_LEN));
  }

  /** Short public fingerprint of the primary key (not secret: a hash of it). */
  get keyId(): string {
    return this.primary;
  }

  /** Ids of every key held. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** Whether the key is held (after one reload attempt when `reload` and it is not). */
  has(id: string, reload = true): boolean {
    if (!this.keys.has(id) && reload) this.reload();
    return this.keys.has(id);
  }

  /**
   * The keys held now, for a worker thread of this process that opens secrets (the snapshot
   * encoder of the SQLite reader threads); never to be logged, stored or sent elsewhere.
   */
  heldKeys(): Uint8Array[] {
    return [...this.keys.values()].map((k) => new Uint8Array(k));
  }

  /** Drops keys for good (a finished rotation retired them). */
  retire(ids: Iterable<string>): void {
    for (const id of ids) {
      this.retired.add(id);
      this.keys.delete(id);
    }
  }

  /** Encrypts `plaintext`; `context` must be given again to open it (e.g. the pool name). */
  seal(plaintext: Uint8Array, context: string): string {
    return this.sealWith(this.primary, plaintext, context);
  }

  /** Encrypts under the key `id` (WGF_ERR_MASTER_KEY_MISSING when not held). */
  sealWith(id: string, plaintext: Uint8Array, context: string): string {
    const key = this.keyFor(id);
    const nonce = randomBytes(NONCE_LEN);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `v1.${id}.${Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64')}`;
  }

  /** Decrypts a sealed value. Throws WGF_ERR_CRYPTO on a wrong key, context or tampering. */
  open(sealed: string, context: string): Uint8Array {
    const id = sealedKeyId(sealed);
    if (id === null) throw new FabricError('WGF_ERR_CRYPTO', 'the sealed secret is malformed');
    if (!this.has(id)) {
      throw new FabricError('WGF_ERR_CRYPTO', this.retired.has(id) ? 'the secret was sealed with a retired master key' : 'the secret was sealed with a different master key', { sealedWith: id, loaded: this.keyIds.join(',') });
    }
    const raw = Buffer.from(sealed.slice(20), 'base64');
    if (raw.length < NONCE_LEN + TAG_LEN) throw new FabricError('WGF_ERR_CRYPTO', 'the sealed secret is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.keys.get(id)!, raw.subarray(0, NONCE_LEN));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_LEN));
      return new Uint8Array(Buffer.concat([decipher.update(raw.subarray(NONCE_LEN, raw.length - TAG_LEN)), decipher.final()]));
    } catch {
      throw new FabricError('WGF_ERR_CRYPTO', 'the sealed secret does not verify (tampered, or sealed for another object)');
    }
  }

  private keyFor(id: string): Buffer {
    if (!this.has(id)) {
      throw new FabricError('WGF_ERR_MASTER_KEY_MISSING', `this server does not hold master key ${id}, which the fabric now seals with; add it to the master key file of every replica`, { keyId: id, loaded: this.keyIds.join(',') });
    }
    return this.keys.get(id)!;
  }

  private add(k: Uint8Array): void {
    if (!(k instanceof Uint8Array) || k.length !== MASTER_KEY_LEN) {
      throw new FabricError('WGF_ERR_CRYPTO', `the master key must be exactly ${MASTER_KEY_LEN} bytes`);
    }
    const id = masterKeyId(k);
    if (!this.retired.has(id)) this.keys.set(id, Buffer.from(k));
  }

  /** Reads the key ring again now (when a reload function was given), e.g. before a rotation. */
  refresh(): void {
    this.lastReload = 0;
    this.reload();
  }

  private reload(): void {
    if (!this.opts.reload || Date.now() - this.lastReload < 1000) return;
    this.lastReload = Date.now();
    try {
      for (const k of this.opts.reload()) this.add(k);
    } catch { /* the file is unreadable now: keep the keys held */ }
  }
}

/** The key id a sealed value names, or null when it is not a sealed value. */
export function sealedKeyId(sealed: unknown): string | null {
  const m = /^v1\.([0-9a-f]{16})\.([A-Za-z0-9+/=]+)$/.exec(typeof sealed === 'string' ? sealed : '');
  return m ? m[1]! : null;
}

/** What loadOrCreateMasterKey found or made. */
export interface MasterKeyFile {
  /** The first key of the file. */
  readonly key: Uint8Array;
  /** Every key of the file, in file order (a key ring during a rotation). */
  readonly keys: readonly Uint8Array[];
  /** True when this call created the file. */
  readonly created: boolean;
  /** True when group or others may read the file (the caller should warn). */
  readonly insecureMode: boolean;
}

/**
 * Reads the master key file (base64 of 32 bytes, one line), creating it with mode 0600 and
 * a fresh random key when it does not exist. Never overwrites an existing file.
 */
export async function loadOrCreateMasterKey(file: string): Promise<MasterKeyFile> {
  try {
    return await readMasterKey(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  let fh;
  try {
    fh = await open(file, 'wx', 0o600);
  } catch (e) {
    // Another process created it between our read and our create: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readMasterKey(file);
    throw new FabricError('WGF_ERR_CRYPTO', `cannot create the master key file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const key = randomBytes(MASTER_KEY_LEN);
  try {
    await fh.writeFile(`${key.toString('base64')}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(file, 0o600);
  return { key: new Uint8Array(key), keys: [new Uint8Array(key)], created: true, insecureMode: false };
}

async function readMasterKey(file: string): Promise<MasterKeyFile> {
  const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
  const keys = parseKeyRing(text, file);
  return { key: keys[0]!, keys, created: false, insecureMode: (st.mode & 0o077) !== 0 };
}

/** The keys of a key file read now (for SecretBox's reload). */
export function readKeyRingSync(file: string): Uint8Array[] {
  return parseKeyRing(readFileSync(file, 'utf8'), file);
}

/**
 * A master key file: one base64 32-byte key per line (one line usually; several during a
 * rotation); blank lines and lines starting with # are ignored.
 */
export function parseKeyRing(text: string, file: string): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const key = Buffer.from(line, 'base64');
    if (!/^[A-Za-z0-9+/]{43}=$/.test(line) || key.length !== MASTER_KEY_LEN) {
      throw new FabricError('WGF_ERR_CRYPTO', `the master key file ${file} does not hold base64 ${MASTER_KEY_LEN}-byte keys, one per line`);
    }
    keys.push(new Uint8Array(key));
  }
  if (keys.length === 0) throw new FabricError('WGF_ERR_CRYPTO', `the master key file ${file} holds no key`);
  return keys;
}

/** Appends a fresh random key to the key file (created 0600 when missing); returns its id. */
export async function addMasterKey(file: string): Promise<string> {
  await loadOrCreateMasterKey(file).catch((e) => {
    throw e instanceof FabricError ? e : new FabricError('WGF_ERR_VALIDATION', `cannot read or create ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  });
  const key = randomBytes(MASTER_KEY_LEN);
  try {
    await appendFile(file, `${key.toString('base64')}\n`, { mode: 0o600 });
  } catch (e) {
    throw new FabricError('WGF_ERR_VALIDATION', `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return masterKeyId(key);
}

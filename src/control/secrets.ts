import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FabricError } from '../protocol/errors.js';

/**
 * Encryption at rest of server (pool) private keys: AES-256-GCM under a 32-byte master key
 * that lives in a file outside the database. The sealed form names the key it was sealed
 * with ("v1.<key id>.<base64 nonce|ciphertext|tag>"), so a wrong master key is reported as
 * such (WGF_ERR_CRYPTO) and never yields garbage. Messages never include key material.
 */

export const MASTER_KEY_LEN = 32;
const NONCE_LEN = 12;
const TAG_LEN = 16;

/** Seals and opens small secrets, binding each to a context string (associated data). */
export class SecretBox {
  /** Short public fingerprint of the master key (not secret: a hash of it). */
  readonly keyId: string;
  private readonly key: Buffer;

  constructor(masterKey: Uint8Array) {
    if (!(masterKey instanceof Uint8Array) || masterKey.length !== MASTER_KEY_LEN) {
      throw new FabricError('WGF_ERR_CRYPTO', `the master key must be exactly ${MASTER_KEY_LEN} bytes`);
    }
    this.key = Buffer.from(masterKey);
    this.keyId = createHash('sha256').update('wgfabric master key id\0').update(this.key).digest('hex').slice(0, 16);
  }

  /** A box with a fresh random key (tests and throwaway servers). */
  static random(): SecretBox {
    return new SecretBox(randomBytes(MASTER_KEY_LEN));
  }

  /** Encrypts `plaintext`; `context` must be given again to open it (e.g. the pool name). */
  seal(plaintext: Uint8Array, context: string): string {
    const nonce = randomBytes(NONCE_LEN);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `v1.${this.keyId}.${Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64')}`;
  }

  /** Decrypts a sealed value. Throws WGF_ERR_CRYPTO on a wrong key, context or tampering. */
  open(sealed: string, context: string): Uint8Array {
    const m = /^v1\.([0-9a-f]{16})\.([A-Za-z0-9+/=]+)$/.exec(typeof sealed === 'string' ? sealed : '');
    if (!m) throw new FabricError('WGF_ERR_CRYPTO', 'the sealed secret is malformed');
    if (m[1] !== this.keyId) {
      throw new FabricError('WGF_ERR_CRYPTO', 'the secret was sealed with a different master key', { sealedWith: m[1], loaded: this.keyId });
    }
    const raw = Buffer.from(m[2]!, 'base64');
    if (raw.length < NONCE_LEN + TAG_LEN) throw new FabricError('WGF_ERR_CRYPTO', 'the sealed secret is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, NONCE_LEN));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_LEN));
      return new Uint8Array(Buffer.concat([decipher.update(raw.subarray(NONCE_LEN, raw.length - TAG_LEN)), decipher.final()]));
    } catch {
      throw new FabricError('WGF_ERR_CRYPTO', 'the sealed secret does not verify (tampered, or sealed for another object)');
    }
  }
}

/** What loadOrCreateMasterKey found or made. */
export interface MasterKeyFile {
  readonly key: Uint8Array;
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
  return { key: new Uint8Array(key), created: true, insecureMode: false };
}

async function readMasterKey(file: string): Promise<MasterKeyFile> {
  const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
  const b64 = text.trim();
  const key = Buffer.from(b64, 'base64');
  if (!/^[A-Za-z0-9+/]{43}=$/.test(b64) || key.length !== MASTER_KEY_LEN) {
    throw new FabricError('WGF_ERR_CRYPTO', `the master key file ${file} does not hold a base64 ${MASTER_KEY_LEN}-byte key`);
  }
  return { key: new Uint8Array(key), created: false, insecureMode: (st.mode & 0o077) !== 0 };
}

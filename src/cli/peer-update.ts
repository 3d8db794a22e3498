import type { Command } from 'commander';
import type { PeerUpdate } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { renderClientConfig } from './client-config.js';
import { apiClient, apiOptions, commaList, type ApiFlags } from './context.js';
import { emit } from './output.js';
import { configOptions, deliverConfig, generatePsk, readClientKey, shown, stateOf, warnIfPast } from './peer.js';
import { SecretFile } from './secret-file.js';

interface UpdateFlags extends ApiFlags {
  pool: string; allowedIps?: string[]; expires?: string | false; enable?: boolean; disable?: boolean; psk?: boolean; rekey?: boolean;
  keyFile?: string; out?: string; qr?: boolean; fullTunnel?: boolean; endpoint?: string;
}

/**
 * `wgfabric peer update NAME`: expiry, enabled, AllowedIPs, preshared key rotation/removal and
 * re-keying, in one PATCH. What the client needs after a rotation (its new config, or the new
 * preshared key) is checked writable before the change and written after it.
 */
export function registerPeerUpdate(peer: Command): void {
  configOptions(apiOptions(peer.command('update <name>').description('change a peer: expiry, enabled, AllowedIPs, preshared key, key pair')))
    .requiredOption('--pool <pool>', 'pool')
    .option('--allowed-ips <cidrs>', 'replace the extra AllowedIPs (comma-separated; "" clears them)', commaList)
    .option('--expires <time>', 'RFC 3339 time after which the peer is refused')
    .option('--no-expires', 'remove the expiry')
    .option('--enable', 'serve the peer on every node')
    .option('--disable', 'stop serving the peer (it stays registered)')
    .option('--psk', 'rotate: generate a new preshared key; prints or writes what the client needs (with --key-file: its whole config)')
    .option('--no-psk', 'remove the preshared key')
    .option('--rekey', 'generate a new client key pair (the old private key stops working) and write the new config; a preshared key is rotated too')
    .option('--key-file <file>', "the client's private key: with --psk, write its whole new config instead of only the preshared key")
    .action(async (name: string, f: UpdateFlags) => {
      if (f.enable && f.disable) throw new FabricError('WGF_ERR_VALIDATION', '--enable and --disable contradict each other', { field: 'enable' });
      if (f.rekey && f.keyFile) throw new FabricError('WGF_ERR_VALIDATION', '--rekey makes a new private key: drop --key-file', { field: 'key-file' });
      const api = apiClient(f);
      const [pool, old] = await Promise.all([api.getPool(f.pool), api.getPeer(f.pool, name)]);
      const patch: { -readonly [K in keyof PeerUpdate]: PeerUpdate[K] } = {};
      if (f.allowedIps !== undefined) patch.allowedIps = f.allowedIps;
      if (f.expires !== undefined) patch.expiresAt = f.expires === false ? null : f.expires;
      if (f.enable || f.disable) patch.enabled = !!f.enable;
      const rotate = f.psk === true || (!!f.rekey && old.hasPresharedKey && f.psk !== false);
      const presharedKey = rotate ? generatePsk() : undefined;
      if (presharedKey) patch.presharedKey = presharedKey;
      else if (f.psk === false) patch.presharedKey = null;
      const kp = f.rekey ? generateKeyPair() : null;
      if (kp) patch.publicKey = toBase64(kp.publicKey);
      if (Object.keys(patch).length === 0) throw new FabricError('WGF_ERR_VALIDATION', 'nothing to change: give at least one of --allowed-ips, --expires, --no-expires, --enable, --disable, --psk, --no-psk, --rekey');
      // The client's new secrets exist only here: check where they go before changing anything.
      const priv = kp ? kp.privateKey : f.keyFile && presharedKey ? readClientKey(f.keyFile, old, pool.publicKey) : null;
      const out = f.out && (presharedKey || kp) ? await SecretFile.prepare(f.out) : null;
      let p;
      try {
        p = await api.updatePeer(f.pool, name, patch);
      } catch (e) {
        await out?.discard();
        throw e;
      }
      if (typeof f.expires === 'string') warnIfPast(name, f.expires);
      let config: string | null = null;
      let written: string | null = null;
      if (priv) {
        config = renderClientConfig(pool, p, toBase64(priv), {
          fullTunnel: !!f.fullTunnel, ...(f.endpoint ? { endpoint: f.endpoint } : {}), ...(presharedKey ? { presharedKey } : {}),
        });
        await deliverConfig(f, out, config);
        written = out ? out.path : null;
      } else if (presharedKey && out) {
        await out.commit(`${presharedKey}\n`);
        written = out.path;
      }
      if (f.json) {
        emit(true, { peer: shown(p), configFile: written, config: written ? null : config, presharedKey: written || config ? null : presharedKey ?? null }, () => '');
        return;
      }
      const status = `peer ${p.name}: ${stateOf(p)}, expires ${p.expiresAt ?? 'never'}, allowed ips ${p.allowedIps.join(',') || '-'}, `
        + `preshared key ${p.hasPresharedKey ? 'yes' : 'no'}${written ? `; ${config ? 'new config' : 'new preshared key'} written to ${written}` : ''}\n`;
      if (presharedKey && !priv && !written) {
        // stdout carries only the key (as wg genpsk prints it), so it can go straight into a file.
        process.stdout.write(`${presharedKey}\n`);
        process.stderr.write(`${status}the new preshared key is printed above: put it in the client's [Peer] section as PresharedKey = KEY\n`);
      } else if (config && !written) process.stderr.write(status);
      else process.stdout.write(status);
    });
}

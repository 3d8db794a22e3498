import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import QRCode from 'qrcode';
import { ApiClient } from '../client/api-client.js';
import { FabricError, isFabricError } from '../protocol/errors.js';
import type { Peer } from '../protocol/types.js';
import { generateKeyPair, parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import { renderClientConfig } from './client-config.js';
import { apiClient, apiOptions, collectLabel, commaList, type ApiFlags } from './context.js';
import { emit, renderFields, renderTable } from './output.js';
import { registerPeerUpdate } from './peer-update.js';
import { connectedFilter, sessionColumns, sessionFields } from './sessions.js';
import { reasonOf, SecretFile } from './secret-file.js';

export interface PeerFlags extends ApiFlags {
  pool: string; out?: string; qr?: boolean; allowedIps?: string[]; address?: string[]; label?: Record<string, string>;
  expires?: string; fullTunnel?: boolean; endpoint?: string; keyFile?: string; pskFile?: string; disabled?: boolean; psk?: boolean;
}

/** A peer as the CLI shows it: the API's peer plus `expired` (its expiry lies in the past). */
export type ShownPeer = Peer & { readonly expired: boolean };

/** True when the peer's expiry lies at or before `now` (no node serves it any more). */
export function isExpired(p: Peer, now = new Date()): boolean {
  return p.expiresAt !== null && Date.parse(p.expiresAt) <= now.getTime();
}

/** The peer with its `expired` mark, as list/show print it (also in JSON). */
export function shown(p: Peer, now = new Date()): ShownPeer {
  return { ...p, expired: isExpired(p, now) };
}

/** enabled | disabled | expired: what a node does with the peer now. */
export function stateOf(p: Peer, now = new Date()): string {
  return !p.enabled ? 'disabled' : isExpired(p, now) ? 'expired' : 'enabled';
}

export function peerFields(p: Peer): [string, unknown][] {
  return [['pool', p.pool], ['name', p.name], ['public key', p.publicKey], ['addresses', p.addresses], ['allowed ips', p.allowedIps],
    ['state', stateOf(p)], ['enabled', p.enabled], ['expires', p.expiresAt], ['expired', isExpired(p)], ['preshared key', p.hasPresharedKey ? 'yes' : 'no'],
    ['labels', p.labels], ['revision', p.revision]];
}

/** Warns on stderr when an expiry being set lies in the past (the peer is kept, but no node serves it). */
export function warnIfPast(name: string, expires: string | undefined, now = new Date()): void {
  if (expires !== undefined && Date.parse(expires) <= now.getTime()) {
    process.stderr.write(`warning: --expires ${expires} is in the past: peer ${name} is registered but expired, so no node serves it `
      + `(change it with: wgfabric peer update ${name} --expires TIME, or --no-expires)\n`);
  }
}

export function configOptions(cmd: Command): Command {
  return cmd
    .option('--out <file>', 'write the client config here (mode 0600) instead of stdout; checked before anything is registered')
    .option('--qr', 'also print the config as a QR code for the WireGuard mobile apps')
    .option('--full-tunnel', 'route all traffic through the tunnel (default: only the pool prefixes)')
    .option('--endpoint <host:port>', "override the pool's endpoint in the config");
}

/** Writes the config to its checked --out file, or to stdout unless --json carries it. */
export async function deliverConfig(f: { json?: boolean; qr?: boolean }, out: SecretFile | null, text: string): Promise<void> {
  if (out) await out.commit(text);
  else if (!f.json) process.stdout.write(text);
  if (f.qr) process.stderr.write(await QRCode.toString(text, { type: 'terminal', small: true }));
}

/** Where `peer add` puts the config: a checked --out file (SecretFile), or null for stdout / --json. */
export interface ConfigSink {
  commit(text: string): Promise<void>;
  discard(): Promise<void>;
}

/**
 * Registers a new peer (key pair made here, only the public key sent) and writes its config
 * to `out`. When writing fails after registering, the peer is removed again: its private key
 * exists only in this process, so a peer without its config could never be used.
 */
export async function addPeer(api: ApiClient, name: string, f: PeerFlags, out: ConfigSink | null): Promise<{ peer: Peer; text: string; presharedKey?: string }> {
  let pool;
  let p: Peer;
  const kp = generateKeyPair();
  const presharedKey = f.psk ? generatePsk() : undefined;
  try {
    pool = await api.getPool(f.pool);
    p = await api.createPeer(f.pool, {
      name, publicKey: toBase64(kp.publicKey), ...(f.address ? { addresses: f.address } : {}), ...(f.allowedIps ? { allowedIps: f.allowedIps } : {}),
      ...(f.label ? { labels: f.label } : {}), ...(f.expires ? { expiresAt: f.expires } : {}), ...(f.disabled ? { enabled: false } : {}),
      ...(presharedKey ? { presharedKey } : {}),
    });
  } catch (e) {
    await out?.discard();
    throw e;
  }
  warnIfPast(name, f.expires);
  const text = renderClientConfig(pool, p, toBase64(kp.privateKey), {
    fullTunnel: !!f.fullTunnel, ...(f.endpoint ? { endpoint: f.endpoint } : {}), ...(presharedKey ? { presharedKey } : {}),
  });
  if (out) {
    try {
      await out.commit(text);
    } catch (e) {
      await api.deletePeer(f.pool, name).catch(() => {});
      if (isFabricError(e)) e.message = `${e.message}; peer ${name} was removed again (nothing stays registered)`;
      throw e;
    }
  }
  return { peer: p, text, ...(presharedKey ? { presharedKey } : {}) };
}

/** A fresh preshared key (as `wg genpsk` makes one), base64. */
export function generatePsk(): string {
  return randomBytes(32).toString('base64');
}

const REPRODUCE = 'Only the holder of the private key can produce a config again: wgfabric made the key pair on the machine that ran `peer add` '
  + 'and the control plane never had the private key. If it is lost, give the peer a new one: wgfabric peer update NAME --rekey --out FILE';

/** `wgfabric peer add|list|show|rm|config|enable|disable|update`. */
export function registerPeerCommands(program: Command): void {
  const peer = program.command('peer').description('peers: the clients of a pool');
  configOptions(apiOptions(peer.command('add <name>').description(
    'generate a client key pair locally, register only its public key, write a wg-quick config (to stdout, --out FILE, or inside the --json answer)',
  )))
    .requiredOption('--pool <pool>', 'pool to join')
    .option('--address <cidr>', 'request this tunnel address instead of the next free one (repeatable via commas)', commaList)
    .option('--allowed-ips <cidrs>', 'extra networks routed to this peer (site-to-site), comma-separated', commaList)
    .option('--label <k=v>', 'label (repeatable)', collectLabel)
    .option('--expires <time>', 'RFC 3339 time after which the peer is refused')
    .option('--disabled', 'create it disabled')
    .option('--psk', 'also generate a preshared key (goes into the config and, sealed, to the control plane for the nodes)')
    .action(async (name: string, f: PeerFlags) => {
      const api = apiClient(f);
      // Checked before registering: a peer whose config cannot be written would be useless.
      const out = f.out ? await SecretFile.prepare(f.out).catch((e: unknown) => {
        if (isFabricError(e)) e.message += '; nothing was registered';
        throw e;
      }) : null;
      const { peer: p, text, presharedKey } = await addPeer(api, name, f, out);
      if (f.qr) process.stderr.write(await QRCode.toString(text, { type: 'terminal', small: true }));
      // --json without --out carries the config (private key inside): scripts need it, and it exists nowhere else.
      emit(!!f.json, { peer: shown(p), configFile: f.out ?? null, config: out ? null : text }, () => (f.out
        ? `added peer ${p.name} (${p.addresses.join(', ')}${presharedKey ? ', with a preshared key' : ''}); config written to ${f.out}\n` : text));
    });
  configOptions(apiOptions(peer.command('config <name>').description(
    "render a peer's wg-quick config again from its private key file. Only the holder of the private key (and of the preshared key, if the peer has one) can: "
    + 'the control plane never had the private key and gives the preshared key only to nodes',
  )))
    .requiredOption('--pool <pool>', 'pool')
    .requiredOption('--key-file <file>', "the client's private key (as wg genkey writes it)")
    .option('--psk-file <file>', "the peer's preshared key (as wg genpsk writes it), if it has one")
    .action(async (name: string, f: PeerFlags) => {
      const api = apiClient(f);
      const [pool, p] = await Promise.all([api.getPool(f.pool), api.getPeer(f.pool, name)]);
      const priv = readClientKey(f.keyFile!, p, pool.publicKey);
      const presharedKey = f.pskFile !== undefined ? toBase64(parseKey(readSecret(f.pskFile, 'preshared key'), `preshared key in ${f.pskFile}`)) : undefined;
      if (p.hasPresharedKey && presharedKey === undefined) {
        throw new FabricError('WGF_ERR_VALIDATION', `peer ${name} has a preshared key: pass it with --psk-file. Only its holder has it (the control plane gives it `
          + `only to nodes); if it is lost, make a new one: wgfabric peer update ${name} --psk --key-file ${f.keyFile}`, { field: 'psk-file' });
      }
      const out = f.out ? await SecretFile.prepare(f.out) : null;
      const text = renderClientConfig(pool, p, toBase64(priv), {
        fullTunnel: !!f.fullTunnel, ...(f.endpoint ? { endpoint: f.endpoint } : {}), ...(presharedKey ? { presharedKey } : {}),
      });
      await deliverConfig(f, out, text);
      if (f.json) emit(true, { peer: p.name, configFile: f.out ?? null, config: out ? null : text }, () => '');
    });
  apiOptions(peer.command('list').description('list peers (STATE: enabled, disabled, or expired when its expiry has passed) with their session: NODE holding it, LAST HANDSHAKE, ENDPOINT, RX, TX'))
    .requiredOption('--pool <pool>', 'pool')
    .option('--label <k=v>', 'only peers with this label')
    .option('--connected', 'only peers with a live session (a handshake in the last 180 s)')
    .option('--disconnected', 'only peers without one')
    .action(async (f: PeerFlags & { label?: string; connected?: boolean; disconnected?: boolean }) => {
      const api = apiClient(f);
      const items: ShownPeer[] = [];
      const label = typeof f.label === 'string' ? f.label : undefined;
      const conn = connectedFilter(f);
      for await (const p of ApiClient.all((c) => api.listPeers(f.pool, { limit: 1000, ...(c ? { cursor: c } : {}), ...(label ? { label } : {}), ...conn }))) items.push(shown(p));
      emit(!!f.json, items, () => renderTable(items, [
        { header: 'NAME', get: (p) => p.name }, { header: 'ADDRESSES', get: (p) => p.addresses.join(',') }, { header: 'STATE', get: (p) => stateOf(p) },
        { header: 'EXPIRES', get: (p) => p.expiresAt }, { header: 'PSK', get: (p) => (p.hasPresharedKey ? 'yes' : 'no') }, ...sessionColumns<ShownPeer>(),
        { header: 'PUBLIC KEY', get: (p) => p.publicKey },
      ]));
    });
  apiOptions(peer.command('show <name>').description('show one peer and its session (the node holding it, last handshake, endpoint, rx/tx)')).requiredOption('--pool <pool>', 'pool').action(async (name: string, f: PeerFlags) => {
    const p = await apiClient(f).getPeer(f.pool, name);
    emit(!!f.json, shown(p), () => renderFields([...peerFields(p), ...sessionFields(p.session)]));
  });
  apiOptions(peer.command('rm <name>').description('remove a peer (its addresses are freed)')).requiredOption('--pool <pool>', 'pool').action(async (name: string, f: PeerFlags) => {
    await apiClient(f).deletePeer(f.pool, name);
    emit(!!f.json, { deleted: name }, () => `removed peer ${name}\n`);
  });
  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    apiOptions(peer.command(`${verb} <name>`).description(`${verb} a peer on every node`)).requiredOption('--pool <pool>', 'pool').action(async (name: string, f: PeerFlags) => {
      const p = await apiClient(f).updatePeer(f.pool, name, { enabled });
      emit(!!f.json, shown(p), () => `peer ${p.name}: ${stateOf(p)}\n`);
    });
  }
  registerPeerUpdate(peer);
}

/** Reads a small secret file; a missing or unreadable one names the path and the OS reason. */
export function readSecret(file: string, what: string, extra = ''): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new FabricError('WGF_ERR_VALIDATION', `cannot read the ${what} file ${file}: ${reasonOf(e)}${extra ? `. ${extra}` : ''}`, { path: file });
  }
}

/**
 * The client's private key from `file`, checked against the peer. A valid key of the wrong
 * kind (the peer's public key, the pool's) is named as such instead of "not 32 bytes".
 */
export function readClientKey(file: string, p: Peer, poolPublicKey: string): Uint8Array {
  const priv = parseKey(readSecret(file, 'private key', REPRODUCE), `the private key in ${file}`);
  const b64 = toBase64(priv);
  if (b64 === p.publicKey) throw new FabricError('WGF_ERR_KEY_MISMATCH', `${file} holds peer ${p.name}'s PUBLIC key; give its private key. ${REPRODUCE}`);
  if (b64 === poolPublicKey) throw new FabricError('WGF_ERR_KEY_MISMATCH', `${file} holds the pool's public key; give peer ${p.name}'s private key. ${REPRODUCE}`);
  if (toBase64(publicKeyOf(priv)) !== p.publicKey) {
    throw new FabricError('WGF_ERR_KEY_MISMATCH', `the key in ${file} does not belong to peer ${p.name} (its public key differs). ${REPRODUCE}`);
  }
  return priv;
}

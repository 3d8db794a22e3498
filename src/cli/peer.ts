import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import QRCode from 'qrcode';
import { ApiClient } from '../client/api-client.js';
import { FabricError } from '../protocol/errors.js';
import type { Peer } from '../protocol/types.js';
import { generateKeyPair, parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import { renderClientConfig } from './client-config.js';
import { apiClient, apiOptions, collectLabel, commaList, type ApiFlags } from './context.js';
import { emit, renderFields, renderTable } from './output.js';

interface PeerFlags extends ApiFlags {
  pool: string; out?: string; qr?: boolean; allowedIps?: string[]; address?: string[]; label?: Record<string, string>;
  expires?: string; fullTunnel?: boolean; endpoint?: string; keyFile?: string; disabled?: boolean;
}

export function peerFields(p: Peer): [string, unknown][] {
  return [['pool', p.pool], ['name', p.name], ['public key', p.publicKey], ['addresses', p.addresses], ['allowed ips', p.allowedIps],
    ['enabled', p.enabled], ['expires', p.expiresAt], ['labels', p.labels], ['revision', p.revision]];
}

function configOptions(cmd: Command): Command {
  return cmd
    .option('--out <file>', 'write the client config here (mode 0600) instead of stdout')
    .option('--qr', 'also print the config as a QR code for the WireGuard mobile apps')
    .option('--full-tunnel', 'route all traffic through the tunnel (default: only the pool prefixes)')
    .option('--endpoint <host:port>', "override the pool's endpoint in the config");
}

async function deliverConfig(f: PeerFlags, text: string): Promise<void> {
  if (f.out) writeFileSync(f.out, text, { mode: 0o600 });
  else if (!f.json) process.stdout.write(text);
  if (f.qr) process.stderr.write(await QRCode.toString(text, { type: 'terminal', small: true }));
}

/** `wgfabric peer add|list|show|rm|config|enable|disable`. */
export function registerPeerCommands(program: Command): void {
  const peer = program.command('peer').description('peers: the clients of a pool');
  configOptions(apiOptions(peer.command('add <name>').description('generate a client key pair locally, register only its public key, write a wg-quick config')))
    .requiredOption('--pool <pool>', 'pool to join')
    .option('--address <cidr>', 'request this tunnel address instead of the next free one (repeatable via commas)', commaList)
    .option('--allowed-ips <cidrs>', 'extra networks routed to this peer (site-to-site), comma-separated', commaList)
    .option('--label <k=v>', 'label (repeatable)', collectLabel)
    .option('--expires <time>', 'RFC 3339 time after which the peer is refused')
    .option('--disabled', 'create it disabled')
    .action(async (name: string, f: PeerFlags) => {
      const api = apiClient(f);
      const pool = await api.getPool(f.pool);
      const kp = generateKeyPair();
      const p = await api.createPeer(f.pool, {
        name, publicKey: toBase64(kp.publicKey), ...(f.address ? { addresses: f.address } : {}), ...(f.allowedIps ? { allowedIps: f.allowedIps } : {}),
        ...(f.label ? { labels: f.label } : {}), ...(f.expires ? { expiresAt: f.expires } : {}), ...(f.disabled ? { enabled: false } : {}),
      });
      const text = renderClientConfig(pool, p, toBase64(kp.privateKey), { fullTunnel: !!f.fullTunnel, ...(f.endpoint ? { endpoint: f.endpoint } : {}) });
      await deliverConfig(f, text);
      emit(!!f.json, { peer: p, configFile: f.out ?? null }, () => (f.out ? `added peer ${p.name} (${p.addresses.join(', ')}); config written to ${f.out}\n` : ''));
    });
  configOptions(apiOptions(peer.command('config <name>').description("render a peer's wg-quick config from its private key file (the key never leaves this machine)")))
    .requiredOption('--pool <pool>', 'pool')
    .requiredOption('--key-file <file>', "the client's private key (as wg genkey writes it)")
    .action(async (name: string, f: PeerFlags) => {
      const api = apiClient(f);
      const [pool, p] = await Promise.all([api.getPool(f.pool), api.getPeer(f.pool, name)]);
      const priv = parseKey(readFileSync(f.keyFile!, 'utf8'), 'private key');
      if (toBase64(publicKeyOf(priv)) !== p.publicKey) {
        throw new FabricError('WGF_ERR_INVALID_KEY', `the key in ${f.keyFile} does not belong to peer ${name} (its public key differs)`);
      }
      const text = renderClientConfig(pool, p, toBase64(priv), { fullTunnel: !!f.fullTunnel, ...(f.endpoint ? { endpoint: f.endpoint } : {}) });
      await deliverConfig(f, text);
      if (f.json) emit(true, { peer: p.name, configFile: f.out ?? null }, () => '');
    });
  apiOptions(peer.command('list').description('list peers'))
    .requiredOption('--pool <pool>', 'pool')
    .option('--label <k=v>', 'only peers with this label')
    .action(async (f: PeerFlags & { label?: string }) => {
      const api = apiClient(f);
      const items: Peer[] = [];
      const label = typeof f.label === 'string' ? f.label : undefined;
      for await (const p of ApiClient.all((c) => api.listPeers(f.pool, { limit: 1000, ...(c ? { cursor: c } : {}), ...(label ? { label } : {}) }))) items.push(p);
      emit(!!f.json, items, () => renderTable(items, [
        { header: 'NAME', get: (p) => p.name }, { header: 'ADDRESSES', get: (p) => p.addresses.join(',') }, { header: 'ENABLED', get: (p) => (p.enabled ? 'yes' : 'no') },
        { header: 'EXPIRES', get: (p) => p.expiresAt }, { header: 'PUBLIC KEY', get: (p) => p.publicKey },
      ]));
    });
  apiOptions(peer.command('show <name>').description('show one peer')).requiredOption('--pool <pool>', 'pool').action(async (name: string, f: PeerFlags) => {
    const p = await apiClient(f).getPeer(f.pool, name);
    emit(!!f.json, p, () => renderFields(peerFields(p)));
  });
  apiOptions(peer.command('rm <name>').description('remove a peer (its addresses are freed)')).requiredOption('--pool <pool>', 'pool').action(async (name: string, f: PeerFlags) => {
    await apiClient(f).deletePeer(f.pool, name);
    emit(!!f.json, { deleted: name }, () => `removed peer ${name}\n`);
  });
  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    apiOptions(peer.command(`${verb} <name>`).description(`${verb} a peer on every node`)).requiredOption('--pool <pool>', 'pool').action(async (name: string, f: PeerFlags) => {
      const p = await apiClient(f).updatePeer(f.pool, name, { enabled });
      emit(!!f.json, p, () => `peer ${p.name}: ${p.enabled ? 'enabled' : 'disabled'}\n`);
    });
  }
}

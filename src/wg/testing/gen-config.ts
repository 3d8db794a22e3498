import { clamp, publicKeyOf, toBase64 } from '../keys.js';
import { canonicalIp } from '../addr.js';
import { newInterface, newPeer, type ExtraLine, type InterfaceSection, type PeerSection, type WgConfig } from '../config.js';
import type { Rng } from './random.js';

/** Deterministic key pairs (base64) drawn from the rng. */
export function keyPairs(rng: Rng, n: number): { privateKey: string; publicKey: string }[] {
  const out: { privateKey: string; publicKey: string }[] = [];
  for (let i = 0; i < n; i++) {
    const k = rng.bytes(32);
    clamp(k);
    out.push({ privateKey: toBase64(k), publicKey: toBase64(publicKeyOf(k)) });
  }
  return out;
}

/** A random dotted-quad IPv4 address. */
export function randomIpv4(rng: Rng): string {
  return [rng.int(256), rng.int(256), rng.int(256), rng.int(256)].join('.');
}

/** A random IPv6 address, sometimes in full form, sometimes compressed (both are valid). */
export function randomIpv6(rng: Rng): string {
  const groups = Array.from({ length: 8 }, () => (rng.bool(0.4) ? 0 : rng.int(65536)).toString(16));
  const full = groups.join(':');
  return rng.bool(0.5) ? full : canonicalIp(full)!;
}

/** A random IP prefix of `family` (random when not given), sometimes a bare address when `allowBare`. */
export function randomCidr(rng: Rng, family = rng.pick([4, 6] as const), allowBare = true): string {
  const ip = family === 4 ? randomIpv4(rng) : randomIpv6(rng);
  if (allowBare && rng.bool(0.2)) return ip;
  return `${ip}/${rng.range(0, family === 4 ? 32 : 128)}`;
}

/** A random valid DNS name of 1..4 labels. */
export function randomHostname(rng: Rng): string {
  const labels = Array.from({ length: rng.range(1, 4) }, () => {
    const inner = rng.string(rng.range(0, 8), 'abcdefghijklmnopqrstuvwxyz0123456789-');
    return `${rng.string(1, 'abcdefghijklmnopqrstuvwxyz')}${inner}${rng.string(1, 'abcdefghijklmnopqrstuvwxyz0123456789')}`;
  });
  return labels.join('.');
}

/** A random endpoint: IPv4:port, [IPv6]:port or name:port. */
export function randomEndpoint(rng: Rng): string {
  const port = rng.range(1, 65535);
  const kind = rng.int(3);
  if (kind === 0) return `${randomIpv4(rng)}:${port}`;
  if (kind === 1) return `[${randomIpv6(rng)}]:${port}`;
  return `${randomHostname(rng)}:${port}`;
}

// Printable text without '#', '=' and control characters (so it cannot read as a Name line).
const TEXT = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,;:/%$()[]{}"\'!?<>|&*+~^`éü→中';

function words(rng: Rng, max: number): string {
  return rng.string(rng.range(1, max), TEXT).trim() || 'x';
}

function comments(rng: Rng): string[] | undefined {
  if (rng.bool(0.6)) return undefined;
  return Array.from({ length: rng.range(1, 3) }, () => (rng.bool(0.2) ? '#' : `# ${words(rng, 30)}`));
}

function extras(rng: Rng): ExtraLine[] | undefined {
  if (rng.bool(0.8)) return undefined;
  return Array.from({ length: rng.range(1, 2) }, () => ({ key: `X${rng.string(rng.range(1, 6), 'abcXYZ019_-.')}`, value: rng.bool(0.2) ? '' : words(rng, 20) }));
}

function commands(rng: Rng): string[] {
  return rng.bool(0.6) ? [] : Array.from({ length: rng.range(1, 3) }, () => (rng.bool(0.1) ? '' : words(rng, 40)));
}

function randomInterface(rng: Rng, privateKey: string): InterfaceSection {
  const s = newInterface({
    addresses: rng.bool(0.3) ? [] : Array.from({ length: rng.range(1, 3) }, () => randomCidr(rng)),
    dns: rng.bool(0.5) ? [] : Array.from({ length: rng.range(1, 3) }, () => (rng.bool(0.6) ? (rng.bool() ? randomIpv4(rng) : randomIpv6(rng)) : randomHostname(rng))),
    preUp: commands(rng), postUp: commands(rng), preDown: commands(rng), postDown: commands(rng),
  });
  if (rng.bool(0.9)) s.privateKey = privateKey;
  if (rng.bool(0.6)) s.listenPort = rng.range(0, 65535);
  if (rng.bool(0.2)) s.fwMark = rng.bool() ? rng.int(2 ** 32) : 0;
  if (rng.bool(0.3)) s.mtu = rng.range(68, 65535);
  if (rng.bool(0.2)) s.table = rng.pick(['off', 'auto', String(rng.int(1000)), 'main', 'vpn_1']);
  if (rng.bool(0.2)) s.saveConfig = rng.bool();
  const c = comments(rng);
  if (c) s.comments = c;
  const x = extras(rng);
  if (x) s.extra = x;
  return s;
}

function randomPeer(rng: Rng, publicKey: string, presharedKey: string): PeerSection {
  const p = newPeer(publicKey, {
    allowedIps: rng.bool(0.1) ? [] : Array.from({ length: rng.range(1, 4) }, () => randomCidr(rng)),
  });
  if (rng.bool(0.3)) p.presharedKey = presharedKey;
  if (rng.bool(0.5)) p.endpoint = randomEndpoint(rng);
  if (rng.bool(0.4)) p.persistentKeepalive = rng.range(0, 65535);
  if (rng.bool(0.4)) p.name = `${words(rng, 12)}${rng.bool(0.2) ? ' # = x' : ''}`.trim();
  const c = comments(rng);
  if (c) p.comments = c;
  const x = extras(rng);
  if (x) p.extra = x;
  return p;
}

/**
 * A random valid config drawing keys from `keys` (peers get distinct public keys), with
 * optional fields omitted rather than set to undefined (the shape parseConfig returns).
 */
export function randomConfig(rng: Rng, keys: readonly { privateKey: string; publicKey: string }[], maxPeers = 6): WgConfig {
  const n = Math.min(rng.range(0, maxPeers), keys.length - 1);
  const start = rng.int(keys.length);
  const peers = Array.from({ length: n }, (_, i) => {
    const k = keys[(start + 1 + i) % keys.length]!;
    return randomPeer(rng, k.publicKey, k.privateKey);
  });
  const cfg: WgConfig = { interface: randomInterface(rng, keys[start]!.privateKey), peers };
  const t = comments(rng);
  if (t) cfg.trailingComments = t;
  return cfg;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Peer, Pool } from '../protocol/types.js';
import { renderClientConfig as cliConfig } from '../cli/client-config.js';
import { generateKeyPair, toBase64 } from './keys.js';
import { configFileName, renderClientConfig } from './client-config.js';
import { publicKeyOf, parseKey } from '../wg/keys.js';

const base: Pool = {
  name: 'demo', description: '', publicKey: toBase64(new Uint8Array(32).fill(9)), listenPort: 51820, ipv4Prefix: '10.77.0.0/16', ipv6Prefix: null,
  endpoint: 'vpn.example.net:51820', dns: [], mtu: null, persistentKeepalive: 0, labels: {}, lb: { affinity: 'src-ip-port', tableSize: 65537 },
  anycast: { addresses: [] } as unknown as Pool['anycast'], revision: 1, createdAt: '', updatedAt: '',
};
const peer: Peer = {
  pool: 'demo', name: 'alice', publicKey: toBase64(new Uint8Array(32).fill(3)), addresses: ['10.77.0.2/32'], allowedIps: [], enabled: true, labels: {},
  expiresAt: null, hasPresharedKey: false, revision: 2, createdAt: '', updatedAt: '',
};

test('the browser config is the CLI config, byte for byte, for every kind of pool', () => {
  const priv = toBase64(new Uint8Array(32).fill(7));
  const psk = toBase64(new Uint8Array(32).fill(5));
  const cases: [string, Pool, Peer, string | undefined][] = [
    ['minimal', base, peer, undefined],
    ['dual stack, dns, mtu, keepalive', { ...base, ipv6Prefix: 'fd77::/64', dns: ['10.77.0.1', 'fd77::1'], mtu: 1380, persistentKeepalive: 25 }, { ...peer, addresses: ['10.77.0.2/32', 'fd77::2/128'] }, undefined],
    ['no endpoint', { ...base, endpoint: null }, peer, undefined],
    ['preshared key', base, { ...peer, hasPresharedKey: true }, psk],
    ['IPv6 only', { ...base, ipv4Prefix: null, ipv6Prefix: 'fd77::/64', endpoint: '[2001:db8::1]:51820' }, { ...peer, addresses: ['fd77::2/128'] }, undefined],
  ];
  for (const [name, pool, p, k] of cases) {
    assert.equal(renderClientConfig(pool, p, priv, k), cliConfig(pool, p, priv, k ? { presharedKey: k } : {}), name);
  }
});

test('a value with a line break is refused, not written', () => {
  assert.throws(() => renderClientConfig({ ...base, endpoint: 'x:1\nPostUp = rm -rf /' }, peer, 'k'), /line break/);
});

test('configFileName is safe on every OS', () => {
  assert.equal(configFileName('demo', 'alice.laptop'), 'demo-alice.laptop.conf');
  assert.equal(configFileName('a/b', 'c d'), 'a_b-c_d.conf');
});

test('generateKeyPair (WebCrypto X25519, as in the browser): the public key is the one of the private key', async () => {
  const k = await generateKeyPair();
  assert.equal(toBase64(publicKeyOf(parseKey(k.privateKey))), k.publicKey);
  assert.notEqual((await generateKeyPair()).privateKey, k.privateKey);
});

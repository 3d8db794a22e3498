import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../wg/config.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { planImport } from './import-plan.js';

const key = () => toBase64(generateKeyPair().privateKey);
const pub = () => toBase64(generateKeyPair().publicKey);

test('import plan: every peer with its addresses; what has no place in a pool is listed as not imported, per peer too', () => {
  const text = `[Interface]
PrivateKey = ${key()}
Address = 10.78.0.1/24
ListenPort = 51820
PostUp = iptables -A FORWARD -i wg0 -j ACCEPT
Table = off

[Peer]
# alice
PublicKey = ${pub()}
AllowedIPs = 10.78.0.2/32, 192.168.50.0/24
Endpoint = 203.0.113.7:40000
PersistentKeepalive = 25

[Peer]
PublicKey = ${pub()}
AllowedIPs = 10.78.0.3/32
`;
  const plan = planImport(parseConfig(text), 'legacy', 'vpn.example.net:51820');
  assert.deepEqual(plan.peers.map((p) => [p.addresses, p.allowedIps ?? []]), [[['10.78.0.2/32'], ['192.168.50.0/24']], [['10.78.0.3/32'], []]]);
  assert.equal(plan.pool.ipv4Prefix, '10.78.0.0/24');
  const dropped = plan.dropped.join('\n');
  assert.match(dropped, /postUp: iptables -A FORWARD/);
  assert.match(dropped, /Table = off/);
  assert.match(dropped, /peer [a-z0-9-]+: Endpoint = 203\.0\.113\.7:40000/);
  assert.match(dropped, /peer [a-z0-9-]+: PersistentKeepalive = 25/);
});

test('import plan: extra Address lines, DNS search domains, SaveConfig and unknown keys are listed as not imported, never dropped silently', () => {
  const text = `[Interface]
PrivateKey = ${key()}
Address = 10.79.0.1/24, 10.80.0.1/24, fd00:79::1/64
DNS = 10.79.0.1, corp.example
SaveConfig = true
FancyKey = 1

[Peer]
PublicKey = ${pub()}
AllowedIPs = 10.79.0.2/32
OtherKey = x
`;
  const plan = planImport(parseConfig(text), 'legacy');
  assert.equal(plan.pool.ipv4Prefix, '10.79.0.0/24');
  assert.equal(plan.pool.ipv6Prefix, 'fd00:79::/64');
  assert.deepEqual(plan.pool.dns, ['10.79.0.1']);
  const dropped = plan.dropped.join('\n');
  assert.match(dropped, /Address = 10\.80\.0\.1\/24 \(a pool has one prefix per family/);
  assert.match(dropped, /DNS = corp\.example \(a search domain/);
  assert.match(dropped, /SaveConfig = true/);
  assert.match(dropped, /FancyKey = 1/);
  assert.match(dropped, /peer peer-1: OtherKey = x/);
  assert.doesNotMatch(dropped, /fd00:79::1/);
});

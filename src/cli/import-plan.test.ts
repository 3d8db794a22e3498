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

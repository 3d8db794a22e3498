/**
 * The DNS driver of the Announcer interface held to the announcer contract against a real
 * Knot DNS server (on loopback, its own config/data directory and control socket), observed
 * from outside with kdig; plus the TSIG failure modes a user meets (wrong secret, unknown key,
 * wrong zone, server down), each a clear error that changes nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runAnnouncerContract } from '../../src/announce/contract.js';
import { DnsAnnouncer } from '../../src/announce/dns.js';
import { dnsObserve } from '../../src/announce/dns-observe.js';
import { DnsClient } from '../../src/dns/client.js';
import { parseTsigKey } from '../../src/dns/tsig.js';
import { renderKnotConf, renderLabZone } from '../../src/lab/dns.js';
import { isFabricError } from '../../src/protocol/errors.js';
import { run } from '../../src/sys/exec.js';

const HOST = '127.0.0.1';
const PORT = 27100 + randomInt(800); // helper port range; a random one so two runs can coexist
const ZONE = 'announce.test';
const NAME = `vpn.${ZONE}`;
let dir: string;
let knot: ChildProcess | undefined;
const secret = randomBytes(32).toString('base64');
const key = parseTsigKey(`hmac-sha256:wgf-dn-test:${secret}`);

async function kdigA(): Promise<string[]> {
  const out: string[] = [];
  for (const type of ['A', 'AAAA']) {
    const { stdout } = await run('kdig', [`@${HOST}`, '-p', String(PORT), NAME, type, '+short', '+timeout=1', '+retry=0'], { allowFailure: true });
    out.push(...stdout.split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-f.:]+$/.test(l) && l.length > 1));
  }
  return out.sort();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wgf-dn-knot-'));
  mkdirSync(join(dir, 'db'));
  const d = { address: HOST, dir, zone: ZONE };
  writeFileSync(join(dir, 'knot.conf'), renderKnotConf(d, 'wgf-dn-test', secret, PORT), { mode: 0o600 });
  writeFileSync(join(dir, `${ZONE}.zone`), renderLabZone(d));
  knot = spawn('knotd', ['-c', join(dir, 'knot.conf'), '-s', join(dir, 'knot.sock')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const { stdout } = await run('kdig', [`@${HOST}`, '-p', String(PORT), `ns.${ZONE}`, 'A', '+short', '+timeout=1', '+retry=0'], { allowFailure: true });
    if (stdout.includes(HOST)) return;
    await sleep(100);
  }
  assert.fail(`knotd did not answer on ${HOST}:${PORT}`);
});

after(async () => {
  if (knot?.pid) {
    knot.kill('SIGTERM');
    await new Promise((r) => knot!.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('DnsAnnouncer against knot', () => {
  const announcer = new DnsAnnouncer({ client: new DnsClient({ server: { host: HOST, port: PORT }, key }), zone: ZONE, name: NAME, ttl: 5 });
  runAnnouncerContract('dns (knot)', async () => ({
    announcer, v4: ['198.18.99.1', '198.18.99.2'], v6: '2001:db8::1', observe: dnsObserve(announcer, kdigA),
  }), async () => {});
});

test('TSIG and server failures are clear errors and change nothing', async () => {
  const good = new DnsAnnouncer({ client: new DnsClient({ server: { host: HOST, port: PORT }, key }), zone: ZONE, name: NAME, ttl: 5 });
  await good.announce({ addresses: ['198.18.99.7'], attributes: { gracefulShutdown: false, communities: [], med: null, prepend: 0 } }, 'setup');
  const set = { addresses: ['198.18.99.8'], attributes: { gracefulShutdown: false, communities: [], med: null, prepend: 0 } };
  const cases: [string, DnsAnnouncer, string, RegExp][] = [
    ['wrong secret', new DnsAnnouncer({ client: new DnsClient({ server: { host: HOST, port: PORT }, key: { ...key, secret: new Uint8Array(randomBytes(32)) } }), zone: ZONE, name: NAME, ttl: 5 }), 'WGF_ERR_DNS_REFUSED', /BADSIG/],
    ['unknown key', new DnsAnnouncer({ client: new DnsClient({ server: { host: HOST, port: PORT }, key: { ...key, name: 'nobody' } }), zone: ZONE, name: NAME, ttl: 5 }), 'WGF_ERR_DNS_REFUSED', /BADKEY/],
    ['zone not served', new DnsAnnouncer({ client: new DnsClient({ server: { host: HOST, port: PORT }, key }), zone: 'other.test', name: 'vpn.other.test', ttl: 5 }), 'WGF_ERR_DNS_REFUSED', /NOTAUTH|REFUSED/],
    ['server down', new DnsAnnouncer({ client: new DnsClient({ server: { host: HOST, port: PORT === 27999 ? 27998 : PORT + 1 }, key, timeoutMs: 200, attempts: 2 }), zone: ZONE, name: NAME, ttl: 5 }), 'WGF_ERR_DNS_TIMEOUT', /no answer/],
  ];
  for (const [what, a, code, re] of cases) {
    await assert.rejects(a.announce(set, 'x'), (e: unknown) => isFabricError(e) && e.code === code && re.test((e as Error).message), what);
    console.log(`# ${what}: ${code}`);
  }
  assert.deepEqual(await kdigA(), ['198.18.99.7'], 'the zone is unchanged');
});

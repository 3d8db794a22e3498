import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { FabricError } from '../protocol/errors.js';
import { generateKeyPair } from '../wg/keys.js';
import { addressBytes } from '../wg/macs.js';
import { messageType, MSG_INITIATION, MSG_TRANSPORT } from '../wg/messages.js';
import type { Session } from '../wg/session.js';
import { answerEcho, TestResponder } from '../wg/testing/responder.js';
import { formatEndpoint, probe, type ProbeOptions } from './probe.js';

// The I/O shell over real UDP on loopback, against an in-process responder. No root needed.
const serverKeys = generateKeyPair();
const clientKeys = generateKeyPair();
const TUNNEL = { target: '10.77.0.1', source: '10.77.0.2' };
const sockets: Socket[] = [];
after(() => sockets.forEach((s) => s.close()));

type Handler = (msg: Uint8Array, from: RemoteInfo, reply: (b: Uint8Array) => void) => void;

async function server(handler: Handler, host = '127.0.0.1'): Promise<number> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sockets.push(s);
  s.on('message', (msg, from) => handler(new Uint8Array(msg), from, (b) => s.send(b, from.port, from.address)));
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return s.address().port;
}

/** A WireGuard server made of the test responder: answers handshakes and pings to TUNNEL.target. */
function wireguard(o: { underLoad?: boolean } = {}): Handler {
  const responder = new TestResponder({ privateKey: serverKeys.privateKey, ...o });
  let session: Session | undefined;
  return (msg, from, reply) => {
    const type = messageType(msg);
    if (type === MSG_INITIATION) {
      try {
        const out = responder.consumeInitiation(msg, addressBytes(Uint8Array.from(from.address.split('.').map(Number)), from.port));
        if (out.kind === 'response') session = out.session;
        reply(out.message);
      } catch {
        // a real responder drops what does not verify, silently
      }
    } else if (type === MSG_TRANSPORT && session) {
      const answer = answerEcho(session, msg, [TUNNEL.target]);
      if (answer) reply(answer);
    }
  };
}

function options(port: number, extra: Partial<ProbeOptions> = {}): ProbeOptions {
  return { host: '127.0.0.1', port, serverPublicKey: serverKeys.publicKey, privateKey: clientKeys.privateKey, timeoutMs: 5000, ...extra };
}

async function udpSocketsOpen(): Promise<number> {
  for (let i = 0; i < 5; i++) await tick(); // a closed handle disappears on a later turn of the loop
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

async function rejects(p: Promise<unknown>, code: string, match: RegExp): Promise<FabricError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof FabricError, `not a FabricError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, match);
    return e;
  }
  assert.fail('expected the probe to fail');
}

describe('probe over loopback UDP', () => {
  test('handshake and echo through the tunnel succeed; the socket is closed afterwards', async () => {
    const port = await server(wireguard());
    const before = await udpSocketsOpen();
    const r = await probe(options(port, { ping: TUNNEL }));
    assert.equal(r.endpoint, `127.0.0.1:${port}`);
    assert.ok(r.handshakeMs >= 0 && r.echoMs! >= 0);
    assert.equal(r.echoFrom, TUNNEL.target);
    assert.equal(await udpSocketsOpen(), before);
  });

  test('a server under load: cookie reply, retry with mac2, success', async () => {
    const port = await server(wireguard({ underLoad: true }));
    const r = await probe(options(port));
    assert.equal(r.cookieUsed, true);
    assert.equal(r.attempts, 2);
  });

  const failures: { name: string; handler?: Handler; extra?: Partial<ProbeOptions>; code: string; match: RegExp }[] = [
    {
      name: 'wrong server key: the server drops the initiation, the message says the key may be wrong',
      handler: wireguard(),
      extra: { serverPublicKey: generateKeyPair().publicKey },
      code: 'WGF_ERR_PROBE_TIMEOUT',
      match: /^no handshake response from 127\.0\.0\.1:\d+ within 400 ms \(wrong server key, wrong port, unknown client key, or server down\)$/,
    },
    { name: 'a silent listener', handler: () => {}, code: 'WGF_ERR_PROBE_TIMEOUT', match: /no handshake response/ },
    { name: 'a listener answering garbage', handler: (_m, _f, reply) => reply(Uint8Array.of(1, 2, 3)), code: 'WGF_ERR_PROBE_BAD_REPLY', match: /not a WireGuard message/ },
  ];
  for (const f of failures) {
    test(f.name, async () => {
      const port = await server(f.handler ?? (() => {}));
      const before = await udpSocketsOpen();
      await rejects(probe(options(port, { timeoutMs: 400, ...f.extra })), f.code, f.match);
      assert.equal(await udpSocketsOpen(), before, 'socket closed after a failure too');
    });
  }

  test('a server that handshakes but does not answer pings', async () => {
    // The probe's one deadline covers the handshake too: on a loaded machine the handshake
    // alone may outlast a short timeout, which is a timeout, not a ping failure. So the
    // probe's clock stands still until the server saw the first packet through the tunnel
    // (the handshake is done on both sides); from then on it runs, and the pings time out.
    const inner = wireguard();
    let tunnelAt: number | null = null;
    const handler: Handler = (msg, from, reply) => {
      if (messageType(msg) === MSG_TRANSPORT && tunnelAt === null) tunnelAt = performance.now();
      inner(msg, from, reply);
    };
    const port = await server(handler);
    const before = await udpSocketsOpen();
    const now = () => (tunnelAt === null ? 0 : performance.now() - tunnelAt);
    await rejects(probe(options(port, { timeoutMs: 400, now, ping: { target: '10.77.0.99', source: TUNNEL.source } })), 'WGF_ERR_PROBE_PING', /no ICMP echo reply from 10\.77\.0\.99/);
    assert.ok(tunnelAt !== null, 'the server saw the pings');
    assert.equal(await udpSocketsOpen(), before, 'socket closed after a failure too');
  });

  test('a closed port: the ICMP port unreachable is named in the timeout message', async () => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    await rejects(probe(options(port, { timeoutMs: 400 })), 'WGF_ERR_PROBE_TIMEOUT', /port unreachable/);
  });

  test('IPv6 loopback works and the endpoint is bracketed', async () => {
    const port = await server(wireguard(), '::1');
    const r = await probe(options(port, { host: '::1' }));
    assert.equal(r.endpoint, `[::1]:${port}`);
  });

  test('a host name is resolved once and kept in the endpoint text', async () => {
    const { address } = await lookup('localhost');
    const port = await server(wireguard(), address);
    const r = await probe(options(port, { host: 'localhost' }));
    assert.equal(r.endpoint, `localhost:${port}`);
  });

  test('abort rejects with the signal reason and closes the socket', async () => {
    const port = await server(() => {});
    const before = await udpSocketsOpen();
    const ac = new AbortController();
    const p = probe(options(port, { timeoutMs: 60_000, signal: ac.signal }));
    ac.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
    assert.equal(await udpSocketsOpen(), before);
  });

  const invalid: { name: string; extra: Partial<ProbeOptions> }[] = [
    { name: 'port 0', extra: { port: 0 } },
    { name: 'ping with mixed families', extra: { ping: { target: 'fd00::1', source: '10.0.0.2' } } },
    { name: 'timeout 0', extra: { timeoutMs: 0 } },
  ];
  for (const c of invalid) {
    test(`invalid options are refused: ${c.name}`, async () => {
      await rejects(probe(options(9, c.extra)), 'WGF_ERR_VALIDATION', /./);
    });
  }
});

test('formatEndpoint brackets IPv6 literals only', () => {
  assert.equal(formatEndpoint('198.18.0.1', 51820), '198.18.0.1:51820');
  assert.equal(formatEndpoint('fd00::1', 51820), '[fd00::1]:51820');
  assert.equal(formatEndpoint('vpn.example', 1), 'vpn.example:1');
});

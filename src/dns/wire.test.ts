import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isFabricError } from '../protocol/errors.js';
import { addressOf, addressRdata, CLASS, decodeMessage, encodeMessage, encodeName, inZone, normalizeName, TYPE, type Message } from './wire.js';

test('names encode uncompressed and lower-cased; bad names are refused', () => {
  assert.deepEqual([...encodeName('Vpn.Example.')], [3, 118, 112, 110, 7, 101, 120, 97, 109, 112, 108, 101, 0]);
  assert.deepEqual([...encodeName('')], [0]);
  assert.equal(normalizeName('VPN.example.net.'), 'vpn.example.net');
  for (const bad of ['a..b', '-a.b', 'a'.repeat(64) + '.b', 'sp ace.b']) assert.throws(() => normalizeName(bad), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'), bad);
  assert.ok(inZone('vpn.example.net', 'example.net'));
  assert.ok(inZone('example.net', 'example.net'));
  assert.ok(!inZone('vpnexample.net', 'example.net'));
});

test('a message round-trips through encode and decode', () => {
  const m: Message = {
    id: 0xbeef, qr: true, opcode: 5, aa: true, tc: false, rd: false, rcode: 9,
    question: [{ name: 'example.net', type: TYPE.SOA, class: CLASS.IN }],
    answer: [], authority: [{ name: 'vpn.example.net', type: TYPE.A, class: CLASS.IN, ttl: 5, data: Uint8Array.from([198, 18, 0, 1]) }],
    additional: [{ name: '', type: TYPE.OPT, class: 4096, ttl: 0, data: new Uint8Array(0) }],
  };
  const d = decodeMessage(encodeMessage(m));
  assert.deepEqual(d.message, m);
  assert.ok(d.lastAdditionalOffset > 12);
});

test('compressed names are followed; forward pointers and loops are refused', () => {
  // header (1 question, 1 answer), question vpn.example.net A IN, answer name = pointer to offset 12
  const q = [...encodeName('vpn.example.net'), 0, 1, 0, 1];
  const ans = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1];
  const msg = Uint8Array.from([0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0, ...q, ...ans]);
  const d = decodeMessage(msg).message;
  assert.equal(d.answer[0]!.name, 'vpn.example.net');
  assert.equal(addressOf(d.answer[0]!), '10.0.0.1');
  const loop = Uint8Array.from([0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  assert.throws(() => decodeMessage(loop), (e: unknown) => isFabricError(e, 'WGF_ERR_DNS_BAD_REPLY'));
});

test('A and AAAA RDATA from text and back (canonical IPv6)', () => {
  const cases: [string, number, string][] = [
    ['198.18.0.10', TYPE.A, '198.18.0.10'], ['2001:DB8::1', TYPE.AAAA, '2001:db8::1'], ['fd77:0:0:0:0:0:0:1', TYPE.AAAA, 'fd77::1'],
    ['1:0:0:2:0:0:0:3', TYPE.AAAA, '1:0:0:2::3'], ['::', TYPE.AAAA, '::'], ['1:2:3:4:5:6:7:8', TYPE.AAAA, '1:2:3:4:5:6:7:8'],
  ];
  for (const [text, type, back] of cases) {
    const r = addressRdata(text);
    assert.equal(r.type, type, text);
    assert.equal(addressOf(r), back, text);
  }
  for (const bad of ['256.1.1.1', '1.2.3', 'vpn.example.net', '1::2::3', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3.4']) {
    assert.throws(() => addressRdata(bad), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'), bad);
  }
});

test('fuzz: random and truncated bytes only ever raise WGF_ERR_DNS_BAD_REPLY', () => {
  const good = encodeMessage({
    id: 1, qr: true, opcode: 0, aa: true, tc: false, rd: false, rcode: 0, question: [{ name: 'a.example', type: 1, class: 1 }],
    answer: [{ name: 'a.example', type: 1, class: 1, ttl: 5, data: Uint8Array.from([1, 2, 3, 4]) }], authority: [], additional: [],
  });
  const inputs: Uint8Array[] = [];
  for (let i = 0; i < good.length; i++) inputs.push(good.slice(0, i));
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(good);
    b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
    inputs.push(b, new Uint8Array(randomBytes(Math.floor(Math.random() * 80))));
  }
  for (const b of inputs) {
    try {
      decodeMessage(b);
    } catch (e) {
      assert.ok(isFabricError(e, 'WGF_ERR_DNS_BAD_REPLY'), String(e));
    }
  }
});

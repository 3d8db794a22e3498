import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { isFabricError } from '../protocol/errors.js';
import { CLASS, decodeMessage, encodeMessage, TYPE, Writer, type Message } from './wire.js';
import { parseTsigKey, signMessage, verifyAnswer, type TsigKey } from './tsig.js';

const SECRET = 'UEvQE4dD7AVRL+k4/0tRS+0nuBRJ9cHmAXQ+OtWvnKI=';
const key: TsigKey = parseTsigKey(`hmac-sha256:dn-key:${SECRET}`);
const request: Message = { id: 0x1234, qr: false, opcode: 5, aa: false, tc: false, rd: false, rcode: 0, question: [{ name: 'example.net', type: TYPE.SOA, class: CLASS.IN }], answer: [], authority: [], additional: [] };

/** What a server does (RFC 8945 4.3): sign its answer over the request MAC, the answer and the variables. */
function serverSign(answer: Message, k: TsigKey, requestMac: Uint8Array, time: number, o: { error?: number; macOverride?: Uint8Array } = {}): Uint8Array {
  const bytes = encodeMessage(answer);
  const vars = new Writer().name(k.name).u16(255).u32(0).name(k.algorithm).u48(time).u16(300).u16(o.error ?? 0).u16(0).done();
  const mac = o.macOverride ?? new Uint8Array(createHmac('sha256', k.secret).update(new Writer().u16(requestMac.length).bytes(requestMac).done()).update(bytes).update(vars).digest());
  const rdata = new Writer().name(k.algorithm).u48(time).u16(300).u16(mac.length).bytes(mac).u16(answer.id).u16(o.error ?? 0).u16(0).done();
  return encodeMessage({ ...answer, additional: [...answer.additional, { name: k.name, type: TYPE.TSIG, class: CLASS.ANY, ttl: 0, data: rdata }] });
}

test('signMessage appends one TSIG record whose MAC covers the message and the TSIG variables', () => {
  const plain = encodeMessage(request);
  const { bytes, mac } = signMessage(plain, key, 1_700_000_000);
  const d = decodeMessage(bytes).message;
  assert.equal(d.additional.length, 1);
  const t = d.additional[0]!;
  assert.equal(t.type, TYPE.TSIG);
  assert.equal(t.name, 'dn-key');
  const vars = new Writer().name('dn-key').u16(255).u32(0).name('hmac-sha256').u48(1_700_000_000).u16(300).u16(0).u16(0).done();
  const want = createHmac('sha256', Buffer.from(SECRET, 'base64')).update(plain).update(vars).digest();
  assert.deepEqual(Buffer.from(mac), want);
  assert.equal(mac.length, 32);
});

test('verifyAnswer accepts the server\'s signed answer and refuses tampering, other keys, old times and unsigned success', () => {
  const { mac } = signMessage(encodeMessage(request), key, 1000);
  const answer: Message = { ...request, qr: true };
  assert.equal(verifyAnswer(serverSign(answer, key, mac, 1000), key, mac, 1001).signed, true);
  const tampered = serverSign(answer, key, mac, 1000);
  tampered[3] = tampered[3]! ^ 0x01; // flip the rcode
  assert.throws(() => verifyAnswer(tampered, key, mac, 1000), (e: unknown) => isFabricError(e, 'WGF_ERR_DNS_BAD_REPLY'));
  const otherMac = new Uint8Array(32).fill(7);
  assert.throws(() => verifyAnswer(serverSign(answer, key, otherMac, 1000), key, mac, 1000), (e: unknown) => isFabricError(e, 'WGF_ERR_DNS_BAD_REPLY'), 'signed over another request');
  assert.throws(() => verifyAnswer(serverSign(answer, key, mac, 1000), key, mac, 2000), (e: unknown) => isFabricError(e, 'WGF_ERR_DNS_BAD_REPLY'), 'outside the fudge');
  const other = parseTsigKey(`hmac-sha256:other:${SECRET}`);
  assert.throws(() => verifyAnswer(serverSign(answer, other, mac, 1000), key, mac, 1000), (e: unknown) => isFabricError(e, 'WGF_ERR_DNS_BAD_REPLY'));
  assert.throws(() => verifyAnswer(encodeMessage(answer), key, mac, 1000), (e: unknown) => isFabricError(e, 'WGF_ERR_DNS_BAD_REPLY'), 'unsigned NOERROR');
  const notauth = verifyAnswer(encodeMessage({ ...answer, rcode: 9 }), key, mac, 1000);
  assert.equal(notauth.signed, false);
  assert.equal(notauth.message.rcode, 9);
  assert.throws(() => verifyAnswer(serverSign({ ...answer, rcode: 9 }, key, mac, 1000, { error: 16, macOverride: new Uint8Array(0) }), key, mac, 1000),
    (e: unknown) => isFabricError(e, 'WGF_ERR_DNS_REFUSED') && /BADSIG/.test((e as Error).message));
});

test('key files: BIND, Knot keymgr and one-line forms; clear errors that never quote the secret', () => {
  const forms = [
    `key "dn-key" {\n\talgorithm hmac-sha256;\n\tsecret "${SECRET}";\n};\n`,
    `# hmac-sha256:dn-key:${SECRET}\nkey:\n  - id: dn-key\n    algorithm: hmac-sha256\n    secret: ${SECRET}\n`,
    `hmac-sha256:dn-key:${SECRET}\n`,
    `dn-key:${SECRET}`,
  ];
  for (const f of forms) {
    const k = parseTsigKey(f);
    assert.equal(k.name, 'dn-key');
    assert.equal(k.algorithm, 'hmac-sha256');
    assert.deepEqual(Buffer.from(k.secret), Buffer.from(SECRET, 'base64'));
  }
  assert.equal(parseTsigKey(`hmac-sha512:K:${SECRET}`).algorithm, 'hmac-sha512');
  const bad: [string, RegExp][] = [
    ['', /no TSIG key found/], [`hmac-md5:k:${SECRET}`, /not supported/], ['hmac-sha256:k:not*base64', /not base64/],
    ['hmac-sha256:k:AAAA', /at least 16/], [`hmac-sha256:bad..name:${SECRET}`, /not a valid DNS name/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseTsigKey(text, 'k.key'), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && re.test((e as Error).message)
      && (e as Error).message.startsWith('k.key:') && !(e as Error).message.includes(SECRET), text);
  }
});

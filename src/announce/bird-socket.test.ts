import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBirdError, parseBirdReply } from './bird-socket.js';

test('parseBirdReply: greeting, multi-line replies, continuation lines, incomplete input', () => {
  assert.deepEqual(parseBirdReply('0001 BIRD 2.0.12 ready.\n'), { reply: { code: 1, lines: ['BIRD 2.0.12 ready.'] }, used: 24 });
  const show = '2002-Name       Proto\n1002-wgf4 Static master4 up\n extra info\n0000 \n';
  const r = parseBirdReply(show)!;
  assert.equal(r.reply.code, 0);
  assert.deepEqual(r.reply.lines, ['Name       Proto', 'wgf4 Static master4 up', 'extra info', '']);
  assert.equal(r.used, show.length);
  assert.equal(parseBirdReply('1002-wgf4 Static\n'), null, 'no final line yet');
  assert.equal(parseBirdReply('0009 wgf4: disab'), null, 'no newline yet');
});

test('isBirdError: 8xxx and 9xxx are errors', () => {
  assert.equal(isBirdError(8003), true);
  assert.equal(isBirdError(9001), true);
  assert.equal(isBirdError(9), false);
  assert.equal(isBirdError(1002), false);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from './sse.js';

const STREAM = 'retry: 2000\n\n: comment\nid: 7\nevent: change\ndata: {"a":1}\n\nevent: heartbeat\r\nid: 9\r\ndata: {"revision":9}\r\n\r\ndata: line1\ndata:line2\n\n';

test('parses events, ids, retry and comments whatever the chunking', () => {
  const want = [
    { event: 'change', data: '{"a":1}', id: '7' },
    { event: 'heartbeat', data: '{"revision":9}', id: '9' },
    { event: 'message', data: 'line1\nline2', id: undefined },
  ];
  for (const size of [1, 2, 3, 7, 1000]) {
    const p = new SseParser();
    const got = [];
    for (let i = 0; i < STREAM.length; i += size) got.push(...p.push(STREAM.slice(i, i + size)));
    assert.deepEqual(got, want, `chunk size ${size}`);
    assert.equal(p.lastEventId, '9');
    assert.equal(p.retryMs, 2000);
  }
});

test('an event without data is not dispatched; an incomplete event waits', () => {
  const p = new SseParser();
  assert.deepEqual(p.push('event: x\n\n'), []);
  assert.deepEqual(p.push('data: half'), []);
  assert.deepEqual(p.push('\n\n'), [{ event: 'message', data: 'half', id: undefined }]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASS, decodeMessage, encodeMessage, TYPE } from './wire.js';
import { planUpdate, recordSetOf, updateMessage } from './plan.js';

test('planUpdate: the smallest change, none when in step, TTL changes replace, never an empty name', () => {
  const cases: { name: string; current: { addresses: string[]; ttl: number | null }; desired: string[]; want: ReturnType<typeof planUpdate> }[] = [
    { name: 'fresh name', current: { addresses: [], ttl: null }, desired: ['198.18.0.11', '198.18.0.10'], want: { add: ['198.18.0.10', '198.18.0.11'], remove: [], retimed: false, kept: [] } },
    { name: 'in step', current: { addresses: ['198.18.0.10'], ttl: 5 }, desired: ['198.18.0.10'], want: null },
    { name: 'in step, other spelling', current: { addresses: ['fd77::1'], ttl: 5 }, desired: ['FD77:0::1'], want: null },
    { name: 'one dies', current: { addresses: ['198.18.0.10', '198.18.0.11'], ttl: 5 }, desired: ['198.18.0.11'], want: { add: [], remove: ['198.18.0.10'], retimed: false, kept: [] } },
    { name: 'one back, one gone', current: { addresses: ['198.18.0.10'], ttl: 5 }, desired: ['198.18.0.11', 'fd77::2'], want: { add: ['198.18.0.11', 'fd77::2'], remove: ['198.18.0.10'], retimed: false, kept: [] } },
    { name: 'ttl changed', current: { addresses: ['198.18.0.10'], ttl: 60 }, desired: ['198.18.0.10'], want: { add: ['198.18.0.10'], remove: ['198.18.0.10'], retimed: true, kept: [] } },
    { name: 'nothing in service keeps the last records', current: { addresses: ['198.18.0.10'], ttl: 5 }, desired: [], want: { add: [], remove: [], retimed: false, kept: ['198.18.0.10'] } },
    { name: 'nothing anywhere', current: { addresses: [], ttl: null }, desired: [], want: null },
  ];
  for (const c of cases) assert.deepEqual(planUpdate(c.current, c.desired, 5), c.want, c.name);
  assert.deepEqual(planUpdate({ addresses: ['198.18.0.10'], ttl: 5 }, [], 5, { allowEmpty: true }), { add: [], remove: ['198.18.0.10'], retimed: false, kept: [] }, 'an explicit withdraw empties the name');
});

test('updateMessage: zone SOA, class NONE deletes then class IN adds with the TTL', () => {
  const plan = { add: ['198.18.0.11', 'fd77::2'], remove: ['198.18.0.10'], retimed: false, kept: [] };
  const m = decodeMessage(encodeMessage(updateMessage(7, 'example.net', 'vpn.example.net', plan, 5))).message;
  assert.equal(m.opcode, 5);
  assert.deepEqual(m.question, [{ name: 'example.net', type: TYPE.SOA, class: CLASS.IN }]);
  assert.deepEqual(m.authority.map((r) => [r.type, r.class, r.ttl, [...r.data].length]), [[TYPE.A, CLASS.NONE, 0, 4], [TYPE.A, CLASS.IN, 5, 4], [TYPE.AAAA, CLASS.IN, 5, 16]]);
  assert.throws(() => updateMessage(7, 'example.net', 'vpn.example.net', plan, -1), /TTL/);
});

test('recordSetOf: own A/AAAA only, lowest TTL', () => {
  const rr = (name: string, type: number, data: number[], ttl = 5) => ({ name, type, class: CLASS.IN, ttl, data: Uint8Array.from(data) });
  const s = recordSetOf([rr('vpn.example.net', TYPE.A, [10, 0, 0, 2], 7), rr('vpn.example.net', TYPE.A, [10, 0, 0, 1]), rr('other.example.net', TYPE.A, [10, 0, 0, 3]),
    rr('vpn.example.net', TYPE.CNAME, [0])], 'vpn.example.net');
  assert.deepEqual(s, { addresses: ['10.0.0.1', '10.0.0.2'], ttl: 5 });
});

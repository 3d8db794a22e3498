import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redirectTarget, xdpProgOf } from './xdp.js';

test('redirect targets: NICs always, veths only when their peers are vouched for, other kinds never', () => {
  const nic = { ifname: 'eth0', ifindex: 2 };
  const veth = { ifname: 'v0', ifindex: 3, linkinfo: { info_kind: 'veth' } };
  const bridge = { ifname: 'br0', ifindex: 4, linkinfo: { info_kind: 'bridge' } };
  assert.equal(redirectTarget(nic, false), true);
  assert.equal(redirectTarget(veth, false), false);
  assert.equal(redirectTarget(veth, true), true);
  assert.equal(redirectTarget(bridge, true), false);
});

test('the XDP program of a link, from `ip -j -d link show` in either shape', () => {
  assert.equal(xdpProgOf({ ifname: 'a', ifindex: 1 }), undefined);
  assert.equal(xdpProgOf({ ifname: 'a', ifindex: 1, xdp: { prog: { id: 7 } } }), 7);
  assert.equal(xdpProgOf({ ifname: 'a', ifindex: 1, xdp: { attached: [{ prog: { id: 9 } }] } }), 9);
});

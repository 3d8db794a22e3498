import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { FabricError } from '../protocol/errors.js';
import { listenError } from './listen.js';

test('a port already in use becomes WGF_ERR_LISTEN naming the address; other errors pass through', async () => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const { port } = holder.address() as import('node:net').AddressInfo;
  const second = createServer();
  const err = await new Promise<unknown>((resolve) => {
    second.once('error', resolve);
    second.listen(port, '127.0.0.1');
  });
  holder.close();
  const e = listenError(err, 'the control plane', '127.0.0.1', port);
  assert.ok(e instanceof FabricError);
  assert.equal(e.code, 'WGF_ERR_LISTEN');
  assert.match(e.message, new RegExp(`the control plane cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE, the address is already in use`));
  assert.equal((e.details as { errno: string }).errno, 'EADDRINUSE');
  const v6 = listenError(Object.assign(new Error('x'), { code: 'EADDRNOTAVAIL' }), 'metrics', '2001:db8::1', 9586) as FabricError;
  assert.match(v6.message, /metrics cannot listen on \[2001:db8::1\]:9586: EADDRNOTAVAIL, no interface of this host has that address/);
  const other = new Error('boom');
  assert.equal(listenError(other, 'x', '127.0.0.1', 1), other);
});

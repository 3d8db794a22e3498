import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDsrBackends, dsrRefusal } from './dsr.js';
import type { NftVip } from '../nft.js';

const b = (name: string, address: string, port = 51820) => ({ name, address, port });
const onLink = JSON.stringify([{ dst: '198.18.7.10', dev: 'eth0', prefsrc: '198.18.7.5', flags: [], uid: 0, cache: [] }]);
const viaGw = JSON.stringify([{ dst: '10.9.0.10', gateway: '198.18.7.1', dev: 'eth0', prefsrc: '198.18.7.5', flags: [], uid: 0, cache: [] }]);
const local = JSON.stringify([{ type: 'local', dst: '198.18.7.5', dev: 'lo', prefsrc: '198.18.7.5', flags: [], uid: 0, cache: ['local'] }]);

test('dsrRefusal: an on-link backend on the VIP port is fine', () => {
  assert.equal(dsrRefusal(b('n1', '198.18.7.10'), 51820, onLink), undefined);
});

test('dsrRefusal: a gateway, a local address, no route or another port are refused with the reason', () => {
  assert.match(dsrRefusal(b('n1', '10.9.0.10'), 51820, viaGw)!, /via gateway 198\.18\.7\.1, not on this LB's L2 segment/);
  assert.match(dsrRefusal(b('n1', '198.18.7.5'), 51820, local)!, /local address/);
  assert.match(dsrRefusal(b('n1', '198.18.7.10'), 51820, undefined)!, /no route/);
  assert.match(dsrRefusal(b('n1', '198.18.7.10'), 51820, 'garbage')!, /no route/);
  assert.match(dsrRefusal(b('n1', '198.18.7.10', 51821), 51820, onLink)!, /port 51821, not on the VIP's port 51820/);
});

test('checkDsrBackends: WGF_ERR_DSR_OFF_LINK names every refused backend; known backends are not asked again', async () => {
  const to: NftVip = { vip: '198.18.9.2', port: 51820, affinity: 'src-ip-port', table: new Int32Array([0, 1, 2]), backends: [b('a', '198.18.7.10'), b('b', '10.9.0.10'), b('c', '10.9.0.11')] };
  const asked: string[] = [];
  const ip = async (args: string[]): Promise<string> => {
    asked.push(args.at(-1)!);
    return args.at(-1)!.startsWith('10.') ? viaGw : onLink;
  };
  await assert.rejects(checkDsrBackends(to, undefined, ip), (e: Error & { code?: string; details?: { problems?: string[] } }) => {
    assert.equal(e.code, 'WGF_ERR_DSR_OFF_LINK');
    assert.equal(e.details?.problems?.length, 2);
    assert.match(e.message, /backend b .*backend c /);
    return true;
  });
  asked.length = 0;
  const ok: NftVip = { ...to, backends: [b('a', '198.18.7.10'), b('d', '198.18.7.11')] };
  await checkDsrBackends(ok, { ...to, backends: [b('a', '198.18.7.10')] }, ip);
  assert.deepEqual(asked, ['198.18.7.11'], 'only the new backend is checked');
  await assert.rejects(checkDsrBackends(ok, undefined, async () => { throw new Error('RTNETLINK answers: Network is unreachable'); }), /no route/);
});

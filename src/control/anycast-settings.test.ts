import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PoolUpdate } from '../protocol/api.js';
import { DEFAULT_ANYCAST_SETTINGS } from '../protocol/announce.js';
import { isFabricError } from '../protocol/errors.js';
import { admin } from './testing/fixtures.js';
import { DRIVERS, withPlaneOn } from './testing/stores.js';
import type { ControlPlane } from './plane.js';

// Pool.anycast: the addresses every node of the pool announces and the drain policy (agent --announce bgp).

for (const driver of DRIVERS) {
  describe(`pool anycast settings on ${driver.name}`, () => {
    const withPlane = (fn: (cp: ControlPlane) => Promise<void>) => withPlaneOn(driver, fn);

    test('defaults, canonical addresses, field-by-field update, and refusals naming the field', withPlane(async (cp) => {
      const p = await cp.createPool({ name: 'a', ipv4Prefix: '10.7.0.0/16' }, admin);
      assert.deepEqual(p.anycast, DEFAULT_ANYCAST_SETTINGS);
      const u = await cp.updatePool('a', { anycast: { addresses: ['2001:DB8:0::1', '198.18.9.1', '198.18.9.1'], communities: ['65001:7'] } }, admin);
      assert.deepEqual(u.anycast, { addresses: ['198.18.9.1', '2001:db8::1'], drainSeconds: 10, communities: ['65001:7'], med: null, prepend: 0 });
      const v = await cp.updatePool('a', { anycast: { drainSeconds: 3, med: 20 } }, admin);
      assert.deepEqual(v.anycast.addresses, ['198.18.9.1', '2001:db8::1'], 'addresses kept');
      assert.equal(v.anycast.drainSeconds, 3);
      assert.equal(v.anycast.med, 20);
      const bad: [unknown, string][] = [
        [{ addresses: ['198.18.9.0/24'] }, 'anycast.addresses'], [{ addresses: ['nope'] }, 'anycast.addresses'],
        [{ communities: ['70000:1'] }, 'anycast.communities'], [{ drainSeconds: -1 }, 'anycast.drainSeconds'],
        [{ prepend: 17 }, 'anycast.prepend'], [{ bogus: 1 }, 'anycast'],
      ];
      for (const [anycast, field] of bad) {
        await assert.rejects(cp.updatePool('a', { anycast } as PoolUpdate, admin), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === field, JSON.stringify(anycast));
      }
      assert.deepEqual((await cp.getPool('a')).anycast, v.anycast, 'nothing half-applied');
    }));
  });
}

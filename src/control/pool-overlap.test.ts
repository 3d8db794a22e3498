import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { admin } from './testing/fixtures.js';
import { DRIVERS, withPlaneOn } from './testing/stores.js';

for (const driver of DRIVERS) {
  describe(`pool prefix overlap on ${driver.name}`, () => {
    test('an overlapping IPv4 or IPv6 prefix is refused naming the pool; allowOverlap accepts it; a deleted pool frees its prefix', withPlaneOn(driver, async (cp) => {
      await cp.createPool({ name: 'a', ipv4Prefix: '10.50.0.0/16', ipv6Prefix: 'fd50::/64' }, admin);
      const refused = async (input: Parameters<typeof cp.createPool>[0], re: RegExp) => assert.rejects(cp.createPool(input, admin),
        (e: FabricError) => e.code === 'WGF_ERR_POOL_OVERLAP' && re.test(e.message) && e.details?.['pool'] === 'a');
      await refused({ name: 'b', ipv4Prefix: '10.50.7.0/24' }, /tunnel prefix 10\.50\.7\.0\/24 overlaps 10\.50\.0\.0\/16 of pool a/);
      await refused({ name: 'b', ipv4Prefix: '10.0.0.0/8' }, /overlaps 10\.50\.0\.0\/16 of pool a.*--allow-overlap/);
      await refused({ name: 'b', ipv4Prefix: '10.51.0.0/16', ipv6Prefix: 'fd50::/48' }, /fd50::\/48 overlaps fd50::\/64 of pool a/);
      await assert.rejects(cp.getPool('b'), (e: FabricError) => e.code === 'WGF_ERR_NOT_FOUND', 'nothing half-made');
      await cp.createPool({ name: 'b', ipv4Prefix: '10.51.0.0/16', ipv6Prefix: 'fd51::/64' }, admin);
      assert.equal((await cp.createPool({ name: 'c', ipv4Prefix: '10.50.0.0/16', allowOverlap: true }, admin)).name, 'c');
      await cp.deletePool('c', admin);
      await cp.deletePool('a', admin);
      assert.equal((await cp.createPool({ name: 'd', ipv4Prefix: '10.50.0.0/16' }, admin)).name, 'd', 'free again after the delete');
    }));

    test('two concurrent creations of overlapping pools: exactly one wins', withPlaneOn(driver, async (cp) => {
      const results = await Promise.allSettled([
        cp.createPool({ name: 'x', ipv4Prefix: '10.60.0.0/24' }, admin), cp.createPool({ name: 'y', ipv4Prefix: '10.60.0.0/25' }, admin),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => r.status)));
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((lost.reason as FabricError).code, 'WGF_ERR_POOL_OVERLAP');
    }));
  });
}

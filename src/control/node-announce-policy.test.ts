import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeUpdate } from '../protocol/api.js';
import { effectiveAnnouncePolicy } from '../protocol/announce.js';
import { isFabricError } from '../protocol/errors.js';
import { admin } from './testing/fixtures.js';
import { DRIVERS, withPlaneOn } from './testing/stores.js';
import type { ControlPlane } from './plane.js';

// Node.announcePolicy: a node's own BGP policy over its pool's anycast settings (the agent applies it).

for (const driver of DRIVERS) {
  describe(`node BGP policy on ${driver.name}`, () => {
    const withPlane = (fn: (cp: ControlPlane) => Promise<void>) => withPlaneOn(driver, fn);

    test('set, read back, overrides the pool field by field, cleared by null; refusals name the field and change nothing', withPlane(async (cp) => {
      const pool = await cp.createPool({ name: 'a', ipv4Prefix: '10.7.0.0/16', anycast: { addresses: ['198.18.9.1'], communities: ['65001:1'], med: 10, prepend: 1 } }, admin);
      const n0 = await cp.createNode('a', { name: 'n1', announcePolicy: { prepend: 3 } }, admin);
      assert.deepEqual(n0.announcePolicy, { prepend: 3 });
      const n = await cp.updateNode('a', 'n1', { announcePolicy: { communities: ['65001:7', '65001:7', '64512:1'], med: null, localPref: 200 } }, admin);
      assert.deepEqual(n.announcePolicy, { communities: ['64512:1', '65001:7'], med: null, localPref: 200 });
      assert.deepEqual((await cp.getNode('a', 'n1')).announcePolicy, n.announcePolicy);
      assert.deepEqual(effectiveAnnouncePolicy(pool.anycast, n.announcePolicy), { communities: ['64512:1', '65001:7'], med: null, prepend: 1, localPref: 200 });
      const bad: [unknown, string][] = [
        [{ communities: ['65536:1'] }, 'announcePolicy.communities'], [{ med: -1 }, 'announcePolicy.med'], [{ prepend: 17 }, 'announcePolicy.prepend'],
        [{ localPref: 1.5 }, 'announcePolicy.localPref'], [{ weight: 1 }, 'announcePolicy'], ['65001:1', 'announcePolicy'],
      ];
      for (const [announcePolicy, field] of bad) {
        await assert.rejects(cp.updateNode('a', 'n1', { announcePolicy } as NodeUpdate, admin), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === field, JSON.stringify(announcePolicy));
      }
      assert.deepEqual((await cp.getNode('a', 'n1')).announcePolicy, n.announcePolicy, 'nothing half-applied');
      const cleared = await cp.updateNode('a', 'n1', { announcePolicy: null }, admin);
      assert.equal(cleared.announcePolicy, undefined);
      assert.deepEqual(effectiveAnnouncePolicy(pool.anycast, cleared.announcePolicy), { communities: ['65001:1'], med: 10, prepend: 1, localPref: null });
    }));
  });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { nodePolicyFromFlags } from './node-policy.js';

test('nodePolicyFromFlags: each --bgp-* flag sets or drops one field over the current policy', () => {
  assert.equal(nodePolicyFromFlags({ prepend: 2 }, {}), undefined, 'no flag: no change');
  assert.deepEqual(nodePolicyFromFlags({ prepend: 2 }, { bgpCommunity: '65001:7, 64512:1', bgpMed: 'none' }), { prepend: 2, communities: ['65001:7', '64512:1'], med: null });
  assert.deepEqual(nodePolicyFromFlags({ prepend: 2, med: 5 }, { bgpMed: 'pool', bgpLocalPref: '300' }), { prepend: 2, localPref: 300 });
  assert.deepEqual(nodePolicyFromFlags(undefined, { bgpCommunity: '' }), { communities: [] }, "'' overrides the pool's communities with none");
  assert.equal(nodePolicyFromFlags({ prepend: 2 }, { bgpPrepend: 'pool' }), null, 'the last field dropped clears the policy');
  assert.equal(nodePolicyFromFlags({ prepend: 2 }, { bgpPolicyClear: true }), null);
  for (const f of [{ bgpMed: 'ten' }, { bgpPrepend: '-1' }, { bgpPolicyClear: true, bgpMed: '1' }]) {
    assert.throws(() => nodePolicyFromFlags(undefined, f), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'), JSON.stringify(f));
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_ATTRIBUTES } from './announcer.js';
import { renderBirdInclude } from './bird-config.js';

test('renderBirdInclude: one static protocol per family, attributes on each route, MED in the export filter', () => {
  const text = renderBirdInclude({
    prefix: 'wgf_anycast', localAs: 65001, addresses: ['198.18.9.1', '2001:db8::1'], enabled: true,
    attributes: { gracefulShutdown: true, communities: ['65001:7'], med: 50, prepend: 2 },
  });
  assert.match(text, /protocol static wgf_anycast4 \{\n {2}ipv4;\n {2}disabled no;\n {2}route 198\.18\.9\.1\/32 blackhole \{ bgp_community\.add\(\(65535,0\)\); bgp_community\.add\(\(65001,7\)\); bgp_path\.prepend\(65001\); bgp_path\.prepend\(65001\); \};\n\}/);
  assert.match(text, /protocol static wgf_anycast6 \{\n {2}ipv6;\n {2}disabled no;\n {2}route 2001:db8::1\/128 blackhole/);
  assert.match(text, /filter wgf_anycast_export \{\n {2}if proto = "wgf_anycast4" \|\| proto = "wgf_anycast6" then \{ bgp_med = 50; accept; \}\n {2}reject;\n\}/);
});

test('renderBirdInclude: withdrawn and without attributes', () => {
  const text = renderBirdInclude({ prefix: 'p', localAs: null, addresses: ['198.18.9.1'], enabled: false, attributes: { ...NO_ATTRIBUTES, prepend: 3 } });
  assert.match(text, /disabled yes;\n {2}route 198\.18\.9\.1\/32 blackhole;/);
  assert.doesNotMatch(text, /prepend|bgp_med|community/, 'no local AS: no prepends');
});

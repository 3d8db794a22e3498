/**
 * The Grafana dashboard in deploy/grafana queries only metrics that some component exports:
 * every metric name in every panel's expression is registered by the server, the agent or
 * the LB (histogram series by their base name).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { agentMetrics } from '../../src/agent/http.js';
import type { Agent } from '../../src/agent/agent.js';
import type { WireGuardDevice } from '../../src/agent/device.js';
import type { ControlPlane } from '../../src/control/plane.js';
import { LbMetrics } from '../../src/lb/service-http.js';
import { ServerMetrics } from '../../src/server/metrics.js';

const DASHBOARD = fileURLToPath(new URL('../../deploy/grafana/wgfabric-fleet.json', import.meta.url));

interface Panel { type: string; title: string; targets?: { expr: string }[]; panels?: Panel[] }

function exported(): Set<string> {
  const registries: Registry[] = [
    new ServerMetrics({} as ControlPlane).registry,
    agentMetrics({ stats: {} } as unknown as Agent, {} as WireGuardDevice, { pool: 'p', node: 'n' }, { peerMetrics: true }),
    new LbMetrics({ instance: 'i' }).registry,
  ];
  // getMetricsAsArray lists what is registered without collecting (no device or store needed).
  return new Set(registries.flatMap((r) => r.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name)));
}

test('every metric a dashboard panel queries is exported by the server, an agent or an LB', () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const names = exported();
  const panels = dash.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
  assert.ok(panels.length >= 10, 'a dashboard with its panels');
  const missing: string[] = [];
  let queried = 0;
  for (const p of panels) {
    assert.ok(p.targets && p.targets.length > 0, `panel "${p.title}" has a query`);
    for (const t of p.targets) {
      for (const m of t.expr.match(/\b(?:wgfabric|wireguard)_[a-z0-9_]+/g) ?? []) {
        queried++;
        const base = m.replace(/_(bucket|sum|count)$/, '');
        if (!names.has(m) && !names.has(base)) missing.push(`${p.title}: ${m}`);
      }
    }
  }
  assert.ok(queried > 20, 'the panels query wgfabric metrics');
  assert.deepEqual(missing, []);
  console.log(`${panels.length} panels, ${queried} metric references: every one exported by the server, an agent or an LB`);
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { labDown, labUp, type Lab } from '../../src/lab/lab.js';
import { artifactDir, launchChromium } from './fixtures/dashboard.js';
import { until } from './fixtures/until.js';

/**
 * The fleet view on the real lab (control plane over HTTPS with the lab's CA, 2 backends with
 * wireguard-go and agents, a load balancer, 1 client): real readiness and lag from the agents,
 * real LB reports with slots and probe RTT, and a drain clicked in the page that the real LB
 * acts on (the node's slots go to 0 in its next report) and an undrain that brings them back.
 */

let lab: Lab | undefined;
let browser: Browser;
let base: string;
const shots = artifactDir();

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'wgf-da-lab-'));
  const t0 = Date.now();
  lab = await labUp({ backends: 2, clients: 1, base, reconcileInterval: 2, lb: true });
  console.log(`# lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s, control plane ${lab.plan.serverUrl}, screenshots in ${shots}`);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (lab) await labDown(lab);
  rmSync(base, { recursive: true, force: true });
});

const text = (page: Page, sel: string) => page.locator(sel).innerText().catch(() => '');

test('fleet view on the lab: agents ready in sync, the LB\'s slots and probe RTT, drain and undrain acted on by the real LB', async () => {
  const { plan, state } = lab!;
  const token = readFileSync(join(state.dir, 'admin.token'), 'utf8').trim();
  // The lab's CA is not in chromium's store: this context accepts the lab's certificate.
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${plan.serverUrl}/ui/#/fleet?pool=${plan.pool.name}`);
  await page.fill('input[name=token]', token);
  await page.click('button[type=submit]');
  const [b1, b2] = plan.backends.map((b) => b.name) as [string, string];
  for (const b of [b1, b2]) {
    await until(`${b} ready, in sync and in the LB's table`, async () => {
      const row = await text(page, `tr[data-node="${b}"]`);
      return /\bready\b/.test(row) && !/not ready/.test(row) && /\t0\t/.test(row) && /in, \d+ slots/.test(row);
    }, 120_000, 250);
    await until(`the LB reports a probe RTT for ${b}`, async () => / ms\b/.test(await text(page, `.lb tr[data-backend="${b}"]`)), 120_000, 250);
  }
  await page.screenshot({ path: join(shots, 'fleet-lab.png'), fullPage: true });
  console.log(`# screenshot ${join(shots, 'fleet-lab.png')}: the lab's 2 nodes ready with lag 0 and their slots on the real LB, probe RTT per backend`);

  await page.locator(`tr[data-node="${b1}"] button[data-action=draining]`).click();
  const drained = await until(`the LB takes ${b1} out after the drain click`, async () =>
    /draining[\s\S]*0 LB slots left/.test(await text(page, `tr[data-node="${b1}"]`)) && /\bno\b/.test(await text(page, `.lb tr[data-backend="${b1}"]`)), 120_000, 250);
  console.log(`# drain clicked -> the LB's report shows ${b1} with 0 slots after ${drained.ms} ms`);
  assert.match(await text(page, `tr[data-node="${b2}"]`), /in, \d+ slots/, 'the other node takes the table');
  await page.screenshot({ path: join(shots, 'fleet-lab-drained.png'), fullPage: true });
  console.log(`# screenshot ${join(shots, 'fleet-lab-drained.png')}: ${b1} draining with 0 LB slots left on the real LB, ${b2} owning the table`);
  await page.locator(`tr[data-node="${b1}"] button[data-action=active]`).click();
  await until(`${b1} back in the LB's table`, async () => /active[\s\S]*in, \d+ slots/.test(await text(page, `tr[data-node="${b1}"]`)), 120_000, 250);
  assert.deepEqual(problems, []);
  await ctx.close();
});

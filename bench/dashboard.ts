import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { ControlPlane } from '../src/control/plane.js';
import { SecretBox } from '../src/control/secrets.js';
import { buildServer } from '../src/server/app.js';
import { openStore } from '../src/store/index.js';
import { launchChromium } from '../test/integration/fixtures/dashboard.js';
import { prefill } from './api.js';
import { stat, type Stat } from './stats.js';

const BIG = 100_000;
const SMALL = 100;
const REPEATS = 5;

const fmt = (s: Stat) => `median ${s.median.toFixed(0)} ms (min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)})`;

/** Milliseconds from `act` until `selector` is in the page. */
async function timed(page: Page, act: () => Promise<unknown>, selector: string): Promise<number> {
  const t0 = performance.now();
  await act();
  await page.waitForSelector(selector, { timeout: 120_000 });
  return performance.now() - t0;
}

/**
 * The dashboard's peer page with 100,000 peers against 100 (the baseline, same run), in
 * Debian's chromium against a real server on SQLite (dist/ui must be built). Measured from the
 * user's action to the rows being in the page: sign-in straight onto the peers view (whoami,
 * pools, first page), next page, a name search, a filter that matches nothing (the server
 * scans at most 1000 keys per page), and the browser's JS heap after paging.
 */
export async function benchDashboard(report: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-bench-da-'));
  const store = await openStore(`sqlite:${dir}`);
  const browser = await launchChromium();
  try {
    const cp = new ControlPlane({ store, secrets: SecretBox.random() });
    const token = (await cp.bootstrap())!;
    for (const [name, n, v4, v6] of [['big', BIG, '10.96.0.0/12', 'fd96::/64'], ['small', SMALL, '10.95.0.0/16', 'fd95::/64']] as const) {
      await cp.createPool({ name, ipv4Prefix: v4, ipv6Prefix: v6 }, { actor: 'bench' });
      const t0 = performance.now();
      await prefill(store, name, n);
      report(`dashboard: pool ${name} prefilled with ${n} peers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const app = await buildServer({ control: cp });
    let url = '';
    for (let i = 0; i < 5 && !url; i++) {
      url = await app.listen({ host: '127.0.0.1', port: 48000 + Math.floor(Math.random() * 1000) }).catch(() => '');
    }
    if (!url) throw new Error('no free port in 48000-48999');
    const results: Record<string, Record<string, Stat>> = {};
    let heap = 0;
    for (const pool of ['small', 'big']) {
      const runs: Record<string, number[]> = { signin: [], next: [], search: [], none: [] };
      for (let r = 0; r < REPEATS; r++) {
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        await page.goto(`${url}/ui/#/peers?pool=${pool}`);
        await page.fill('input[name=token]', token);
        runs['signin']!.push(await timed(page, () => page.click('button[type=submit]'), 'tr[data-peer="f0"]'));
        runs['next']!.push(await timed(page, () => page.click('button[data-action=next]'), 'text=page 2,'));
        runs['search']!.push(await timed(page, () => page.fill('input[name=search]', 'f9'), 'tr[data-peer="f9"]'));
        runs['none']!.push(await timed(page, () => page.selectOption('select[name=enabled]', 'false'), 'text=(none match)'));
        if (pool === 'big' && r === REPEATS - 1) {
          for (let i = 0; i < 20; i++) {
            await page.selectOption('select[name=enabled]', '');
            await page.fill('input[name=search]', '');
          }
          heap = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0);
        }
        await ctx.close();
      }
      results[pool] = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, stat(v)]));
    }
    const label: Record<string, string> = {
      signin: 'sign in -> first page of 50 rows', next: 'Next -> page 2', search: 'search "f9" -> matching rows', none: 'filter matching nothing -> empty page',
    };
    for (const k of Object.keys(label)) {
      const big = results['big']![k]!;
      const small = results['small']![k]!;
      report(`dashboard peers, ${label[k]}: ${BIG} peers ${fmt(big)}; ${SMALL} peers ${fmt(small)}; ratio ${(big.median / small.median).toFixed(2)}`);
    }
    report(`dashboard: JS heap of the peers page with ${BIG} peers: ${(heap / 1024 / 1024).toFixed(1)} MiB (one page of rows is held, never the list)`);
    await app.close();
  } finally {
    await browser.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await benchDashboard(console.log);

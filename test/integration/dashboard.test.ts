import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { AuditEntry, Node, Page as ApiPage, Peer } from '../../src/protocol/types.js';
import { parseKey, publicKeyOf, toBase64 } from '../../src/wg/keys.js';
import { artifactDir, launchChromium, recordRequests, signIn, startDashServer, type DashServer, type SeenRequest } from './fixtures/dashboard.js';
import { until } from './fixtures/until.js';

/**
 * The web dashboard in a real browser (Debian's chromium, playwright-core) against a real
 * `wgfabric server`: every view, live updates without a reload, roles, and that a private key
 * made in the browser is in no request. Screenshots of each view go to the printed directory.
 */

const tag = `da${Math.random().toString(36).slice(2, 7)}`;
const POOL = `${tag}-pool`;
const shots = artifactDir();
let srv: DashServer;
let browser: Browser;
let readOnly: string;
let operator: string;

const STATUS = (ready: boolean, applied: number) => ({ appliedRevision: applied, peersDesired: 120, peersApplied: ready ? 120 : 90, lastReconcileAt: null, driftRepairs: 0, ready, message: ready ? '' : 'applying' });
const LB = (n1Slots: number) => ({
  vip: '198.18.200.1', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 3, lastError: null, failOpen: false,
  backends: [
    { name: 'n1', state: 'up', reason: 'healthy', inTable: n1Slots > 0, slots: n1Slots, rttMs: 0.734 },
    { name: 'n2', state: 'down', reason: 'probe failed: timeout after 300 ms', inTable: false, slots: 0 },
    { name: 'n3', state: 'up', reason: 'healthy', inTable: true, slots: 251 - n1Slots },
  ],
});

async function shot(page: Page, name: string, checks: string): Promise<void> {
  const file = join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}: ${checks}`);
}

before(async () => {
  srv = await startDashServer();
  console.log(`# server ${srv.url}, screenshots in ${shots}`);
  await srv.api('POST', '/v1/pools', { name: POOL, ipv4Prefix: '10.91.0.0/16', ipv6Prefix: 'fd91::/64', endpoint: 'vpn.example.net:51820', dns: ['10.91.0.1'], persistentKeepalive: 25 });
  for (const n of ['n1', 'n2', 'n3']) await srv.api('POST', `/v1/pools/${POOL}/nodes`, { name: n, endpoint: `198.18.200.${n.slice(1)}:51820` });
  for (let i = 0; i < 120; i++) {
    await srv.api('POST', `/v1/pools/${POOL}/peers`, { name: `user-${String(i).padStart(3, '0')}`, publicKey: toBase64(publicKeyOf(new Uint8Array(32).fill(i + 1))) });
  }
  const rev = (await srv.api<ApiPage<Peer>>('GET', `/v1/pools/${POOL}/peers?limit=1`)).revision;
  for (const n of ['n1', 'n3']) await srv.api('PUT', `/v1/pools/${POOL}/nodes/${n}/status`, STATUS(true, rev));
  await srv.api('PUT', `/v1/pools/${POOL}/nodes/n2/status`, STATUS(false, 5));
  operator = (await srv.api<{ secret: string }>('POST', '/v1/tokens', { name: `${tag}-op`, role: 'operator' })).secret;
  readOnly = (await srv.api<{ secret: string }>('POST', '/v1/tokens', { name: `${tag}-ro`, role: 'read-only' })).secret;
  await srv.api('PUT', `/v1/pools/${POOL}/lbs/lb-a/status`, LB(125), operator);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** A page that fails the test on any script error or CSP violation, and records every request. */
async function newPage(): Promise<{ page: Page; seen: SeenRequest[]; problems: string[] }> {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // The one expected failed load: a server without session state answers the summary with 404.
  page.on('console', (m) => { if (m.type() === 'error' && !m.location().url.includes('/v1/sessions/summary')) problems.push(`console: ${m.text()}`); });
  return { page, seen: recordRequests(page), problems };
}

test('the dashboard is served under /ui/ with a strict CSP and fetches nothing from elsewhere', async () => {
  const res = await fetch(`${srv.url}/ui/`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  for (const d of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(d), `CSP has ${d}: ${csp}`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const { page, seen, problems } = await newPage();
  await signIn(page, srv.url, srv.admin);
  await page.waitForSelector('tr[data-node=n1]');
  const foreign = seen.filter((r) => !r.url.startsWith(`${srv.url}/`) && !r.url.startsWith('data:') && !r.url.startsWith('blob:'));
  assert.deepEqual(foreign.map((r) => r.url), [], 'every request goes to the server itself');
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('fleet view: nodes, readiness, lag, LB slots per instance; live updates without a reload; drain from the page', async () => {
  const { page, problems } = await newPage();
  await signIn(page, srv.url, srv.admin);
  await page.goto(`${srv.url}/ui/#/fleet?pool=${POOL}`);
  await page.waitForSelector('[data-live=live]');
  const n1 = page.locator('tr[data-node=n1]');
  assert.match(await n1.innerText(), /active[\s\S]*ready[\s\S]*in, 125 slots/);
  assert.match(await page.locator('tr[data-node=n2]').innerText(), /not ready[\s\S]*out: down/);
  assert.match(await page.locator('.lb[data-instance=lb-a] tr[data-backend=n2]').innerText(), /down[\s\S]*probe failed: timeout/);
  assert.match(await page.locator('.lb[data-instance=lb-a] tr[data-backend=n1]').innerText(), /125[\s\S]*49\.8%[\s\S]*0\.7 ms/, 'slots, share and probe RTT');
  await shot(page, 'fleet', 'pools; nodes n1..n3 with admin state, ready/not ready, lag, peers, LB lb-a cell per node; lb-a backends with slots, share, probe RTT');

  // Live: a change made elsewhere (another client) and a new report appear without a reload.
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  await srv.api('PATCH', `/v1/pools/${POOL}/nodes/n3`, { adminState: 'draining' });
  await until('n3 shows draining', async () => (await page.locator('tr[data-node=n3] td[data-admin]').innerText()).startsWith('draining'), 30_000, 100);
  await srv.api('PUT', `/v1/pools/${POOL}/lbs/lb-a/status`, LB(0), operator);
  await until('the new LB report shows n1 out of lb-a', async () => /out: healthy/.test(await n1.innerText()), 30_000, 100);
  assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the page was not reloaded');

  // Drain from the page: the API records it, and the page shows the slots left on the LBs.
  await n1.locator('button[data-action=draining]').click();
  await until('n1 is draining in the API', async () => (await srv.api<Node>('GET', `/v1/pools/${POOL}/nodes/n1`)).adminState === 'draining', 30_000, 100);
  await until('the page shows it', async () => /draining[\s\S]*0 LB slots left/.test(await n1.innerText()), 30_000, 100);
  await shot(page, 'fleet-drained', 'n1 and n3 draining after a drain click and an outside change, n1 with 0 LB slots left, no reload');
  await n1.locator('button[data-action=active]').click();
  await until('n1 is active again', async () => (await srv.api<Node>('GET', `/v1/pools/${POOL}/nodes/n1`)).adminState === 'active', 30_000, 100);
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('peers view: server-side search and paging, enable/disable, expiry', async () => {
  const { page, seen, problems } = await newPage();
  await signIn(page, srv.url, operator);
  await page.goto(`${srv.url}/ui/#/peers?pool=${POOL}`);
  await page.waitForSelector('tr[data-peer=user-000]');
  assert.equal(await page.locator('table.peer-list tbody tr').count(), 50, 'one page of 50');
  await page.click('button[data-action=next]');
  await page.waitForSelector('tr[data-peer=user-050]');
  await page.click('button[data-action=next]');
  await page.waitForSelector('tr[data-peer=user-119]');
  assert.equal(await page.locator('table.peer-list tbody tr').count(), 20);
  assert.ok(await page.locator('button[data-action=next]').isDisabled(), 'last page');
  await page.fill('input[name=search]', 'user-04');
  await until('the search shows user-040..049 only', async () => (await page.locator('table.peer-list tbody tr').count()) === 10
    && (await page.locator('tr[data-peer=user-049]').count()) === 1, 30_000, 100);
  assert.ok(seen.some((r) => r.url.includes('prefix=user-04')), 'the server filtered (prefix= in the request)');
  const row = page.locator('tr[data-peer=user-042]');
  await row.locator('button[data-action=disable]').click();
  await until('user-042 disabled in the API', async () => !(await srv.api<Peer>('GET', `/v1/pools/${POOL}/peers/user-042`)).enabled, 30_000, 100);
  await row.locator('input[name=expiry]').fill('2031-06-01T12:00');
  await row.locator('button[data-action=set-expiry]').click();
  await until('user-042 has an expiry', async () => ((await srv.api<Peer>('GET', `/v1/pools/${POOL}/peers/user-042`)).expiresAt ?? '').startsWith('2031-06-01'), 30_000, 100);
  await shot(page, 'peers', 'peers searched by "user-04" (server-side prefix), user-042 disabled with an expiry, operator buttons');
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('add a peer: the key pair is made in the browser and its private key is in no request', async () => {
  const { page, seen, problems } = await newPage();
  await signIn(page, srv.url, operator);
  await page.goto(`${srv.url}/ui/#/peers?pool=${POOL}`);
  await page.click('button[data-action=add-peer]');
  await page.fill('input[name=peer-name]', `${tag}-laptop`);
  await page.click('form.add-peer button[type=submit]');
  await page.waitForSelector('.made pre.config');
  const config = await page.locator('.made pre.config').innerText();
  const privateKey = /PrivateKey = (\S+)/.exec(config)?.[1];
  assert.ok(privateKey, config);
  const peer = await srv.api<Peer>('GET', `/v1/pools/${POOL}/peers/${tag}-laptop`);
  assert.equal(toBase64(publicKeyOf(parseKey(privateKey))), peer.publicKey, 'the server holds the public key of the browser-made private key');
  assert.match(config, new RegExp(`Address = ${peer.addresses.join(', ').replace(/[.]/g, '\\.')}`));
  assert.match(config, /Endpoint = vpn\.example\.net:51820/);
  assert.ok(await page.locator('.made img.qr').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), 'QR code rendered');
  const dl = page.waitForEvent('download');
  await page.click('[data-action=download]');
  const file = await (await dl).path();
  assert.equal(readFileSync(file, 'utf8'), config, 'the download is the config shown');
  await shot(page, 'peer-add', 'the config made in the browser (private key shown once), its QR code and download link');
  await page.click('[data-action=close]');
  assert.equal(await page.locator('.made').count(), 0, 'closing forgets the config');

  // No request (URL, headers, body) carried the private key, in any encoding a client might use.
  const raw = Buffer.from(privateKey, 'base64');
  const forms = [privateKey, encodeURIComponent(privateKey), raw.toString('hex'), raw.toString('base64url')];
  assert.ok(seen.some((r) => r.method === 'POST' && r.body.includes(peer.publicKey)), 'the public key was sent');
  for (const r of seen) {
    const text = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
    for (const f of forms) assert.ok(!text.includes(f), `private key in ${r.method} ${r.url}`);
  }
  console.log(`# ${seen.length} requests checked, none holds the private key`);
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('audit view: filters by actor, kind, object and time, with each entry\'s revision', async () => {
  const { page, problems } = await newPage();
  await signIn(page, srv.url, srv.admin);
  await page.goto(`${srv.url}/ui/#/audit`);
  await page.waitForSelector('table.audit-list tbody tr');
  await page.fill('input[name=actor]', `${tag}-op`);
  await page.selectOption('select[name=kind]', 'peer');
  await page.fill('input[name=object]', `pools/${POOL}/peers/user-042`);
  const all = await srv.api<ApiPage<AuditEntry>>('GET', `/v1/audit?actor=${tag}-op&kind=peer&object=pools/${POOL}/peers/user-042&limit=1000`);
  assert.ok(all.items.length >= 2, 'the peers test audited two updates of user-042');
  await until('the filtered timeline', async () => (await page.locator('table.audit-list tbody tr').count()) === all.items.length, 30_000, 100);
  const first = all.items[0]!;
  assert.match(await page.locator(`tr[data-audit="${first.id}"]`).innerText(), new RegExp(`${first.revision}[\\s\\S]*${tag}-op[\\s\\S]*update[\\s\\S]*peer`));
  await shot(page, 'audit', `the audit timeline filtered to actor ${tag}-op, kind peer, object user-042, with revisions`);
  await page.fill('input[name=from]', '2099-01-01T00:00');
  await until('nothing after 2099', async () => (await page.locator('table.audit-list tbody tr').count()) === 0, 30_000, 100);
  assert.deepEqual(problems, []);
  await page.context().close();
});

test('roles: a read-only token sees no buttons it cannot use, and the API still refuses; a node token cannot sign in', async () => {
  const { page, problems } = await newPage();
  await signIn(page, srv.url, readOnly);
  await page.goto(`${srv.url}/ui/#/fleet?pool=${POOL}`);
  await page.waitForSelector('tr[data-node=n1]');
  assert.equal(await page.locator('tr[data-node] button').count(), 0, 'no node actions');
  await shot(page, 'fleet-readonly', 'the fleet as read-only: no Drain/Disable buttons');
  await page.goto(`${srv.url}/ui/#/peers?pool=${POOL}`);
  await page.waitForSelector('tr[data-peer=user-000]');
  assert.equal(await page.locator('[data-action=add-peer], tr[data-peer] button').count(), 0, 'no add/enable/delete');
  assert.deepEqual(problems, []);
  const status = await page.evaluate(async ([pool, token]) => (await fetch(`/v1/pools/${pool}/nodes/n1`, {
    method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ adminState: 'disabled' }),
  })).status, [POOL, readOnly] as const);
  assert.equal(status, 403, 'the API refuses a read-only change');
  await page.context().close();
  problems.length = 0;

  const nodeToken = (await srv.api<{ secret: string }>('POST', '/v1/tokens', { name: `${tag}-agent`, role: 'node', pool: POOL, node: 'n1' })).secret;
  const second = await newPage();
  await second.page.goto(`${srv.url}/ui/`);
  await second.page.fill('input[name=token]', nodeToken);
  await second.page.click('button[type=submit]');
  assert.match(await second.page.locator('[role=alert]').innerText(), /node token cannot use the dashboard/);
  await second.page.fill('input[name=token]', 'wgf_wrong');
  await second.page.click('button[type=submit]');
  await until('a wrong token is refused', async () => /WGF_ERR_UNAUTHORIZED/.test(await second.page.locator('[role=alert]').innerText()), 30_000, 100);
  assert.deepEqual(problems, []);
  await second.page.context().close();
});

test('sessions: who is connected where, in the peers and fleet views (servers with session state)', async (t) => {
  if ((await fetch(`${srv.url}/v1/sessions/summary`, { headers: { authorization: `Bearer ${srv.admin}` } })).status === 404) {
    t.skip('this server has no session state (GET /v1/sessions/summary is 404)');
    return;
  }
  const key = (await srv.api<Peer>('GET', `/v1/pools/${POOL}/peers/user-007`)).publicKey;
  await srv.api('PUT', `/v1/pools/${POOL}/nodes/n1/sessions`, {
    epoch: `${tag}-epoch-1`, seq: 1, reset: true, removed: [],
    peers: [{ publicKey: key, lastHandshake: Math.floor(Date.now() / 1000) - 30, rxBytes: 123_456, txBytes: 654_321, endpoint: '198.51.100.7:40000' }],
  });
  const { page, problems } = await newPage();
  await signIn(page, srv.url, srv.admin);
  await page.goto(`${srv.url}/ui/#/peers?pool=${POOL}`);
  await page.waitForSelector('select[name=connected]');
  await page.fill('input[name=search]', 'user-00');
  const row = page.locator('tr[data-peer=user-007]');
  await row.waitFor();
  assert.match(await row.innerText(), /n1[\s\S]*ago[\s\S]*198\.51\.100\.7:40000[\s\S]*120\.6 KiB[\s\S]*639\.0 KiB/);
  assert.equal(await row.locator('[data-session]').getAttribute('data-session'), 'connected');
  await page.selectOption('select[name=connected]', 'true');
  await until('only the connected peer is listed', async () => (await page.locator('table.peer-list tbody tr').count()) === 1, 30_000, 100);
  await shot(page, 'peers-sessions', 'peer user-007 connected through n1: handshake age, endpoint, endpoint changes, rx/tx; connected filter on');
  await page.goto(`${srv.url}/ui/#/fleet?pool=${POOL}`);
  await until('the fleet counts the session on n1', async () => (await page.locator('tr[data-node=n1] td[data-connected]').innerText().catch(() => '')) === '1', 30_000, 100);
  assert.equal(await page.locator('.sessions-summary').getAttribute('data-connected'), '1');
  assert.deepEqual(problems, []);
  await page.context().close();
});

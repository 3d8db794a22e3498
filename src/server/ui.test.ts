import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { harness } from './testing/harness.js';
import { uiFixture } from './testing/ui-fixture.js';
import { UI_CSP } from './ui.js';

test('the dashboard files are served under /ui/ without a token, each with the strict CSP', async () => {
  const dir = uiFixture();
  const h = await harness({ uiDir: dir });
  try {
    for (const [url, type, body] of [['/ui', 'text/html', '<!doctype html>'], ['/ui/', 'text/html', '<!doctype html>'], ['/ui/app.js', 'text/javascript', 'console.log'], ['/ui/app.css', 'text/css', 'body']] as const) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.ok(String(res.headers['content-type']).startsWith(type), `${url}: ${res.headers['content-type']}`);
      assert.ok(res.body.startsWith(body), url);
      assert.equal(res.headers['content-security-policy'], UI_CSP, url);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'DENY');
    }
    for (const d of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(UI_CSP.includes(d), d);
    assert.ok(!UI_CSP.includes('unsafe'), 'no unsafe-inline or unsafe-eval');
    // Only the dashboard's own files: no path walks out of the directory.
    for (const url of ['/ui/index.html.bak', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/app.js/x']) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().error.code, 'WGF_ERR_NOT_FOUND');
    }
  } finally {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a server without a built dashboard says how to build it', async () => {
  const h = await harness({ uiDir: join(tmpdir(), 'wgf-ui-does-not-exist') });
  try {
    const res = await h.app.inject({ method: 'GET', url: '/ui/' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'WGF_ERR_NOT_FOUND');
    assert.match(res.json().error.message, /npm run build/);
    // The API is unaffected.
    assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  } finally {
    await h.close();
  }
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store } from '../store/store.js';
import { ControlPlane } from './plane.js';
import { SecretBox } from './secrets.js';
import { admin, pubkey } from './testing/fixtures.js';
import { DRIVERS } from './testing/stores.js';

/** The store with its reads counted (get, range, count, changes). */
function counting(store: Store): { store: Store; reads: () => number } {
  let n = 0;
  const wrapped = new Proxy(store, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (typeof v !== 'function') return v;
      if (prop === 'get' || prop === 'range' || prop === 'count' || prop === 'changes') {
        return (...args: unknown[]) => {
          n++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return v.bind(target);
    },
  });
  return { store: wrapped, reads: () => n };
}

const until = async (what: string, cond: () => Promise<boolean> | boolean) => {
  const deadline = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

for (const driver of DRIVERS) {
  describe(`auth cache (${driver.name})`, () => {
    test('once a token is cached, authenticating costs 0 store reads; a node token 0 too', async () => {
      const { store, cleanup } = await driver.open();
      const c = counting(store);
      // maxAgeMs very long: any refusal below comes from the watch, not from expiry.
      const cp = new ControlPlane({ store: c.store, secrets: SecretBox.random(), authCache: { maxAgeMs: 3_600_000 } });
      try {
        const t = await cp.createToken({ name: 'ops', role: 'operator' }, admin);
        await cp.createPool({ name: 'p', ipv4Prefix: '10.9.0.0/24' }, admin);
        await cp.createNode('p', { name: 'n1', endpoint: '192.0.2.1:51820' }, admin);
        const nt = await cp.createToken({ name: 'n1', role: 'node', pool: 'p', node: 'n1' }, admin);
        assert.equal((await cp.authenticate(t.secret))?.name, 'ops');
        assert.equal((await cp.authenticate(nt.secret))?.role, 'node');
        const before = c.reads();
        for (let i = 0; i < 100; i++) {
          assert.equal((await cp.authenticate(t.secret))?.role, 'operator');
          assert.equal((await cp.authenticate(nt.secret))?.node, 'n1');
        }
        assert.equal(c.reads() - before, 0, 'store reads for 200 cached lookups');
        // A wrong secret for a cached id is refused without a read either.
        assert.equal(await cp.authenticate(`${t.secret.slice(0, -1)}${t.secret.endsWith('A') ? 'B' : 'A'}`), null);
        assert.equal(c.reads() - before, 0);
      } finally {
        cp.close();
        await cleanup();
      }
    });

    test('a deleted token, a deleted node and a re-created node are refused as soon as the watch delivers them', async () => {
      const { store, cleanup } = await driver.open();
      const cp = new ControlPlane({ store, secrets: SecretBox.random(), authCache: { maxAgeMs: 3_600_000 } });
      // A second plane on the same store stands for another replica doing the writes.
      const other = new ControlPlane({ store, secrets: SecretBox.random(), authCache: false });
      try {
        const t = await other.createToken({ name: 'ops', role: 'operator' }, admin);
        await other.createPool({ name: 'p', ipv4Prefix: '10.9.0.0/24' }, admin);
        await other.createNode('p', { name: 'n1', endpoint: '192.0.2.1:51820' }, admin);
        const nt = await other.createToken({ name: 'n1', role: 'node', pool: 'p', node: 'n1' }, admin);
        assert.ok(await cp.authenticate(t.secret));
        assert.ok(await cp.authenticate(nt.secret));
        await other.deleteToken(t.token.id, admin);
        await until('the deleted token to be refused', async () => (await cp.authenticate(t.secret)) === null);
        // Node deleted and re-created under the same name: the old node token stays refused.
        await other.deleteNode('p', 'n1', admin);
        await other.createNode('p', { name: 'n1', endpoint: '192.0.2.1:51820' }, admin);
        await until('the node token of the deleted node to be refused', async () => (await cp.authenticate(nt.secret)) === null);
        // A token created after an unknown-id lookup was cached works at once.
        await other.createPeer('p', { name: 'x', publicKey: pubkey() }, admin);
        assert.ok(cp.authCache!.hits > 0);
      } finally {
        cp.close();
        await cleanup();
      }
    });

    test('an expired token is refused from the cache, without a store read', async () => {
      const { store, cleanup } = await driver.open();
      const c = counting(store);
      let now = Date.parse('2030-01-01T00:00:00Z');
      const cp = new ControlPlane({ store: c.store, secrets: SecretBox.random(), clock: { now: () => new Date(now) }, authCache: { maxAgeMs: 3_600_000 } });
      try {
        const t = await cp.createToken({ name: 'ci', role: 'read-only', expiresAt: '2030-01-01T01:00:00Z' }, admin);
        assert.ok(await cp.authenticate(t.secret));
        const before = c.reads();
        now = Date.parse('2030-01-01T01:00:00Z');
        assert.equal(await cp.authenticate(t.secret), null);
        assert.equal(c.reads() - before, 0);
      } finally {
        cp.close();
        await cleanup();
      }
    });

    test('entries older than maxAgeMs are read again (the bound when the watch stalls)', async () => {
      const { store, cleanup } = await driver.open();
      const c = counting(store);
      let now = 1_000_000;
      const cp = new ControlPlane({ store: c.store, secrets: SecretBox.random(), authCache: { maxAgeMs: 30_000, now: () => now } });
      try {
        const t = await cp.createToken({ name: 'ops', role: 'operator' }, admin);
        assert.ok(await cp.authenticate(t.secret));
        const before = c.reads();
        now += 29_999;
        assert.ok(await cp.authenticate(t.secret));
        assert.equal(c.reads() - before, 0);
        now += 2;
        assert.ok(await cp.authenticate(t.secret));
        assert.equal(c.reads() - before, 1);
      } finally {
        cp.close();
        await cleanup();
      }
    });
  });
}

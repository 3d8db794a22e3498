import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { publicKeyOf, parseKey, toBase64 } from '../wg/keys.js';
import * as K from './keys.js';
import { SecretBox } from './secrets.js';
import { admin, pubkey, rejectsWith, WEAK_KEYS } from './testing/fixtures.js';
import { DRIVERS, withPlaneOn } from './testing/stores.js';
import { ControlPlane } from './plane.js';
import type { LbReportInput } from '../protocol/api.js';

const LBR: LbReportInput = {
  vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 1, lastError: null, failOpen: false,
  backends: [{ name: 'n1', state: 'up', reason: 'healthy', inTable: true, slots: 251 }, { name: 'n2', state: 'down', reason: 'probe failed: refused', inTable: false, slots: 0 }],
};

for (const driver of DRIVERS) {
  describe(`ControlPlane on ${driver.name}`, () => {
    const withPlane = (fn: (cp: ControlPlane) => Promise<void>) => withPlaneOn(driver, fn);

    test('pool CRUD: create, get, list, update with If-Match, private key', withPlane(async (cp) => {
      const p = await cp.createPool({ name: 'demo', ipv4Prefix: '10.77.0.0/16', ipv6Prefix: 'fd77:0::/64', dns: ['1.1.1.1', '2606:4700:4700::1111'], labels: { env: 'prod' } }, admin);
      assert.equal(p.ipv6Prefix, 'fd77::/64');
      assert.equal(p.listenPort, 51820);
      assert.ok(p.revision > 0);
      assert.deepEqual(Object.keys(p).sort(), ['anycast', 'createdAt', 'description', 'dns', 'endpoint', 'ipv4Prefix', 'ipv6Prefix', 'labels', 'lb', 'listenPort', 'mtu', 'name', 'persistentKeepalive', 'publicKey', 'revision', 'updatedAt']);
      assert.deepEqual(await cp.getPool('demo'), p);
      const priv = await cp.poolPrivateKey('demo', admin);
      assert.equal(toBase64(publicKeyOf(parseKey(priv))), p.publicKey);
      // The stored record holds the key sealed, never in the clear.
      const raw = (await cp.store.get(K.poolKey('demo')))!.value;
      assert.ok(!raw.includes(priv));
      await cp.createPool({ name: 'other', ipv4Prefix: '10.78.0.0/16', labels: { env: 'dev' } }, admin);
      assert.deepEqual((await cp.listPools({ label: 'env=prod' })).items.map((x) => x.name), ['demo']);
      const page1 = await cp.listPools({ limit: 1 });
      assert.equal(page1.items.length, 1);
      assert.ok(page1.next);
      const page2 = await cp.listPools({ limit: 1, cursor: page1.next! });
      assert.deepEqual([...page1.items, ...page2.items].map((x) => x.name), ['demo', 'other']);
      assert.equal(page2.next, null);
      await rejectsWith(cp.updatePool('demo', { mtu: 1400 }, { ...admin, ifMatch: p.revision - 1 }), 'WGF_ERR_CONFLICT');
      const u = await cp.updatePool('demo', { mtu: 1400, endpoint: 'vpn.example.com:51820' }, { ...admin, ifMatch: p.revision });
      assert.equal(u.mtu, 1400);
      assert.ok(u.revision > p.revision);
      assert.equal(u.ipv4Prefix, '10.77.0.0/16');
      await rejectsWith(cp.createPool({ name: 'demo', ipv4Prefix: '10.1.0.0/16' }, admin), 'WGF_ERR_ALREADY_EXISTS');
      await rejectsWith(cp.getPool('nope'), 'WGF_ERR_NOT_FOUND');
    }));

    test('imported pool private key; a wrong master key is WGF_ERR_CRYPTO', withPlane(async (cp) => {
      const priv = toBase64(parseKey('yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk='));
      const p = await cp.createPool({ name: 'imp', ipv4Prefix: '10.0.0.0/24', privateKey: priv }, admin);
      assert.equal(p.publicKey, toBase64(publicKeyOf(parseKey(priv))));
      assert.equal(await cp.poolPrivateKey('imp', admin), priv);
      const other = new ControlPlane({ store: cp.store, secrets: SecretBox.random() });
      await rejectsWith(other.poolPrivateKey('imp', admin), 'WGF_ERR_CRYPTO');
    }));

    test('validation errors carry precise codes', withPlane(async (cp) => {
      const cases: [string, () => Promise<unknown>, string][] = [
        ['bad name', () => cp.createPool({ name: 'Bad_Name', ipv4Prefix: '10.0.0.0/24' }, admin), 'WGF_ERR_VALIDATION'],
        ['host bits', () => cp.createPool({ name: 'a', ipv4Prefix: '10.0.0.1/24' }, admin), 'WGF_ERR_INVALID_CIDR'],
        ['family', () => cp.createPool({ name: 'a', ipv4Prefix: 'fd00::/64' }, admin), 'WGF_ERR_INVALID_CIDR'],
        ['no prefix', () => cp.createPool({ name: 'a' }, admin), 'WGF_ERR_VALIDATION'],
        ['mtu', () => cp.createPool({ name: 'a', ipv4Prefix: '10.0.0.0/24', mtu: 1000 }, admin), 'WGF_ERR_VALIDATION'],
        ['port', () => cp.createPool({ name: 'a', ipv4Prefix: '10.0.0.0/24', listenPort: 70000 }, admin), 'WGF_ERR_VALIDATION'],
        ['dns', () => cp.createPool({ name: 'a', ipv4Prefix: '10.0.0.0/24', dns: ['dns.google'] }, admin), 'WGF_ERR_VALIDATION'],
        ['endpoint', () => cp.createPool({ name: 'a', ipv4Prefix: '10.0.0.0/24', endpoint: 'host-without-port' }, admin), 'WGF_ERR_VALIDATION'],
        ['label key', () => cp.createPool({ name: 'a', ipv4Prefix: '10.0.0.0/24', labels: { __proto__x: 'y' } }, admin), 'WGF_ERR_VALIDATION'],
        ['import key', () => cp.createPool({ name: 'a', ipv4Prefix: '10.0.0.0/24', privateKey: 'short' }, admin), 'WGF_ERR_INVALID_KEY'],
      ];
      for (const [label, fn, code] of cases) await rejectsWith(fn(), code as never, label);
      await cp.createPool({ name: 'v', ipv4Prefix: '10.0.0.0/24' }, admin);
      const peerCases: [string, object, string][] = [
        ['bad key', { publicKey: 'x'.repeat(44) }, 'WGF_ERR_INVALID_KEY'],
        ...WEAK_KEYS.map((k, i): [string, object, string] => [`weak key ${i}`, { publicKey: k }, 'WGF_ERR_WEAK_KEY']),
        ['allowed host bits', { allowedIps: ['192.168.1.1/24'] }, 'WGF_ERR_INVALID_CIDR'],
        ['allowed self-overlap', { allowedIps: ['192.168.0.0/16', '192.168.1.0/24'] }, 'WGF_ERR_VALIDATION'],
        ['two v4', { addresses: ['10.0.0.5', '10.0.0.6'] }, 'WGF_ERR_VALIDATION'],
        ['not host', { addresses: ['10.0.0.0/30'] }, 'WGF_ERR_VALIDATION'],
        ['outside', { addresses: ['10.9.0.5'] }, 'WGF_ERR_ADDRESS_OUTSIDE_POOL'],
        ['no v6 prefix', { addresses: ['fd00::5'] }, 'WGF_ERR_ADDRESS_OUTSIDE_POOL'],
        ['reserved', { addresses: ['10.0.0.1'] }, 'WGF_ERR_VALIDATION'],
        ['broadcast', { addresses: ['10.0.0.255'] }, 'WGF_ERR_VALIDATION'],
        ['expiry', { expiresAt: 'tomorrow' }, 'WGF_ERR_VALIDATION'],
      ];
      for (const [label, extra, code] of peerCases) {
        await rejectsWith(cp.createPeer('v', { name: 'p', publicKey: pubkey(), ...extra }, admin), code as never, label);
      }
      assert.equal((await cp.listPeers('v')).items.length, 0);
    }));

    test('nodes: CRUD, filters, status reports merge in and are not audited', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      const n1 = await cp.createNode('p', { name: 'n1', endpoint: '198.18.0.1:51820', labels: { zone: 'a' } }, admin);
      await cp.createNode('p', { name: 'n2', adminState: 'draining' }, admin);
      assert.equal(n1.adminState, 'active');
      assert.equal(n1.status, null);
      await rejectsWith(cp.createNode('p', { name: 'n1' }, admin), 'WGF_ERR_ALREADY_EXISTS');
      await rejectsWith(cp.createNode('nope', { name: 'n1' }, admin), 'WGF_ERR_NOT_FOUND');
      assert.deepEqual((await cp.listNodes('p', { adminState: 'draining' })).items.map((n) => n.name), ['n2']);
      assert.deepEqual((await cp.listNodes('p', { label: 'zone=a' })).items.map((n) => n.name), ['n1']);
      const auditBefore = (await cp.listAudit({ limit: 1000 })).items.length;
      const st = await cp.putNodeStatus('p', 'n1', { appliedRevision: 3, peersDesired: 1, peersApplied: 1, lastReconcileAt: null, driftRepairs: 0, ready: true, message: 'ok' }, { actor: 'n1' });
      assert.equal(st.status?.ready, true);
      assert.equal((await cp.getNode('p', 'n1')).status?.appliedRevision, 3);
      assert.equal((await cp.listAudit({ limit: 1000 })).items.length, auditBefore);
      await rejectsWith(cp.updateNode('p', 'n1', { adminState: 'disabled' }, { ...admin, ifMatch: n1.revision - 1 }), 'WGF_ERR_CONFLICT');
      const u = await cp.updateNode('p', 'n1', { adminState: 'disabled' }, { ...admin, ifMatch: n1.revision });
      assert.equal(u.adminState, 'disabled');
      assert.equal(u.status?.message, 'ok');
      await cp.deleteNode('p', 'n1', admin);
      await rejectsWith(cp.getNode('p', 'n1'), 'WGF_ERR_NOT_FOUND');
      assert.equal(await cp.store.get(K.statusKey('p', 'n1')), undefined);
      await rejectsWith(cp.putNodeStatus('p', 'n1', { appliedRevision: 0, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready: false, message: '' }, admin), 'WGF_ERR_NOT_FOUND');
    }));

    test('peers: CRUD, public key unique per pool, filters and pagination', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24', ipv6Prefix: 'fd00::/64' }, admin);
      await cp.createPool({ name: 'q', ipv4Prefix: '10.0.0.0/24', allowOverlap: true }, admin);
      const key = pubkey();
      const a = await cp.createPeer('p', { name: 'alice', publicKey: Buffer.from(key, 'base64').toString('hex'), labels: { team: 'x' } }, admin);
      assert.equal(a.publicKey, key, 'stored in canonical base64');
      assert.deepEqual(a.addresses, ['10.0.0.2/32', 'fd00::2/128']);
      await rejectsWith(cp.createPeer('p', { name: 'alice2', publicKey: key }, admin), 'WGF_ERR_ALREADY_EXISTS', 'same key');
      await rejectsWith(cp.createPeer('p', { name: 'alice', publicKey: pubkey() }, admin), 'WGF_ERR_ALREADY_EXISTS', 'same name');
      await cp.createPeer('q', { name: 'alice', publicKey: key }, admin); // another pool may use the key
      const b = await cp.createPeer('p', { name: 'bob', publicKey: pubkey(), enabled: false, addresses: ['10.0.0.50'] }, admin);
      assert.deepEqual(b.addresses, ['10.0.0.50/32', 'fd00::3/128']);
      await rejectsWith(cp.createPeer('p', { name: 'carol', publicKey: pubkey(), addresses: ['10.0.0.50/32'] }, admin), 'WGF_ERR_ALREADY_EXISTS', 'taken address');
      for (let i = 0; i < 5; i++) await cp.createPeer('p', { name: `c${i}`, publicKey: pubkey() }, admin);
      assert.deepEqual((await cp.listPeers('p', { enabled: false })).items.map((x) => x.name), ['bob']);
      assert.deepEqual((await cp.listPeers('p', { label: 'team=x' })).items.map((x) => x.name), ['alice']);
      assert.deepEqual((await cp.listPeers('p', { prefix: 'c' })).items.map((x) => x.name), ['c0', 'c1', 'c2', 'c3', 'c4']);
      const names: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await cp.listPeers('p', { limit: 3, ...(cursor ? { cursor } : {}) });
        names.push(...page.items.map((x) => x.name));
        cursor = page.next ?? undefined;
      } while (cursor);
      assert.deepEqual(names, ['alice', 'bob', 'c0', 'c1', 'c2', 'c3', 'c4']);
      await rejectsWith(cp.listPeers('p', { cursor: Buffer.from('tokens/x').toString('base64url') }), 'WGF_ERR_VALIDATION');
      // Re-key: the old key is free again, the new one is claimed.
      const newKey = pubkey();
      const a2 = await cp.updatePeer('p', 'alice', { publicKey: newKey, enabled: false }, { ...admin, ifMatch: a.revision });
      assert.equal(a2.publicKey, newKey);
      await rejectsWith(cp.updatePeer('p', 'alice', { enabled: true }, { ...admin, ifMatch: a.revision }), 'WGF_ERR_CONFLICT');
      await cp.createPeer('p', { name: 'dave', publicKey: key }, admin);
      await rejectsWith(cp.createPeer('p', { name: 'eve', publicKey: newKey }, admin), 'WGF_ERR_ALREADY_EXISTS');
      await rejectsWith(cp.deletePeer('p', 'alice', { ...admin, ifMatch: a.revision }), 'WGF_ERR_CONFLICT');
      await cp.deletePeer('p', 'alice', { ...admin, ifMatch: a2.revision });
      await rejectsWith(cp.getPeer('p', 'alice'), 'WGF_ERR_NOT_FOUND');
    }));

    test('pool delete: refused while in use, forced delete removes every pool key', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24', ipv6Prefix: 'fd00::/64' }, admin);
      await cp.createPool({ name: 'p2', ipv4Prefix: '10.0.0.0/24', allowOverlap: true }, admin);
      await cp.createNode('p', { name: 'n' }, admin);
      await cp.createPeer('p', { name: 'x', publicKey: pubkey(), allowedIps: ['192.168.0.0/24'] }, admin);
      await cp.createPeer('p2', { name: 'x', publicKey: pubkey() }, admin);
      await cp.putNodeStatus('p', 'n', { appliedRevision: 1, peersDesired: 1, peersApplied: 1, lastReconcileAt: null, driftRepairs: 0, ready: true, message: '' }, admin);
      await cp.putLbStatus('p', 'lb1', LBR, admin);
      await cp.putLbStatus('p2', 'lb1', LBR, admin);
      const rev = await cp.currentRevision();
      const e = await rejectsWith(cp.deletePool('p', admin), 'WGF_ERR_IN_USE');
      assert.match(e.message, /1 node\(s\) and 1 peer\(s\)/);
      assert.equal(await cp.currentRevision(), rev, 'a refused delete writes nothing');
      await cp.deletePool('p', { ...admin, force: true });
      await rejectsWith(cp.getPool('p'), 'WGF_ERR_NOT_FOUND');
      const left = (await cp.store.range('')).kvs.map((kv) => kv.key).filter((k) => k.includes('/p/') || k.endsWith('/p'));
      assert.deepEqual(left, []);
      assert.equal((await cp.getPeer('p2', 'x')).name, 'x', 'the other pool is untouched');
      assert.equal((await cp.getLbStatus('p2', 'lb1')).instance, 'lb1', "the other pool's LB report is untouched");
      // An empty pool goes without force (LB reports do not hold it); If-Match is honoured.
      const p3 = await cp.createPool({ name: 'p3', ipv4Prefix: '10.3.0.0/24' }, admin);
      await cp.putLbStatus('p3', 'lb1', LBR, admin);
      await rejectsWith(cp.deletePool('p3', { ...admin, ifMatch: p3.revision + 100 }), 'WGF_ERR_CONFLICT');
      await cp.deletePool('p3', { ...admin, ifMatch: p3.revision });
      assert.deepEqual((await cp.listPools()).items.map((x) => x.name), ['p2']);
      assert.equal(await cp.store.get(K.lbStatusKey('p3', 'lb1')), undefined, 'the LB report went with its pool');
    }));

    test('LB reports: stamped, replaced, paged, not audited, forgotten; validated', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      const auditBefore = (await cp.listAudit({ limit: 1000 })).items.length;
      const r1 = await cp.putLbStatus('p', 'lb1', { ...LBR, vip: '2001:DB8:0::2' }, admin);
      assert.equal(r1.vip, '2001:db8::2', 'canonical form');
      assert.deepEqual([r1.pool, r1.instance, r1.backends[1]!.reason], ['p', 'lb1', 'probe failed: refused']);
      assert.ok(r1.reportedAt && r1.revision > 0);
      const r2 = await cp.putLbStatus('p', 'lb1', { ...LBR, generation: 2, failOpen: true }, admin);
      assert.ok(r2.revision > r1.revision && r2.reportedAt > r1.reportedAt);
      assert.deepEqual(await cp.getLbStatus('p', 'lb1'), r2, 'replaced, read back as returned');
      for (const i of ['lb3', 'lb2']) await cp.putLbStatus('p', i, LBR, admin);
      const page1 = await cp.listLbStatus('p', { limit: 2 });
      const page2 = await cp.listLbStatus('p', { limit: 2, cursor: page1.next! });
      assert.deepEqual([...page1.items, ...page2.items].map((r) => r.instance), ['lb1', 'lb2', 'lb3']);
      assert.equal(page2.next, null);
      assert.equal((await cp.listAudit({ limit: 1000 })).items.length, auditBefore, 'reports are not audited');
      const snap = await cp.poolSnapshot('p');
      assert.ok(snap.revision >= r2.revision);
      assert.deepEqual((await cp.poolChanges('p', r1.revision - 1)).changes, [], 'not in the change stream');
      await rejectsWith(cp.deleteLbStatus('p', 'lb1', { ...admin, ifMatch: r1.revision }), 'WGF_ERR_CONFLICT');
      await cp.deleteLbStatus('p', 'lb1', { ...admin, ifMatch: r2.revision });
      await rejectsWith(cp.getLbStatus('p', 'lb1'), 'WGF_ERR_NOT_FOUND');
      await rejectsWith(cp.deleteLbStatus('p', 'lb1', admin), 'WGF_ERR_NOT_FOUND');
      await rejectsWith(cp.putLbStatus('nope', 'lb1', LBR, admin), 'WGF_ERR_NOT_FOUND');
      await rejectsWith(cp.listLbStatus('nope'), 'WGF_ERR_NOT_FOUND');
      const b = LBR.backends[0]!;
      const cases: [string, LbReportInput][] = [
        ['vip not an IP', { ...LBR, vip: 'lb.example.com' }],
        ['vip with a prefix', { ...LBR, vip: '198.18.1.2/32' }],
        ['port', { ...LBR, port: 0 }],
        ['table size', { ...LBR, tableSize: 0 }],
        ['generation', { ...LBR, generation: -1 }],
        ['state', { ...LBR, backends: [{ ...b, state: 'healthy' as never }] }],
        ['backend name', { ...LBR, backends: [{ ...b, name: '../x' }] }],
        ['reason too long', { ...LBR, backends: [{ ...b, reason: 'r'.repeat(513) }] }],
        ['reason with a newline', { ...LBR, backends: [{ ...b, reason: 'a\nb' }] }],
        ['slots beyond the table', { ...LBR, backends: [{ ...b, slots: 252 }] }],
        ['repeated backend', { ...LBR, backends: [b, b] }],
        ['too many backends', { ...LBR, backends: Array.from({ length: 1001 }, (_, i) => ({ ...b, name: `b${i}`, slots: 0 })) }],
        ['lastError with a control character', { ...LBR, lastError: 'x\u0000' }],
      ];
      for (const [label, input] of cases) await rejectsWith(cp.putLbStatus('p', 'lb9', input, admin), 'WGF_ERR_VALIDATION', label);
      await rejectsWith(cp.putLbStatus('p', 'Bad Instance', LBR, admin), 'WGF_ERR_VALIDATION');
    }));

    test('LB reports racing a pool delete never outlive the pool', withPlane(async (cp) => {
      const { checkInvariants } = await import('./testing/invariants.js');
      for (const force of [true, false]) {
        await cp.createPool({ name: 'race', ipv4Prefix: '10.0.0.0/24' }, admin);
        const reports = Array.from({ length: 20 }, (_, i) => cp.putLbStatus('race', `lb${i % 4}`, { ...LBR, generation: i }, admin));
        const results = await Promise.allSettled([...reports, cp.deletePool('race', { ...admin, force })]);
        for (const r of results) {
          if (r.status === 'rejected') assert.match(String((r.reason as { code?: string }).code), /WGF_ERR_(IN_USE|NOT_FOUND)/);
        }
        assert.equal(results.at(-1)!.status, 'fulfilled', 'reports do not hold a pool');
        await rejectsWith(cp.getPool('race'), 'WGF_ERR_NOT_FOUND');
        assert.deepEqual((await cp.store.range(K.lbStatusPrefix('race'))).kvs, []);
        assert.deepEqual(await checkInvariants(cp.store), [], `force=${force}`);
      }
    }));

    test('pool delete racing peer creations leaves no orphan (forced and not)', withPlane(async (cp) => {
      const { checkInvariants } = await import('./testing/invariants.js');
      for (const force of [true, false]) {
        await cp.createPool({ name: 'race', ipv4Prefix: '10.0.0.0/24', ipv6Prefix: 'fd00::/64' }, admin);
        const creations = Array.from({ length: 20 }, (_, i) => cp.createPeer('race', { name: `r${i}`, publicKey: pubkey(), allowedIps: [`192.168.${i}.0/24`] }, admin));
        const del = cp.deletePool('race', { ...admin, force });
        const results = await Promise.allSettled([...creations, del]);
        for (const r of results) {
          if (r.status === 'rejected') assert.match(String((r.reason as { code?: string }).code), /WGF_ERR_(IN_USE|NOT_FOUND)/);
        }
        assert.deepEqual(await checkInvariants(cp.store), [], `force=${force}`);
        if (results.at(-1)!.status === 'rejected') await cp.deletePool('race', { ...admin, force: true });
        await rejectsWith(cp.getPool('race'), 'WGF_ERR_NOT_FOUND');
        assert.deepEqual(await checkInvariants(cp.store), []);
      }
    }));

    test('audit: one entry per mutation, in the same txn (same revision), with actor', withPlane(async (cp) => {
      const revs: [number, string, string][] = [];
      const p = await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, { actor: 'alice' });
      revs.push([p.revision, 'create', 'pools/p']);
      const n = await cp.createNode('p', { name: 'n' }, { actor: 'alice' });
      revs.push([n.revision, 'create', 'pools/p/nodes/n']);
      const x = await cp.createPeer('p', { name: 'x', publicKey: pubkey() }, { actor: 'bob' });
      revs.push([x.revision, 'create', 'pools/p/peers/x']);
      const x2 = await cp.updatePeer('p', 'x', { enabled: false }, { actor: 'bob' });
      revs.push([x2.revision, 'update', 'pools/p/peers/x']);
      await cp.deletePeer('p', 'x', { actor: 'bob' });
      revs.push([await cp.currentRevision(), 'delete', 'pools/p/peers/x']);
      await cp.poolPrivateKey('p', { actor: 'n' });
      revs.push([await cp.currentRevision(), 'read', 'pools/p/private-key']);
      await rejectsWith(cp.createPeer('p', { name: 'bad', publicKey: WEAK_KEYS[1]! }, { actor: 'bob' }), 'WGF_ERR_WEAK_KEY');
      const audit = (await cp.listAudit()).items;
      assert.deepEqual(audit.map((e) => [e.revision, e.action, e.object]), revs);
      assert.deepEqual(audit.map((e) => e.actor), ['alice', 'alice', 'bob', 'bob', 'bob', 'n']);
      assert.deepEqual((await cp.listAudit({ actor: 'alice' })).items.length, 2);
      assert.deepEqual((await cp.listAudit({ kind: 'peer', action: 'update' })).items.map((e) => e.revision), [x2.revision]);
      assert.deepEqual((await cp.listAudit({ object: 'pools/p/nodes/' })).items.map((e) => e.object), ['pools/p/nodes/n']);
      const p1 = await cp.listAudit({ limit: 4 });
      const p2 = await cp.listAudit({ limit: 4, cursor: p1.next! });
      assert.equal(p1.items.length + p2.items.length, 6);
    }));

    test('tokens: create, authenticate, list without secrets, delete, last admin kept, bootstrap once', withPlane(async (cp) => {
      const boot = await cp.bootstrap();
      assert.match(boot ?? '', /^wgf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      assert.equal(await cp.bootstrap(), null);
      const who = await cp.authenticate(boot!);
      assert.equal(who?.role, 'admin');
      assert.equal(who?.name, 'bootstrap');
      assert.equal(await cp.authenticate(boot!.slice(0, -1) + (boot!.endsWith('A') ? 'B' : 'A')), null);
      assert.equal(await cp.authenticate('wgf_0000000000000000_' + 'A'.repeat(43)), null);
      assert.equal(await cp.authenticate('Bearer nonsense'), null);
      const stored = (await cp.store.range(K.TOKEN_PREFIX)).kvs.map((kv) => kv.value).join();
      // The secret is everything after `wgf_<16 hex>_`; it may itself contain '_'.
      assert.ok(!stored.includes(boot!.slice('wgf_'.length + 16 + 1)), 'the secret is not stored');
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      await cp.createNode('p', { name: 'n' }, admin);
      const nodeTok = await cp.createToken({ name: 'agent-n', role: 'node', pool: 'p', node: 'n' }, admin);
      assert.deepEqual([nodeTok.token.pool, nodeTok.token.node], ['p', 'n']);
      await rejectsWith(cp.createToken({ name: 'agent-n', role: 'operator' }, admin), 'WGF_ERR_ALREADY_EXISTS');
      await rejectsWith(cp.createToken({ name: 'x', role: 'node', pool: 'p' }, admin), 'WGF_ERR_VALIDATION');
      await rejectsWith(cp.createToken({ name: 'x', role: 'node', pool: 'p', node: 'zz' }, admin), 'WGF_ERR_NOT_FOUND');
      await rejectsWith(cp.createToken({ name: 'x', role: 'operator', pool: 'p' }, admin), 'WGF_ERR_VALIDATION');
      const list = await cp.listTokens();
      assert.equal(list.items.length, 2);
      assert.ok(!JSON.stringify(list).includes('hash'));
      await rejectsWith(cp.deleteToken(who!.id, admin), 'WGF_ERR_IN_USE');
      const second = await cp.createToken({ name: 'admin2', role: 'admin' }, admin);
      await cp.deleteToken(who!.id, admin);
      assert.equal(await cp.authenticate(boot!), null);
      await rejectsWith(cp.deleteToken(second.token.id, admin), 'WGF_ERR_IN_USE');
      await rejectsWith(cp.deleteToken('0123456789abcdef', admin), 'WGF_ERR_NOT_FOUND');
    }));

    test('a node token lives as long as its node: deleted with the node or the pool, refused for a re-created node of the same name', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      for (const n of ['n1', 'n2']) await cp.createNode('p', { name: n }, admin);
      const t1 = await cp.createToken({ name: 'agent-n1', role: 'node', pool: 'p', node: 'n1' }, admin);
      const t2 = await cp.createToken({ name: 'agent-n2', role: 'node', pool: 'p', node: 'n2' }, admin);
      const op = await cp.createToken({ name: 'ops', role: 'operator' }, admin);
      assert.equal((await cp.authenticate(t1.secret))?.node, 'n1');
      await cp.deleteNode('p', 'n1', admin);
      assert.equal(await cp.authenticate(t1.secret), null, "a deleted node's token is refused");
      assert.deepEqual((await cp.listTokens()).items.map((t) => t.name).sort(), ['agent-n2', 'ops'], 'and gone from the list, with its name free again');
      assert.equal((await cp.authenticate(t2.secret))?.node, 'n2', "the other node's token is untouched");
      await cp.createToken({ name: 'agent-n1', role: 'node', pool: 'p', node: 'n2' }, admin);

      // A token the delete did not see (made concurrently, or stored before this rule): refused
      // once its node is gone, and not revived by a new node of the same name.
      await cp.createNode('p', { name: 'n3' }, admin);
      const t3 = await cp.createToken({ name: 'agent-n3', role: 'node', pool: 'p', node: 'n3' }, admin);
      await cp.store.txn([], [{ type: 'delete', key: K.nodeKey('p', 'n3') }]);
      assert.equal(await cp.authenticate(t3.secret), null);
      await cp.createNode('p', { name: 'n3' }, admin);
      assert.equal(await cp.authenticate(t3.secret), null, 'bound to the node it was made for, not to its name');

      await cp.deletePool('p', { ...admin, force: true });
      assert.equal(await cp.authenticate(t2.secret), null);
      assert.deepEqual((await cp.listTokens()).items.map((t) => t.name).sort(), ['ops'], "the pool's node tokens went with it");
      assert.equal((await cp.authenticate(op.secret))?.role, 'operator');
    }));

    test('compactRevision follows the store; only the admin compaction is audited', withPlane(async (cp) => {
      assert.equal(await cp.compactRevision(), 0);
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      await cp.store.compact(1); // what the automatic compactor does: no audit entry, no revision
      assert.equal(await cp.compactRevision(), 1);
      assert.equal((await cp.listAudit({ kind: 'store' })).items.length, 0);
      const r = await cp.compact(undefined, admin);
      assert.equal(await cp.compactRevision(), r.compactRevision);
      assert.equal((await cp.listAudit({ kind: 'store' })).items.length, 1);
    }));
  });
}

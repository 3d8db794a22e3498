import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoSecretsInLogs, findSecretsInLogs, labSecrets } from '../../test/integration/fixtures/log-secrets.js';

test('the lab log scan finds tokens and known keys in any log line, and passes clean logs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-ha-logscan-'));
  try {
    const token = `wgf_${'a'.repeat(16)}_${'B'.repeat(43)}`;
    const priv = 'cGFzc3dvcmRwYXNzd29yZHBhc3N3b3JkcGFzc3dvcmQ=';
    const psk = 'cHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHM=';
    writeFileSync(join(dir, 'admin.token'), `${token}\n`);
    writeFileSync(join(dir, 'client-1.conf'), `[Interface]\nPrivateKey = ${priv}\n[Peer]\nPresharedKey = ${psk}\n`);
    writeFileSync(join(dir, 'server.log'), '{"msg":"started"}\n{"msg":"peer added","publicKey":"xyz"}\n');
    assert.equal(labSecrets(dir).size, 3);
    assert.deepEqual(assertNoSecretsInLogs(dir), { files: 1, secrets: 3 });
    writeFileSync(join(dir, 'node-1.agent.log'), `ok\n{"error":"bad ${psk}"}\n{"token":"wgf_${'c'.repeat(16)}_${'D'.repeat(43)}"}\n${priv}\n`);
    const hits = findSecretsInLogs(dir, labSecrets(dir));
    assert.deepEqual(hits, [
      'node-1.agent.log:2: PresharedKey of client-1.conf', 'node-1.agent.log:3: an API token', 'node-1.agent.log:4: PrivateKey of client-1.conf',
    ]);
    assert.throws(() => assertNoSecretsInLogs(dir), (e: Error) => !e.message.includes(psk) && /node-1\.agent\.log:2/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoSecretsInLogs, findMisshapenLogLines, findSecretsInLogs, labSecrets, roleLogFiles } from '../../test/integration/fixtures/log-secrets.js';

test('the lab log scan finds tokens and known keys in any log line, and passes clean logs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-ha-logscan-'));
  try {
    const token = `wgf_${'a'.repeat(16)}_${'B'.repeat(43)}`;
    const priv = 'cGFzc3dvcmRwYXNzd29yZHBhc3N3b3JkcGFzc3dvcmQ=';
    const psk = 'cHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHNrcHM=';
    writeFileSync(join(dir, 'admin.token'), `${token}\n`);
    writeFileSync(join(dir, 'client-1.conf'), `[Interface]\nPrivateKey = ${priv}\n[Peer]\nPresharedKey = ${psk}\n`);
    const line = (msg: string, extra = '') => `{"level":"info","time":"2026-01-01T00:00:00.000Z","role":"server","pid":1${extra},"msg":"${msg}"}\n`;
    writeFileSync(join(dir, 'server.log'), line('started') + line('peer added', ',"publicKey":"xyz"'));
    assert.equal(labSecrets(dir).size, 3);
    assert.deepEqual(assertNoSecretsInLogs(dir), { files: 1, secrets: 3, shaped: 'server 2 lines' });
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

test('the lab log scan fails a server, agent, LB or dns log line that is not of the common JSON shape, naming file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-op-logshape-'));
  try {
    const good = '{"level":"info","time":"2026-01-01T00:00:00.000Z","role":"agent","pid":7,"msg":"agent started","pool":"p"}';
    writeFileSync(join(dir, 'backend-1.agent.log'), `${good}\n{"time":"2026-01-01T00:00:00.000Z","level":"info","msg":"old shape"}\n`);
    writeFileSync(join(dir, 'lb-1.log'), `${good.replace('"agent"', '"lb"')}\nerror: plain text\n`);
    writeFileSync(join(dir, 'server-2.log'), '{"level":30,"time":1767225600000,"pid":1,"msg":"pino default"}\n');
    writeFileSync(join(dir, 'backend-1.wg.log'), 'wireguard-go banner\n');
    writeFileSync(join(dir, 'etcd-0.log'), '{"level":"warn"}\n');
    assert.deepEqual(roleLogFiles(dir), ['backend-1.agent.log', 'lb-1.log', 'server-2.log']);
    const bad = findMisshapenLogLines(dir);
    assert.equal(bad.length, 3, bad.join('\n'));
    assert.match(bad[0]!, /^backend-1\.agent\.log:2: role undefined is not a role/);
    assert.match(bad[1]!, /^lb-1\.log:2: not JSON/);
    assert.match(bad[2]!, /^server-2\.log:1: level 30 is not a level name/);
    assert.throws(() => assertNoSecretsInLogs(dir), /not of the common JSON shape[\s\S]*lb-1\.log:2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFabricError } from '../protocol/errors.js';
import { conntrackPort, deleteArgs, parseDeletedCount } from './conntrack.js';

const summaries: { name: string; text: string; want: number | undefined }[] = [
  { name: 'several deleted', text: 'conntrack v1.4.7 (conntrack-tools): 12 flow entries have been deleted.\n', want: 12 },
  { name: 'none deleted', text: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n', want: 0 },
  { name: 'singular wording', text: 'conntrack v1.4.8 (conntrack-tools): 1 flow entry has been deleted.\n', want: 1 },
  { name: 'after listed entries', text: 'udp 17 29 src=198.18.0.2 ...\nconntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n', want: 2 },
  { name: 'an error message', text: 'conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted\n', want: undefined },
  { name: 'nothing', text: '', want: undefined },
];
for (const c of summaries) {
  test(`parseDeletedCount: ${c.name}`, () => {
    assert.equal(parseDeletedCount(c.text), c.want);
  });
}

const argCases: { name: string; args: [string, number, string, number]; want: string[] }[] = [
  {
    name: 'IPv4',
    args: ['198.18.0.1', 51820, '198.18.1.2', 51821],
    want: ['-D', '-p', 'udp', '--orig-dst', '198.18.0.1', '--orig-port-dst', '51820', '--reply-src', '198.18.1.2', '--reply-port-src', '51821'],
  },
  {
    name: 'IPv6, canonical addresses',
    args: ['2001:DB8:0::1', 443, '2001:db8:1:0:0:0:0:2', 443],
    want: ['-D', '-f', 'ipv6', '-p', 'udp', '--orig-dst', '2001:db8::1', '--orig-port-dst', '443', '--reply-src', '2001:db8:1::2', '--reply-port-src', '443'],
  },
];
for (const c of argCases) {
  test(`deleteArgs: ${c.name}`, () => {
    assert.deepEqual(deleteArgs(...c.args), c.want);
  });
}

const badArgs: { name: string; args: [string, number, string, number]; field: string }[] = [
  { name: 'mixed families', args: ['198.18.0.1', 1, '2001:db8::2', 1], field: 'backendAddr' },
  { name: 'a host name', args: ['lb.example', 1, '198.18.1.2', 1], field: 'vip' },
  { name: 'port 0', args: ['198.18.0.1', 1, '198.18.1.2', 0], field: 'backendPort' },
];
for (const c of badArgs) {
  test(`deleteArgs rejects ${c.name}`, () => {
    assert.throws(() => deleteArgs(...c.args), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === c.field);
  });
}

// A stand-in `conntrack` on PATH: records its arguments, prints $FAKE_CT_STDERR to stderr and
// exits with $FAKE_CT_CODE, so the shell's handling of the tool's exit codes is tested here.
let dir = '';
let savedPath: string | undefined;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wgf-ct-'));
  const script = `#!/bin/sh\necho "$@" > "${dir}/args"\nprintf '%s\\n' "$FAKE_CT_STDERR" >&2\nexit "$FAKE_CT_CODE"\n`;
  writeFileSync(join(dir, 'conntrack'), script);
  chmodSync(join(dir, 'conntrack'), 0o755);
  savedPath = process.env['PATH'];
  process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
});
after(() => {
  process.env['PATH'] = savedPath;
  delete process.env['FAKE_CT_STDERR'];
  delete process.env['FAKE_CT_CODE'];
  rmSync(dir, { recursive: true, force: true });
});

const runs: { name: string; code: number; stderr: string; want: number | 'error' }[] = [
  { name: 'entries deleted (exit 0)', code: 0, stderr: 'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.', want: 3 },
  { name: 'nothing matched (exit 1) is 0, not an error', code: 1, stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.', want: 0 },
  { name: 'a failure is WGF_ERR_CONNTRACK', code: 1, stderr: 'conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted', want: 'error' },
  { name: 'a failure with a count is still a failure', code: 2, stderr: 'conntrack v1.4.7 (conntrack-tools): 5 flow entries have been deleted.', want: 'error' },
];
for (const c of runs) {
  test(`conntrackPort: ${c.name}`, async () => {
    process.env['FAKE_CT_CODE'] = String(c.code);
    process.env['FAKE_CT_STDERR'] = c.stderr;
    const port = conntrackPort();
    if (c.want === 'error') {
      await assert.rejects(port.deleteFlowsTo('198.18.0.1', 51820, '198.18.1.2', 51820), (e: unknown) => {
        assert.ok(isFabricError(e, 'WGF_ERR_CONNTRACK'));
        assert.equal(e.details?.['stderr'], c.stderr);
        return true;
      });
    } else {
      assert.equal(await port.deleteFlowsTo('198.18.0.1', 51820, '198.18.1.2', 51820), c.want);
    }
    assert.equal(readFileSync(join(dir, 'args'), 'utf8').trim(), deleteArgs('198.18.0.1', 51820, '198.18.1.2', 51820).join(' '));
  });
}

test('conntrackPort: a missing binary is WGF_ERR_CONNTRACK', async () => {
  const saved = process.env['PATH'];
  process.env['PATH'] = dir + '-missing';
  try {
    await assert.rejects(conntrackPort().deleteFlowsTo('198.18.0.1', 1, '198.18.1.2', 1), (e: unknown) => isFabricError(e, 'WGF_ERR_CONNTRACK'));
  } finally {
    process.env['PATH'] = saved;
  }
});

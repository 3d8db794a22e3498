import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFabricError } from '../protocol/errors.js';
import { intIn, prng } from './testing/prng.js';
import { conntrackPort, deleteArgs, listArgs, parseDeletedCount, parseFlows, parseFlowTargets, parseShownCount, type ConntrackFlow, type FlowTarget } from './conntrack.js';

/** `base` with 1..8 random characters replaced, dropped or inserted (fuzz input for the parsers). */
function mangle(next: () => number, base: string): string {
  const alphabet = ' =\n.:[]0123456789abcdefsrcdportUNREPLIED';
  const chars = [...base];
  for (let k = intIn(next, 1, 8); k > 0; k--) {
    const at = intIn(next, 0, chars.length - 1);
    const op = intIn(next, 0, 2);
    const c = alphabet[intIn(next, 0, alphabet.length - 1)]!;
    if (op === 0) chars[at] = c;
    else if (op === 1) chars.splice(at, 1);
    else chars.splice(at, 0, c);
  }
  return chars.join('');
}

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

// Real-looking `conntrack -L` lines (conntrack-tools 1.4.7): the original tuple, flags, the reply
// tuple (after DNAT its source is the backend), then mark=, use= and friends.
const L = {
  assured: 'udp      17 115 src=198.18.0.2 dst=198.18.0.1 sport=41001 dport=51820 src=198.18.1.2 dst=198.18.0.2 sport=51820 dport=41001 [ASSURED] mark=0 use=1',
  assured2: 'udp      17 97 src=198.18.0.3 dst=198.18.0.1 sport=41002 dport=51820 src=198.18.1.2 dst=198.18.0.3 sport=51820 dport=41002 [ASSURED] mark=0 use=1',
  unreplied: 'udp      17 29 src=198.18.0.2 dst=198.18.0.1 sport=41003 dport=51820 [UNREPLIED] src=198.18.2.2 dst=198.18.0.2 sport=51821 dport=41003 mark=0 use=1',
  zone: 'udp      17 29 src=198.18.0.4 dst=198.18.0.1 sport=5000 dport=51820 src=198.18.2.2 dst=198.18.0.4 sport=51821 dport=5000 [ASSURED] mark=16 secctx=system_u:object_r:unlabeled_t:s0 zone=3 use=2',
  notNated: 'udp      17 29 src=198.18.0.2 dst=198.18.0.1 sport=41004 dport=51820 [UNREPLIED] src=198.18.0.1 dst=198.18.0.2 sport=51820 dport=41004 mark=0 use=1',
  extended: 'ipv4     2 udp      17 29 src=198.18.0.2 dst=198.18.0.1 sport=41005 dport=51820 src=198.18.1.2 dst=198.18.0.2 sport=51820 dport=41005 [ASSURED] mark=0 use=1',
  v6: 'udp      17 119 src=2001:db8::2 dst=2001:db8::1 sport=41001 dport=443 src=2001:db8:1:0::2 dst=2001:db8::2 sport=443 dport=41001 [ASSURED] mark=0 use=1',
  v6b: 'udp      17 25 src=2001:db8::3 dst=2001:db8::1 sport=41002 dport=443 [UNREPLIED] src=2001:db8:1::2 dst=2001:db8::3 sport=443 dport=41002 mark=0 use=1',
};

const flow = (original: [string, string, number, number], reply: [string, string, number, number], ...flags: string[]): ConntrackFlow => ({
  original: { src: original[0], dst: original[1], sport: original[2], dport: original[3] },
  reply: { src: reply[0], dst: reply[1], sport: reply[2], dport: reply[3] },
  flags,
});

const flowCases: { name: string; text: string; want: ConntrackFlow[] }[] = [
  { name: 'nothing', text: '', want: [] },
  {
    name: 'both tuples and the flags, in input order',
    text: [L.assured, L.unreplied].join('\n'),
    want: [
      flow(['198.18.0.2', '198.18.0.1', 41001, 51820], ['198.18.1.2', '198.18.0.2', 51820, 41001], 'ASSURED'),
      flow(['198.18.0.2', '198.18.0.1', 41003, 51820], ['198.18.2.2', '198.18.0.2', 51821, 41003], 'UNREPLIED'),
    ],
  },
  {
    name: 'extra fields (mark=, secctx=, zone=, use=) ignored, blank lines too',
    text: `\n${L.zone}\n\n`,
    want: [flow(['198.18.0.4', '198.18.0.1', 5000, 51820], ['198.18.2.2', '198.18.0.4', 51821, 5000], 'ASSURED')],
  },
  { name: 'not NATed: the reply comes from the VIP', text: L.notNated, want: [flow(['198.18.0.2', '198.18.0.1', 41004, 51820], ['198.18.0.1', '198.18.0.2', 51820, 41004], 'UNREPLIED')] },
  { name: 'the extended format (family prefix)', text: L.extended, want: [flow(['198.18.0.2', '198.18.0.1', 41005, 51820], ['198.18.1.2', '198.18.0.2', 51820, 41005], 'ASSURED')] },
  {
    name: 'accounting fields inside the tuples, and several flags',
    text: 'udp      17 29 src=198.18.0.2 dst=198.18.0.1 sport=41006 dport=51820 packets=3 bytes=276 src=198.18.1.2 dst=198.18.0.2 sport=51820 dport=41006 packets=2 bytes=184 [ASSURED] [OFFLOAD] mark=0 use=1',
    want: [flow(['198.18.0.2', '198.18.0.1', 41006, 51820], ['198.18.1.2', '198.18.0.2', 51820, 41006], 'ASSURED', 'OFFLOAD')],
  },
  {
    name: 'IPv6, plain and extended, addresses in canonical form',
    text: `${L.v6}\nipv6     10 ${L.v6b}\n`,
    want: [
      flow(['2001:db8::2', '2001:db8::1', 41001, 443], ['2001:db8:1::2', '2001:db8::2', 443, 41001], 'ASSURED'),
      flow(['2001:db8::3', '2001:db8::1', 41002, 443], ['2001:db8:1::2', '2001:db8::3', 443, 41002], 'UNREPLIED'),
    ],
  },
  {
    name: 'a client source port 0 is an entry like any other',
    text: L.assured.replaceAll('41001', '0'),
    want: [flow(['198.18.0.2', '198.18.0.1', 0, 51820], ['198.18.1.2', '198.18.0.2', 51820, 0], 'ASSURED')],
  },
];
for (const c of flowCases) {
  test(`parseFlows: ${c.name}`, () => {
    assert.deepEqual(parseFlows(c.text), { flows: c.want, skipped: [] });
  });
}

test('parseFlows skips what it cannot read, with the reason, and keeps reading', () => {
  const bad: [string, RegExp][] = [
    ['conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.', /not a UDP entry/],
    ['tcp      6 431999 ESTABLISHED src=198.18.0.2 dst=198.18.0.1 sport=41001 dport=22 src=198.18.0.1 dst=198.18.0.2 sport=22 dport=41001 [ASSURED] mark=0 use=1', /not a UDP entry/],
    ['udp      17 29 src=198.18.0.2 dst=198.18.0.1 sport=41001 dport=51820 mark=0 use=1', /original and a reply tuple/],
    ['udp      17 29 dst=198.18.0.1 src=198.18.0.2 sport=41001 dport=51820 src=198.18.1.2 dst=198.18.0.2 sport=51820 dport=41001', /before the first src=/],
    ['udp      17 29 src=198.18.0.2 dst=198.18.0.1 sport=41001 sport=41002 dport=51820 src=198.18.1.2 dst=198.18.0.2 sport=51820 dport=41001', /sport= twice/],
    ['udp      17 29 src=198.18.0.2 sport=41001 dport=51820 src=198.18.1.2 dst=198.18.0.2 sport=51820 dport=41001', /original tuple lacks/],
    [L.assured.replace('src=198.18.1.2', 'src=198.18.1.256'), /bad reply source address "198\.18\.1\.256"/],
    [L.assured.replace('dst=198.18.0.1', 'dst=lb.example'), /bad original destination address/],
    [L.assured.replace('sport=51820 dport=41001', 'sport=99999 dport=41001'), /bad reply source port "99999"/],
    [L.assured.replace('dport=51820', 'dport=0x10'), /bad original destination port/],
  ];
  const text = [L.assured, ...bad.map(([line]) => line), L.v6].join('\n');
  const { flows, skipped } = parseFlows(text);
  assert.deepEqual(flows.map((f) => f.original.sport), [41001, 41001], 'the good lines around the bad ones are read');
  assert.deepEqual(skipped.map((s) => s.line), bad.map(([line]) => line));
  skipped.forEach((s, i) => assert.match(s.reason, bad[i]![1], s.line));
});

test('parseFlows fuzz: mangled listings never throw; every flow read is well-formed', () => {
  const next = prng(11);
  const base = Object.values(L).join('\n');
  const ok = (t: ConntrackFlow['original']): boolean => /^[0-9a-f.:]+$/.test(t.src) && /^[0-9a-f.:]+$/.test(t.dst)
    && [t.sport, t.dport].every((p) => Number.isInteger(p) && p >= 0 && p <= 65535);
  for (let i = 0; i < 2000; i++) {
    const text = mangle(next, base);
    const { flows, skipped } = parseFlows(text);
    assert.equal(flows.length + skipped.length, text.split('\n').filter((l) => l.trim() !== '').length, `case ${i}: every line is read or skipped`);
    for (const f of flows) assert.ok(ok(f.original) && ok(f.reply), `case ${i}: ${JSON.stringify(f)}`);
  }
});

const listings: { name: string; text: string; want: FlowTarget[] }[] = [
  { name: 'nothing', text: '', want: [] },
  { name: 'one entry', text: `${L.assured}\n`, want: [{ address: '198.18.1.2', port: 51820, flows: 1 }] },
  {
    name: 'the reply source (second src=/sport=) counts, not the client',
    text: [L.assured, L.assured2, L.unreplied].join('\n'),
    want: [{ address: '198.18.1.2', port: 51820, flows: 2 }, { address: '198.18.2.2', port: 51821, flows: 1 }],
  },
  {
    name: 'extra fields (mark=, secctx=, zone=, use=) and blank lines',
    text: `\n${L.zone}\n\n${L.unreplied}\n`, want: [{ address: '198.18.2.2', port: 51821, flows: 2 }],
  },
  { name: 'an entry that was not NATed points to the VIP itself', text: L.notNated, want: [{ address: '198.18.0.1', port: 51820, flows: 1 }] },
  { name: 'the extended format (family prefix)', text: L.extended, want: [{ address: '198.18.1.2', port: 51820, flows: 1 }] },
  { name: 'IPv6, addresses in canonical form', text: `${L.v6}\n${L.v6b}\n`, want: [{ address: '2001:db8:1::2', port: 443, flows: 2 }] },
  {
    name: 'sorted by address, then port',
    text: [L.unreplied, L.notNated, L.assured].join('\n'),
    want: [{ address: '198.18.0.1', port: 51820, flows: 1 }, { address: '198.18.1.2', port: 51820, flows: 1 }, { address: '198.18.2.2', port: 51821, flows: 1 }],
  },
];
for (const c of listings) {
  test(`parseFlowTargets: ${c.name}`, () => {
    assert.deepEqual(parseFlowTargets(c.text), c.want);
  });
}

const badListings: { name: string; text: string }[] = [
  { name: 'a summary line on stdout', text: 'conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.' },
  { name: 'only the original tuple', text: 'udp      17 29 src=198.18.0.2 dst=198.18.0.1 sport=41001 dport=51820 mark=0 use=1' },
  { name: 'a bad reply address', text: L.assured.replace('src=198.18.1.2', 'src=198.18.1.256') },
  { name: 'a bad reply port', text: L.assured.replace('sport=51820 dport=41001', 'sport=99999 dport=41001') },
  { name: 'a non-numeric reply port', text: L.assured.replace('sport=51820 dport=41001', 'sport=0x10 dport=41001') },
  { name: 'good lines followed by garbage', text: `${L.assured}\nsomething else\n` },
];
for (const c of badListings) {
  test(`parseFlowTargets rejects ${c.name} with WGF_ERR_CONNTRACK`, () => {
    assert.throws(() => parseFlowTargets(c.text), (e: unknown) => isFabricError(e, 'WGF_ERR_CONNTRACK'));
  });
}

test('parseFlowTargets fuzz: mangled listings either parse to valid targets or throw WGF_ERR_CONNTRACK', () => {
  const next = prng(7);
  const base = Object.values(L).join('\n');
  for (let i = 0; i < 2000; i++) {
    const text = mangle(next, base);
    let out: FlowTarget[];
    try {
      out = parseFlowTargets(text);
    } catch (e) {
      assert.ok(isFabricError(e, 'WGF_ERR_CONNTRACK'), `case ${i}: ${String(e)}`);
      continue;
    }
    for (const t of out) {
      assert.ok(Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535, `case ${i}: port ${t.port}`);
      assert.ok(Number.isInteger(t.flows) && t.flows >= 1);
      assert.ok(/^[0-9a-f.:]+$/.test(t.address), `case ${i}: address ${t.address}`);
    }
  }
});

test('parseShownCount', () => {
  assert.equal(parseShownCount('conntrack v1.4.7 (conntrack-tools): 24 flow entries have been shown.\n'), 24);
  assert.equal(parseShownCount('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n'), 0);
  assert.equal(parseShownCount('conntrack v1.4.8 (conntrack-tools): 1 flow entry has been shown.\n'), 1);
  assert.equal(parseShownCount('conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n'), undefined);
});

test('listArgs: IPv4, and IPv6 with -f ipv6 and a canonical VIP', () => {
  assert.deepEqual(listArgs('198.18.0.1', 51820), ['-L', '-p', 'udp', '--orig-dst', '198.18.0.1', '--orig-port-dst', '51820']);
  assert.deepEqual(listArgs('2001:DB8:0::1', 443), ['-L', '-f', 'ipv6', '-p', 'udp', '--orig-dst', '2001:db8::1', '--orig-port-dst', '443']);
  assert.throws(() => listArgs('lb.example', 1), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'));
  assert.throws(() => listArgs('198.18.0.1', 0), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'));
});

// A stand-in `conntrack` on PATH: records its arguments, prints $FAKE_CT_STDOUT to stdout and
// $FAKE_CT_STDERR to stderr and exits with $FAKE_CT_CODE, so the shell's handling of the tool's
// exit codes is tested here.
let dir = '';
let savedPath: string | undefined;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wgf-ct-'));
  const script = `#!/bin/sh\necho "$@" > "${dir}/args"\nprintf '%s' "$FAKE_CT_STDOUT"\nprintf '%s\\n' "$FAKE_CT_STDERR" >&2\nexit "$FAKE_CT_CODE"\n`;
  writeFileSync(join(dir, 'conntrack'), script);
  chmodSync(join(dir, 'conntrack'), 0o755);
  savedPath = process.env['PATH'];
  process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
});
after(() => {
  process.env['PATH'] = savedPath;
  delete process.env['FAKE_CT_STDOUT'];
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
    process.env['FAKE_CT_STDOUT'] = '';
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

const SHOWN = (n: number) => `conntrack v1.4.7 (conntrack-tools): ${n} flow entries have been shown.`;
const listRuns: { name: string; code: number; stdout: string; stderr: string; want: FlowTarget[] | 'error' }[] = [
  {
    name: 'entries listed (exit 0)', code: 0, stdout: `${L.assured}\n${L.unreplied}\n`, stderr: SHOWN(2),
    want: [{ address: '198.18.1.2', port: 51820, flows: 1 }, { address: '198.18.2.2', port: 51821, flows: 1 }],
  },
  { name: 'no entries (exit 0)', code: 0, stdout: '', stderr: SHOWN(0), want: [] },
  { name: 'no entries (exit 1) is an empty list, not an error', code: 1, stdout: '', stderr: SHOWN(0), want: [] },
  { name: 'a failure is WGF_ERR_CONNTRACK', code: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted', want: 'error' },
  { name: 'exit 1 with entries is still a failure', code: 1, stdout: L.assured, stderr: SHOWN(1), want: 'error' },
  { name: 'unreadable output is WGF_ERR_CONNTRACK, not "no flows"', code: 0, stdout: 'udp 17 29 garbage\n', stderr: SHOWN(1), want: 'error' },
];
for (const c of listRuns) {
  test(`conntrackPort.listFlowTargets: ${c.name}`, async () => {
    process.env['FAKE_CT_CODE'] = String(c.code);
    process.env['FAKE_CT_STDERR'] = c.stderr;
    process.env['FAKE_CT_STDOUT'] = c.stdout;
    const port = conntrackPort();
    if (c.want === 'error') {
      await assert.rejects(port.listFlowTargets('198.18.0.1', 51820), (e: unknown) => isFabricError(e, 'WGF_ERR_CONNTRACK'));
    } else {
      assert.deepEqual(await port.listFlowTargets('198.18.0.1', 51820), c.want);
    }
    assert.equal(readFileSync(join(dir, 'args'), 'utf8').trim(), listArgs('198.18.0.1', 51820).join(' '));
  });
}

test('conntrackPort: a missing binary is WGF_ERR_CONNTRACK', async () => {
  const saved = process.env['PATH'];
  process.env['PATH'] = dir + '-missing';
  try {
    await assert.rejects(conntrackPort().deleteFlowsTo('198.18.0.1', 1, '198.18.1.2', 1), (e: unknown) => isFabricError(e, 'WGF_ERR_CONNTRACK'));
    await assert.rejects(conntrackPort().listFlowTargets('198.18.0.1', 1), (e: unknown) => isFabricError(e, 'WGF_ERR_CONNTRACK'));
  } finally {
    process.env['PATH'] = saved;
  }
});

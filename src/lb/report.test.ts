import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LB_BACKENDS, MAX_LB_REASON, type LbReportInput } from '../protocol/api.js';
import { lbReportInput, reportText, StatusReporter } from './report.js';
import type { LbServiceBackend, LbServiceStatus } from './service.js';
import { FakeTimers, settle } from './testing/fake-timers.js';

function backend(name: string, over: Partial<LbServiceBackend> = {}): LbServiceBackend {
  return {
    name, address: '198.18.0.10', port: 51820, state: 'up', reason: 'healthy', inTable: true, slots: 7, adminState: 'active', agentReady: true,
    probes: 3, consecutiveFailures: 0, lastRttMs: 0.4, lastDetectionMs: null, detectedAt: null, leftTableAt: null, ...over,
  };
}

function lbStatus(over: Partial<LbServiceStatus> = {}): LbServiceStatus {
  return {
    pool: 'p', instance: 't', vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip', generation: 3, probePeer: null, lastError: null, failOpen: false,
    backends: [backend('a')], ...over,
  };
}

describe('lbReportInput', () => {
  test('keeps the report fields, drops the local ones', () => {
    assert.deepEqual(lbReportInput(lbStatus({ failOpen: true })), {
      vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip', generation: 3, lastError: null, failOpen: true,
      backends: [{ name: 'a', state: 'up', reason: 'healthy', inTable: true, slots: 7, rttMs: 0.4 }],
    });
    assert.equal(lbReportInput(lbStatus({ backends: [backend('a', { lastRttMs: null })] })).backends[0]!.rttMs, null, 'no probe answered yet');
    assert.equal(lbReportInput(lbStatus({ returnPath: 'dsr' })).returnPath, 'dsr', 'the return path is reported');
  });
  const cases: [string, string, number, string][] = [
    ['short text unchanged', 'probe failed: timeout after 300 ms', 512, 'probe failed: timeout after 300 ms'],
    ['control characters become spaces', 'nft failed:\nError: x\r\n\tline 2', 512, 'nft failed: Error: x line 2'],
    ['long text cut with an ellipsis', 'x'.repeat(600), 512, `${'x'.repeat(511)}…`],
  ];
  for (const [name, input, max, want] of cases) test(`reportText: ${name}`, () => assert.equal(reportText(input, max), want));
  test('bounds: reasons and errors within the API limits, at most MAX_LB_BACKENDS backends', () => {
    const r = lbReportInput(lbStatus({
      lastError: `nft:\n${'e'.repeat(5000)}`,
      backends: Array.from({ length: MAX_LB_BACKENDS + 5 }, (_, i) => backend(`b${i}`, { reason: `probe failed:\n${'r'.repeat(1000)}` })),
    }));
    assert.equal(r.backends.length, MAX_LB_BACKENDS);
    assert.ok(r.backends.every((b) => b.reason.length === MAX_LB_REASON && !b.reason.includes('\n')));
    assert.equal(r.lastError!.length, 1024);
  });
});

describe('StatusReporter (fake timers)', () => {
  /** A send whose answers the test releases one by one. */
  function harness(opts: { fail?: boolean } = {}) {
    const timers = new FakeTimers();
    const sent: LbReportInput[] = [];
    const waiting: (() => void)[] = [];
    const logs: { level: string; msg: string }[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let generation = 0;
    const reporter = new StatusReporter({
      timers, intervalMs: 1000, log: (level, msg) => logs.push({ level, msg }),
      snapshot: () => lbReportInput(lbStatus({ generation })),
      send: (r) => {
        sent.push(r);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        return new Promise<void>((resolve, reject) => waiting.push(() => {
          inFlight--;
          if (opts.fail) reject(new Error('control plane down'));
          else resolve();
        }));
      },
    });
    const release = async () => {
      waiting.shift()?.();
      await settle();
    };
    return { timers, reporter, sent, logs, release, setGeneration: (g: number) => (generation = g), get maxInFlight() { return maxInFlight; } };
  }

  test('coalesces: kicks during a send make exactly one more report, of the state when it starts', async () => {
    const h = harness();
    h.reporter.start();
    assert.equal(h.sent.length, 1, 'the first report goes out at start');
    for (let g = 1; g <= 5; g++) {
      h.setGeneration(g);
      h.reporter.kick();
    }
    assert.equal(h.sent.length, 1, 'nothing else while one is in flight');
    await h.release();
    assert.deepEqual(h.sent.map((r) => r.generation), [0, 5]);
    await h.release();
    assert.equal(h.sent.length, 2, 'no further report without a kick or heartbeat');
    assert.equal(h.maxInFlight, 1);
  });

  test('heartbeat: the next report intervalMs after the previous one ended', async () => {
    const h = harness();
    h.reporter.start();
    await h.release();
    await h.timers.advance(999);
    assert.equal(h.sent.length, 1);
    await h.timers.advance(1);
    assert.equal(h.sent.length, 2);
    h.reporter.kick(); // in flight: coalesced
    await h.release();
    assert.equal(h.sent.length, 3, 'the kick made during the heartbeat report is sent right after it');
    await h.release();
    await h.timers.advance(1000);
    assert.equal(h.sent.length, 4);
  });

  test('failures: never thrown, warned at most once per 30 s, retried at the heartbeat', async () => {
    const h = harness({ fail: true });
    h.reporter.start();
    for (let t = 0; t < 100; t++) {
      await h.release();
      await h.timers.advance(1000);
    }
    await h.release();
    assert.equal(h.sent.length, 101, 'one attempt per heartbeat');
    assert.equal(h.reporter.counts.failed, 101);
    const warns = h.logs.filter((l) => l.level === 'warn');
    assert.equal(warns.length, 4, 'at 0, 30, 60 and 90 s');
  });

  test('stop: no report starts afterwards and no timer is left', async () => {
    const h = harness();
    h.reporter.start();
    await h.release();
    assert.equal(h.timers.pending, 1, 'the heartbeat timer');
    h.reporter.stop();
    assert.equal(h.timers.pending, 0);
    h.reporter.kick();
    await h.timers.advance(10_000);
    assert.equal(h.sent.length, 1);
  });
});

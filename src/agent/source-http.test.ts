import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiClient, WatchOptions } from '../client/api-client.js';
import type { PoolChange } from '../protocol/types.js';
import { HttpSource } from './source-http.js';

const change = (revision: number): PoolChange => ({ type: 'peer.delete', revision, name: `p${revision}`, publicKey: 'k' });

/** A stand-in for ApiClient.watchPool that plays a scripted stream, then waits for abort. */
function scripted(steps: ({ hb: number } | { change: PoolChange })[]): ApiClient {
  return {
    async watchPool(_pool: string, _since: number, onChange: (c: PoolChange) => void, o: WatchOptions) {
      for (const s of steps) {
        if ('hb' in s) o.onHeartbeat?.(s.hb);
        else onChange(s.change);
        await new Promise((r) => setImmediate(r));
      }
      if (!o.signal.aborted) await new Promise<void>((r) => o.signal.addEventListener('abort', () => r()));
    },
  } as unknown as ApiClient;
}

test('heartbeats and changes are delivered in stream order, also when a heartbeat comes first', async () => {
  const seen: string[] = [];
  const ac = new AbortController();
  const src = new HttpSource(scripted([{ hb: 5 }, { change: change(6) }, { hb: 7 }, { hb: 8 }, { change: change(9) }, { change: change(10) }, { hb: 10 }]));
  const done = src.follow('p', 0, {
    onChanges: async (cs) => {
      seen.push(`c${cs.map((c) => c.revision).join('+')}`);
      await new Promise((r) => setTimeout(r, 5));
    },
    onHeartbeat: (r) => {
      seen.push(`h${r}`);
      if (r === 10) ac.abort();
    },
  }, ac.signal);
  await done;
  const flat = seen.join(' ');
  assert.match(flat, /^h5 c6 h7 h8 c9(\+10)? (c10 )?h10$/);
});

test('a failing apply ends the follow with that error', async () => {
  const src = new HttpSource(scripted([{ change: change(1) }]));
  await assert.rejects(src.follow('p', 0, { onChanges: async () => { throw new Error('device gone'); }, onHeartbeat: () => {} }, new AbortController().signal), /device gone/);
});

/**
 * The Announcer contract (src/announce/contract.ts) over the real bird2 driver: a speaker bird
 * in one namespace (driven by BirdAnnouncer through its control socket and include), a router
 * bird in another with BGP + BFD sessions over IPv4 and IPv6; "the network" is what the
 * router's `birdc show route all` holds. Root only.
 */
import { describe } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAnnouncerContract } from '../../src/announce/contract.js';
import { BirdAnnouncer } from '../../src/announce/bird.js';
import { renderRouterConfig, renderSpeakerConfig, routerRoutes, startBird, writeEmptyInclude, SPEAKER_AS } from '../../src/lab/bird.js';
import { run } from '../../src/sys/exec.js';
import { Sandbox } from '../../src/sys/netns.js';
import { until } from './fixtures/until.js';

const sb = new Sandbox('bg');
const dir = mkdtempSync(join(tmpdir(), 'wgf-bg-bird-'));

describe('BirdAnnouncer (real bird2)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  runAnnouncerContract('bird', async () => {
    const o = 1 + Math.floor(Math.random() * 250);
    const r = await sb.addNetns('r');
    const s = await sb.addNetns('s');
    const { ifA, ifB } = await sb.veth({ ns: r, addr: `198.19.${o}.1/30` }, { ns: s, addr: `198.19.${o}.2/30` }, 'v');
    await run('ip', ['-6', 'addr', 'add', `fd19:${o.toString(16)}::1/64`, 'dev', ifA, 'nodad'], { netns: r });
    await run('ip', ['-6', 'addr', 'add', `fd19:${o.toString(16)}::2/64`, 'dev', ifB, 'nodad'], { netns: s });
    const include = join(dir, 'announce.conf');
    writeEmptyInclude(include, 'wgf_anycast');
    const router = await startBird(r, dir, 'router', renderRouterConfig(`198.19.${o}.1`, [{ name: 'spk', address: `198.19.${o}.2` }], [{ name: 'spk', address: `fd19:${o.toString(16)}::2` }]));
    sb.defer(async () => void process.kill(router.pid, 'SIGKILL'));
    const speaker = await startBird(s, dir, 'speaker', renderSpeakerConfig(`198.19.${o}.2`, `198.19.${o}.1`, include, 'wgf_anycast', `fd19:${o.toString(16)}::1`));
    sb.defer(async () => void process.kill(speaker.pid, 'SIGKILL'));
    await until('both BGP sessions established', async () => {
      const { stdout } = await run('birdc', ['-s', router.socket, 'show', 'protocols']);
      return (stdout.match(/Established/g) ?? []).length === 2;
    }, 30_000);
    const announcer = new BirdAnnouncer({ socket: speaker.socket, includeFile: include, localAs: SPEAKER_AS });
    await announcer.init();
    return {
      announcer, v4: ['198.51.100.7', '198.51.100.8'], v6: '2001:db8:bg::7'.replace('bg', 'b9'),
      observe: async () => {
        const { routes } = await routerRoutes(router.socket);
        return new Map(routes.map((rt) => [rt.prefix.replace(/\/\d+$/, ''), { gracefulShutdown: rt.communities.includes('65535:0') }]));
      },
    };
  }, async () => {
    await sb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
});

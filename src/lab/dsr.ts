/**
 * The lab's direct-server-return tier (`lab up --lb --lb-return-path dsr`, one LB instance, BPF
 * data path): clients still reach the VIP through the LB (their gateway, owner of the VIP on the
 * client bridge), which sends each packet unchanged to the chosen backend's MAC on the backend
 * bridge. Every backend holds the VIP on lo (arp_ignore=1, arp_announce=2: it never answers ARP
 * for it, nor uses it as the ARP source), set by its agent (`agent --vip`, src/agent/vip.ts,
 * which the lab passes), and routes the client subnet via a return router: a
 * namespace with one leg on the backend bridge and one on the client bridge, the way a
 * data-centre router would. Replies (from VIP:port, with the real client address as
 * destination) so never pass the LB.
 */
import { run } from '../sys/exec.js';
import type { LabHost, LabLbTier, LabReturnRouter } from './plan.js';
import type { LabState } from './state.js';

export interface DsrHooks {
  readonly addNamespace: (netns: string) => Promise<void>;
  readonly addLeg: (netns: string, host: string, inside: string, bridge: string, address: string) => Promise<void>;
}

/** Names and addresses of the return router (see plan.ts). */
export function planReturnRouter(n: (suffix: string) => string, base: string, cbase: string): LabReturnRouter {
  return {
    netns: n('rr'), vethHost: n('rrh'), vethNs: n('rrn'), address: `${base}.2`,
    clientVethHost: n('rrch'), clientVethNs: n('rrcn'), clientAddress: `${cbase}.3`,
  };
}

/** Builds the return router (namespace, both legs, forwarding on, no reverse-path filter). */
export async function addReturnRouter(state: LabState, tier: LabLbTier, hooks: DsrHooks): Promise<void> {
  const r = tier.returnRouter!;
  await hooks.addNamespace(r.netns);
  await hooks.addLeg(r.netns, r.vethHost, r.vethNs, state.plan.bridge, `${r.address}/24`);
  await hooks.addLeg(r.netns, r.clientVethHost, r.clientVethNs, tier.clientBridge, `${r.clientAddress}/24`);
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: r.netns });
  // Replies come from the VIP (an address of the client bridge's subnet) on the backend leg.
  for (const dev of ['all', 'default', r.vethNs]) await run('sysctl', ['-q', '-w', `net.ipv4.conf.${dev}.rp_filter=0`], { netns: r.netns });
}

/** One backend: the client subnet via the return router (the VIP on lo is the agent's: `agent --vip`). */
export async function setUpDsrBackend(h: LabHost, tier: LabLbTier): Promise<void> {
  await run('ip', ['route', 'add', tier.clientSubnet, 'via', tier.returnRouter!.address], { netns: h.netns });
}

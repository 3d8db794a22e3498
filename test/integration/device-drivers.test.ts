import { describe, test } from 'node:test';
import { existsSync } from 'node:fs';
import { runDeviceContract } from '../../src/agent/device-contract.js';
import { UapiDeviceDriver } from '../../src/agent/device-uapi.js';
import { WgToolDeviceDriver } from '../../src/agent/device-wgtool.js';
import { Sandbox } from '../../src/sys/netns.js';
import { run } from '../../src/sys/exec.js';

describe('uapi driver on a real wireguard-go', () => {
  const sb = new Sandbox('wgd');
  runDeviceContract('uapi', async () => {
    const ns = await sb.addNetns('n');
    const iface = sb.name('w');
    await sb.startWireguardGo(ns, iface);
    return new UapiDeviceDriver(iface);
  }, () => sb.cleanup());
});

describe('wg(8) driver on a real wireguard-go (wg talks UAPI to userspace devices)', () => {
  const sb = new Sandbox('wgd');
  runDeviceContract('wg-tool', async () => {
    const ns = await sb.addNetns('n');
    const iface = sb.name('w');
    await sb.startWireguardGo(ns, iface);
    return new WgToolDeviceDriver(iface);
  }, () => sb.cleanup());
});

describe('wg(8) driver on kernel WireGuard', () => {
  const hasModule = existsSync('/sys/module/wireguard');
  const sb = new Sandbox('wgk');
  if (hasModule) {
    runDeviceContract('kernel', async () => {
      const ns = await sb.addNetns('n');
      const iface = sb.name('w');
      await run('ip', ['link', 'add', iface, 'type', 'wireguard'], { netns: ns });
      return new WgToolDeviceDriver(iface, ns);
    }, () => sb.cleanup());
  } else {
    test('kernel driver contract', { skip: 'no WireGuard kernel module on this host (/sys/module/wireguard is missing)' }, () => {});
  }
});

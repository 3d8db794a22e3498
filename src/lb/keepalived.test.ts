import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { healthzCheckCommand, renderKeepalivedConfig, type KeepalivedSpec } from './keepalived.js';

const NODE_CHECK = "/usr/bin/node -e 'require(`node:http`).get(process.argv[1],{timeout:2000},r=>process.exit(r.statusCode===200?0:1)).on(`error`,()=>process.exit(1)).on(`timeout`,()=>process.exit(1))' http://127.0.0.1:7090/healthz";

const base: KeepalivedSpec = {
  name: 'lb1', interface: 'eth0', vips: ['198.18.9.2/32'], routerId: 51, priority: 100,
  check: { command: healthzCheckCommand('/usr/bin/node', 'http://127.0.0.1:7090/healthz') },
};

const GOLDEN_V4 = `# keepalived.conf for a wgfabric LB host, rendered by \`wgfabric lb keepalived\`.
# Every LB host of the VIP runs \`wgfabric lb run\` and keepalived with this file; only
# priority and the unicast source/peers differ between hosts. Check with \`keepalived -t -f FILE\`.

global_defs {
    script_user root
    enable_script_security
}

# The local LB must answer; failing \`fall\` times puts the instance into FAULT (VIP released).
vrrp_script lb1_health {
    script "${NODE_CHECK}"
    interval 2
    timeout 2
    fall 2
    rise 2
    weight 0
    init_fail
}

vrrp_instance lb1_v4 {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 51
    priority 100
    version 3
    advert_int 1
    virtual_ipaddress {
        198.18.9.2/32
    }
    track_script {
        lb1_health
    }
}
`;

const dual: KeepalivedSpec = {
  name: 'wgf', interface: 'eth0', vips: ['198.18.9.2/32', '2001:DB8:9:0::2/128', '198.18.10.1/24@eth1', '198.18.9.3/32@eth0'],
  routerId: 7, priority: 150, advertIntervalMs: 250, scriptUser: 'nobody',
  unicastSources: ['198.18.9.11', '2001:db8:9::11'], unicastPeers: ['198.18.9.13', '2001:db8:9::12', '198.18.9.12'],
  check: { command: ['/usr/bin/curl', '-fsS', '-m', '1', '-o', '/dev/null', 'http://198.18.9.11:7090/healthz'], intervalS: 1, timeoutS: 1, fall: 3, rise: 5 },
};

const GOLDEN_DUAL_TAIL = `vrrp_script wgf_health {
    script "/usr/bin/curl -fsS -m 1 -o /dev/null http://198.18.9.11:7090/healthz"
    interval 1
    timeout 1
    fall 3
    rise 5
    weight 0
    init_fail
}

vrrp_instance wgf_v4 {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 7
    priority 150
    version 3
    advert_int 0.25
    unicast_src_ip 198.18.9.11
    unicast_peer {
        198.18.9.13
        198.18.9.12
    }
    virtual_ipaddress {
        198.18.9.2/32
        198.18.10.1/24 dev eth1
        198.18.9.3/32
    }
    track_interface {
        eth1
    }
    track_script {
        wgf_health
    }
}

vrrp_instance wgf_v6 {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 7
    priority 150
    version 3
    advert_int 0.25
    unicast_src_ip 2001:db8:9::11
    unicast_peer {
        2001:db8:9::12
    }
    virtual_ipaddress {
        2001:db8:9::2/128
    }
    track_script {
        wgf_health
    }
}

# IPv4 and IPv6 VIPs always move together.
vrrp_sync_group wgf {
    group {
        wgf_v4
        wgf_v6
    }
}
`;

/** keepalived's line tokenizer (parser.c alloc_strvec_r): a "..." run is one token without its quotes. */
function tokens(line: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"([^"]*)"|([^\s"]+))/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) && m[0].trim() !== '') out.push(m[1] ?? m[2]!);
  return out;
}

/** keepalived's script splitter (alloc_strvec_quoted_escaped) for what the renderer emits: bare words and '...'. */
function scriptArgv(value: string): string[] {
  return [...value.matchAll(/'([^']*)'|([^\s']+)/g)].map((m) => m[1] ?? m[2]!);
}

/** The blocks keepalived would see: braces must balance and every block must close. */
function blockDepths(text: string): number[] {
  let depth = 0;
  const depths: number[] = [];
  for (const line of text.split('\n')) {
    if (/^\s*[#!]/.test(line)) continue;
    for (const t of tokens(line)) {
      if (t === '{') depth++;
      if (t === '}') depth--;
      assert.ok(depth >= 0, `unbalanced } in: ${line}`);
    }
    depths.push(depth);
  }
  assert.equal(depth, 0, 'every block closes');
  return depths;
}

function scriptLineOf(text: string): string[] {
  const line = text.split('\n').find((l) => l.trimStart().startsWith('script '))!;
  return tokens(line);
}

function expectInvalid(fn: () => unknown, field: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FabricError, `not a FabricError: ${String(e)}`);
    assert.equal(e.code, 'WGF_ERR_VALIDATION');
    const got = String(e.details?.field);
    if (typeof field === 'string') assert.equal(got, field, e.message);
    else assert.match(got, field, e.message);
    return true;
  });
}

describe('renderKeepalivedConfig', () => {
  test('golden: one IPv4 VIP, multicast, defaults', () => {
    assert.equal(renderKeepalivedConfig(base), GOLDEN_V4);
  });

  test('golden: dual stack, unicast per family, a VIP on another interface, canonical addresses', () => {
    const text = renderKeepalivedConfig(dual);
    assert.ok(text.includes('    script_user nobody\n'));
    assert.ok(text.endsWith(GOLDEN_DUAL_TAIL), text);
  });

  test('deterministic: the same spec renders the same bytes; blocks balance', () => {
    for (const spec of [base, dual]) {
      const a = renderKeepalivedConfig(spec);
      assert.equal(renderKeepalivedConfig(structuredClone(spec)), a);
      blockDepths(a);
    }
  });

  test('the default check reaches keepalived as the intended argv', () => {
    const argv = healthzCheckCommand('/opt/node-v20/bin/node', 'http://[fd00::5]:7090/healthz?x=1', 3);
    const [kw, value, ...rest] = scriptLineOf(renderKeepalivedConfig({ ...base, check: { command: argv } }));
    assert.equal(kw, 'script');
    assert.deepEqual(rest, []);
    assert.deepEqual(scriptArgv(value!), argv);
    assert.match(argv[2]!, /timeout:3000/);
  });

  test('preempt, MASTER and the advert interval in seconds', () => {
    const text = renderKeepalivedConfig({ ...base, initialState: 'MASTER', preempt: true, advertIntervalMs: 10 });
    assert.match(text, /state MASTER\n    interface eth0\n/);
    assert.doesNotMatch(text, /nopreempt/);
    assert.match(text, /advert_int 0\.01\n/);
    for (const [ms, s] of [[40950, '40.95'], [1230, '1.23'], [300, '0.3'], [2000, '2']] as const) {
      assert.match(renderKeepalivedConfig({ ...base, advertIntervalMs: ms }), new RegExp(`advert_int ${s.replace('.', '\\.')}\\n`));
    }
    assert.match(renderKeepalivedConfig({ ...base, preempt: true }), /state BACKUP\n    interface/);
  });

  test('IPv6 only: one v6 instance, no sync group; multicast when no peers', () => {
    const text = renderKeepalivedConfig({ ...base, vips: ['fd00:0:0::a/64'] });
    assert.match(text, /vrrp_instance lb1_v6 \{/);
    assert.doesNotMatch(text, /lb1_v4|vrrp_sync_group|unicast_/);
    assert.match(text, /        fd00::a\/64\n/);
  });

  test('unicast for one family, multicast for the other', () => {
    const text = renderKeepalivedConfig({ ...base, vips: ['198.18.9.2/32', 'fd00::2/128'], unicastPeers: ['198.18.9.3'] });
    const v6 = text.slice(text.indexOf('vrrp_instance lb1_v6'));
    assert.match(text, /unicast_peer \{\n        198\.18\.9\.3\n    \}/);
    assert.doesNotMatch(text, /unicast_src_ip/);
    assert.doesNotMatch(v6, /unicast/);
  });
});

describe('validation: every value that reaches the file', () => {
  const cmd = base.check.command;
  const cases: { name: string; spec: () => unknown; field: string | RegExp }[] = [
    { name: 'name empty', spec: () => ({ ...base, name: '' }), field: 'name' },
    { name: 'name starting with a digit', spec: () => ({ ...base, name: '1lb' }), field: 'name' },
    { name: 'name too long', spec: () => ({ ...base, name: 'a'.repeat(25) }), field: 'name' },
    { name: 'name not a string', spec: () => ({ ...base, name: 7 }), field: 'name' },
    { name: 'interface empty', spec: () => ({ ...base, interface: '' }), field: 'interface' },
    { name: 'interface longer than 15', spec: () => ({ ...base, interface: 'eth0123456789012' }), field: 'interface' },
    { name: 'interface ..', spec: () => ({ ...base, interface: '..' }), field: 'interface' },
    { name: 'interface with a slash', spec: () => ({ ...base, interface: 'a/b' }), field: 'interface' },
    { name: 'no VIP', spec: () => ({ ...base, vips: [] }), field: 'vips' },
    { name: 'VIP without prefix', spec: () => ({ ...base, vips: ['198.18.9.2'] }), field: 'vips[0]' },
    { name: 'VIP hostname', spec: () => ({ ...base, vips: ['vip.example/32'] }), field: 'vips[0]' },
    { name: 'VIP prefix 0', spec: () => ({ ...base, vips: ['198.18.9.2/0'] }), field: 'vips[0]' },
    { name: 'VIP prefix 33', spec: () => ({ ...base, vips: ['198.18.9.2/33'] }), field: 'vips[0]' },
    { name: 'VIP IPv6 prefix 129', spec: () => ({ ...base, vips: ['fd00::1/129'] }), field: 'vips[0]' },
    { name: 'VIP with zone', spec: () => ({ ...base, vips: ['fe80::1%eth0/64'] }), field: 'vips[0]' },
    { name: 'VIP multicast', spec: () => ({ ...base, vips: ['224.0.0.18/32'] }), field: 'vips[0]' },
    { name: 'VIP unspecified', spec: () => ({ ...base, vips: ['::/128'] }), field: 'vips[0]' },
    { name: 'VIP loopback', spec: () => ({ ...base, vips: ['127.0.0.2/32'] }), field: 'vips[0]' },
    { name: 'VIP twice (different spelling)', spec: () => ({ ...base, vips: ['fd00::1/128', 'fd00:0::1/64'] }), field: 'vips[1]' },
    { name: 'VIP on a bad interface', spec: () => ({ ...base, vips: ['198.18.9.2/32@eth 1'] }), field: 'vips[0]' },
    { name: 'VIP not a string', spec: () => ({ ...base, vips: [42] }), field: 'vips[0]' },
    { name: 'more than 20 VIPs of one family', spec: () => ({ ...base, vips: Array.from({ length: 21 }, (_, i) => `198.18.9.${i + 1}/32`) }), field: 'vips' },
    { name: 'routerId 0', spec: () => ({ ...base, routerId: 0 }), field: 'routerId' },
    { name: 'routerId 256', spec: () => ({ ...base, routerId: 256 }), field: 'routerId' },
    { name: 'routerId fractional', spec: () => ({ ...base, routerId: 5.5 }), field: 'routerId' },
    { name: 'routerId string', spec: () => ({ ...base, routerId: '51' }), field: 'routerId' },
    { name: 'priority 0', spec: () => ({ ...base, priority: 0 }), field: 'priority' },
    { name: 'priority 255 (reserved for the address owner)', spec: () => ({ ...base, priority: 255 }), field: 'priority' },
    { name: 'initialState lowercase', spec: () => ({ ...base, initialState: 'backup' }), field: 'initialState' },
    { name: 'MASTER with nopreempt', spec: () => ({ ...base, initialState: 'MASTER' }), field: 'initialState' },
    { name: 'preempt not a boolean', spec: () => ({ ...base, preempt: 'yes' }), field: 'preempt' },
    { name: 'advert interval 5 ms', spec: () => ({ ...base, advertIntervalMs: 5 }), field: 'advertIntervalMs' },
    { name: 'advert interval not in centiseconds', spec: () => ({ ...base, advertIntervalMs: 1005 }), field: 'advertIntervalMs' },
    { name: 'advert interval above 40.95 s', spec: () => ({ ...base, advertIntervalMs: 40960 }), field: 'advertIntervalMs' },
    { name: 'unicast source not an IP', spec: () => ({ ...base, unicastSources: ['lb-a'], unicastPeers: ['198.18.9.3'] }), field: 'unicastSources[0]' },
    { name: 'two IPv4 unicast sources', spec: () => ({ ...base, unicastSources: ['198.18.9.1', '198.18.9.4'], unicastPeers: ['198.18.9.3'] }), field: 'unicastSources' },
    { name: 'unicast source without peers', spec: () => ({ ...base, unicastSources: ['198.18.9.1'] }), field: 'unicastSources' },
    { name: 'unicast peer of a family without VIPs', spec: () => ({ ...base, unicastPeers: ['198.18.9.3', 'fd00::3'] }), field: 'unicastPeers' },
    { name: 'unicast peer is the source', spec: () => ({ ...base, unicastSources: ['198.18.9.1'], unicastPeers: ['198.18.9.1'] }), field: 'unicastPeers' },
    { name: 'unicast peer is a VIP', spec: () => ({ ...base, unicastPeers: ['198.18.9.2'] }), field: 'unicastPeers' },
    { name: 'unicast peer twice', spec: () => ({ ...base, unicastPeers: ['198.18.9.3', '198.18.9.3'] }), field: 'unicastPeers[1]' },
    { name: 'unicast peers not a list', spec: () => ({ ...base, unicastPeers: '198.18.9.3' }), field: 'unicastPeers' },
    { name: 'more than 32 unicast peers', spec: () => ({ ...base, unicastPeers: Array.from({ length: 33 }, (_, i) => `198.18.8.${i + 1}`) }), field: 'unicastPeers' },
    { name: 'check missing', spec: () => ({ ...base, check: undefined }), field: 'check' },
    { name: 'check command empty', spec: () => ({ ...base, check: { command: [] } }), field: 'check.command' },
    { name: 'check program relative', spec: () => ({ ...base, check: { command: ['node', '-v'] } }), field: 'check.command[0]' },
    { name: 'check program with a space', spec: () => ({ ...base, check: { command: ['/opt/my node', '-v'] } }), field: 'check.command[0]' },
    { name: 'check argument empty', spec: () => ({ ...base, check: { command: ['/bin/true', ''] } }), field: 'check.command[1]' },
    { name: 'check argument with a leading space', spec: () => ({ ...base, check: { command: ['/bin/true', ' x'] } }), field: 'check.command[1]' },
    { name: 'check argument non-ASCII', spec: () => ({ ...base, check: { command: ['/bin/true', 'héllo'] } }), field: 'check.command[1]' },
    { name: 'check command too long', spec: () => ({ ...base, check: { command: ['/bin/true', 'x'.repeat(1000)] } }), field: 'check.command' },
    { name: 'check interval 0', spec: () => ({ ...base, check: { command: cmd, intervalS: 0 } }), field: 'check.intervalS' },
    { name: 'check interval fractional', spec: () => ({ ...base, check: { command: cmd, intervalS: 0.5 } }), field: 'check.intervalS' },
    { name: 'check timeout 0', spec: () => ({ ...base, check: { command: cmd, timeoutS: 0 } }), field: 'check.timeoutS' },
    { name: 'check timeout above 4294', spec: () => ({ ...base, check: { command: cmd, timeoutS: 4295 } }), field: 'check.timeoutS' },
    { name: 'check fall 0', spec: () => ({ ...base, check: { command: cmd, fall: 0 } }), field: 'check.fall' },
    { name: 'check rise 101', spec: () => ({ ...base, check: { command: cmd, rise: 101 } }), field: 'check.rise' },
    { name: 'script user with capitals', spec: () => ({ ...base, scriptUser: 'Root' }), field: 'scriptUser' },
    { name: 'spec not an object', spec: () => null, field: 'spec' },
  ];
  for (const c of cases) test(`refuses: ${c.name}`, () => expectInvalid(() => renderKeepalivedConfig(c.spec() as KeepalivedSpec), c.field));

  const urls: { url: string; why: string }[] = [
    { url: 'https://127.0.0.1:7090/healthz', why: 'https (the LB serves plain HTTP)' },
    { url: 'http://user:pw@127.0.0.1:7090/healthz', why: 'credentials' },
    { url: 'http://127.0.0.1:7090/healthz#x', why: 'a fragment' },
    { url: '127.0.0.1:7090/healthz', why: 'no scheme' },
    { url: 'not a url', why: 'garbage' },
  ];
  for (const u of urls) test(`healthzCheckCommand refuses ${u.why}`, () => expectInvalid(() => healthzCheckCommand('/usr/bin/node', u.url), 'healthUrl'));
  test('healthzCheckCommand refuses a timeout out of range', () => expectInvalid(() => healthzCheckCommand('/usr/bin/node', 'http://127.0.0.1:7090/healthz', 0), 'check.timeoutS'));
});

describe('injection attempts cannot change the file structure', () => {
  const cmd = base.check.command;
  const attempts: { name: string; spec: KeepalivedSpec; field: string | RegExp }[] = [
    { name: 'newline and a block in the name', spec: { ...base, name: 'lb1\n}\nvrrp_instance evil {' }, field: 'name' },
    { name: 'brace in the name', spec: { ...base, name: 'lb1{' }, field: 'name' },
    { name: 'newline in the interface', spec: { ...base, interface: 'eth0\nnopreempt' }, field: 'interface' },
    { name: 'brace in the interface', spec: { ...base, interface: '}' }, field: 'interface' },
    { name: 'quote in the interface', spec: { ...base, interface: 'eth0"' }, field: 'interface' },
    { name: 'newline after a VIP', spec: { ...base, vips: ['198.18.9.2/32\n}\nglobal_defs {'] }, field: 'vips[0]' },
    { name: 'dev clause smuggled into a VIP', spec: { ...base, vips: ['198.18.9.2/32 dev lo'] }, field: 'vips[0]' },
    { name: 'brace after the VIP interface', spec: { ...base, vips: ['198.18.9.2/32@eth1}'] }, field: 'vips[0]' },
    { name: 'newline in a unicast peer', spec: { ...base, unicastPeers: ['198.18.9.3\n}'] }, field: 'unicastPeers[0]' },
    { name: 'quote in a unicast source', spec: { ...base, unicastSources: ['198.18.9.1"'], unicastPeers: ['198.18.9.3'] }, field: 'unicastSources[0]' },
    { name: 'double quote closing the script string', spec: { ...base, check: { command: ['/bin/true', 'x"\n}\nvrrp_script y {'] } }, field: 'check.command[1]' },
    { name: 'double quote alone', spec: { ...base, check: { command: ['/bin/true', '"'] } }, field: 'check.command[1]' },
    { name: 'single quote breaking the argument', spec: { ...base, check: { command: ['/bin/true', "a' 'b"] } }, field: 'check.command[1]' },
    { name: 'backslash escape', spec: { ...base, check: { command: ['/bin/true', 'a\\x22'] } }, field: 'check.command[1]' },
    { name: 'newline in an argument', spec: { ...base, check: { command: ['/bin/true', 'a\nb'] } }, field: 'check.command[1]' },
    { name: 'tab in an argument', spec: { ...base, check: { command: ['/bin/true', 'a\tb'] } }, field: 'check.command[1]' },
    { name: 'carriage return', spec: { ...base, check: { command: ['/bin/true', 'a\rb'] } }, field: 'check.command[1]' },
    { name: 'keepalived definition $X', spec: { ...base, check: { command: ['/bin/true', '$X'] } }, field: 'check.command[1]' },
    { name: 'comment #', spec: { ...base, check: { command: ['/bin/true', 'a#b'] } }, field: 'check.command[1]' },
    { name: 'comment !', spec: { ...base, check: { command: ['/bin/true', 'a!b'] } }, field: 'check.command[1]' },
    { name: 'quote in the program', spec: { ...base, check: { command: ['/bin/tr"ue'] } }, field: 'check.command[0]' },
    { name: 'newline in the script user', spec: { ...base, scriptUser: 'root\n}' }, field: 'scriptUser' },
    { name: 'newline in the name via the check program', spec: { ...base, check: { command: ['/bin/true\n'] } }, field: 'check.command[0]' },
    { name: 'number as a string with a newline', spec: { ...base, priority: '100\n' as unknown as number }, field: 'priority' },
    { name: 'quote in the health URL path', spec: { ...base, check: { command: healthzCheckCommand('/usr/bin/node', "http://127.0.0.1:7090/a'b") } }, field: 'check.command[3]' },
    { name: 'check interval with a block', spec: { ...base, check: { command: cmd, intervalS: '1 }' as unknown as number } }, field: 'check.intervalS' },
  ];
  for (const a of attempts) test(`refuses: ${a.name}`, () => expectInvalid(() => renderKeepalivedConfig(a.spec), a.field));

  test('braces, spaces and backticks allowed inside an argument stay inside the script string', () => {
    const argv = ['/usr/bin/env', 'x } { y', '`a`', 'k=v;w', '%20', '(1)?2:3'];
    const text = renderKeepalivedConfig({ ...base, check: { command: argv } });
    const depths = blockDepths(text);
    const [kw, value, ...rest] = scriptLineOf(text);
    assert.equal(kw, 'script');
    assert.deepEqual(rest, [], 'the script line holds exactly one quoted value');
    assert.deepEqual(scriptArgv(value!), argv);
    assert.deepEqual(depths, blockDepths(renderKeepalivedConfig(base)), 'the same block structure as with the default check');
  });

  test('spaces and quotes in the health URL are percent-encoded, not passed through', () => {
    const argv = healthzCheckCommand('/usr/bin/node', 'http://127.0.0.1:7090/health z?a="b"');
    assert.equal(argv[3], 'http://127.0.0.1:7090/health%20z?a=%22b%22');
    assert.deepEqual(scriptArgv(scriptLineOf(renderKeepalivedConfig({ ...base, check: { command: argv } }))[1]!), argv);
  });
});

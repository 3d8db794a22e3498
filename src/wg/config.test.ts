import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { newInterface, newPeer, parseConfig, renderConfig, renderSetconf, type WgConfig } from './config.js';
import { keyPairs, randomConfig } from './testing/gen-config.js';
import { Rng, testSeed } from './testing/random.js';

const [A, B, C] = keyPairs(new Rng(1), 3) as [{ privateKey: string; publicKey: string }, { privateKey: string; publicKey: string }, { privateKey: string; publicKey: string }];
const ZERO_KEY = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

function parseError(text: string, opts?: { strict?: boolean; maxLength?: number }): FabricError {
  try {
    parseConfig(text, opts);
  } catch (e) {
    assert.ok(e instanceof FabricError, `expected a FabricError, got ${String(e)}`);
    assert.equal(e.code, 'WGF_ERR_CONFIG_PARSE');
    return e;
  }
  assert.fail('expected parseConfig to throw');
}

const WG_QUICK_FILE = `# office VPN
[Interface]
PrivateKey = ${A.privateKey}
ListenPort = 51820
Address = 10.8.0.1/24, fd00:8::1/64
Address = 10.9.0.1/24
DNS = 10.8.0.53, fd00:8::53 corp.example.com
MTU = 1420
Table = off
PreUp = sysctl -w net.ipv4.ip_forward=1
PostUp = iptables -A FORWARD -i %i -j ACCEPT
PostUp = ip6tables -A FORWARD -i %i -j ACCEPT
PreDown = logger going down
PostDown = iptables -D FORWARD -i %i -j ACCEPT
SaveConfig = false

# Name = alice
[Peer]
PublicKey = ${B.publicKey}
PresharedKey = ${C.privateKey}
AllowedIPs = 10.8.0.2/32, fd00:8::2/128
Endpoint = [2001:db8::10]:51820
PersistentKeepalive = 25

[Peer]
# laptop of bob
PublicKey = ${C.publicKey}
AllowedIPs = 10.8.0.3/32
AllowedIPs = 192.168.50.0/24
Endpoint = vpn.example.com:443
`;

interface GoodCase {
  name: string;
  text: string;
  check: (c: WgConfig) => void;
}

const good: GoodCase[] = [
  { name: 'an empty [Interface] only', text: '[Interface]\n', check: (c) => assert.deepEqual(c, { interface: newInterface(), peers: [] }) },
  {
    name: 'a full wg-quick file',
    text: WG_QUICK_FILE,
    check: (c) => {
      const i = c.interface;
      assert.equal(i.privateKey, A.privateKey);
      assert.equal(i.listenPort, 51820);
      assert.deepEqual(i.addresses, ['10.8.0.1/24', 'fd00:8::1/64', '10.9.0.1/24']);
      assert.deepEqual(i.dns, ['10.8.0.53', 'fd00:8::53', 'corp.example.com']);
      assert.equal(i.mtu, 1420);
      assert.equal(i.table, 'off');
      assert.deepEqual(i.preUp, ['sysctl -w net.ipv4.ip_forward=1']);
      assert.deepEqual(i.postUp, ['iptables -A FORWARD -i %i -j ACCEPT', 'ip6tables -A FORWARD -i %i -j ACCEPT']);
      assert.deepEqual(i.preDown, ['logger going down']);
      assert.deepEqual(i.postDown, ['iptables -D FORWARD -i %i -j ACCEPT']);
      assert.equal(i.saveConfig, false);
      assert.deepEqual(i.comments, ['# office VPN']);
      assert.equal(c.peers.length, 2);
      assert.deepEqual(c.peers[0], newPeer(B.publicKey, {
        presharedKey: C.privateKey, allowedIps: ['10.8.0.2/32', 'fd00:8::2/128'], endpoint: '[2001:db8::10]:51820',
        persistentKeepalive: 25, name: 'alice',
      }));
      assert.deepEqual(c.peers[1]!.allowedIps, ['10.8.0.3/32', '192.168.50.0/24']);
      assert.equal(c.peers[1]!.endpoint, 'vpn.example.com:443');
      assert.deepEqual(c.peers[1]!.comments, ['# laptop of bob']);
    },
  },
  {
    name: 'keys and headers in any case, no spaces around =',
    text: `[INTERFACE]\nprivatekey=${A.privateKey}\nLISTENPORT=1\n[peer]\npublickey=${B.publicKey}\nallowedips=10.0.0.0/8,::/0\n`,
    check: (c) => {
      assert.equal(c.interface.listenPort, 1);
      assert.deepEqual(c.peers[0]!.allowedIps, ['10.0.0.0/8', '::/0']);
    },
  },
  {
    name: 'CRLF line endings and a BOM',
    text: `\uFEFF[Interface]\r\nPrivateKey = ${A.privateKey}\r\n\r\n[Peer]\r\nPublicKey = ${B.publicKey}\r\nAllowedIPs = 10.0.0.2/32\r\n`,
    check: (c) => {
      assert.equal(c.interface.privateKey, A.privateKey);
      assert.deepEqual(c.peers[0]!.allowedIps, ['10.0.0.2/32']);
    },
  },
  {
    name: 'wg showconf output',
    text: `[Interface]\nListenPort = 51820\nFwMark = 0x1f\nPrivateKey = ${A.privateKey}\n\n[Peer]\nPublicKey = ${B.publicKey}\nAllowedIPs = 10.0.0.2/32, fd00::2/128\nEndpoint = 198.18.0.1:51820\n`,
    check: (c) => {
      assert.equal(c.interface.fwMark, 31);
      assert.equal(c.peers[0]!.endpoint, '198.18.0.1:51820');
    },
  },
  {
    name: 'off words, empty AllowedIPs, bare addresses',
    text: `[Interface]\nFwMark = off\nAddress = 10.0.0.1\n[Peer]\nPublicKey = ${B.publicKey}\nAllowedIPs =\nPersistentKeepalive = off\n`,
    check: (c) => {
      assert.equal(c.interface.fwMark, 0);
      assert.deepEqual(c.interface.addresses, ['10.0.0.1']);
      assert.deepEqual(c.peers[0]!.allowedIps, []);
      assert.equal(c.peers[0]!.persistentKeepalive, 0);
    },
  },
  {
    name: 'a Name comment inside the section, inline comments, trailing comments',
    text: `[Interface] # the server\nListenPort = 1 # port\n[Peer]\n# Name = carol's phone\nPublicKey = ${B.publicKey} # key\n# bye\n`,
    check: (c) => {
      assert.deepEqual(c.interface.comments, ['# the server', '# port']);
      assert.equal(c.peers[0]!.name, "carol's phone");
      assert.deepEqual(c.peers[0]!.comments, ['# key']);
      assert.deepEqual(c.trailingComments, ['# bye']);
    },
  },
  {
    name: 'unknown keys are kept (not strict)',
    text: `[Interface]\nJc = 4\n[Peer]\nPublicKey = ${B.publicKey}\nX-Label = blue\n`,
    check: (c) => {
      assert.deepEqual(c.interface.extra, [{ key: 'Jc', value: '4' }]);
      assert.deepEqual(c.peers[0]!.extra, [{ key: 'X-Label', value: 'blue' }]);
    },
  },
  {
    name: 'peer sections before the interface section',
    text: `[Peer]\nPublicKey = ${B.publicKey}\n[Interface]\nListenPort = 2\n`,
    check: (c) => {
      assert.equal(c.interface.listenPort, 2);
      assert.equal(c.peers.length, 1);
    },
  },
];

for (const c of good) {
  test(`parseConfig accepts: ${c.name}`, () => c.check(parseConfig(c.text)));
}

interface BadCase {
  name: string;
  text: string;
  line: number;
  reason: RegExp;
  strict?: boolean;
  maxLength?: number;
}

const bad: BadCase[] = [
  { name: 'no [Interface]', text: `[Peer]\nPublicKey = ${B.publicKey}\n`, line: 0, reason: /no \[Interface\]/ },
  { name: 'empty file', text: '', line: 0, reason: /no \[Interface\]/ },
  { name: 'key outside any section', text: `PrivateKey = ${A.privateKey}\n[Interface]\n`, line: 1, reason: /before any \[Interface\]/ },
  { name: 'duplicate PrivateKey', text: `[Interface]\nPrivateKey = ${A.privateKey}\nPrivateKey = ${B.privateKey}\n`, line: 3, reason: /PrivateKey is set twice.*line 2/ },
  { name: 'duplicate ListenPort in other case', text: '[Interface]\nListenPort = 1\nlistenport = 2\n', line: 3, reason: /ListenPort is set twice/ },
  { name: 'duplicate Endpoint', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nEndpoint = 1.2.3.4:1\nEndpoint = 1.2.3.4:2\n`, line: 5, reason: /Endpoint is set twice/ },
  { name: 'second [Interface]', text: '[Interface]\n[Interface]\n', line: 2, reason: /second \[Interface\].*line 1/ },
  { name: 'bad base64 private key', text: '[Interface]\nPrivateKey = abc!def\n', line: 2, reason: /PrivateKey is not a 32-byte key/ },
  { name: '43-char base64 key', text: `[Interface]\nPrivateKey = ${A.privateKey.slice(1)}\n`, line: 2, reason: /PrivateKey is not a 32-byte key/ },
  { name: 'hex key (wg reads only base64 in files)', text: `[Interface]\nPrivateKey = ${'ab'.repeat(32)}\n`, line: 2, reason: /PrivateKey/ },
  { name: 'all-zero public key', text: `[Interface]\n[Peer]\nPublicKey = ${ZERO_KEY}\n`, line: 3, reason: /PublicKey .*zero/ },
  { name: 'bad CIDR in AllowedIPs', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nAllowedIPs = 10.0.0.0/33\n`, line: 4, reason: /AllowedIPs is not a valid IP/ },
  { name: 'IPv4 with a leading zero', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nAllowedIPs = 10.0.0.01/32\n`, line: 4, reason: /AllowedIPs/ },
  { name: 'empty AllowedIPs entry', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nAllowedIPs = 10.0.0.1/32,,10.0.0.2/32\n`, line: 4, reason: /empty entry/ },
  { name: 'space-separated AllowedIPs (wg splits on commas)', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nAllowedIPs = 10.0.0.1/32 10.0.0.2/32\n`, line: 4, reason: /AllowedIPs/ },
  { name: 'bad Address', text: '[Interface]\nAddress = 10.0.0.1/24, nope\n', line: 2, reason: /Address is not a valid IP/ },
  { name: 'zone id in Address', text: '[Interface]\nAddress = fe80::1%eth0/64\n', line: 2, reason: /Address/ },
  { name: 'ListenPort 65536', text: '[Interface]\nListenPort = 65536\n', line: 2, reason: /ListenPort must be from 0 to 65535/ },
  { name: 'negative ListenPort', text: '[Interface]\nListenPort = -1\n', line: 2, reason: /ListenPort must be a whole number/ },
  { name: 'keepalive 65536', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nPersistentKeepalive = 65536\n`, line: 4, reason: /PersistentKeepalive/ },
  { name: 'FwMark over 32 bits', text: '[Interface]\nFwMark = 0x100000000\n', line: 2, reason: /FwMark/ },
  { name: 'MTU too small', text: '[Interface]\nMTU = 10\n', line: 2, reason: /MTU must be from 68/ },
  { name: 'SaveConfig maybe', text: '[Interface]\nSaveConfig = maybe\n', line: 2, reason: /SaveConfig must be true or false/ },
  { name: 'numeric non-IP DNS', text: '[Interface]\nDNS = 1.2.3\n', line: 2, reason: /DNS is neither/ },
  { name: 'Table with spaces', text: '[Interface]\nTable = a b\n', line: 2, reason: /Table/ },
  { name: 'endpoint without port', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nEndpoint = 1.2.3.4\n`, line: 4, reason: /Endpoint is not host:port/ },
  { name: 'IPv6 endpoint without brackets', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nEndpoint = 2001:db8::1:51820\n`, line: 4, reason: /Endpoint/ },
  { name: 'endpoint port 0', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nEndpoint = 1.2.3.4:0\n`, line: 4, reason: /Endpoint/ },
  { name: 'garbage line', text: '[Interface]\nhello world\n', line: 2, reason: /expected "Key = Value"/ },
  { name: 'missing key', text: '[Interface]\n= 5\n', line: 2, reason: /missing key/ },
  { name: 'unknown section', text: '[Interface]\n[Peers]\n', line: 2, reason: /unknown section header/ },
  { name: 'unknown key in strict mode', text: '[Interface]\nJc = 4\n', line: 2, reason: /unknown key "Jc"/, strict: true },
  { name: 'key name with odd characters', text: '[Interface]\nfoo bar = 1\n', line: 2, reason: /unknown key$/ },
  { name: 'Address in a [Peer]', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\nAddress = 10.0.0.1/32\n`, line: 4, reason: /Address belongs in the \[Interface\]/ },
  { name: 'AllowedIPs in [Interface]', text: '[Interface]\nAllowedIPs = 10.0.0.1/32\n', line: 2, reason: /AllowedIPs belongs in the \[Peer\]/ },
  { name: 'peer without PublicKey', text: '[Interface]\n[Peer]\nAllowedIPs = 10.0.0.1/32\n', line: 2, reason: /no PublicKey/ },
  { name: 'two peers with one key', text: `[Interface]\n[Peer]\nPublicKey = ${B.publicKey}\n[Peer]\nPublicKey = ${B.publicKey}\n`, line: 4, reason: /repeats the PublicKey of the peer at line 2/ },
  { name: 'NUL byte', text: '[Interface]\nListenPort = 1\0\n', line: 2, reason: /control characters/ },
  { name: 'classic Mac line endings', text: '[Interface]\rListenPort = 1\r', line: 1, reason: /control characters/ },
  { name: 'binary garbage', text: '\x7fELF\x02\x01\x01\0\0\0', line: 1, reason: /control characters/ },
  { name: 'input over maxLength', text: `[Interface]\n${'# padding\n'.repeat(2000)}`, line: 0, reason: /longer than 1000/, maxLength: 1000 },
];

for (const c of bad) {
  test(`parseConfig refuses: ${c.name}`, () => {
    const e = parseError(c.text, { strict: c.strict ?? false, ...(c.maxLength ? { maxLength: c.maxLength } : {}) });
    assert.equal(e.details?.line, c.line);
    assert.match(e.message, c.reason);
    if (c.line > 0) assert.match(e.message, new RegExp(`^line ${c.line}: `));
  });
}

test('parse errors never echo key material', () => {
  const secret = A.privateKey;
  const cases = [
    `[Interface]\nPrivateKey = ${secret}\nPrivateKey = ${secret}\n`, // duplicate
    `[Interface]\nPrivateKey = ${secret}x\n`, // too long
    `[Interface]\nPrivateKey = ${secret.slice(0, 40)}\n`, // truncated
    `[Interface]\n${secret}\n`, // pasted alone: has a trailing '=', so it reads as a key name
    `[Interface]\n${secret.replace(/[+/]/g, 'a')}\n`, // the same without + and /: a plausible key name
    `[Interface]\nPrivateKey ${secret}\n`, // no '='
    `[Interface]\n[Peer]\nPublicKey = ${secret}\nPresharedKey = ${secret.slice(2)}\n`,
  ];
  for (const text of cases) {
    for (const strict of [false, true]) {
      let e: FabricError;
      try {
        parseConfig(text, { strict });
        continue; // accepted as an unknown key: nothing was reported
      } catch (err) {
        e = err as FabricError;
      }
      assert.equal(e.code, 'WGF_ERR_CONFIG_PARSE');
      const shown = JSON.stringify({ m: e.message, d: e.details, j: e.toJSON() });
      for (const part of [secret, secret.slice(0, 20), secret.slice(20, 40), secret.replace(/[+/]/g, 'a').slice(0, 20)]) {
        assert.ok(!shown.includes(part), `error for ${JSON.stringify(text.slice(12, 30))} leaks key material: ${e.message}`);
      }
    }
  }
});

test('render(parse(text)) keeps hooks, comments, DNS, MTU and names', () => {
  const out = renderConfig(parseConfig(WG_QUICK_FILE));
  for (const line of [
    '# office VPN', 'PostUp = iptables -A FORWARD -i %i -j ACCEPT', 'PostUp = ip6tables -A FORWARD -i %i -j ACCEPT',
    'PreDown = logger going down', 'DNS = 10.8.0.53, fd00:8::53, corp.example.com', 'MTU = 1420', '# Name = alice',
    '# laptop of bob', 'Address = 10.8.0.1/24, fd00:8::1/64, 10.9.0.1/24', 'AllowedIPs = 10.8.0.3/32, 192.168.50.0/24',
    'SaveConfig = false', 'Table = off',
  ]) {
    assert.ok(out.split('\n').includes(line), `missing ${line}`);
  }
  assert.deepEqual(parseConfig(out), parseConfig(WG_QUICK_FILE));
});

test('renderConfig writes canonical text (golden)', () => {
  const cfg: WgConfig = {
    interface: newInterface({ privateKey: A.privateKey, listenPort: 51820, addresses: ['10.0.0.1/24'], dns: ['1.1.1.1'], mtu: 1420, postUp: ['echo up'], comments: ['# hub'] }),
    peers: [newPeer(B.publicKey, { allowedIps: ['10.0.0.2/32', 'fd00::2/128'], endpoint: '[fd00::1]:51820', persistentKeepalive: 25, name: 'alice', extra: [{ key: 'Jc', value: '' }] })],
    trailingComments: ['# end'],
  };
  assert.equal(renderConfig(cfg), [
    '# hub', '[Interface]', `PrivateKey = ${A.privateKey}`, 'ListenPort = 51820', 'Address = 10.0.0.1/24', 'DNS = 1.1.1.1',
    'MTU = 1420', 'PostUp = echo up', '', '# Name = alice', '[Peer]', `PublicKey = ${B.publicKey}`,
    'AllowedIPs = 10.0.0.2/32, fd00::2/128', 'Endpoint = [fd00::1]:51820', 'PersistentKeepalive = 25', 'Jc =', '', '# end', '',
  ].join('\n'));
  assert.equal(renderSetconf(cfg), [
    '# hub', '[Interface]', `PrivateKey = ${A.privateKey}`, 'ListenPort = 51820', '', '# Name = alice', '[Peer]',
    `PublicKey = ${B.publicKey}`, 'AllowedIPs = 10.0.0.2/32, fd00::2/128', 'Endpoint = [fd00::1]:51820',
    'PersistentKeepalive = 25', 'Jc =', '', '# end', '',
  ].join('\n'));
});

const injections: { name: string; mutate: (c: WgConfig) => void; field: string }[] = [
  { name: 'a newline in a peer name', mutate: (c) => (c.peers[0]!.name = `x\n[Peer]\nPublicKey = ${C.publicKey}`), field: 'peers[0].name' },
  { name: "a '#' in a hook", mutate: (c) => c.interface.postUp.push('echo a # b'), field: 'interface.postUp[0]' },
  { name: 'a newline in a hook', mutate: (c) => c.interface.preUp.push('true\nPrivateKey = x'), field: 'interface.preUp[0]' },
  { name: 'a bad AllowedIPs entry', mutate: (c) => c.peers[0]!.allowedIps.push('10.0.0.0/40'), field: 'peers[0].allowedIps[0]' },
  { name: 'a comment without #', mutate: (c) => (c.interface.comments = ['hello']), field: 'interface.comments[0]' },
  { name: 'an extra line with a known key', mutate: (c) => (c.interface.extra = [{ key: 'privatekey', value: 'x' }]), field: 'interface.extra[0].key' },
  { name: 'a hex private key', mutate: (c) => (c.interface.privateKey = 'ab'.repeat(32)), field: 'interface.privateKey' },
  { name: 'a fractional port', mutate: (c) => (c.interface.listenPort = 1.5), field: 'interface.listenPort' },
  { name: 'a duplicate peer', mutate: (c) => c.peers.push(newPeer(B.publicKey)), field: 'peers[1].publicKey' },
  { name: 'an endpoint with a host name and no port', mutate: (c) => (c.peers[0]!.endpoint = 'example.com'), field: 'peers[0].endpoint' },
];

for (const c of injections) {
  test(`renderConfig refuses ${c.name} without echoing it`, () => {
    const cfg: WgConfig = { interface: newInterface({ privateKey: A.privateKey }), peers: [newPeer(B.publicKey)] };
    c.mutate(cfg);
    for (const render of [renderConfig, renderSetconf]) {
      assert.throws(() => render(cfg), (e: unknown) => {
        assert.ok(e instanceof FabricError);
        assert.equal(e.code, 'WGF_ERR_VALIDATION');
        assert.equal(e.details?.field, c.field);
        assert.doesNotMatch(e.message, /\n|PublicKey = |ab{2}/);
        return true;
      });
    }
  });
}

test('parse(render(x)) deep-equals x for random configs (property)', () => {
  const seed = testSeed(20240601);
  const rng = new Rng(seed);
  const keys = keyPairs(rng, 24);
  for (let i = 0; i < 600; i++) {
    const cfg = randomConfig(rng, keys);
    const text = renderConfig(cfg);
    assert.deepEqual(parseConfig(text, { strict: false }), cfg, `seed ${seed} case ${i}:\n${text}`);
    assert.equal(renderConfig(parseConfig(text)), text, `seed ${seed} case ${i}: rendering is not a fixed point`);
    // The wg(8) subset is a subset of lines, in the same order.
    const full = text.split('\n');
    let at = 0;
    for (const line of renderSetconf(cfg).split('\n')) {
      while (at < full.length && full[at] !== line) at++;
      assert.ok(at < full.length, `seed ${seed} case ${i}: setconf line not in the full text`);
      at++;
    }
  }
});

test('a large config (20,000 peers) parses and renders back', () => {
  const rng = new Rng(7);
  // Random 32-byte strings are valid public keys (a low-order one has probability ~2^-250).
  const peers = Array.from({ length: 20_000 }, (_, i) =>
    newPeer(Buffer.from(rng.bytes(32)).toString('base64'), { allowedIps: [`10.${(i >> 8) & 255}.${i & 255}.0/24`, `fd00::${i.toString(16)}/128`] }));
  const cfg: WgConfig = { interface: newInterface({ privateKey: A.privateKey, listenPort: 51820 }), peers };
  const text = renderConfig(cfg); // about 2.5 MB
  const parsed = parseConfig(text);
  assert.equal(parsed.peers.length, 20_000);
  assert.deepEqual(parsed.peers[19_999], peers[19_999]);
  assert.equal(renderConfig(parsed), text);
});

test('a huge single line is refused quickly by maxLength, and linearly without it', () => {
  const line = `[Interface]\nAddress = ${'1'.repeat(2_000_000)}\n`;
  assert.match(parseError(line, { maxLength: 1_000_000 }).message, /longer than/);
  assert.equal(parseError(line).details?.line, 2);
});

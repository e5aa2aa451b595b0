/**
 * The interop matrix of the ovpn-ts client against Debian's OpenVPN 2.6 server over UDP (netns,
 * fixture.ts): one lab, several `openvpn` servers side by side in its server namespace (one port, tun
 * and VPN subnet each), and one client after the other in the client namespace.
 *
 * Each case: the client comes up, 5 pings go through the tunnel, the ovpn-ts peer's counters saw them
 * (`stats` in --json mode), the peer carries the expected `comp-framing` and `mss-clamp`, the cipher is
 * the negotiated one, and no `openvpn` process runs in the client namespace: the traffic went through
 * our data plane. Covered: no wrapping, tls-auth with key-direction, tls-crypt, tls-crypt-v2 (a client
 * key made by `openvpn --genkey tls-crypt-v2-client`); AES-256-GCM, AES-128-GCM and CHACHA20-POLY1305
 * each chosen by negotiation, and a provider profile with only `cipher AES-256-CBC`; `comp-lzo no`,
 * `compress`, `compress stub-v2` against servers with the same setting, and an old `comp-lzo` profile
 * rescued by a pushed `comp-lzo no`; real compression refused. MSS: a TCP connection through a tunnel
 * at tun-mtu 1500 whose server runs `--mssfix 0` (so only our clamp acts) gets MSS 1400 on both ends.
 * And `reneg-bytes` / `reneg-pkts` start renegotiations from the client while traffic flows.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import {
  type ClientProcess,
  haveOpenvpn,
  type OpenvpnLab,
  SERVER_LINK,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const TUN = 'ovma0';

/** A server beside the fixture's: its own port, tun device and VPN subnet 10.98.<net>.0/24. */
interface ServerSpec {
  port: number;
  net: number;
  args: string[];
}

const SERVERS = {
  // the fixture's own server (port 1194, 10.98.0.0/24); --mssfix 0 is appended to it (see MSS)
  base: { port: 1194, net: 0, args: [] },
  tlsAuth: { port: 1195, net: 1, args: ['--tls-auth', 'ta.key', '0'] },
  tlsCrypt: { port: 1196, net: 2, args: ['--tls-crypt', 'tc.key'] },
  tlsCryptV2: { port: 1197, net: 3, args: ['--tls-crypt-v2', 'v2server.key'] },
  aes128: { port: 1198, net: 4, args: ['--data-ciphers', 'AES-128-GCM'] },
  chacha: { port: 1199, net: 5, args: ['--data-ciphers', 'CHACHA20-POLY1305'] },
  compLzoNo: { port: 1200, net: 6, args: ['--comp-lzo', 'no'] },
  compress: { port: 1201, net: 7, args: ['--compress'] },
  stubV2: { port: 1202, net: 8, args: ['--compress', 'stub-v2'] },
  // a server that turns an old profile's comp-lzo into the stub, as admins do for legacy clients
  pushLzoNo: { port: 1203, net: 9, args: ['--comp-lzo', 'no', '--push', 'comp-lzo no'] },
} satisfies Record<string, ServerSpec>;
type ServerName = keyof typeof SERVERS;

interface Case {
  name: string;
  server: ServerName;
  /** Profile lines after the fixture's (client, dev, proto, remote, ca/cert/key, remote-cert-tls). */
  profile: (dir: string) => string[];
  cipher: string;
  compFraming?: string;
  mssClamp: number;
}

const CASES: Case[] = [
  {
    name: 'no wrapping, default ciphers',
    server: 'base',
    profile: () => [],
    cipher: 'AES-256-GCM',
    mssClamp: 1400,
  },
  {
    name: 'tls-auth with key-direction 1',
    server: 'tlsAuth',
    profile: (dir) => [
      '<tls-auth>',
      readFileSync(join(dir, 'ta.key'), 'utf8').trim(),
      '</tls-auth>',
      'key-direction 1',
    ],
    cipher: 'AES-256-GCM',
    mssClamp: 1400,
  },
  {
    name: 'tls-crypt',
    server: 'tlsCrypt',
    profile: (dir) => [`tls-crypt ${join(dir, 'tc.key')}`],
    cipher: 'AES-256-GCM',
    mssClamp: 1400,
  },
  {
    name: 'tls-crypt-v2 (client key from openvpn --genkey tls-crypt-v2-client)',
    server: 'tlsCryptV2',
    profile: (dir) => [
      '<tls-crypt-v2>',
      readFileSync(join(dir, 'v2client.key'), 'utf8').trim(),
      '</tls-crypt-v2>',
    ],
    cipher: 'AES-256-GCM',
    mssClamp: 1400,
  },
  {
    name: 'AES-128-GCM by negotiation',
    server: 'aes128',
    profile: () => [],
    cipher: 'AES-128-GCM',
    mssClamp: 1400,
  },
  {
    name: 'CHACHA20-POLY1305 by negotiation',
    server: 'chacha',
    profile: () => [],
    cipher: 'CHACHA20-POLY1305',
    mssClamp: 1400,
  },
  {
    name: "a provider profile with only 'cipher AES-256-CBC' negotiates AES-256-GCM",
    server: 'base',
    profile: () => ['cipher AES-256-CBC'],
    cipher: 'AES-256-GCM',
    mssClamp: 1400,
  },
  {
    name: 'comp-lzo no against --comp-lzo no',
    server: 'compLzoNo',
    profile: () => ['comp-lzo no'],
    cipher: 'AES-256-GCM',
    compFraming: 'comp-lzo-no',
    mssClamp: 1399,
  },
  {
    name: 'compress against --compress',
    server: 'compress',
    profile: () => ['compress'],
    cipher: 'AES-256-GCM',
    compFraming: 'compress-stub',
    mssClamp: 1399,
  },
  {
    name: 'compress stub-v2 against --compress stub-v2',
    server: 'stubV2',
    profile: () => ['compress stub-v2'],
    cipher: 'AES-256-GCM',
    compFraming: 'compress-stub-v2',
    mssClamp: 1400,
  },
  {
    name: "an old 'comp-lzo' profile with the server pushing 'comp-lzo no'",
    server: 'pushLzoNo',
    profile: () => ['comp-lzo'],
    cipher: 'AES-256-GCM',
    compFraming: 'comp-lzo-no',
    mssClamp: 1399,
  },
];

const serverVpn = (s: ServerSpec) => `10.98.${s.net}.1`;

/** The processes in `ns` by command name (`ip netns pids`). */
function commandsIn(ns: string): string[] {
  const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const names: string[] = [];
  for (const pid of pids) {
    try {
      names.push(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      // gone meanwhile
    }
  }
  return names;
}

/** The profile for server `s`: the fixture's lines with the server's port, then `extra`. */
function writeProfile(ol: OpenvpnLab, s: ServerSpec, extra: string[], name: string): string {
  const path = ol.writeClientConfig(['verb 4', ...extra], name);
  const text = readFileSync(path, 'utf8').replace(
    `remote ${SERVER_LINK} 1194`,
    `remote ${SERVER_LINK} ${s.port}`,
  );
  writeFileSync(path, text);
  return path;
}

async function startClient(
  ol: OpenvpnLab,
  cfg: string,
): Promise<{ client: ClientProcess; up: Record<string, unknown> }> {
  const client = ol.spawnClient(['--config', cfg, '--dev', TUN, '--dev-type', 'tun', '--json']);
  try {
    return { client, up: await client.waitEvent('up', 25_000, 0) };
  } catch (e) {
    await stopClient(client);
    throw e;
  }
}

async function peerStats(client: ClientProcess): Promise<Record<string, unknown>> {
  const ev = client.waitEvent('stats', 5000);
  client.command('stats');
  return (await ev).peer as Record<string, unknown>;
}

const skip = !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false;

describe('ovpn-ts client interop matrix against OpenVPN 2.6 over UDP (netns)', {
  skip,
  timeout: 300_000,
}, () => {
  let ol: OpenvpnLab;
  /** The output of the servers this file starts (the fixture keeps its own server's). */
  const servers = new Map<ServerName, string[]>();
  before(async () => {
    ol = await startOpenvpnLab('ovma', { serverArgs: ['--mssfix', '0'] });
    const d = ol.dir;
    execFileSync('openvpn', ['--genkey', 'secret', join(d, 'ta.key')], { stdio: 'ignore' });
    execFileSync('openvpn', ['--genkey', 'tls-crypt', join(d, 'tc.key')], { stdio: 'ignore' });
    execFileSync('openvpn', ['--genkey', 'tls-crypt-v2-server', join(d, 'v2server.key')], {
      stdio: 'ignore',
    });
    execFileSync(
      'openvpn',
      ['--tls-crypt-v2', join(d, 'v2server.key'), '--genkey', 'tls-crypt-v2-client', join(d, 'v2client.key')],
      { stdio: 'ignore' },
    );
    // the other servers: the fixture's arguments with their own port, device and subnet
    for (const [name, s] of Object.entries(SERVERS) as [ServerName, ServerSpec][]) {
      if (name === 'base') continue;
      const log: string[] = [];
      const child = ol.lab.spawn(ol.nsS, 'openvpn', [
        '--server',
        `10.98.${s.net}.0`,
        '255.255.255.0',
        '--topology',
        'subnet',
        '--dev',
        `ovmas${s.net}`,
        '--dev-type',
        'tun',
        '--proto',
        'udp',
        '--port',
        String(s.port),
        '--ca',
        join(d, 'ca.crt'),
        '--cert',
        join(d, 'server.crt'),
        '--key',
        join(d, 'server.key'),
        '--dh',
        'none',
        '--data-ciphers',
        'AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305',
        '--verb',
        '3',
        '--keepalive',
        '10',
        '60',
        '--disable-dco',
        '--cd',
        d,
        ...s.args,
      ]);
      child.stdout?.on('data', (b: Buffer) => log.push(b.toString()));
      servers.set(name, log);
    }
    // every server up before the first client
    const deadline = Date.now() + 15_000;
    for (const [name, log] of servers) {
      while (!log.join('').includes('Initialization Sequence Completed')) {
        if (Date.now() > deadline) throw new Error(`server ${name} did not start:\n${log.join('')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  after(async () => {
    if (ol !== undefined) assert.deepEqual(await ol.cleanup(), []);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const s: ServerSpec = SERVERS[c.server];
      const cfg = writeProfile(ol, s, c.profile(ol.dir), `${c.server}.ovpn`);
      const { client, up } = await startClient(ol, cfg);
      try {
        assert.equal(up.cipher, c.cipher);
        const ping = ol.lab.exec(ol.nsC, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', serverVpn(s)]);
        assert.match(ping, / 0% packet loss/, ping);
        const peer = await peerStats(client);
        assert.ok(Number(peer['vpn-tx-packets']) >= 5, JSON.stringify(peer));
        assert.ok(Number(peer['vpn-rx-packets']) >= 5, JSON.stringify(peer));
        assert.ok(Number(peer['link-tx-packets']) >= 5, JSON.stringify(peer));
        assert.equal(peer['comp-framing'], c.compFraming, JSON.stringify(peer));
        assert.equal(peer['mss-clamp'], c.mssClamp, JSON.stringify(peer));
        const commands = commandsIn(ol.nsC);
        assert.ok(!commands.includes('openvpn'), `processes in the client namespace: ${commands}`);
        // the server saw the options it expected (no OCC complaint about compression)
        const log = c.server === 'base' ? ol.serverLog.join('\n') : (servers.get(c.server) ?? []).join('');
        assert.doesNotMatch(log, /'comp-lzo' is (present|missing)/);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${client.tail(40)}`);
      } finally {
        await stopClient(client);
      }
    });
  }

  for (const [directive, limit] of [
    ['reneg-bytes', 60_000],
    ['reneg-pkts', 50],
  ] as const) {
    it(`renegotiates by ${directive} ${limit}, losing no ping`, async () => {
      const s = SERVERS.base;
      const cfg = writeProfile(ol, s, [`${directive} ${limit}`], `${directive}.ovpn`);
      const { client } = await startClient(ol, cfg);
      try {
        // 150 pings of 1400 bytes: 300 packets and 420 kB both ways, over 3 s
        const ping = ol.lab.exec(ol.nsC, 'ping', [
          '-c',
          '150',
          '-i',
          '0.02',
          '-s',
          '1400',
          '-W',
          '2',
          serverVpn(s),
        ]);
        assert.match(ping, / 0% packet loss/, ping);
        await client.waitFor((l) => l.includes('new key-id 2'), 10_000, 'a second renegotiation');
        const by = client.out.filter((l) => l.includes('TLS: renegotiation by reneg-bytes/reneg-pkts'));
        assert.match(by[0] ?? '', directive === 'reneg-bytes' ? /bytes=\d+\/60000\b/ : /pkts=\d+\/50\b/);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${client.tail(40)}`);
      } finally {
        await stopClient(client);
      }
    });
  }

  it('refuses a profile with real compression when the server pushes no stub, and leaves nothing', async () => {
    const cfg = writeProfile(ol, SERVERS.base, ['compress lz4-v2'], 'lz4.ovpn');
    const client = ol.spawnClient(['--config', cfg, '--dev', TUN, '--dev-type', 'tun', '--json']);
    try {
      const line = await client.waitFor((l) => l.includes('"event":"error"'), 25_000, 'the error event', 0);
      assert.match(line, /lz4\.ovpn:\d+: compress: refused: lz4-v2 compression is not supported/);
      assert.equal(await client.waitExit(10_000), 1);
      assert.ok(!ol.lab.exec(ol.nsC, 'ip', ['link']).includes(TUN), 'the device is gone');
    } finally {
      await stopClient(client);
    }
  });

  it('clamps the MSS of a TCP connection at tun-mtu 1500 in both directions (server --mssfix 0)', async () => {
    const s = SERVERS.base;
    const cfg = writeProfile(ol, s, [], 'mss.ovpn');
    const { client } = await startClient(ol, cfg);
    const port = 5301;
    // a TCP listener on the server's VPN address and a client holding a connection open
    const listener = ol.lab.spawn(ol.nsS, process.execPath, [
      '-e',
      `require('net').createServer((c) => c.on('data', () => {})).listen(${port}, '${serverVpn(s)}', () => console.log('listening'))`,
    ]);
    try {
      await new Promise<void>((resolve, reject) => {
        listener.stdout?.once('data', () => resolve());
        listener.once('exit', () => reject(new Error('the listener exited')));
      });
      const conn = ol.lab.spawn(ol.nsC, process.execPath, [
        '-e',
        `const s = require('net').connect(${port}, '${serverVpn(s)}', () => { console.log('connected'); s.write(Buffer.alloc(100000)); }); setTimeout(() => s.destroy(), 8000)`,
      ]);
      await new Promise<void>((resolve, reject) => {
        conn.stdout?.once('data', () => resolve());
        conn.once('exit', () => reject(new Error('the connection failed')));
      });
      // each end's sending MSS (ss `mss:`) is the MSS option of its peer's SYN or SYN-ACK: 1460 from
      // a 1500-byte tun, unless the data plane clamped it on the way to 1492 - 52 - 40 = 1400; ss
      // shows it less the TCP options in use (timestamps: 12), as it shows our own 1460 as `advmss`
      const ssC = ol.lab.exec(ol.nsC, 'ss', ['-tin', 'dst', `${serverVpn(s)}:${port}`]);
      const ssS = ol.lab.exec(ol.nsS, 'ss', ['-tin', 'src', `${serverVpn(s)}:${port}`]);
      for (const [side, out] of [
        ['client', ssC],
        ['server', ssS],
      ]) {
        const mss = Number(/\bmss:(\d+)/.exec(out)?.[1]);
        const advmss = Number(/\badvmss:(\d+)/.exec(out)?.[1]);
        const options = 1460 - advmss;
        assert.ok(options >= 0 && options <= 40, `${side} side:\n${out}`);
        assert.equal(mss + options, 1400, `${side} side:\n${out}`);
      }
      assert.match(ol.lab.exec(ol.nsC, 'ip', ['link', 'show', TUN]), /mtu 1500/);
      conn.kill();
    } finally {
      listener.kill();
      await stopClient(client);
    }
  });
});

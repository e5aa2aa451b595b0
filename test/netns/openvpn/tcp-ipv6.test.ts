/**
 * The ovpn-ts client over TCP and over IPv6 against Debian's OpenVPN 2.6 server (netns, fixture.ts).
 *
 * Lab `ovpa`: a TCP server (`--proto tcp6-server`, which also takes IPv4 clients) renegotiating every
 * 4 s. Over IPv4 the client connects, pings through the tunnel with our per-peer stats counting the
 * packets, and sends the OCC string the server expects of a TCP client; a ping at
 * 50 per second loses nothing across the server's renegotiations on the stream; the same over an
 * IPv6 remote (`proto tcp6`); a name with a dead IPv6 and a live IPv4 address connects to the live
 * one after connect-timeout; and when the server is killed the client reports the closed connection
 * and exits 1 instead of hanging.
 *
 * Lab `ovpb`: a UDP server (`--proto udp6`), reached at its IPv6 address with `proto udp6`, with
 * `proto udp` (family any: the numeric address decides), and with `proto udp` and a name that
 * resolves to IPv6 only.
 *
 * The fixture's veth has IPv4 only: the tests add ULA addresses (nodad) to both ends. Names are
 * given to the client's namespace only, in /etc/netns/<ns>/hosts (removed after).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadClientConfig } from '../../../src/config/load.js';
import { canUseNetns, namespacePids } from '../../../src/lab/netns.js';
import { occString } from '../../../src/openvpn/client.js';
import {
  type ClientProcess,
  haveOpenvpn,
  type OpenvpnLab,
  SERVER_LINK,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const SERVER_V6 = 'fd97:1::1';
const CLIENT_V6 = 'fd97:1::2';

/** Adds the ULA addresses to the lab's veth (named `<prefix>a` server side, `<prefix>b` client side). */
function addIpv6(ol: OpenvpnLab, prefix: string): void {
  execFileSync('ip', ['-n', ol.nsS, 'addr', 'add', `${SERVER_V6}/64`, 'dev', `${prefix}a`, 'nodad']);
  execFileSync('ip', ['-n', ol.nsC, 'addr', 'add', `${CLIENT_V6}/64`, 'dev', `${prefix}b`, 'nodad']);
}

/**
 * Names for the client's namespace only: `ip netns exec` binds /etc/netns/<ns>/hosts over
 * /etc/hosts (and gai.conf, the resolver's address order, when given). Returns the undo (removes
 * the folder, which did not exist before).
 */
function clientHosts(ol: OpenvpnLab, lines: string[], gai?: string[]): () => void {
  const dir = join('/etc/netns', ol.nsC);
  assert.equal(existsSync(dir), false, `${dir} exists already`);
  mkdirSync(dir, { recursive: true });
  const undo = () => {
    rmSync(dir, { recursive: true, force: true });
    try {
      rmdirSync('/etc/netns'); // only when empty: another lab may use it
    } catch {}
  };
  try {
    writeFileSync(join(dir, 'hosts'), `${lines.join('\n')}\n`);
    if (gai !== undefined) writeFileSync(join(dir, 'gai.conf'), `${gai.join('\n')}\n`);
  } catch (e) {
    undo();
    throw e;
  }
  return undo;
}

/** The icmp_seq numbers ping did not get an answer for. */
function lost(ping: string): number[] {
  const m = /(\d+) packets transmitted/.exec(ping);
  const n = m === null ? 0 : Number(m[1]);
  const got = new Set([...ping.matchAll(/icmp_seq=(\d+) /g)].map((x) => Number(x[1])));
  const out: number[] = [];
  for (let i = 1; i <= n; i++) if (!got.has(i)) out.push(i);
  return out;
}

/**
 * The fixture's client config with `extra` lines, and the server at `remote` instead of its IPv4
 * address (a second `remote` line would be a second connection entry).
 */
function clientConfig(ol: OpenvpnLab, extra: string[], name: string, remote = SERVER_LINK): string {
  const path = ol.writeClientConfig(['verb 4', ...extra], name);
  const text = readFileSync(path, 'utf8');
  const from = `remote ${SERVER_LINK} 1194\n`;
  assert.ok(text.includes(from), text);
  writeFileSync(path, text.replace(from, `remote ${remote} 1194\n`));
  return path;
}

/** A client of `ol` with `extra` config lines, up; the caller stops it. */
async function startClient(
  ol: OpenvpnLab,
  extra: string[],
  tun: string,
  remote?: string,
): Promise<ClientProcess> {
  const cfg = clientConfig(ol, extra, `${tun}.ovpn`, remote);
  const client = ol.spawnClient(['--config', cfg, '--dev', tun, '--dev-type', 'tun', '--json']);
  try {
    await client.waitEvent('up', 25_000, 0);
  } catch (e) {
    await stopClient(client);
    throw new Error(`${(e as Error).message}\nserver log:\n${ol.serverLog.slice(-40).join('\n')}`);
  }
  return client;
}

async function stats(client: ClientProcess): Promise<Record<string, number>> {
  const ev = client.waitEvent('stats', 5000);
  client.command('stats');
  return (await ev).peer as Record<string, number>;
}

/** Pings the server's VPN address `n` times at `intervalS`; asserts that none was lost. */
async function ping(ol: OpenvpnLab, client: ClientProcess, n: number, intervalS: string): Promise<void> {
  const r = await ol.lab.run(
    ol.nsC,
    'ping',
    ['-c', String(n), '-i', intervalS, '-W', '2', SERVER_VPN],
    n * Number(intervalS) * 1000 + 20_000,
  );
  const out = r.stdout + r.stderr;
  assert.deepEqual(
    lost(out),
    [],
    `lost icmp_seq:\n${out.split('\n').slice(-4).join('\n')}\n${client.tail()}`,
  );
  assert.match(out, new RegExp(`${n} packets transmitted, ${n} received`), out);
}

/**
 * The OCC options string we send is the one the server expects of us: its own (which the client logs
 * as "Peer options") with the roles swapped (options.c options_string with `remote`). 2.6 compares
 * them but warns only at verb 7 and no longer about `proto`, so the comparison is made here.
 */
async function assertOccAsExpected(ol: OpenvpnLab, client: ClientProcess, cfgName: string): Promise<void> {
  const line = logged(client, /"msg":"Peer options: /)[0];
  assert.ok(line !== undefined, client.tail());
  const theirs = (JSON.parse(line) as { msg: string }).msg.slice('Peer options: '.length);
  const expected = theirs.replace('TCPv4_SERVER', 'TCPv4_CLIENT').replace(/tls-server$/, 'tls-client');
  const { options } = await loadClientConfig(['--config', join(ol.dir, cfgName)], {
    readFile: (p) => readFile(p),
    cwd: ol.dir,
  });
  assert.equal(occString(options), expected);
}

/** The client's lines whose `msg` matches `re`. */
function logged(client: ClientProcess, re: RegExp): string[] {
  return client.out.filter((l) => l.includes('"event":"log"') && re.test(l));
}

const skip = !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false;

describe('ovpn-ts client over TCP against OpenVPN 2.6 (netns)', { skip, timeout: 120_000 }, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess | undefined;
  let undoHosts = () => {};

  before(async () => {
    ol = await startOpenvpnLab('ovpa', { serverArgs: ['--proto', 'tcp6-server', '--reneg-sec', '4'] });
    addIpv6(ol, 'ovpa');
    // a name with an IPv6 address nobody answers at (on the link) and the server's IPv4 one, IPv6
    // first (RFC 3484's table: every IPv6 address before IPv4)
    undoHosts = clientHosts(
      ol,
      ['fd97:1::99 ovpa-server.test', `${SERVER_LINK} ovpa-server.test`],
      ['precedence ::1/128 50', 'precedence ::/0 40', 'precedence ::ffff:0:0/96 10'],
    );
  });

  after(async () => {
    undoHosts();
    if (client !== undefined) await stopClient(client);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
  });

  it('connects over IPv4, pings, and counts the packets on its peer', async () => {
    const mark = ol.serverLog.length;
    client = await startClient(ol, ['proto tcp-client', 'connect-timeout 5'], 'ovpa0');
    assert.equal(logged(client, /TCP_CLIENT link remote: \[AF_INET\]10\.97\.0\.1:1194/).length, 1);
    await ping(ol, client, 5, '0.2');
    const peer = await stats(client);
    assert.ok(peer['vpn-rx-packets'] >= 5, JSON.stringify(peer));
    assert.ok(peer['vpn-tx-packets'] >= 5, JSON.stringify(peer));
    assert.ok(peer['link-rx-packets'] >= 5, JSON.stringify(peer));
    // the pushed peer-id goes into our DATA_V2 packets (the server would drop others)
    assert.equal(peer['tx-id'], 0);
    const serverLog = ol.serverLog.slice(mark);
    assert.ok(
      serverLog.some((l) => /TCP connection established with \[AF_INET6\]::ffff:10\.97\.0\.2/.test(l)),
      serverLog.join('\n'),
    );
    await assertOccAsExpected(ol, client, 'ovpa0.ovpn');
    await stopClient(client);
    client = undefined;
  });

  it('loses no ping at 50 per second across the server renegotiating on the stream', async () => {
    client = await startClient(ol, ['proto tcp'], 'ovpa1');
    await ping(ol, client, 500, '0.02');
    const renegotiations = logged(client, /TLS: soft reset, new key-id/).length;
    assert.ok(renegotiations >= 2, `${renegotiations} renegotiations\n${client.tail()}`);
    const peer = await stats(client);
    assert.ok(peer['vpn-rx-packets'] >= 500, JSON.stringify(peer));
    await stopClient(client);
    client = undefined;
  });

  it('connects to an IPv6 remote with proto tcp6, pings, and again after a restart (SIGUSR1)', async () => {
    client = await startClient(ol, ['proto tcp6'], 'ovpa2', SERVER_V6);
    assert.equal(logged(client, /TCP_CLIENT link remote: \[AF_INET6\]fd97:1::1:1194/).length, 1);
    await ping(ol, client, 5, '0.2');
    const peer = await stats(client);
    assert.ok(peer['vpn-rx-packets'] >= 5, JSON.stringify(peer));
    // the restart closes the stream and makes a new connection: the server sees both
    const mark = ol.serverLog.length;
    const again = client.waitEvent('up', 25_000);
    client.command('restart');
    await again;
    await ol.waitServerLog(
      /Connection reset|connection-reset|SIGTERM\[soft,connection-reset\]/,
      10_000,
      mark,
    );
    await ol.waitServerLog(/Peer Connection Initiated/, 10_000, mark);
    await ping(ol, client, 3, '0.2');
    await stopClient(client);
    client = undefined;
  });

  it('with proto tcp and a name, tries its addresses in order until one connects (connect-timeout)', async () => {
    client = await startClient(ol, ['proto tcp', 'connect-timeout 2'], 'ovpa5', 'ovpa-server.test');
    const attempts = logged(client, /Attempting to establish TCP connection with/);
    assert.equal(attempts.length, 2, client.tail());
    assert.match(attempts[0], /\[AF_INET6\]fd97:1::99:1194/);
    assert.match(attempts[1], /\[AF_INET\]10\.97\.0\.1:1194/);
    assert.equal(logged(client, /TCP: connect to \[AF_INET6\]fd97:1::99:1194 failed: .*timed out/).length, 1);
    assert.equal(logged(client, /TCP_CLIENT link remote: \[AF_INET\]10\.97\.0\.1:1194/).length, 1);
    await ping(ol, client, 3, '0.2');
    await stopClient(client);
    client = undefined;
  });

  it('reports the server closing the connection and, with connect-retry-max 1, exits 1 once reconnecting fails', async () => {
    // connect-retry-max 1: the same remote again (refused), then one round of the list (refused), the end
    client = await startClient(ol, ['proto tcp', 'connect-retry-max 1'], 'ovpa3');
    await ping(ol, client, 2, '0.2');
    const c = client;
    ol.server.kill('SIGKILL');
    const code = await c.waitExit(15_000);
    assert.equal(code, 1, c.tail());
    assert.ok(
      c.out.some(
        (l) => l.includes('"event":"reconnecting"') && l.includes('the server closed the TCP connection'),
      ),
      c.tail(),
    );
    assert.ok(
      c.out.some((l) => l.includes('"msg":"SIGUSR1[soft,connection-reset] received, process restarting"')),
      c.tail(),
    );
    assert.ok(
      c.out.some(
        (l) =>
          l.includes('"event":"error"') &&
          l.includes('connect-retry-max (1) times unsuccessful') &&
          /"cause":"[^"]*refused/i.test(l),
      ),
      c.tail(),
    );
    assert.deepEqual(namespacePids(ol.nsC), []);
    client = undefined;
  });

  it('fails with a clear message when nothing listens (connect refused), without hanging', async () => {
    // the server is gone: the port is closed
    // with reconnection a refused connect is retried: connect-retry-max 1 bounds it to one attempt
    const cfg = clientConfig(ol, ['proto tcp', 'connect-retry-max 1'], 'refused.ovpn');
    const c = ol.spawnClient(['--config', cfg, '--dev', 'ovpa4', '--dev-type', 'tun', '--json']);
    const code = await c.waitExit(10_000);
    assert.equal(code, 1, c.tail());
    assert.ok(
      c.out.some((l) => l.includes('"event":"error"') && /connect to .*10\.97\.0\.1:1194.*refused/i.test(l)),
      c.tail(),
    );
  });
});

describe('ovpn-ts client over UDP to an IPv6 remote against OpenVPN 2.6 (netns)', {
  skip,
  timeout: 90_000,
}, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess | undefined;

  let undoHosts = () => {};

  before(async () => {
    ol = await startOpenvpnLab('ovpb', { serverArgs: ['--proto', 'udp6'] });
    addIpv6(ol, 'ovpb');
    undoHosts = clientHosts(ol, [`${SERVER_V6} ovpb-server.test`]);
  });

  after(async () => {
    undoHosts();
    if (client !== undefined) await stopClient(client);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
  });

  for (const [proto, host] of [
    ['udp6', SERVER_V6],
    ['udp', SERVER_V6],
    ['udp', 'ovpb-server.test'],
  ]) {
    it(`connects with proto ${proto} to ${host}, pings, and counts the packets`, async () => {
      const mark = ol.serverLog.length;
      const tun = `ovpb${proto}${host === SERVER_V6 ? '' : 'n'}`;
      client = await startClient(ol, [`proto ${proto}`], tun, host);
      assert.equal(logged(client, /UDP link remote: \[AF_INET6\]fd97:1::1:1194/).length, 1);
      await ping(ol, client, 5, '0.2');
      const peer = await stats(client);
      assert.ok(peer['vpn-rx-packets'] >= 5, JSON.stringify(peer));
      assert.equal(peer['remote-ipv6'] as unknown, SERVER_V6);
      const serverLog = ol.serverLog.slice(mark);
      assert.ok(
        serverLog.some((l) => l.includes(`[AF_INET6]${CLIENT_V6}`)),
        serverLog.slice(-20).join('\n'),
      );
      await assertOccAsExpected(ol, client, `${tun}.ovpn`);
      await stopClient(client);
      client = undefined;
    });
  }
});

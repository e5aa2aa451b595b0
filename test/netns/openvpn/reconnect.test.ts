/**
 * Reconnection against Debian's OpenVPN 2.6 server (fixture.ts), as a 2.6 client does it:
 * - the server killed and restarted: the client notices by ping-restart (the keepalive the server
 *   pushes, expired on the ovpn-ts data plane), reconnects, and traffic resumes; with persist-tun the
 *   device stays through the outage and keeps its addresses (same pushed options);
 * - a remote list whose first remote is dead: the server poll timeout moves on to the second;
 *   `<connection>` blocks the same; a name that does not resolve too; connect-retry-max ends the
 *   process when every remote is dead.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canUseNetns, namespacePids } from '../../../src/lab/netns.js';
import {
  type ClientProcess,
  haveOpenvpn,
  type OpenvpnLab,
  SERVER_LINK,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const skip = !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false;

function linkIndex(ns: string, dev: string): number | undefined {
  try {
    const out = execFileSync('ip', ['-n', ns, '-o', 'link', 'show', 'dev', dev], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return Number.parseInt(out, 10);
  } catch {
    return undefined;
  }
}

function addresses(ns: string, dev: string): string {
  return execFileSync('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', dev], { encoding: 'utf8' });
}

async function ping(ol: OpenvpnLab, client: ClientProcess, what: string): Promise<void> {
  const r = await ol.lab.run(ol.nsC, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', SERVER_VPN], 20_000);
  assert.match(
    r.stdout,
    /3 packets transmitted, 3 received/,
    `${what}:\n${r.stdout}${r.stderr}\n${client.tail()}\nserver:\n${ol.serverLog.slice(-30).join('\n')}`,
  );
}

/** The index of the first stdout line from `from` on that contains `text`, or -1. */
function lineIndex(c: ClientProcess, text: string, from = 0): number {
  for (let i = from; i < c.out.length; i++) if (c.out[i].includes(text)) return i;
  return -1;
}

describe('ovpn-ts client reconnection: server killed and restarted (netns)', {
  skip,
  timeout: 150_000,
}, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess | undefined;

  before(async () => {
    // keepalive 2 8: the server pushes ping 2, ping-restart 8
    ol = await startOpenvpnLab('ovxa', { serverArgs: ['--keepalive', '2', '8'] });
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
  });

  /** The client's first `up`, with the server log on failure. */
  const firstUp = async (c: ClientProcess) => {
    try {
      return await c.waitEvent('up', 25_000, 0);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nserver log:\n${ol.serverLog.slice(-40).join('\n')}`);
    }
  };

  /** Kills the server, waits for the client's ping-restart, restarts the server, waits for the new tunnel. */
  const outage = async (c: ClientProcess, tun: string, serverArgs: string[] = []) => {
    const from = c.out.length;
    const t0 = Date.now();
    await ol.killServer();
    await c.waitFor(
      (l) => l.includes('Inactivity timeout (--ping-restart), restarting'),
      20_000,
      'the ping-restart',
      from,
    );
    const noticed = Date.now() - t0;
    // ping-restart 8 s from the last packet received (the server pinged every 2 s)
    assert.ok(noticed >= 5000 && noticed < 15_000, `noticed after ${noticed} ms`);
    assert.ok(lineIndex(c, 'SIGUSR1[soft,ping-restart] received, process restarting', from) >= 0, c.tail());
    const mark = ol.serverLog.length;
    const up = c.waitEvent('up', 60_000, from);
    await ol.restartServer(15_000, serverArgs);
    const ev = await up;
    await ol.waitServerLog(/Peer Connection Initiated/, 10_000, mark);
    assert.equal(ev.ifname, tun);
    return { from, ev };
  };

  it('notices the dead server by ping-restart, reconnects once it is back, and traffic resumes', async () => {
    const tun = 'ovxa0';
    const cfg = ol.writeClientConfig([`dev ${tun}`, 'dev-type tun', 'verb 3']);
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    const first = await firstUp(c);
    await ping(ol, c, 'ping before the outage');
    const { from, ev } = await outage(c, tun);
    await ping(ol, c, 'ping after the reconnection');
    // without persist-tun the device was removed and made again (a new ifindex), its address set again
    assert.equal(typeof ev.ifindex, 'number');
    assert.notEqual(ev.ifindex, first.ifindex);
    assert.equal(linkIndex(ol.nsC, tun), ev.ifindex);
    assert.match(addresses(ol.nsC, tun), /10\.98\.0\.2\/24/);
    assert.equal(lineIndex(c, 'Preserving previous TUN/TAP instance', from), -1);
    await stopClient(c);
    assert.equal(c.child.exitCode, 0, c.tail());
    assert.equal(linkIndex(ol.nsC, tun), undefined);
    client = undefined;
  });

  it('with persist-tun, the device and its address stay through the outage and are not set again', async () => {
    const tun = 'ovxa1';
    const cfg = ol.writeClientConfig([`dev ${tun}`, 'dev-type tun', 'verb 3', 'persist-tun'], 'persist.ovpn');
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    const first = await firstUp(c);
    await ping(ol, c, 'ping before the outage');
    const index = linkIndex(ol.nsC, tun);
    assert.equal(index, first.ifindex);
    const from = c.out.length;
    const restarted = c.waitFor((l) => l.includes('SIGUSR1[soft,ping-restart]'), 20_000, 'the restart', from);
    const outageDone = outage(c, tun);
    await restarted;
    // between the restart and the new tunnel: the device is still there, with its address
    assert.equal(linkIndex(ol.nsC, tun), index);
    assert.match(addresses(ol.nsC, tun), /10\.98\.0\.2\/24/);
    const { ev } = await outageDone;
    assert.equal(ev.ifindex, index);
    assert.ok(lineIndex(c, `Preserving previous TUN/TAP instance: ${tun}`, from) >= 0, c.tail());
    // same pushed options: no address or route set again
    assert.equal(lineIndex(c, '"msg":"net: ', from), -1, c.tail());
    await ping(ol, c, 'ping after the reconnection');
    // at exit the kept device goes too
    await stopClient(c);
    assert.equal(c.child.exitCode, 0, c.tail());
    assert.equal(linkIndex(ol.nsC, tun), undefined);
    assert.deepEqual(namespacePids(ol.nsC), []);
    client = undefined;
  });

  it('with persist-tun, pushed options that changed on the restarted server are applied to the kept device', async () => {
    const tun = 'ovxa2';
    const cfg = ol.writeClientConfig(
      [`dev ${tun}`, 'dev-type tun', 'verb 3', 'persist-tun'],
      'persist2.ovpn',
    );
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    const first = await firstUp(c);
    const routes = () =>
      execFileSync('ip', ['-n', ol.nsC, '-4', 'route', 'show', 'dev', tun], { encoding: 'utf8' });
    assert.doesNotMatch(routes(), /10\.99\.0\.0\/24/);
    // the server comes back pushing one more route
    const { from, ev } = await outage(c, tun, ['--push', 'route 10.99.0.0 255.255.255.0']);
    assert.equal(ev.ifindex, first.ifindex);
    assert.ok(lineIndex(c, 'NOTE: Pulled options changed on restart', from) >= 0, c.tail());
    assert.match(routes(), new RegExp(`10\\.99\\.0\\.0/24 via ${SERVER_VPN.replace(/\./g, '\\.')}`));
    assert.match(addresses(ol.nsC, tun), /10\.98\.0\.\d+\/24/);
    assert.equal((addresses(ol.nsC, tun).match(/inet /g) ?? []).length, 1, addresses(ol.nsC, tun));
    await ping(ol, c, 'ping after the reconnection');
    await stopClient(c);
    assert.equal(c.child.exitCode, 0, c.tail());
    assert.equal(linkIndex(ol.nsC, tun), undefined);
    client = undefined;
  });
});

describe('ovpn-ts client reconnection: remote lists (netns)', { skip, timeout: 120_000 }, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess | undefined;

  before(async () => {
    ol = await startOpenvpnLab('ovxb');
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
  });

  /** A client config with `body` in place of the fixture's single remote. */
  const config = (name: string, body: string[]): string => {
    const path = join(ol.dir, name);
    writeFileSync(
      path,
      [
        'client',
        'dev-type tun',
        'verb 3',
        `ca ${join(ol.dir, 'ca.crt')}`,
        `cert ${join(ol.dir, 'client.crt')}`,
        `key ${join(ol.dir, 'client.key')}`,
        'remote-cert-tls server',
        ...body,
        '',
      ].join('\n'),
    );
    return path;
  };

  it('a dead first remote: the server poll timeout moves on to the second, which connects', async () => {
    const cfg = config('list.ovpn', [
      'dev ovxb0',
      `remote ${SERVER_LINK} 1195 udp`, // nothing listens there
      `remote ${SERVER_LINK} 1194 udp`,
      'server-poll-timeout 3',
    ]);
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    const t0 = Date.now();
    const up = await c.waitEvent('up', 30_000, 0);
    const took = Date.now() - t0;
    assert.ok(took >= 3000, `up after ${took} ms: the first remote cannot have answered`);
    const first = lineIndex(c, `UDP link remote: [AF_INET]${SERVER_LINK}:1195`);
    const poll = lineIndex(c, 'Server poll timeout, restarting');
    const second = lineIndex(c, `UDP link remote: [AF_INET]${SERVER_LINK}:1194`);
    assert.ok(first >= 0 && poll > first && second > poll, c.tail());
    // the server poll timeout restarts at once
    assert.equal(lineIndex(c, 'Restart pause'), -1, c.tail());
    assert.equal(up.ifname, 'ovxb0');
    await ping(ol, c, 'ping through the second remote');
    await stopClient(c);
    assert.equal(c.child.exitCode, 0, c.tail());
    client = undefined;
  });

  it('<connection> blocks: the same, each block with its own server-poll-timeout', async () => {
    const cfg = config('blocks.ovpn', [
      'dev ovxb1',
      '<connection>',
      `remote ${SERVER_LINK} 1196 udp`,
      'server-poll-timeout 2',
      '</connection>',
      '<connection>',
      `remote ${SERVER_LINK} 1194 udp`,
      '</connection>',
    ]);
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    await c.waitEvent('up', 30_000, 0);
    assert.ok(lineIndex(c, `${SERVER_LINK}:1196`) >= 0, c.tail());
    assert.ok(lineIndex(c, 'SIGUSR1[soft,server_poll] received, process restarting') >= 0, c.tail());
    await ping(ol, c, 'ping through the second block');
    await stopClient(c);
    client = undefined;
  });

  it('a name that does not resolve (resolv-retry infinite, the default) is a failed attempt: the next remote', async () => {
    const cfg = config('dns.ovpn', [
      'dev ovxb3',
      'remote no-such-host.invalid 1194 udp',
      `remote ${SERVER_LINK} 1194 udp`,
    ]);
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    await c.waitEvent('up', 30_000, 0);
    const failed = lineIndex(c, 'cannot resolve remote no-such-host.invalid');
    const restart = lineIndex(c, 'SIGUSR1[soft,socks-resolve-failure] received, process restarting');
    const second = lineIndex(c, `UDP link remote: [AF_INET]${SERVER_LINK}:1194`);
    assert.ok(failed >= 0 && restart > failed && second > restart, c.tail());
    await ping(ol, c, 'ping through the second remote');
    await stopClient(c);
    client = undefined;
  });

  it('connect-retry-max: every remote dead, the process exits 1 after that many rounds of the list', async () => {
    const cfg = config('dead.ovpn', [
      'dev ovxb2',
      `remote ${SERVER_LINK} 1197 udp`,
      `remote ${SERVER_LINK} 1198 udp`,
      'server-poll-timeout 1',
      'connect-retry-max 2',
    ]);
    const c = ol.spawnClient(['--config', cfg, '--json']);
    client = c;
    const code = await c.waitExit(30_000);
    assert.equal(code, 1, c.tail());
    const tried = c.out
      .filter((l) => l.includes('"msg":"UDP link remote:'))
      .map((l) => /:(\d+)"/.exec(l)?.[1]);
    assert.deepEqual(tried, ['1197', '1198', '1197', '1198'], c.tail());
    assert.ok(
      lineIndex(c, 'All connections have been connect-retry-max (2) times unsuccessful, exiting') >= 0,
      c.tail(),
    );
    const err = c.out.find((l) => l.includes('"event":"error"'));
    assert.ok(err !== undefined, c.tail());
    assert.match(JSON.parse(err).cause, /^server poll timeout: no answer from the server in 1 s$/, err);
    assert.equal(linkIndex(ol.nsC, 'ovxb2'), undefined);
    client = undefined;
  });
});

/**
 * `bin/ovpn-ts` as a user runs it, against Debian's OpenVPN 2.6 server (fixture.ts): OpenVPN-style
 * log lines at the command line's verb, the pid file, a ping through the tunnel, SIGUSR1 (a new
 * handshake, the tunnel back), and SIGTERM: exit 0, pid file, device and process gone.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { namespacePids } from '../../../src/lab/netns.js';
import { repoRoot } from '../../support/repo.js';
import {
  type ClientProcess,
  linkExists,
  type OpenvpnLab,
  openvpnLabSkip,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const TUN = 'ovcm0';
const STAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /;

describe('bin/ovpn-ts against OpenVPN 2.6 (netns): log, pid file, SIGUSR1, SIGTERM', {
  skip: openvpnLabSkip(),
  timeout: 60_000,
}, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess;
  let pidFile: string;

  before(async () => {
    ol = await startOpenvpnLab('ovcm');
    const cfg = ol.writeClientConfig([`dev ${TUN}`, 'dev-type tun', 'verb 1']);
    pidFile = join(ol.dir, 'ovpn-ts.pid');
    client = ol.spawnClient(
      ['--config', cfg, '--verb', '3', '--writepid', pidFile],
      join(repoRoot(), 'bin', 'ovpn-ts'),
    );
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
  });

  const ping = async (what: string) => {
    const r = await ol.lab.run(ol.nsC, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', SERVER_VPN], 20_000);
    assert.match(
      r.stdout,
      /3 packets transmitted, 3 received/,
      `${what}:\n${r.stdout}${r.stderr}\n${client.tail()}`,
    );
  };

  it('comes up logging OpenVPN-style lines at verb 3, writes the pid file, and pings', async () => {
    const done = await client.waitFor(
      (l) => l.includes('Initialization Sequence Completed'),
      25_000,
      'the tunnel',
      0,
    );
    assert.match(done, STAMP);
    // verb 3 from the command line wins over the profile's verb 1: verb-2 lines are shown
    assert.ok(
      client.out.some((l) => /Control Channel: TLSv1\.[23]/.test(l)),
      client.tail(),
    );
    assert.ok(
      client.out.some((l) => l.includes(`net: ip link set dev ${TUN} up`)),
      client.tail(),
    );
    assert.ok(
      client.out.every((l) => STAMP.test(l)),
      client.tail(),
    );
    assert.equal(readFileSync(pidFile, 'utf8'), `${client.child.pid}\n`);
    await ping('ping after start');
  });

  it('SIGUSR1 makes a new connection (a new handshake on the server) and the tunnel works again', async () => {
    const mark = ol.serverLog.length;
    const from = client.out.length;
    const again = client.waitFor(
      (l) => l.includes('Initialization Sequence Completed'),
      25_000,
      'the restart',
      from,
    );
    process.kill(client.child.pid ?? 0, 'SIGUSR1');
    await again;
    assert.ok(
      client.out.slice(from).some((l) => l.includes('SIGUSR1[hard,] received, process restarting')),
      client.tail(),
    );
    await ol.waitServerLog(/Peer Connection Initiated/, 10_000, mark);
    await ping('ping after SIGUSR1');
  });

  it('SIGTERM exits 0 and leaves no pid file, no device and no process', async () => {
    const pid = client.child.pid ?? 0;
    process.kill(pid, 'SIGTERM');
    assert.equal(await client.waitExit(10_000), 0, client.tail());
    assert.ok(
      client.out.some((l) => l.includes('SIGTERM[hard,] received, process exiting')),
      client.tail(),
    );
    assert.equal(existsSync(pidFile), false);
    assert.equal(linkExists(ol.nsC, TUN), false);
    assert.deepEqual(namespacePids(ol.nsC), []);
  });
});

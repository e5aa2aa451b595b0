/**
 * `ovpn-ts --ovpnd` against Debian's OpenVPN 2.6 server (netns, fixture.ts): the data plane runs in the
 * client namespace's ovpnd, started on demand, not in the client process. The tunnel comes up and
 * pings, `stats` counts the packets, the device is ovpnd's (listed by dev-list; the TUN fd is open in
 * ovpnd and not in the client), a renegotiation by the server (its short --reneg-sec) loses no ping,
 * a restart makes the device again in the same ovpnd, and SIGTERM removes the device, after which ovpnd
 * exits by itself. Lab `ovqa`. Then a client killed with SIGKILL: ovpnd removes its peer and its
 * device when the connection closes (the client tied the device to its connection with dev-own), and
 * exits by itself. A client whose ovpnd is killed fails with exit 1.
 * Lab `ovqb`: the same over TCP (the connected stream handed to ovpnd), across renegotiations.
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OVPND_LOG_DIR, OvpndClient } from '../../../src/client/ovpnd-client.js';
import {
  type ClientProcess,
  type OpenvpnLab,
  openvpnLabSkip,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const TUN = 'ovqa0';
const RENEG_SEC = 8;

/** What the fds of process `pid` point to. */
function fdTargets(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe('ovpn-ts --ovpnd against OpenVPN 2.6 (netns): the data plane in ovpnd', {
  skip: openvpnLabSkip(),
  timeout: 90_000,
}, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess;
  let ovpndPid = 0;

  before(async () => {
    ol = await startOpenvpnLab('ovqa', { serverArgs: ['--reneg-sec', String(RENEG_SEC)] });
    const cfg = ol.writeClientConfig([`dev ${TUN}`, 'dev-type tun']);
    client = ol.spawnClient(['--config', cfg, '--ovpnd', '--json', '--verb', '3']);
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    const ns = ol?.nsC;
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
    // the log of the ovpnd the client started (docs/ovpnd.md)
    if (ns !== undefined) rmSync(join(OVPND_LOG_DIR, `ovpnd-${ns}.log`), { force: true });
  });

  const ping = async (count: number, what: string) => {
    const r = await ol.lab.run(
      ol.nsC,
      'ping',
      ['-c', String(count), '-i', '0.2', '-W', '2', SERVER_VPN],
      count * 1000 + 10_000,
    );
    assert.match(
      r.stdout,
      new RegExp(`${count} packets transmitted, ${count} received`),
      `${what}:\n${r.stdout}${r.stderr}\n${client.tail()}`,
    );
  };

  it('comes up through ovpnd, pings, and stats counts the packets', async () => {
    const up = await client.waitEvent('up', 30_000, 0);
    assert.equal(up.ifname, TUN);
    assert.ok(
      client.out.some((l) => l.includes("this network namespace's ovpnd")),
      client.tail(),
    );
    await ping(3, 'ping through the tunnel');
    const from = client.out.length;
    client.command('stats');
    const stats = await client.waitEvent('stats', 5000, from);
    const peer = stats.peer as Record<string, number>;
    assert.ok(peer['vpn-tx-packets'] >= 3, JSON.stringify(peer));
    assert.ok(peer['vpn-rx-packets'] >= 3, JSON.stringify(peer));
    assert.ok(peer['link-rx-packets'] >= 3, JSON.stringify(peer));
  });

  it('the device is ovpnd’s: listed by dev-list, its TUN fd in ovpnd, none in the client', async () => {
    const c = await OvpndClient.connect({ netns: ol.nsC });
    try {
      const devs = await c.devList();
      assert.ok(
        devs.some((d) => d.ifname === TUN),
        JSON.stringify(devs),
      );
      const info = await c.daemonInfo();
      ovpndPid = info.pid;
    } finally {
      c.close();
    }
    const clientPid = client.child.pid!;
    assert.notEqual(ovpndPid, clientPid);
    assert.ok(fdTargets(ovpndPid).includes('/dev/net/tun'), 'ovpnd holds the TUN');
    assert.deepEqual(
      fdTargets(clientPid).filter((t) => t === '/dev/net/tun'),
      [],
      'the client process has no TUN open',
    );
  });

  it('a renegotiation by the server loses no ping', async () => {
    const from = client.out.length;
    const pinging = ping(Math.ceil((RENEG_SEC * 1.5) / 0.2), 'pings across a renegotiation');
    const reneg = await client.waitFor(
      (l) => l.includes('TLS: soft reset, new key-id'),
      RENEG_SEC * 2000,
      'a renegotiation',
      from,
    );
    await client.waitFor((l) => l.includes('installed in the secondary slot'), 10_000, 'the new key', from);
    await pinging;
    assert.match(reneg, /new key-id [1-7]/);
    await ping(3, 'ping after the renegotiation');
  });

  it('restart (SIGUSR1): the device is deleted and made again in the same ovpnd, and pings', async () => {
    const from = client.out.length;
    client.command('restart');
    const up = await client.waitEvent('up', 30_000, from);
    assert.equal(up.ifname, TUN);
    await ping(3, 'ping after the restart');
    const c = await OvpndClient.connect({ netns: ol.nsC });
    try {
      assert.equal((await c.daemonInfo()).pid, ovpndPid, 'the same ovpnd');
      assert.deepEqual(
        (await c.devList()).map((d) => d.ifname),
        [TUN],
      );
    } finally {
      c.close();
    }
  });

  it('SIGTERM: exit 0, the device is gone, and ovpnd exits by itself', async () => {
    client.child.kill('SIGTERM');
    assert.equal(await client.waitExit(10_000), 0, client.tail());
    const r = await ol.lab.run(ol.nsC, 'ip', ['link', 'show', 'dev', TUN], 5000);
    assert.notEqual(r.code, 0, `the device is still there: ${r.stdout}`);
    assert.ok(await until(() => !alive(ovpndPid), 5000), `ovpnd (pid ${ovpndPid}) still runs`);
  });

  it('SIGKILL: ovpnd removes the peer and the device the client owned', async () => {
    const cfg = ol.writeClientConfig([`dev ${TUN}`, 'dev-type tun'], 'kill.ovpn');
    const killed = ol.spawnClient(['--config', cfg, '--ovpnd', '--json', '--verb', '3']);
    try {
      await killed.waitEvent('up', 30_000, 0);
      killed.child.kill('SIGKILL');
      await killed.waitExit(5000);
      const c = await OvpndClient.connect({ netns: ol.nsC });
      try {
        let devs = await c.devList();
        for (let i = 0; i < 40 && devs.some((d) => d.ifname === TUN); i++) {
          await new Promise((r) => setTimeout(r, 50));
          devs = await c.devList();
        }
        assert.deepEqual(
          devs.map((d) => d.ifname),
          [],
          'the device went with the killed client connection',
        );
      } finally {
        c.close();
      }
    } finally {
      await stopClient(killed);
    }
  });

  it('persist-tun: a restart keeps the device in ovpnd (only the peer is replaced); SIGTERM removes it', async () => {
    const cfg = ol.writeClientConfig([`dev ${TUN}`, 'dev-type tun', 'persist-tun'], 'persist.ovpn');
    const c3 = ol.spawnClient(['--config', cfg, '--ovpnd', '--json', '--verb', '3']);
    try {
      const up1 = await c3.waitEvent('up', 30_000, 0);
      const from = c3.out.length;
      c3.command('restart');
      const up2 = await c3.waitEvent('up', 30_000, from);
      assert.equal(up2.ifindex, up1.ifindex, 'the same device');
      assert.ok(
        c3.out.slice(from).some((l) => l.includes('Preserving previous TUN/TAP instance')),
        c3.tail(),
      );
      const r = await ol.lab.run(ol.nsC, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', SERVER_VPN], 15_000);
      assert.match(r.stdout, /3 packets transmitted, 3 received/, `${r.stdout}\n${c3.tail()}`);
      const c = await OvpndClient.connect({ netns: ol.nsC });
      try {
        const dev = (await c.devList()).find((d) => d.ifname === TUN);
        assert.ok(dev !== undefined);
        assert.equal((await c.peerDump({ ifindex: dev.ifindex })).length, 1, 'one peer after the restart');
      } finally {
        c.close();
      }
      c3.child.kill('SIGTERM');
      assert.equal(await c3.waitExit(10_000), 0, c3.tail());
      const l = await ol.lab.run(ol.nsC, 'ip', ['link', 'show', 'dev', TUN], 5000);
      assert.notEqual(l.code, 0, `the device is still there: ${l.stdout}`);
    } finally {
      await stopClient(c3);
    }
  });

  it('ovpnd killed under an up client: the client fails (exit 1) instead of hanging', async () => {
    const cfg = ol.writeClientConfig([`dev ${TUN}`, 'dev-type tun'], 'gone.ovpn');
    const c2 = ol.spawnClient(['--config', cfg, '--ovpnd', '--json', '--verb', '3']);
    try {
      await c2.waitEvent('up', 30_000, 0);
      const c = await OvpndClient.connect({ netns: ol.nsC });
      const pid = (await c.daemonInfo()).pid;
      c.close();
      process.kill(pid, 'SIGKILL');
      const err = await c2.waitFor((l) => l.includes('"event":"error"'), 10_000, 'the error event', 0);
      assert.match(err, /the connection to ovpnd closed/);
      assert.equal(await c2.waitExit(10_000), 1, c2.tail());
    } finally {
      await stopClient(c2);
    }
  });
});

describe('ovpn-ts --ovpnd over TCP against OpenVPN 2.6 (netns): the stream handed to ovpnd', {
  skip: openvpnLabSkip(),
  timeout: 60_000,
}, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess;

  before(async () => {
    ol = await startOpenvpnLab('ovqb', { serverArgs: ['--proto', 'tcp-server', '--reneg-sec', '4'] });
    const cfg = ol.writeClientConfig(['dev ovqb0', 'dev-type tun', 'proto tcp-client']);
    client = ol.spawnClient(['--config', cfg, '--ovpnd', '--json', '--verb', '3']);
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    const ns = ol?.nsC;
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
    // the log of the ovpnd the client started (docs/ovpnd.md)
    if (ns !== undefined) rmSync(join(OVPND_LOG_DIR, `ovpnd-${ns}.log`), { force: true });
  });

  it('comes up, pings across a renegotiation by the server, and SIGTERM leaves nothing', async () => {
    await client.waitEvent('up', 30_000, 0);
    const from = client.out.length;
    const r = ol.lab.run(ol.nsC, 'ping', ['-c', '30', '-i', '0.2', '-W', '2', SERVER_VPN], 30_000);
    await client.waitFor((l) => l.includes('installed in the secondary slot'), 15_000, 'a new key', from);
    const p = await r;
    assert.match(p.stdout, /30 packets transmitted, 30 received/, `${p.stdout}\n${client.tail()}`);
    const c = await OvpndClient.connect({ netns: ol.nsC });
    const pid = (await c.daemonInfo()).pid;
    c.close();
    client.child.kill('SIGTERM');
    assert.equal(await client.waitExit(10_000), 0, client.tail());
    assert.ok(await until(() => !alive(pid), 5000), `ovpnd (pid ${pid}) still runs`);
  });
});

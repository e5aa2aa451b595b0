/**
 * explicit-exit-notify against Debian's OpenVPN 2.6 server (fixture.ts, keepalive 10 60, so the
 * server would drop a silent client after 120 s): the client announces cc-exit, the server pushes
 * `protocol-flags cc-exit`, and on SIGTERM the client sends the control message EXIT and exits 0 as
 * soon as it is acked. The server drops the instance at once by its own rule for cc-exit: it
 * schedules the instance's end 5 s later (push.c receive_exit_message, scheduled_exit_interval) so
 * that late retransmits find the session still there. Without explicit-exit-notify nothing is sent
 * and the instance stays.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { namespacePids } from '../../../src/lab/netns.js';
import {
  type ClientProcess,
  linkExists,
  type OpenvpnLab,
  openvpnLabSkip,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const TUN = 'ovab0';

describe('explicit-exit-notify against OpenVPN 2.6 (netns)', {
  skip: openvpnLabSkip(),
  timeout: 90_000,
}, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess | undefined;

  before(async () => {
    ol = await startOpenvpnLab('ovab');
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    assert.deepEqual((await ol?.cleanup()) ?? [], []);
  });

  const start = async (extra: string[], name: string) => {
    const cfg = ol.writeClientConfig([`dev ${TUN}`, 'dev-type tun', 'verb 3', ...extra], name);
    const c = ol.spawnClient(['--config', cfg]);
    client = c;
    await c.waitFor((l) => l.includes('Initialization Sequence Completed'), 25_000, 'the tunnel', 0);
    const ping = await ol.lab.run(ol.nsC, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', SERVER_VPN], 20_000);
    assert.match(ping.stdout, /2 packets transmitted, 2 received/, `${ping.stdout}\n${c.tail()}`);
    return c;
  };

  it('without explicit-exit-notify, SIGTERM sends nothing: the server keeps the instance', async () => {
    const c = await start([], 'plain.ovpn');
    const mark = ol.serverLog.length;
    process.kill(c.child.pid ?? 0, 'SIGTERM');
    assert.equal(await c.waitExit(5000), 0, c.tail());
    client = undefined;
    await new Promise((r) => setTimeout(r, 7000));
    const after = ol.serverLog.slice(mark).join('\n');
    assert.doesNotMatch(after, /CC-EEN exit message received|client-instance exiting/, after);
  });

  it('with explicit-exit-notify 2: EXIT acked, exit 0 within a second, the server ends the instance at once', async () => {
    const c = await start(['explicit-exit-notify 2'], 'notify.ovpn');
    assert.ok(
      c.out.some((l) => /PUSH: Received control message: .*protocol-flags cc-exit/.test(l)),
      c.tail(),
    );
    const mark = ol.serverLog.length;
    const t0 = Date.now();
    process.kill(c.child.pid ?? 0, 'SIGTERM');
    assert.equal(await c.waitExit(5000), 0, c.tail());
    const exitMs = Date.now() - t0;
    client = undefined;
    // acked long before the 2 s of explicit-exit-notify 2 ran out
    assert.ok(exitMs < 1500, `the client took ${exitMs} ms to exit`);
    assert.ok(
      c.out.some((l) => l.includes('SIGTERM received, sending exit notification to peer')),
      c.tail(),
    );
    assert.ok(!c.out.some((l) => l.includes('did not ack EXIT')), c.tail());
    await ol.waitServerLog(/CC-EEN exit message received by peer/, 2000, mark);
    // the 2.6 server's scheduled exit for cc-exit (5 s), far before its keepalive timeout (120 s)
    await ol.waitServerLog(
      /ovab-client\/\S+ SIGTERM\[soft,delayed-exit\] received, client-instance exiting/,
      8000,
      mark,
    );
    assert.ok(Date.now() - t0 < 8000);
    assert.equal(linkExists(ol.nsC, TUN), false);
    assert.deepEqual(namespacePids(ol.nsC), []);
  });
});

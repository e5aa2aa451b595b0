/**
 * The ovpn-ts client against Debian's OpenVPN 2.6 server, in two namespaces joined by a veth: the
 * client completes the handshake (reset, TLS, key-method 2, PUSH_REPLY), puts the pushed peer-id, EKM
 * keys and address on the ovpn-ts data plane, and pings the server's VPN address through it. The
 * client runs as its own process in its namespace (src/openvpn/main.ts --json), so that no `openvpn`
 * process is involved on its side. The namespaces, PKI and server come from fixture.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { namespacePids } from '../../../src/lab/netns.js';
import {
  type ClientProcess,
  type OpenvpnLab,
  openvpnLabSkip,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

const TUN = 'ovhst0';

describe('ovpn-ts client against OpenVPN 2.6 (netns)', {
  skip: openvpnLabSkip(),
  timeout: 60_000,
}, () => {
  let ol: OpenvpnLab;
  let client: ClientProcess;
  let up: Record<string, unknown>;

  before(async () => {
    ol = await startOpenvpnLab('ovhs');
    const cfg = ol.writeClientConfig(['verb 4']);
    client = ol.spawnClient(['--config', cfg, '--dev', TUN, '--dev-type', 'tun', '--json']);
    try {
      up = await client.waitEvent('up', 25_000, 0);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nserver log:\n${ol.serverLog.join('\n').slice(-4000)}`);
    }
  });

  after(async () => {
    if (client !== undefined) await stopClient(client);
    const left = (await ol?.cleanup()) ?? [];
    assert.deepEqual(left, []);
  });

  it('completes the handshake and reports the pushed configuration', () => {
    assert.equal(up.cipher, 'AES-256-GCM');
    assert.equal(up.keyDerivation, 'tls-ekm');
    assert.equal(up.ifname, TUN);
    const pushed = up.pushed as Record<string, unknown>;
    assert.equal(pushed.topology, 'subnet');
    assert.deepEqual(pushed.ifconfig, { local: '10.98.0.2', second: '255.255.255.0' });
    assert.equal(pushed.peerId, 0);
    assert.equal(pushed.ping, 10);
    assert.equal(pushed.pingRestart, 60);
    assert.equal(pushed.routeGateway, SERVER_VPN);
    const log = ol.serverLog.join('\n');
    assert.match(log, /peer info: IV_PROTO=142/);
    assert.match(log, /Peer Connection Initiated/);
    assert.match(log, /SENT CONTROL \[ovhs-client\]: 'PUSH_REPLY,/);
  });

  it('pings the server through the ovpn-ts data plane, with no openvpn in the client namespace', async () => {
    const ping = await ol.lab.run(ol.nsC, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', SERVER_VPN], 20_000);
    assert.match(
      ping.stdout,
      /5 packets transmitted, 5 received/,
      `ping failed:\n${ping.stdout}${ping.stderr}`,
    );

    const statsEvent = client.waitEvent('stats', 5000);
    client.command('stats');
    const peer = (await statsEvent).peer as Record<string, number>;
    assert.equal(peer.id, 0);
    assert.equal(peer['tx-id'], 0);
    assert.equal(peer['keepalive-interval'], 10);
    assert.equal(peer['keepalive-timeout'], 60);
    assert.ok(peer['vpn-rx-packets'] >= 5, `vpn-rx-packets ${peer['vpn-rx-packets']}`);
    assert.ok(peer['vpn-tx-packets'] >= 5, `vpn-tx-packets ${peer['vpn-tx-packets']}`);

    const comms = namespacePids(ol.nsC).map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        return '';
      }
    });
    assert.ok(!comms.includes('openvpn'), `processes in the client namespace: ${comms.join(', ')}`);
  });
});

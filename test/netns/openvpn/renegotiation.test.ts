/**
 * Renegotiation of the ovpn-ts client against Debian's OpenVPN 2.6 server (netns, fixture.ts): every
 * 10 s for two minutes, once started by the server (its --reneg-sec) and once by the client (its
 * reneg-sec), past a key-id wrap (0, 1..7, 1, ...), while a ping at 50 per second and an iperf3 TCP
 * stream run through the tunnel. No ping may be lost: the old key keeps decrypting through the
 * transition, the new one goes onto the data plane as secondary and is swapped in as 2.7's
 * dco_update_keys does. The two directions run at the same time, in two labs, to stay near 2.5 min.
 *
 * The server's socket receive buffer (`--rcvbuf`): OpenVPN 2.6 leaves it at the system default
 * (net.core.rmem_default, 212992 bytes here) and reads one datagram per pass of its single-threaded
 * loop (decrypt, write to its tun). The TCP sender's bursts reach the client's TUN as 64 KB GSO
 * segments, which the ovpn-ts data plane encrypts and sends back to back (about 45 datagrams each,
 * two per 128 KB iperf3 write); over a veth nothing paces them, and their ~2 KB truesize each
 * overflows the default buffer before the server drains it: the kernel drops them (UdpRcvbufErrors
 * in the server's namespace: ~150 in 40 s at 5 Mbit/s), and a ping that arrives in such a burst is
 * lost, about 1 in 1000. Measured: with `--rcvbuf 1048576` no datagram is dropped at 5 or 20 Mbit/s
 * and no ping is lost; this is the setting a server facing fast clients needs. The stream is rate
 * limited because an unlimited one saturates the userspace server (~130 Mbit/s here), and TCP's
 * congestion control then fills and overflows whatever buffer is the bottleneck, by design: pings
 * sharing that queue are lost (1.5% measured) with or without renegotiation.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { canUseNetns } from '../../../src/lab/netns.js';
import {
  type ClientProcess,
  haveOpenvpn,
  type OpenvpnLab,
  SERVER_VPN,
  startOpenvpnLab,
  stopClient,
} from './fixture.js';

/** Renegotiations per run: 12 at 10 s is two minutes, and the key-ids wrap past 7. */
const RENEGOTIATIONS = 12;
const RENEG_SEC = 10;
/** The iperf3 TCP stream's rate (`OVPN_RENEG_IPERF=20M` to change it); see above for why limited. */
const IPERF_RATE = process.env.OVPN_RENEG_IPERF ?? '10M';
/** The server's socket buffers: see above. */
const SERVER_SOCKET_BUFFERS = ['--rcvbuf', '1048576', '--sndbuf', '1048576'];

function haveIperf3(): boolean {
  try {
    execFileSync('iperf3', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface RunResult {
  ping: string;
  keyIds: number[];
  peer: Record<string, number>;
  iperf: string;
  serverLog: string[];
  /** UDP datagrams the server's kernel dropped for lack of receive buffer (nstat UdpRcvbufErrors). */
  serverRcvbufErrors: number;
}

function udpRcvbufErrors(ol: OpenvpnLab): number {
  const out = ol.lab.exec(ol.nsS, 'nstat', ['-asz', 'UdpRcvbufErrors']);
  return Number(/UdpRcvbufErrors\s+(\d+)/.exec(out)?.[1] ?? Number.NaN);
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

/** Brings the client up, runs ping and iperf3 through `RENEGOTIATIONS` renegotiations, and stops. */
async function runRenegotiations(ol: OpenvpnLab, clientExtra: string[], tun: string): Promise<RunResult> {
  const cfg = ol.writeClientConfig(['verb 4', ...clientExtra]);
  const client: ClientProcess = ol.spawnClient([
    '--config',
    cfg,
    '--dev',
    tun,
    '--dev-type',
    'tun',
    '--json',
  ]);
  try {
    await client.waitEvent('up', 25_000, 0);
    const iperfServer = ol.lab.spawn(ol.nsS, 'iperf3', ['-s', '-1', '-B', SERVER_VPN]);
    await new Promise((r) => setTimeout(r, 300));
    const seconds = RENEGOTIATIONS * RENEG_SEC + RENEG_SEC;
    const pingCount = seconds * 50;
    const limitMs = (seconds + 30) * 1000;
    const ping = ol.lab.run(
      ol.nsC,
      'ping',
      ['-i', '0.02', '-c', String(pingCount), '-W', '2', SERVER_VPN],
      limitMs,
    );
    const iperf = ol.lab.run(
      ol.nsC,
      'iperf3',
      ['-c', SERVER_VPN, '-t', String(seconds - 2), '-b', IPERF_RATE, '-f', 'm'],
      limitMs,
    );
    const p = await ping;
    const ip = await iperf;
    iperfServer.kill();
    const keyIds = client.out
      .map((l) => /"msg":"TLS: soft reset, new key-id (\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]));
    const stats = client.waitEvent('stats', 5000);
    client.command('stats');
    const peer = (await stats).peer as Record<string, number>;
    return {
      ping: p.stdout + p.stderr,
      keyIds,
      peer,
      iperf: ip.stdout + ip.stderr,
      serverLog: [...ol.serverLog],
      serverRcvbufErrors: udpRcvbufErrors(ol),
    };
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\n${client.tail(60)}\nserver log:\n${ol.serverLog.slice(-60).join('\n')}`,
    );
  } finally {
    await stopClient(client);
  }
}

/** What both directions must show. */
function check(r: RunResult): void {
  const where = `lost icmp_seq ${lost(r.ping)}\n${r.ping.split('\n').slice(-4).join('\n')}`;
  assert.deepEqual(lost(r.ping), [], where);
  assert.match(r.ping, / 0% packet loss/, where);
  // the client's key-ids: 1..7, then 1 again (the client logs each new key state)
  assert.deepEqual(r.keyIds.slice(0, RENEGOTIATIONS), [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5]);
  // the server did a full TLS handshake per key state on the one session, and never saw a key-id
  // out of sync (2.6 logs the key-id itself only at verb 7, per packet)
  const handshakes = r.serverLog.filter((l) => /Control Channel: TLSv1\.[23]/.test(l)).length;
  assert.ok(handshakes >= RENEGOTIATIONS + 1, `${handshakes} TLS handshakes in the server log`);
  const errors = r.serverLog.filter((l) => /out of sync|TLS Error|TLS ERROR|AEAD Decrypt error/.test(l));
  assert.deepEqual(errors, []);
  // the data went through the ovpn-ts data plane all along
  const pings = RENEGOTIATIONS * RENEG_SEC * 50;
  assert.ok(r.peer['vpn-rx-packets'] >= pings, JSON.stringify(r.peer));
  assert.ok(r.peer['vpn-tx-packets'] >= pings, JSON.stringify(r.peer));
  // the stream ran all along, and the server's socket dropped nothing
  assert.match(r.iperf, /receiver/, r.iperf);
  assert.equal(r.serverRcvbufErrors, 0, 'UDP datagrams dropped at the server socket (UdpRcvbufErrors)');
}

const skip = !canUseNetns()
  ? 'needs root'
  : !haveOpenvpn()
    ? 'needs openvpn'
    : !haveIperf3()
      ? 'needs iperf3'
      : false;

describe('ovpn-ts client renegotiation against OpenVPN 2.6 (netns)', {
  skip,
  timeout: 240_000,
  concurrency: 2,
}, () => {
  const labs: OpenvpnLab[] = [];
  after(async () => {
    for (const l of labs) assert.deepEqual(await l.cleanup(), []);
  });

  it('follows the server renegotiating every 10 s past a key-id wrap, losing no ping', async () => {
    const ol = await startOpenvpnLab('ovrns', {
      serverArgs: [
        '--reneg-sec',
        String(RENEG_SEC),
        '--tran-window',
        '10',
        '--hand-window',
        '10',
        ...SERVER_SOCKET_BUFFERS,
      ],
    });
    labs.push(ol);
    const r = await runRenegotiations(ol, [], 'ovrns0');
    check(r);
    // the server started every one of them ("TLS: soft reset sec=10/10 ..." at verb 3)
    const softResets = r.serverLog.filter((l) => /TLS: soft reset sec=/.test(l)).length;
    assert.ok(softResets >= RENEGOTIATIONS, `${softResets} soft resets in the server log`);
  });

  it('renegotiates itself every 10 s (reneg-sec 10) past a key-id wrap, losing no ping', async () => {
    const ol = await startOpenvpnLab('ovrnc', {
      serverArgs: ['--reneg-sec', '3600', ...SERVER_SOCKET_BUFFERS],
    });
    labs.push(ol);
    const r = await runRenegotiations(ol, [`reneg-sec ${RENEG_SEC}`], 'ovrnc0');
    check(r);
    assert.equal(
      r.serverLog.filter((l) => /TLS: soft reset sec=/.test(l)).length,
      0,
      'the server started none',
    );
  });
});

/**
 * Tunnel throughput, ovpn-ts against OpenVPN 2.6 (Debian, --disable-dco) in the same run: one iperf3 TCP
 * stream per direction through a P2P UDP tunnel with AES-256-GCM and tunnel MTU 1416, between two
 * network namespaces. OpenVPN runs in TLS mode, once with defaults and once with its best settings here
 * (--fast-io --sndbuf 4194304 --rcvbuf 4194304). The three are alternated `reps` times so that the
 * shared machine's slow drifts hit all alike; medians are compared.
 */
import { formatGbps, waitForQuiet } from '../src/lab/iperf.js';
import { runOpenvpnBaseline } from './openvpn-baseline.js';
import { median } from './stats.js';
import { runOvpnTsTunnel } from './tunnel.js';

/** Target of the devices-and-UDP issue: ovpn-ts at least 1.5x OpenVPN's tuned figure. */
export const THROUGHPUT_TARGET = 1.5;

interface Sample {
  forward: number;
  reverse: number;
}

export async function runThroughputBench(seconds: number, reps: number): Promise<boolean> {
  const configs = ['ovpn-ts', 'openvpn default', 'openvpn tuned'] as const;
  const samples = new Map<string, Sample[]>(configs.map((c) => [c, []]));
  console.log(`\nTunnel throughput: iperf3, 1 TCP stream, ${seconds} s per direction, ${reps} rounds`);
  for (let r = 1; r <= reps; r++) {
    for (const c of configs) {
      await waitForQuiet(10, 15_000);
      try {
        const res =
          c === 'ovpn-ts'
            ? await runOvpnTsTunnel(seconds)
            : await runOpenvpnBaseline({ seconds, tuned: c === 'openvpn tuned' });
        samples.get(c)!.push({ forward: res.forward.bitsPerSecond, reverse: res.reverse.bitsPerSecond });
        console.log(
          `  round ${r} ${c.padEnd(15)} forward ${formatGbps(res.forward.bitsPerSecond)} (${res.forward.retransmits} retr)` +
            `  reverse ${formatGbps(res.reverse.bitsPerSecond)} (${res.reverse.retransmits} retr)`,
        );
      } catch (e) {
        console.log(`  round ${r} ${c} FAILED: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  const med = (c: string, dir: keyof Sample) => {
    const xs = samples.get(c)!.map((s) => s[dir]);
    return xs.length === 0 ? Number.NaN : median(xs);
  };
  console.log('\n  medians                forward (client->server)   reverse (server->client)');
  for (const c of configs) {
    console.log(
      `  ${c.padEnd(22)} ${formatGbps(med(c, 'forward')).padStart(14)} ${formatGbps(med(c, 'reverse')).padStart(26)}`,
    );
  }
  let ok = true;
  for (const base of ['openvpn default', 'openvpn tuned'] as const) {
    const f = med('ovpn-ts', 'forward') / med(base, 'forward');
    const v = med('ovpn-ts', 'reverse') / med(base, 'reverse');
    console.log(`  ovpn-ts / ${base.padEnd(16)} forward ${f.toFixed(2)}x   reverse ${v.toFixed(2)}x`);
    if (base === 'openvpn tuned' && !(f >= THROUGHPUT_TARGET && v >= THROUGHPUT_TARGET)) ok = false;
  }
  console.log(
    `  target: ovpn-ts >= ${THROUGHPUT_TARGET}x OpenVPN tuned in both directions -> ${ok ? 'MET' : 'MISSED'}`,
  );
  return ok;
}

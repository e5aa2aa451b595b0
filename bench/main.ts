/**
 * `npm run bench`: every benchmark of the project in one run, printing medians and ratios.
 * Options: --crypto-only, --throughput-only, --daemon-only, --vpn-only, --storm-only (combinable; `storm`
 * alone is --storm-only), --seconds N (iperf3 per direction, default 10), --reps N (rounds of the
 * throughput comparison, default 3), --cycles N and --daemon-rounds N --warmup N (ovpnd churn, default
 * 1000 x 3 after 1000 warm-up cycles), --vpn-rounds N (full VPN vs full VPN, default 3, env
 * VPN_BENCH_ROUNDS), --vpn-tun-mtu N (`tun-mtu N` + `mssfix 0` in its configs, env VPN_BENCH_TUN_MTU),
 * --storm-clients N (connect storm, default 200, env STORM_CLIENTS; env
 * STORM_SERVER_EXTRA: extra server directives separated by `;`). Exits 1 if a target is missed.
 * The throughput and daemon parts need root; throughput also iperf3 and openvpn (scripts/setup.sh
 * installs them).
 */
import { reportCrypto, runCryptoBench } from './crypto.js';
import { runDaemonBench } from './daemon.js';
import { reportStorm, runStorm } from './storm.js';
import { runThroughputBench } from './throughput.js';
import { runVpnBench } from './vpn-vs-vpn.js';

const args = process.argv.slice(2);
const num = (flag: string, dflt: number, env?: string) => {
  const i = args.indexOf(flag);
  if (i >= 0) return Number(args[i + 1]);
  const e = env === undefined ? undefined : process.env[env];
  return e !== undefined && e !== '' ? Number(e) : dflt;
};
if (args.includes('storm')) args.push('--storm-only');
if (args.includes('--help')) {
  console.log(
    'usage: npm run bench -- [--crypto-only] [--throughput-only] [--daemon-only] [--seconds N] [--reps N]' +
      ' [--cycles N] [--daemon-rounds N] [--warmup N] [--vpn-only] [--vpn-rounds N] [--vpn-tun-mtu N] [--storm-only | storm]' +
      ' [--storm-clients N]',
  );
  process.exit(0);
}
const only = ['--crypto-only', '--throughput-only', '--daemon-only', '--vpn-only', '--storm-only'].filter(
  (f) => args.includes(f),
);
const run = (flag: string) => only.length === 0 || only.includes(flag);
let ok = true;
if (run('--crypto-only')) ok = reportCrypto(runCryptoBench()) && ok;
if (run('--throughput-only')) ok = (await runThroughputBench(num('--seconds', 10), num('--reps', 3))) && ok;
if (run('--daemon-only'))
  ok = (await runDaemonBench(num('--cycles', 1000), num('--daemon-rounds', 3), num('--warmup', 1000))) && ok;
if (run('--vpn-only')) {
  const mtu = num('--vpn-tun-mtu', 0, 'VPN_BENCH_TUN_MTU');
  const r = await runVpnBench({
    seconds: num('--seconds', 10),
    rounds: num('--vpn-rounds', 3, 'VPN_BENCH_ROUNDS'),
    tunMtu: mtu > 0 ? mtu : undefined,
  });
  ok = r.ran && r.target !== 'missed' && ok;
}
if (run('--storm-only')) {
  const clients = num('--storm-clients', 200, 'STORM_CLIENTS');
  const serverExtra = (process.env.STORM_SERVER_EXTRA ?? '')
    .split(';')
    .map((l) => l.trim())
    .filter(Boolean);
  console.log(
    `\nConnect storm (bench/storm.ts): ${clients} stock openvpn clients (dev null) started at once against each server` +
      `${serverExtra.length > 0 ? `; server extra: ${serverExtra.join('; ')}` : ''}`,
  );
  ok = reportStorm(await runStorm({ clients, serverExtra }), clients) && ok;
}
process.exitCode = ok ? 0 : 1;

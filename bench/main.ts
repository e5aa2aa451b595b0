/**
 * `npm run bench`: every benchmark of the project in one run, printing medians and ratios.
 * Options: --crypto-only, --throughput-only, --daemon-only, --vpn-only, --storm-only (combinable; `storm`
 * alone is --storm-only), --seconds N (iperf3 per direction, default 10), --reps N (rounds of the
 * throughput comparison, default 3), --cycles N and --daemon-rounds N --warmup N (ovpnd churn, default
 * 1000 x 3 after 1000 warm-up cycles), --vpn-rounds N (full VPN vs full VPN, default 2, env
 * VPN_BENCH_ROUNDS), --vpn-mtus 1500,9000,60000 (its tunnel MTU cases, the default; 1500 is OpenVPN's default
 * setup, N is `tun-mtu N` + `mssfix 0`; env VPN_BENCH_MTUS),
 * --storm-clients N (connect storm, default 200, env STORM_CLIENTS; env
 * STORM_SERVER_EXTRA: extra server directives separated by `;`). Exits 1 if a target is missed.
 * The throughput and daemon parts need root; throughput also iperf3 and openvpn (scripts/setup.sh
 * installs them).
 */
import { reportCrypto, runCryptoBench } from './crypto.js';
import { runDaemonBench } from './daemon.js';
import { reportStorm, runStorm } from './storm.js';
import { runThroughputBench } from './throughput.js';
import { type MtuCase, runVpnBench } from './vpn-vs-vpn.js';

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
      ' [--cycles N] [--daemon-rounds N] [--warmup N] [--vpn-only] [--vpn-rounds N] [--vpn-mtus 1500,9000,60000] [--storm-only | storm]' +
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
  const i = args.indexOf('--vpn-mtus');
  const list = i >= 0 ? args[i + 1] : process.env.VPN_BENCH_MTUS;
  const mtus =
    list === undefined || list === ''
      ? undefined
      : list.split(',').map((x): MtuCase => (Number(x) === 1500 ? 'default' : Number(x)));
  const r = await runVpnBench({
    seconds: num('--seconds', 10),
    rounds: num('--vpn-rounds', 2, 'VPN_BENCH_ROUNDS'),
    mtus,
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

/**
 * `npm run bench`: every benchmark of the project in one run, printing medians and ratios.
 * Options: --crypto-only, --throughput-only, --daemon-only (combinable), --seconds N (iperf3 per
 * direction, default 10), --reps N (rounds of the throughput comparison, default 3), --cycles N and
 * --daemon-rounds N --warmup N (ovpnd churn, default 1000 x 3 after 1000 warm-up cycles). Exits 1 if a target is missed.
 * The throughput and daemon parts need root; throughput also iperf3 and openvpn (scripts/setup.sh
 * installs them).
 */
import { reportCrypto, runCryptoBench } from './crypto.js';
import { runDaemonBench } from './daemon.js';
import { runThroughputBench } from './throughput.js';

const args = process.argv.slice(2);
const num = (flag: string, dflt: number) => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (args.includes('--help')) {
  console.log(
    'usage: npm run bench -- [--crypto-only] [--throughput-only] [--daemon-only] [--seconds N] [--reps N]' +
      ' [--cycles N] [--daemon-rounds N] [--warmup N]',
  );
  process.exit(0);
}
const only = ['--crypto-only', '--throughput-only', '--daemon-only'].filter((f) => args.includes(f));
const run = (flag: string) => only.length === 0 || only.includes(flag);
let ok = true;
if (run('--crypto-only')) ok = reportCrypto(runCryptoBench()) && ok;
if (run('--throughput-only')) ok = (await runThroughputBench(num('--seconds', 10), num('--reps', 3))) && ok;
if (run('--daemon-only'))
  ok = (await runDaemonBench(num('--cycles', 1000), num('--daemon-rounds', 3), num('--warmup', 1000))) && ok;
process.exitCode = ok ? 0 : 1;

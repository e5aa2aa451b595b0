/**
 * `npm run bench`: every benchmark of the project in one run, printing medians and ratios.
 * Options: --crypto-only, --throughput-only, --seconds N (iperf3 per direction, default 10),
 * --reps N (rounds of the throughput comparison, default 3). Exits 1 if a target is missed.
 * The throughput part needs root, iperf3 and openvpn (scripts/setup.sh installs them).
 */
import { reportCrypto, runCryptoBench } from './crypto.js';
import { runThroughputBench } from './throughput.js';

const args = process.argv.slice(2);
const num = (flag: string, dflt: number) => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (args.includes('--help')) {
  console.log('usage: npm run bench -- [--crypto-only | --throughput-only] [--seconds N] [--reps N]');
  process.exit(0);
}
let ok = true;
if (!args.includes('--throughput-only')) ok = reportCrypto(runCryptoBench()) && ok;
if (!args.includes('--crypto-only'))
  ok = (await runThroughputBench(num('--seconds', 10), num('--reps', 3))) && ok;
process.exitCode = ok ? 0 : 1;

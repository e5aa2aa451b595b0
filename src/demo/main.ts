/**
 * Entry point of `npm run demo`: the network-namespace tunnel demo (needs root), or with
 * `--in-process` the core-only demo that needs no privileges.
 */
import { runInProcessDemo } from './in-process.js';
import { runNetnsDemo } from './netns-demo.js';

if (process.argv.includes('--help')) {
  console.log(`usage: npm run demo [-- --in-process] [-- --seconds N]
Brings up an MP server and two P2P clients in network namespaces, pings and runs iperf3 through each
tunnel, and prints per-peer stats (needs root, iproute2, ping, iperf3).
  --in-process   run the data-channel core between two in-process peers instead (no root needed)
  --seconds N    iperf3 duration per direction (default 3)`);
} else if (process.argv.includes('--in-process')) {
  runInProcessDemo();
} else {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 3;
  runNetnsDemo({ iperfSeconds: seconds }).then(
    (ok) => {
      process.exitCode = ok ? 0 : 1;
    },
    (e: unknown) => {
      console.error('demo failed:', e instanceof Error ? e.message : e);
      process.exitCode = 1;
    },
  );
}

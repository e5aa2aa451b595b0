/**
 * Entry point of `npm run demo`: the whole product between network namespaces (needs root); with
 * `--data-plane` the data-plane-only demo (an MP device and two P2P clients keyed by hand), with
 * `--in-process` the core-only demo that needs no privileges.
 */
import { runInProcessDemo } from './in-process.js';
import { runNetnsDemo } from './netns-demo.js';
import { runProductDemo } from './product-demo.js';

const argv = process.argv.slice(2);
const i = argv.indexOf('--seconds');
const seconds = i >= 0 ? Number(argv[i + 1]) : 3;
const done = (ok: boolean) => {
  process.exitCode = ok ? 0 : 1;
};
const failed = (e: unknown) => {
  console.error('demo failed:', e instanceof Error ? e.message : e);
  process.exitCode = 1;
};

if (argv.includes('--help')) {
  console.log(`usage: npm run demo [-- --seconds N] [-- --openvpn-server | --data-plane | --in-process]
Makes certificates, starts \`ovpn-ts --config server.conf\` and two clients (ovpn-ts and a stock
openvpn) in network namespaces, pings and runs iperf3 through each tunnel, prints the server's status
file, and removes everything (needs root, iproute2, ping, iperf3, openssl, openvpn).
  --seconds N       iperf3 duration per direction (default 3)
  --openvpn-server  the same with OpenVPN's own server, for comparison
  --data-plane      only the data plane: an MP device and two P2P clients keyed by hand, with per-peer stats
  --in-process      the data-channel core between two in-process peers (no root needed)`);
} else if (argv.includes('--in-process')) {
  runInProcessDemo();
} else if (argv.includes('--data-plane')) {
  runNetnsDemo({ iperfSeconds: seconds }).then(done, failed);
} else {
  const serverProgram = argv.includes('--openvpn-server') ? 'openvpn' : 'ovpn-ts';
  runProductDemo({ iperfSeconds: seconds, serverProgram }).then(done, failed);
}

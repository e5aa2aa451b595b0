#!/usr/bin/env node
/**
 * ovpnd: the ovpn-ts management daemon of this network namespace (src/daemon/server.ts). Runs in the
 * foreground (for a service manager, or started in the background by the first client that creates a
 * device); `--help` describes it.
 */
import { Ovpnd } from '../daemon/server.js';
import { OVPND_SOCKET } from '../mgmt/protocol.js';
import { SyscallError } from '../sys/unix-seqpacket.js';

const USAGE = `usage: ovpnd [--socket NAME] [--quiet]
The ovpn-ts management daemon of this network namespace. It owns the namespace's ovpn devices and
serves the management protocol (docs/ovpnd.md) to root on the abstract Unix socket @${OVPND_SOCKET}.
It runs in the foreground; clients such as ovpn-cli start it on demand when they create a device.
It exits when it has no devices and no clients, when its network namespace is deleted, or on
SIGTERM/SIGINT/SIGHUP (deleting its devices). Exit status: 0, 1 if another daemon already serves
here, 2 for a bad argument, 70 on an internal error. Started on demand, it logs to /run/ovpn-ts/ovpnd-<netns>.log (or $OVPND_LOG).
  --socket NAME   listen on abstract socket NAME instead (for tests)
  --quiet         do not log start and stop to stderr
`;

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
let socketName: string | undefined;
let quiet = false;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--socket' && i + 1 < argv.length) socketName = argv[++i];
  else if (argv[i] === '--quiet') quiet = true;
  else if (argv[i] === '--foreground') {
    // accepted for service files: ovpnd always runs in the foreground
  } else {
    process.stderr.write(`ovpnd: unknown argument ${argv[i]}\n${USAGE}`);
    process.exit(2);
  }
}

const log = quiet
  ? undefined
  : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
let daemon: Ovpnd;
try {
  daemon = new Ovpnd({ socketName, log, onExit: () => setImmediate(() => process.exit(0)) });
} catch (e) {
  if (e instanceof SyscallError && e.errno === 98) {
    process.stderr.write('ovpnd: another ovpnd already serves this network namespace\n');
    process.exit(1);
  }
  throw e;
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => daemon.shutdown(`${sig}`));
// A bug must not pass silently: the stack goes to the log (stderr) with a timestamp, then the daemon
// exits 70 (EX_SOFTWARE); its devices go with it, as they would with a crashed kernel module's netns.
process.on('uncaughtException', (e) => {
  process.stderr.write(`${new Date().toISOString()} ovpnd ${process.pid} crashed: ${e.stack ?? String(e)}\n`);
  process.exit(70);
});

/**
 * The background holder: what the selftest tool's daemon() + pause() does for the commands that make
 * sockets (listen, connect, new_peer, new_multi_peer). Node cannot fork, so the foreground process does
 * the work, then starts a detached copy of this script (`ovpn-cli.js --hold`) that inherits
 *
 *   fd 3  a pipe on which it says it is ready,
 *   fd 4  the ovpnd connection that handed the sockets over,
 *   fd 5… the sockets,
 *
 * and only then exits. The holder reads and discards whatever ovpnd sends on the connection (so the
 * daemon never blocks on it) and exits when ovpnd closes it. Killing the holder closes the connection
 * and the sockets; ovpnd then removes the peers (transport-disconnect), as the kernel does when the
 * tool's sockets are closed. Its process title is "ovpn-cli", so `pkill -f ovpn-cli`, `pkill ovpn-cli`
 * and `killall ovpn-cli` find it; `ip netns pids <ns>` lists those of one namespace. Its stdio is
 * /dev/null, so that a caller capturing the foreground's output is not kept waiting.
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { OvpndClient } from '../../client/ovpnd-client.js';
import { close } from '../../sys/libc.js';
import { watchFd } from '../../sys/poll.js';
import { recvMessage } from '../../sys/unix-seqpacket.js';

/** Hidden first argument that turns ovpn-cli.js into a holder. */
export const HOLD_FLAG = '--hold';
/** The title holders (and every ovpn-cli process) carry. */
export const PROCESS_TITLE = 'ovpn-cli';
/** The title of ovpn-cli run as a stand-in for YNL's cli.py (see args.ts). */
export const YNL_PROCESS_TITLE = 'ovpn-ynl';

const READY_FD = 3;
const CONN_FD = 4;
const READY = 'ready\n';
const ENTRY = fileURLToPath(new URL('../ovpn-cli.js', import.meta.url));

/**
 * Hands `client`'s connection and `fds` to a new background holder and waits until it holds them;
 * then closes this process's copies. `what` describes the holder (environment OVPN_CLI_HOLDS).
 * Rejects if the holder could not start (the caller's copies stay open then).
 */
export function holdInBackground(client: OvpndClient, fds: readonly number[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY, HOLD_FLAG, String(fds.length)], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe', client.fd, ...fds],
      env: { ...process.env, OVPN_CLI_HOLDS: what },
    });
    const ready = child.stdio[READY_FD] as Socket | null;
    let settled = false;
    const timer = setTimeout(() => fail(new Error('the holder did not report ready in time')), 15_000);
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ready?.destroy();
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
      reject(e);
    };
    let got = '';
    child.on('error', (e) => fail(e));
    child.on('exit', (code, sig) => fail(new Error(`the holder exited early (${sig ?? `status ${code}`})`)));
    if (ready === null) {
      fail(new Error('no ready pipe'));
      return;
    }
    ready.on('error', (e) => fail(e));
    ready.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (!got.includes(READY) || settled) return;
      settled = true;
      clearTimeout(timer);
      ready.destroy();
      child.removeAllListeners('exit');
      child.unref();
      client.close();
      for (const fd of fds) close(fd);
      resolve();
    });
  });
}

/**
 * The holder's main. The inherited sockets (fds 5..) just stay open; fd 4 is drained, and its end
 * (ovpnd closed the connection) ends the holder.
 */
export function runHolder(): void {
  process.title = PROCESS_TITLE;
  const watcher = watchFd(CONN_FD, { readable: true, writable: false }, () => drain());
  const keepAlive = setInterval(() => {}, 1 << 30);
  const exit = () => {
    watcher.close();
    clearInterval(keepAlive);
    process.exit(0);
  };
  const drain = () => {
    for (;;) {
      const r = recvMessage(CONN_FD);
      if (r.kind === 'again') return;
      if (r.kind === 'eof') {
        exit();
        return;
      }
      if (r.kind === 'message') for (const f of r.fds) close(f);
    }
  };
  drain();
  try {
    writeSync(READY_FD, READY);
    closeSync(READY_FD);
  } catch {
    // the foreground gave up waiting; keep holding all the same, as a daemon() child would
  }
}

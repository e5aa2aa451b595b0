/**
 * `--daemon` and `--writepid`. OpenVPN's daemon() forks after reading the config; Node cannot fork,
 * so the parent starts a detached copy of itself (same node, script and options without `--daemon`,
 * DAEMON_CHILD_ENV set, working directory kept so that relative paths mean the same), with stdout and
 * stderr on the `--log` file (or /dev/null: ovpn-ts does not write to syslog), and exits 0 as soon as
 * the child runs, that is before the tunnel is up, as OpenVPN does.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { DAEMON_CHILD_ENV, withoutDaemon } from './args.js';

export interface DaemonStart {
  /** The script node runs (process.argv[1]). */
  script: string;
  /** The program's arguments (process.argv.slice(2)), `--daemon` still in. */
  argv: readonly string[];
  /** `--log`/`--log-append`: where the child's output goes; undefined: /dev/null. */
  log?: { path: string; append: boolean };
}

/** Starts the detached child; resolves with its pid once it runs, rejects if it cannot start. */
export function startDaemonChild(d: DaemonStart): Promise<number> {
  const fd =
    d.log === undefined ? openSync('/dev/null', 'w') : openSync(d.log.path, d.log.append ? 'a' : 'w', 0o600);
  return new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, d.script, ...withoutDaemon(d.argv)], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, [DAEMON_CHILD_ENV]: '1' },
    });
    child.once('error', (e) => {
      closeSync(fd);
      reject(e);
    });
    child.once('spawn', () => {
      closeSync(fd);
      child.unref();
      resolve(child.pid ?? 0);
    });
  });
}

/** `--writepid file`: the pid and a newline (as OpenVPN writes it). */
export function writePidFile(path: string, pid = process.pid): void {
  writeFileSync(path, `${pid}\n`);
}

/** Removes the pid file on exit (OpenVPN 2.6 does too); a missing file is fine. */
export function removePidFile(path: string): void {
  rmSync(path, { force: true });
}

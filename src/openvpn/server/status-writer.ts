/**
 * `--status file [seconds]` on the server: the file kept as OpenVPN 2.6 keeps it (status.c,
 * init.c do_open_status_output / do_close_status_output, multi.c
 * multi_process_per_second_timers_dowork):
 *
 * - opened once at start-up with O_CREAT|O_TRUNC|O_WRONLY, mode 0600 (an old file is emptied);
 * - written at the first timer tick after start-up, then every `seconds` seconds (default 60); each
 *   write rewrites the same file in place (from offset 0, then truncated to the new length), so the
 *   inode stays and `tail -F`, inotify watchers and open readers behave as with 2.6;
 * - `seconds` 0: 2.6 arms no timer, so the file is created empty and never written;
 * - at exit it is closed as it is: 2.6 writes no final status and leaves the last one in place.
 *   On a SIGUSR1 restart 2.6 keeps it open; on SIGHUP it closes and reopens it (emptied again).
 *
 * The text comes from status-file.ts's `formatStatus`.
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ServerOptions } from '../../config/server-options.js';
import { programVersion } from '../args.js';
import { formatStatus, type StatusSnapshot, type StatusVersion } from './status-file.js';

/**
 * The title ovpn-ts prints where 2.6 prints its `title_string` (`TITLE` row of versions 2 and 3).
 * 2.6's names the program, version, build target and compiled-in features (`OpenVPN 2.6.14
 * x86_64-pc-linux-gnu [SSL (OpenSSL)] [LZO] ... [DCO]`). Ours says truthfully what is answering:
 * ovpn-ts, its version, the platform, OpenSSL for TLS and the AEAD data channel, the data channel on
 * ovpn-ts's userspace ovpn device, and the Node runtime. It is not dressed up as OpenVPN's: programs
 * that read status files go by the row names and columns, which are 2.6's exactly.
 */
export function ovpnTsTitle(): string {
  return (
    `ovpn-ts ${programVersion()} ${process.arch}-${process.platform} [SSL (OpenSSL)] [AEAD] ` +
    `[userspace ovpn data channel] [Node ${process.version}]`
  );
}

/** The open status file: rewritten in place by `write`. */
export class StatusFile {
  private fd: number | undefined;

  /** Opens (creating, mode 0600, or emptying) `path`; throws the open error (e.g. ENOENT, EACCES). */
  constructor(readonly path: string) {
    this.fd = openSync(path, 'w', 0o600);
  }

  /** Replaces the file's content with `text` (written from offset 0, then truncated to its length). */
  write(text: string): void {
    if (this.fd === undefined) throw new Error(`status file ${this.path} is closed`);
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off, off);
    ftruncateSync(this.fd, buf.length);
  }

  /** Closes the file, leaving its content. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

/** Options of `startStatusFile`. */
export interface StatusFileOptions {
  /** The file (the shell resolves `status`'s path against the config's directory or `cd`). */
  path: string;
  /** `status file seconds` (2.6's default 60); 0: never written. */
  seconds: number;
  /** `status-version` (default 1). */
  version: StatusVersion;
  /** The server's state at this moment; called once per write. */
  snapshot: () => StatusSnapshot;
  /** Epoch seconds (default: the wall clock). */
  now?: () => number;
  /**
   * Told when the file cannot be opened (2.6: `Note: cannot open FILE for WRITE`, and it runs on
   * without one) or a write fails (told once until a write succeeds again).
   */
  onError?: (message: string) => void;
}

/** A running `--status` file. */
export interface StatusFileTask {
  /** Writes the status now (2.6 writes only on its timer; this is for tests); no-op once closed. */
  writeNow(): void;
  /** Stops the timer and closes the file, leaving the last status in it (2.6 at exit). */
  close(): void;
}

/**
 * Opens the status file and writes it at once and then every `seconds` seconds, as 2.6 does. The
 * timer does not keep the process alive. Never throws: an open failure is reported through `onError`
 * and the task does nothing, as 2.6 runs on without its status file.
 */
export function startStatusFile(opts: StatusFileOptions): StatusFileTask {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const report = opts.onError ?? (() => {});
  let file: StatusFile | undefined;
  try {
    file = new StatusFile(opts.path);
  } catch (e) {
    report(`Note: cannot open ${opts.path} for WRITE: ${(e as Error).message}`);
  }
  let failing = false;
  const writeNow = () => {
    if (file === undefined) return;
    try {
      file.write(formatStatus(opts.snapshot(), opts.version, now()));
      failing = false;
    } catch (e) {
      if (!failing) report(`cannot write the status file ${opts.path}: ${(e as Error).message}`);
      failing = true;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  if (file !== undefined && opts.seconds > 0) {
    writeNow();
    timer = setInterval(writeNow, opts.seconds * 1000);
    timer.unref();
  }
  return {
    writeNow,
    close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      file?.close();
      file = undefined;
    },
  };
}

/**
 * `startStatusFile` for a server's `status` / `status-version` options (the path taken relative to the
 * directory the config gave it, as the client does its files), or undefined without `status`.
 */
export function startServerStatusFile(
  options: Pick<ServerOptions, 'status' | 'statusVersion'>,
  snapshot: () => StatusSnapshot,
  onError?: (message: string) => void,
): StatusFileTask | undefined {
  const st = options.status;
  if (st === undefined) return undefined;
  const path = isAbsolute(st.ref.path) ? st.ref.path : join(st.ref.dir, st.ref.path);
  return startStatusFile({ path, seconds: st.seconds, version: options.statusVersion, snapshot, onError });
}

/**
 * The client's log, at OpenVPN's `verb` levels (errlevel.h): 0 prints fatal errors only, 1 is the
 * default (M_INFO: connection milestones, warnings, errors), 2-3 add handshake and option detail
 * (D_HANDSHAKE, D_PUSH, ignored-directive notes), 4 adds the peer's options string (D_SHOW_PARMS
 * territory), 5 and above are packet level in OpenVPN (R/W marks), which ovpn-ts does not print yet.
 *
 * Lines look as OpenVPN prints them in the foreground and to a `--log` file: local time
 * `YYYY-MM-DD HH:MM:SS`, a space, the message (error.c x_msg_va, since 2.5).
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Shown at every verb, even 0. */
export const LOG_FATAL = 0;
/** M_INFO / M_WARN / M_NONFATAL: shown at the default verb 1. */
export const LOG_INFO = 1;
/** D_HANDSHAKE, D_PUSH. */
export const LOG_HANDSHAKE = 2;
/** D_LOW-ish detail: config notes, ignored control messages. */
export const LOG_DETAIL = 3;
/** D_SHOW_PARMS-ish: option strings. */
export const LOG_PARMS = 4;

/** `2024-05-01 13:02:03`: local time as OpenVPN stamps its lines. */
export function openvpnTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Where lines go: a function taking one line including its newline. */
export type LogSink = (line: string) => void;

export interface LoggerOptions {
  /** `verb`: messages with a level above it are dropped. */
  verb: number;
  sink: LogSink;
  /** Prefix lines with openvpnTimestamp (default true). */
  timestamps?: boolean;
  /** Called for every line that passes the verb filter (the `--json` mode's log events). */
  onMessage?: (level: number, msg: string) => void;
  /** The clock (tests). */
  now?: () => Date;
}

export class Logger {
  private verb: number;

  constructor(private readonly opts: LoggerOptions) {
    this.verb = opts.verb;
  }

  /** A SIGHUP may bring a new `verb`. */
  setVerb(verb: number): void {
    this.verb = verb;
  }

  /** Whether a message at `level` would be printed. */
  enabled(level: number): boolean {
    return level <= this.verb || level === LOG_FATAL;
  }

  log(level: number, msg: string): void {
    if (!this.enabled(level)) return;
    const stamp =
      this.opts.timestamps === false ? '' : `${openvpnTimestamp((this.opts.now ?? (() => new Date()))())} `;
    for (const line of msg.split('\n')) this.opts.sink(`${stamp}${line}\n`);
    this.opts.onMessage?.(level, msg);
  }
}

/**
 * The level of a message from OpenvpnClient (whose log callback has no level): the verb at which
 * OpenVPN 2.6 prints the corresponding message. Unknown messages are detail (3).
 */
export function clientMessageLevel(msg: string): number {
  // receive_auth_failed logs at M_VERB0
  if (msg.startsWith('AUTH: ')) return LOG_FATAL;
  if (msg.startsWith('ERROR') || msg.startsWith('WARNING')) return LOG_INFO;
  if (
    msg === 'Initialization Sequence Completed' ||
    msg.startsWith('UDP link remote') ||
    // socket.c: the TCP connect's progress and failures are M_INFO / D_LINK_ERRORS (verb 1)
    msg.startsWith('TCP_CLIENT link remote') ||
    msg.startsWith('Attempting to establish TCP connection') ||
    msg.startsWith('TCP connection established') ||
    msg.startsWith('TCP: connect to') ||
    msg.startsWith('Data Channel:') ||
    msg.startsWith('net: ') ||
    msg.startsWith('Connection reset command') ||
    msg.startsWith('Halt command') ||
    msg.startsWith('SIGTERM received, sending exit')
  )
    return LOG_INFO;
  if (
    msg.startsWith('Control Channel:') ||
    msg.startsWith('PUSH:') ||
    msg.startsWith('SENT CONTROL') ||
    msg.startsWith('VERIFY ')
  )
    return LOG_HANDSHAKE;
  if (msg.startsWith('Peer options')) return LOG_PARMS;
  return LOG_DETAIL;
}

/** A sink writing to stdout or stderr. */
export function streamSink(stream: NodeJS.WriteStream): LogSink {
  return (line) => {
    stream.write(line);
  };
}

/**
 * `--log file` (truncate) / `--log-append file`: a synchronous sink, so that the last lines before an
 * exit are on disk. `close` releases the descriptor.
 */
export function fileSink(path: string, append: boolean): { sink: LogSink; close: () => void } {
  let fd: number | undefined = openSync(path, append ? 'a' : 'w', 0o600);
  return {
    sink: (line) => {
      if (fd !== undefined) writeSync(fd, line);
    },
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

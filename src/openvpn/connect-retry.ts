/**
 * Which connection entry to try next and how long to wait before it, as OpenVPN 2.6 decides
 * (init.c init_connection_list, next_connection_entry, socket_restart_pause; forward.c
 * check_server_poll_timeout; ping.c trigger_ping_timeout_signal), and how a failure tells the
 * lifecycle (lifecycle.ts) what to do with it. Pure: no timers, sockets or clocks.
 *
 * - The list is tried in order (shuffled once at start with `remote-random`); every attempt that moves
 *   on to an entry counts as unsuccessful until "Initialization Sequence Completed" resets the count.
 * - After the tunnel was up, the next restart reconnects to the same entry (2.6's `no_advance`); if
 *   that attempt fails, the list moves on.
 * - `connect-retry-max n`: the process ends (exit 1) once an attempt would exceed n rounds of the list.
 * - The pause before a restart is the entry's `connect-retry` seconds, doubled for each round of the
 *   list beyond the fifth (at most 2^15 times), capped at the entry's `connect-retry` max (default
 *   300 s); 10 s with `auth-retry nointeract`; none after a server poll timeout.
 */
import { ConfigError } from '../config/tokenize.js';

/** What a failure asks of the lifecycle. All optional: a plain Error restarts to the next entry. */
export interface FailureHints {
  /**
   * End the process instead of retrying: configuration errors found at connect time (a file that
   * cannot be read), AUTH_FAILED with `auth-retry none`, the server's HALT.
   */
  fatal?: boolean;
  /** The exit status when `fatal` (default 1). */
  exitCode?: number;
  /** OpenVPN's signal text for the `SIGUSR1[soft,<text>]` / `SIGTERM[soft,<text>]` line. */
  signalText?: string;
  /** Try the same connection entry again (2.6 sets `no_advance` for AUTH_FAILED). */
  sameRemote?: boolean;
  /** Move on to the next entry even after the tunnel was up (the server's `RESTART,[N]`). */
  nextRemote?: boolean;
  /** Seconds to pause before the next attempt: 0 = none (server poll timeout), else at least this. */
  pauseSeconds?: number;
  /** The keepalive expired (the data plane removed the peer as expired): restart or exit. */
  inactivity?: 'restart' | 'exit';
  /** Name resolution failed (`resolv-retry` decides). */
  resolve?: boolean;
}

/** An Error carrying FailureHints. Other code may instead set `fatal: true` on any Error. */
export class ConnectError extends Error {
  constructor(
    message: string,
    readonly hints: FailureHints,
  ) {
    super(message);
  }
}

/** A failure that ends the process (exit `exitCode`, default 1) instead of a retry. */
export function fatalError(message: string, exitCode = 1, signalText?: string): ConnectError {
  return new ConnectError(message, { fatal: true, exitCode, signalText });
}

/**
 * The hints of a failure: `e.hints` of a ConnectError, or `fatal`/`exitCode` set on any Error. A
 * ConfigError (a file named by the config that cannot be read at connect time) is fatal, as 2.6's
 * key and certificate loading is.
 */
export function failureHints(e: unknown): FailureHints {
  if (e instanceof ConfigError) return { fatal: true };
  if (typeof e !== 'object' || e === null) return {};
  const h = (e as { hints?: unknown }).hints;
  const out: FailureHints = typeof h === 'object' && h !== null ? { ...(h as FailureHints) } : {};
  const x = e as { fatal?: unknown; exitCode?: unknown };
  if (x.fatal === true) out.fatal = true;
  if (typeof x.exitCode === 'number') out.exitCode = x.exitCode;
  return out;
}

/**
 * A setup step of a connection (reading and checking keys, certificates, the control channel key,
 * the credentials): its failure ends the process, as 2.6's M_FATAL in init_ssl / get_user_pass does,
 * instead of a retry that cannot cure it. Hints the error already carries (an exit status) are kept.
 */
export async function setupStep<T>(step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (e) {
    throw Object.assign(e instanceof Error ? e : new Error(String(e)), { fatal: true });
  }
}

/**
 * A prompt (auth-user-pass, the private key's password) ended by Ctrl-C or Ctrl-D: the process ends as
 * SIGINT ends it (exit 0), without a retry.
 */
export function promptAborted(directive: string): ConnectError {
  return new ConnectError(`${directive}: the prompt was interrupted`, {
    fatal: true,
    exitCode: 0,
  });
}

/**
 * The server's PUSH_REPLY cannot be used (a pull-filter rejected it, no usable cipher, no peer-id, a
 * bad or endless continuation): a restart, logged with 2.6's reason `process-push-msg-failed`.
 */
export function pushFailed(e: unknown): ConnectError {
  const msg = e instanceof Error ? e.message : String(e);
  return Object.assign(new ConnectError(msg, { signalText: 'process-push-msg-failed' }), { cause: e });
}

/** The data plane removed the tunnel's peer with `reason` (keepalive: `expired`). */
export function peerGoneError(reason: string, pingAction: 'restart' | 'exit'): ConnectError {
  if (reason === 'expired')
    return new ConnectError(`the data plane removed the peer: ${reason}`, {
      inactivity: pingAction,
      signalText: pingAction === 'exit' ? 'ping-exit' : 'ping-restart',
    });
  return new ConnectError(`the data plane removed the peer: ${reason}`, {
    // 2.6 on a TCP stream that ends or fails: "Connection reset, restarting"
    signalText: /^transport-(disconnect|error)/.test(reason) ? 'connection-reset' : 'peer-removed',
  });
}

/**
 * Keepalive for the data plane: the pushed `ping`/`ping-restart` win over the profile's
 * `ping`/`ping-restart`/`ping-exit`/`keepalive` (pushed options are applied on top of the profile's,
 * and a pushed ping-restart makes the action a restart). Undefined when there is no timeout.
 */
export function effectiveKeepalive(
  profile: { ping: number; pingRecvTimeout: number; pingAction: 'restart' | 'exit' | undefined },
  pushed: { ping: number | undefined; pingRestart: number | undefined },
): { interval: number; timeout: number; action: 'restart' | 'exit' } | undefined {
  const interval = pushed.ping ?? profile.ping;
  const timeout = pushed.pingRestart ?? profile.pingRecvTimeout;
  if (timeout <= 0 || interval <= 0) return undefined;
  const action = pushed.pingRestart !== undefined ? 'restart' : (profile.pingAction ?? 'restart');
  return { interval, timeout, action };
}

/**
 * The pushed options that decide whether a kept (`persist-tun`) device must be set up again: all but
 * peer-id, auth-token, auth-token-user (push.c push_update_digest) and cipher (which only matters
 * there when tun-mtu is set, as it can change the MTU; ours never does).
 */
export function pushedDigest(pushedOptions: readonly string[]): string {
  const kept = pushedOptions.filter(
    (l) =>
      !l.startsWith('peer-id ') &&
      !l.startsWith('auth-token ') &&
      !l.startsWith('auth-token-user ') &&
      !l.startsWith('cipher '),
  );
  return JSON.stringify(kept);
}

/** The order in which the connection entries are tried: shuffled once with `remote-random`. */
export function connectionOrder(length: number, random: boolean, randomInt: (n: number) => number): number[] {
  const order = Array.from({ length }, (_, i) => i);
  if (!random) return order;
  for (let i = length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Position in the connection list and the count of unsuccessful attempts (init.c next_connection_entry). */
export class ConnectionCursor {
  private current = -1;
  private unsuccessful = 0;
  private noAdvance = false;

  /** `retryMax`: `connect-retry-max` (0 = no limit). */
  constructor(
    readonly length: number,
    readonly retryMax: number,
  ) {
    if (length < 1) throw new Error('no connection entry');
  }

  /** The position (0-based, in the tried order) of the next attempt, or undefined once over the limit. */
  next(): number | undefined {
    if (this.noAdvance && this.current >= 0) {
      this.noAdvance = false;
    } else {
      this.unsuccessful++;
      this.current = (this.current + 1) % this.length;
    }
    if (this.retryMax > 0 && this.unsuccessful > this.length * this.retryMax) return undefined;
    return this.current;
  }

  /** "Initialization Sequence Completed": the count starts again and a restart stays on this entry. */
  succeeded(): void {
    this.unsuccessful = 0;
    this.noAdvance = true;
  }

  /** The next attempt uses the same entry. */
  stay(): void {
    this.noAdvance = true;
  }

  /** The next attempt moves on, even after success. */
  advance(): void {
    this.noAdvance = false;
  }

  /** Unsuccessful attempts so far (the back-off counts rounds of the list from it). */
  get attempts(): number {
    return this.unsuccessful;
  }

  /** The position of the current attempt (-1 before the first). */
  get position(): number {
    return this.current;
  }
}

/** The connection entry settings the pause depends on. */
export interface RetryEntry {
  /** `connect-retry` seconds. */
  connectRetry: number;
  /** `connect-retry`'s second argument: the largest pause, seconds. */
  connectRetryMax: number;
  /** `server-poll-timeout` / `connect-timeout`, seconds (0 = none). */
  connectTimeout: number;
}

/** init.c socket_restart_pause for a client (UDP tls-client or TCP client). */
export function restartPauseSeconds(p: {
  entry: RetryEntry;
  attempts: number;
  listLength: number;
  authRetryNointeract?: boolean;
  /** The failure's pauseSeconds: 0 = no pause (server poll timeout), n = at least n. */
  requested?: number;
}): number {
  if (p.requested === 0) return 0;
  let sec = p.authRetryNointeract ? 10 : p.entry.connectRetry;
  const backoff = Math.floor(p.attempts / p.listLength) - 4;
  if (backoff > 0) sec = Math.max(sec, 1) * 2 ** Math.min(backoff, 15);
  if (sec > p.entry.connectRetryMax) sec = p.entry.connectRetryMax;
  if (p.requested !== undefined && p.requested > sec) sec = p.requested;
  return sec;
}

/** openvpn_getaddrinfo's wait between name lookups under `resolv-retry n`. */
export const RESOLV_RETRY_INTERVAL_SEC = 5;

/**
 * How many lookups one attempt makes under `resolv-retry` (socket.c resolve_remote,
 * openvpn_getaddrinfo): one when infinite (a failure is then a failed attempt: the next entry, and so
 * on for ever), (n+4)/5 for n seconds, and 0 seconds makes a failed lookup fatal (returned as 0).
 */
export function resolveTries(resolvRetrySeconds: number): number {
  if (resolvRetrySeconds === Number.POSITIVE_INFINITY) return 1;
  if (resolvRetrySeconds <= 0) return 0;
  return Math.floor((resolvRetrySeconds + 4) / RESOLV_RETRY_INTERVAL_SEC);
}

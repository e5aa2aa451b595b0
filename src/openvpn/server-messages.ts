/**
 * What the client makes of the server's control messages other than PUSH_REPLY (OpenVPN 2.6
 * forward.c parse_incoming_control_channel_command; push.c receive_auth_failed, server_pushed_signal,
 * server_pushed_info, receive_auth_pending, receive_exit_message), and the wait of the exit
 * notification (sig.c process_explicit_exit_notification_init).
 *
 * Restarting or ending the process is the business of whoever owns the lifecycle (main.ts): the
 * outcome names a `ServerCommand` that it maps to SIGUSR1 (restart) or SIGTERM (halt), with 2.6's
 * signal text as the reason.
 */
import type { ControlMessage } from '../control/control-message.js';
import { type AuthUserPass, redactControlMessage } from './auth-user-pass.js';

export interface ServerCommand {
  /** `restart`: a new connection (SIGUSR1); `halt`: the process ends, exit 0 (a soft SIGTERM). */
  kind: 'restart' | 'halt';
  /** 2.6's signal text: `auth-failure`, `server-pushed-halt`, `server-pushed-connection-reset`, `remote-exit`... */
  reason: string;
  /** The server's message, as received (an AUTH_FAILED with its reason, RESTART/HALT with theirs). */
  message: string;
  /** It comes from AUTH_FAILED. */
  authFailed: boolean;
  /** RESTART,[N]: the next connection goes to the next remote (push.c server_pushed_signal). */
  nextRemote?: boolean;
}

export interface ServerMessageOutcome {
  /** Lines for the client's log (no secrets). */
  log: string[];
  command?: ServerCommand;
}

/**
 * The meaning of one control message from the server (parsed by control-message.ts; `text` as
 * received). Credentials are forgotten here where 2.6 purges them (AUTH_FAILED with auth-retry
 * interact, RESTART/HALT without `[P]`); a failed auth-token is dropped.
 */
export function serverMessage(m: ControlMessage, text: string, auth: AuthUserPass): ServerMessageOutcome {
  switch (m.type) {
    case 'AUTH_FAILED': {
      const a = auth.authFailed(m.reason);
      return {
        log: [`AUTH: Received control message: ${text}`],
        command: { kind: a.kind, reason: a.reason, message: text, authFailed: true },
      };
    }
    case 'RESTART':
    case 'HALT': {
      auth.serverSignal(m.keepCredentials);
      const restart = m.type === 'RESTART';
      return {
        log: [
          restart
            ? `Connection reset command was pushed by server ('${m.message}')`
            : `Halt command was pushed by server ('${m.message}')`,
        ],
        command: {
          kind: restart ? 'restart' : 'halt',
          reason: restart ? 'server-pushed-connection-reset' : 'server-pushed-halt',
          message: text,
          authFailed: false,
          nextRemote: m.advanceRemote,
        },
      };
    }
    case 'INFO':
    case 'INFO_PRE':
      return { log: [`Info command was pushed by server ('${m.text}')`] };
    case 'AUTH_PENDING':
      // we do not announce AUTH_PENDING_KW; the wait for PUSH_REPLY stays bounded by hand-window
      return {
        log: [
          `AUTH_PENDING received${m.timeoutSec === undefined ? '' : ` (timeout ${m.timeoutSec} s)`}: waiting for the server's decision within hand-window`,
        ],
      };
    case 'EXIT':
      return {
        log: ['Exit notification received from the server: reconnecting'],
        command: { kind: 'restart', reason: 'remote-exit', message: text, authFailed: false },
      };
    default:
      return { log: [`WARNING: Received unknown control message: ${redactControlMessage(text)}`] };
  }
}

/** Resolves true once `done()` holds (checked every `stepMs`), or false after `ms`. */
export function waitUntil(done: () => boolean, ms: number, stepMs = 10): Promise<boolean> {
  return new Promise((resolve) => {
    const deadline = Date.now() + ms;
    const check = () => {
      if (done()) resolve(true);
      else if (Date.now() >= deadline) resolve(false);
      else setTimeout(check, stepMs);
    };
    check();
  });
}

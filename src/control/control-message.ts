/**
 * Control messages: the NUL-terminated strings both sides exchange over TLS once the key-method 2
 * exchange is done (openvpn-protocol.md §7). Framing follows OpenVPN 2.6 ssl_pkt.c
 * extract_command_buffer and forward.c check_incoming_control_channel; the meaning of each message
 * follows forward.c parse_incoming_control_channel_command and push.c.
 *
 * All of it is text in, values out: what to do about a message (restart, exit, apply options) is the
 * session's business.
 */
import { einval } from '../errors/ovpn-error.js';

/** A 2.6 server caps each control message at this many bytes (common.h PUSH_BUNDLE_SIZE). */
export const PUSH_BUNDLE_SIZE = 1024;
/** 2.6 send_push_reply keeps this much room for a trailing option and `push-continuation`. */
const PUSH_REPLY_EXTRA = 84;
/** Longest message we buffer while waiting for its NUL. 2.6 reads at most 2048 bytes at once. */
export const CONTROL_MESSAGE_MAX = 16384;

// ---- framing ----

/**
 * extract_command_buffer's filter: drop trailing CR, LF and NUL, then accept only bytes ≥ 0x20 other
 * than DEL (CC_PRINT, which lets UTF-8 through); anything else makes the whole message invalid.
 */
function cleanCommand(raw: Buffer): string | undefined {
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x0d || raw[end - 1] === 0x0a || raw[end - 1] === 0)) end--;
  for (let i = 0; i < end; i++) if (raw[i] < 0x20 || raw[i] === 0x7f) return undefined;
  return raw.toString('utf8', 0, end);
}

/**
 * Splits the plaintext TLS stream into control messages. Several may share a read; unlike 2.6 (which
 * throws away a tail without NUL at the end of each read), a message may also span reads: the tail is
 * kept until its NUL arrives, up to `maxLength` bytes (beyond that it is dropped up to the next NUL).
 * Empty messages and messages with control characters are dropped, as 2.6 does, and counted.
 */
export class ControlMessageReader {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private skipping = false;
  /** Messages dropped: invalid characters, or longer than `maxLength`. */
  dropped = 0;

  constructor(private readonly maxLength: number = CONTROL_MESSAGE_MAX) {}

  /** Feeds decrypted TLS plaintext; returns the complete messages in it, without their NUL. */
  push(chunk: Buffer): string[] {
    const out: string[] = [];
    let off = 0;
    while (off < chunk.length) {
      const nul = chunk.indexOf(0, off);
      const end = nul < 0 ? chunk.length : nul;
      if (!this.skipping) {
        if (this.pendingLen + (end - off) > this.maxLength) {
          this.skipping = true;
          this.dropped++;
          this.pending = [];
          this.pendingLen = 0;
        } else {
          this.pending.push(chunk.subarray(off, end));
          this.pendingLen += end - off;
        }
      }
      if (nul < 0) break;
      if (!this.skipping) {
        const raw = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
        if (raw.length > 0) {
          const s = cleanCommand(raw);
          if (s === undefined) this.dropped++;
          else if (s.length > 0) out.push(s);
        }
      }
      this.pending = [];
      this.pendingLen = 0;
      this.skipping = false;
      off = nul + 1;
    }
    // keep copies: the caller may reuse its chunk
    this.pending = this.pending.map((b) => Buffer.from(b));
    return out;
  }

  /** Bytes of an unfinished message held back. */
  get pendingBytes(): number {
    return this.pendingLen;
  }
}

/**
 * One control message as the bytes to write to TLS: the text and one NUL
 * (send_control_channel_string_dowork). Write each in its own TLS write.
 */
export function encodeControlMessage(text: string): Buffer {
  if (/[\0\r\n]/.test(text)) throw einval('a control message cannot contain NUL, CR or LF');
  const body = Buffer.from(text, 'utf8');
  if (body.length + 1 > CONTROL_MESSAGE_MAX) throw einval('control message too long');
  return Buffer.concat([body, Buffer.alloc(1)]);
}

// ---- parsing ----

export interface AuthFailedTemp {
  /** `backoff N`: seconds to wait before reconnecting. */
  backoffSec?: number;
  /** `advance no|remote|addr`: stay, go to the next remote, or to the next address. */
  advance?: 'no' | 'remote' | 'addr';
  /** The text after the flags (after `]`, or after TEMP without flags), as sent. */
  message: string;
}

export type ControlMessage =
  | { type: 'PUSH_REQUEST' }
  | { type: 'PUSH_REPLY'; reply: PushReply }
  /** `AUTH_FAILED` or `AUTH_FAILED,<reason>`; TEMP and CRV1: are the two special reasons. */
  | { type: 'AUTH_FAILED'; reason?: string; temp?: AuthFailedTemp; challenge?: string }
  /** `AUTH_PENDING[,kw,...]`: `timeout N` extends the handshake (IV_PROTO AUTH_PENDING_KW). */
  | { type: 'AUTH_PENDING'; timeoutSec?: number; keywords: string[] }
  /**
   * `RESTART[,msg]` / `HALT[,msg]`. A message starting with `[flags]` carries P (keep the cached
   * credentials) and N (advance to the next remote) (push.c server_pushed_signal).
   */
  | { type: 'RESTART' | 'HALT'; message: string; keepCredentials: boolean; advanceRemote: boolean }
  | { type: 'INFO' | 'INFO_PRE'; text: string }
  | { type: 'CR_RESPONSE'; response: string }
  | { type: 'EXIT' }
  /** A `PUSH_…` message 2.6 calls bad (say PUSH_UPDATE from 2.7), or an unknown message. */
  | { type: 'unknown'; text: string };

/** The text after `cmd,`, or '' (the `buf_advance(adv); read ','; BLEN` pattern of push.c). */
function argAfter(text: string, cmd: string): string {
  return text.length > cmd.length + 1 && text[cmd.length] === ',' ? text.slice(cmd.length + 1) : '';
}

/** C atoi: optional blanks and sign, then digits; 0 when there are none. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number.parseInt(m[1], 10) : 0;
}

function parseAuthFailedTemp(afterTemp: string): AuthFailedTemp {
  const close = afterTemp.indexOf(']');
  if (afterTemp[0] !== '[' || close < 0) return { message: afterTemp };
  const out: AuthFailedTemp = { message: afterTemp.slice(close + 1) };
  for (const token of afterTemp.slice(1, close).split(',')) {
    if (token.startsWith('backoff ')) {
      const m = /^backoff\s*([+-]?\d+)/.exec(token);
      out.backoffSec = m ? Number.parseInt(m[1], 10) : 0;
    } else if (token === 'advance no' || token === 'advance remote' || token === 'advance addr') {
      out.advance = token.slice('advance '.length) as AuthFailedTemp['advance'];
    }
  }
  return out;
}

/**
 * What a control message means, dispatched on its prefix in the order of 2.6
 * parse_incoming_control_channel_command (so `INFO_PRE` before `INFO`, and any `PUSH_` to push.c).
 */
export function parseControlMessage(text: string): ControlMessage {
  if (text.startsWith('AUTH_FAILED')) {
    const extended = text.startsWith('AUTH_FAILED,');
    const reason = extended && text.length > 12 ? text.slice(12) : undefined;
    const m: ControlMessage = { type: 'AUTH_FAILED', reason };
    if (reason?.startsWith('TEMP')) m.temp = parseAuthFailedTemp(reason.slice(4));
    else if (reason?.startsWith('CRV1:')) m.challenge = reason;
    return m;
  }
  if (text.startsWith('PUSH_')) {
    if (text.startsWith('PUSH_REQUEST')) return { type: 'PUSH_REQUEST' };
    const reply = parsePushReply(text);
    return reply ? { type: 'PUSH_REPLY', reply } : { type: 'unknown', text };
  }
  for (const type of ['RESTART', 'HALT'] as const) {
    if (!text.startsWith(type)) continue;
    const message = argAfter(text, type);
    let keepCredentials = false;
    let advanceRemote = false;
    if (message[0] === '[') {
      for (let i = 1; i < message.length && message[i] !== ']'; i++) {
        if (message[i] === 'P') keepCredentials = true;
        else if (message[i] === 'N') advanceRemote = true;
      }
    }
    return { type, message, keepCredentials, advanceRemote };
  }
  if (text.startsWith('INFO_PRE')) return { type: 'INFO_PRE', text: argAfter(text, 'INFO_PRE') };
  if (text.startsWith('INFO')) return { type: 'INFO', text: argAfter(text, 'INFO') };
  if (text.startsWith('CR_RESPONSE')) return { type: 'CR_RESPONSE', response: argAfter(text, 'CR_RESPONSE') };
  if (text.startsWith('AUTH_PENDING')) {
    // parse_auth_pending_keywords: comma-separated, `timeout %u` recognised, the rest ignored
    const keywords = argAfter(text, 'AUTH_PENDING')
      .split(',')
      .filter((k) => k.length > 0);
    let timeoutSec: number | undefined;
    for (const k of keywords) {
      const m = /^timeout\s*\+?(\d+)/.exec(k);
      if (m) timeoutSec = Number.parseInt(m[1], 10);
    }
    return { type: 'AUTH_PENDING', timeoutSec, keywords };
  }
  if (text.startsWith('EXIT')) return { type: 'EXIT' };
  return { type: 'unknown', text };
}

// ---- PUSH_REPLY ----

export interface PushReply {
  /**
   * The pushed options in order, as raw option lines for the config tokenizer, with empty items and
   * the `push-continuation` option taken out.
   */
  options: string[];
  /** The value of `push-continuation` in this message, if it had one (2 = more to come, 1 = last). */
  continuation?: number;
}

/**
 * Parses `PUSH_REPLY[,opt,...]` (push.c process_incoming_push_reply, options.c apply_push_options):
 * the options are split at every comma (buf_parse; there is no quoting across commas, which is why
 * pushed options cannot contain one). Returns undefined for anything that is not a PUSH_REPLY
 * (`PUSH_REPLYX`), which 2.6 reports as a bad push message.
 */
export function parsePushReply(text: string): PushReply | undefined {
  if (!text.startsWith('PUSH_REPLY')) return undefined;
  if (text.length === 10) return { options: [] };
  if (text[10] !== ',') return undefined;
  const options: string[] = [];
  let continuation: number | undefined;
  for (const item of text.slice(11).split(',')) {
    const words = item.trim().split(/\s+/);
    if (words[0] === '') continue; // an empty line gives parse_line nothing
    if (words[0] === 'push-continuation' && words.length === 2) {
      continuation = atoi(words[1]);
      continue;
    }
    options.push(item);
  }
  return continuation === undefined ? { options } : { options, continuation };
}

export type PushAssembly =
  | { state: 'more' }
  | { state: 'done'; options: string[] }
  /**
   * A push-continuation other than 0, 1 or 2 (2.6 calls the message bad and does not finish), or a
   * reply continued past the limits (PUSH_REPLY_MAX_PARTS, PUSH_REPLY_MAX_CHARS): `reason` says which.
   */
  | { state: 'error'; options: string[]; reason: string };

/** The most messages one PUSH_REPLY may be split over (`push-continuation 2`) before it is refused. */
export const PUSH_REPLY_MAX_PARTS = 256;
/** The most characters of options one PUSH_REPLY may gather over its continuations. */
export const PUSH_REPLY_MAX_CHARS = 256 * 1024;

/**
 * Puts a PUSH_REPLY split over several messages back together, as 2.6 does: `push-continuation` is an
 * option whose value sticks until the next connection (options.c pre_pull_restore resets it), and
 * after each message 0 or 1 means done, 2 means more to come (push.c process_incoming_push_reply).
 * So a later part without the option inherits the previous value. Call `reset` on reconnecting.
 */
export class PushReplyAssembler {
  private continuation = 0;
  private options: string[] = [];
  private parts = 0;
  private chars = 0;

  add(reply: PushReply): PushAssembly {
    if (reply.continuation === undefined && reply.options.length === 0) {
      // a bare PUSH_REPLY is a complete (empty) reply without touching the continuation state
      return this.finish();
    }
    this.options.push(...reply.options);
    this.parts++;
    for (const o of reply.options) this.chars += o.length + 1;
    if (reply.continuation !== undefined) this.continuation = reply.continuation;
    if (this.continuation === 2) {
      if (this.parts < PUSH_REPLY_MAX_PARTS && this.chars <= PUSH_REPLY_MAX_CHARS) return { state: 'more' };
      return this.error(
        `PUSH_REPLY continued past ${PUSH_REPLY_MAX_PARTS} messages or ${PUSH_REPLY_MAX_CHARS} characters`,
      );
    }
    if (this.continuation === 0 || this.continuation === 1) return this.finish();
    return this.error(`bad push-continuation ${this.continuation} in PUSH_REPLY`);
  }

  reset(): void {
    this.continuation = 0;
    this.options = [];
    this.parts = 0;
    this.chars = 0;
  }

  private error(reason: string): PushAssembly {
    const options = this.options;
    this.options = [];
    this.parts = 0;
    this.chars = 0;
    return { state: 'error', options, reason };
  }

  private finish(): PushAssembly {
    const options = this.options;
    this.options = [];
    this.parts = 0;
    this.chars = 0;
    return { state: 'done', options };
  }
}

// ---- builders ----

/** The client's request for its options (push.c send_push_request). */
export function pushRequest(): string {
  return 'PUSH_REQUEST';
}

/** The cc-exit notification (IV_PROTO CC_EXIT_NOTIFY; sig.c send_control_channel_string "EXIT"). */
export function exitMessage(): string {
  return 'EXIT';
}

/** `AUTH_FAILED[,reason]`, capped at PUSH_BUNDLE_SIZE as push.c send_auth_failed does. */
export function authFailed(reason?: string): string {
  const s = reason === undefined ? 'AUTH_FAILED' : `AUTH_FAILED,${reason}`;
  return s.length > PUSH_BUNDLE_SIZE - 1 ? s.slice(0, PUSH_BUNDLE_SIZE - 1) : s;
}

/** `AUTH_PENDING,timeout N` for a client that set AUTH_PENDING_KW, else a bare `AUTH_PENDING`. */
export function authPending(timeoutSec?: number): string {
  return timeoutSec === undefined ? 'AUTH_PENDING' : `AUTH_PENDING,timeout ${timeoutSec >>> 0}`;
}

/** `RESTART[,msg]` or `HALT[,msg]`; `msg` may start with `[P]`/`[N]` flags. */
export function restartMessage(kind: 'RESTART' | 'HALT', message?: string): string {
  return message ? `${kind},${message}` : kind;
}

/**
 * A server's PUSH_REPLY messages for `options` (push.c send_push_reply / send_push_options): options
 * are added while the message stays under PUSH_BUNDLE_SIZE - 84 bytes; a full message gets
 * `,push-continuation 2` and the last of several `,push-continuation 1`. No options give a bare
 * `PUSH_REPLY`. Throws for an option with a comma or one too long for any message.
 */
export function buildPushReplies(options: readonly string[], bundleSize = PUSH_BUNDLE_SIZE): string[] {
  const safeCap = bundleSize - PUSH_REPLY_EXTRA;
  const out: string[] = [];
  let buf = 'PUSH_REPLY';
  let multi = false;
  for (const opt of options) {
    if (opt.includes(',') || /[\0\r\n]/.test(opt))
      throw einval(`a pushed option cannot contain a comma: ${opt}`);
    const l = Buffer.byteLength(opt);
    if (Buffer.byteLength(buf) + l >= safeCap) {
      out.push(`${buf},push-continuation 2`);
      multi = true;
      buf = 'PUSH_REPLY';
    }
    if (Buffer.byteLength(buf) + l >= safeCap) throw einval(`pushed option too long: ${opt.slice(0, 40)}`);
    buf += `,${opt}`;
  }
  if (multi) buf += ',push-continuation 1';
  if (buf.length > 'PUSH_REPLY'.length || out.length === 0) out.push(buf);
  return out;
}

/**
 * The client's username/password and the server's auth-token (OpenVPN 2.6 misc.c get_user_pass_cr,
 * purge_user_pass, set_auth_token, set_auth_token_user; ssl.c auth_user_pass_setup,
 * key_method_2_write; push.c receive_auth_failed, server_pushed_signal).
 *
 * One `AuthUserPass` lives as long as the process, as 2.6's globals do: the cached credentials and a
 * pushed token survive SIGUSR1 restarts and SIGHUP reloads. What key-method 2 sends:
 * - a token (pushed `auth-token`, with the username we last sent or a pushed `auth-token-user`) when
 *   there is one, in every later key-method 2 (renegotiations and reconnections);
 * - else the username and password, read from the `auth-user-pass` file (or inline block) or asked
 *   for on the terminal (no argument or `stdin`, or a file with only the username): username echoed,
 *   password not. Without a terminal that is an error saying so.
 * `auth-nocache` forgets both right after they were sent, so that the next time they are read (or
 * asked for) again. The password is kept in a Buffer and zeroed when forgotten; it is never logged.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { isatty, ReadStream } from 'node:tty';
import type { ClientOptions, FileRef } from '../config/client-options.js';
import { type ReadFileFn, readFileRef } from '../config/load.js';
import { USER_PASS_LEN } from '../control/key-method2.js';
import { promptAborted } from './connect-retry.js';

/** The prompts 2.6 shows (UP_TYPE_AUTH is "Auth"). */
export const USERNAME_PROMPT = 'Enter Auth Username:';
export const PASSWORD_PROMPT = 'Enter Auth Password:';

/** Asks one question on a terminal; resolves with the bytes typed (without the Enter). */
export interface Prompter {
  ask(prompt: string, echo: boolean): Promise<Buffer>;
}

/** A prompter on the controlling terminal, or undefined when there is none. */
export type PrompterFactory = () => Prompter | undefined;

export type AuthRetry = ClientOptions['authRetry'];

export interface Credentials {
  username: string;
  /** A copy the caller may (and should) zero once written. */
  password: Buffer;
}

/** What the client does about AUTH_FAILED, RESTART, HALT or a server's EXIT. */
export interface AuthFailedAction {
  kind: 'restart' | 'halt';
  /** The signal text 2.6 logs: `SIGTERM[soft,<reason>]`. */
  reason: string;
}

/** Longest username or password without its NUL that a 2.6 server takes. */
const MAX_LEN = USER_PASS_LEN - 1;

/** string_mod(CC_PRINT): control characters (and DEL) are taken out. */
function printable(b: Buffer): Buffer {
  return Buffer.from(b.filter((c) => c >= 0x20 && c !== 0x7f));
}

function checkLength(b: Buffer, what: string, where: string): void {
  if (b.length > MAX_LEN)
    throw new Error(`auth-user-pass: the ${what} ${where}is ${b.length} bytes, more than ${MAX_LEN}`);
}

/**
 * An auth-user-pass file or inline block: the username on the first line, the password on the
 * second (a trailing CR is dropped, as chomp does); lines after the second are not read. Without a
 * second line (or with an empty one) the password must be asked for.
 */
export function parseAuthUserPassFile(
  data: Uint8Array,
  where: string,
): { username: string; password: Buffer | undefined } {
  const buf = Buffer.from(data);
  const lines: Buffer[] = [];
  let off = 0;
  while (lines.length < 2 && off <= buf.length) {
    const nl = buf.indexOf(0x0a, off);
    const end = nl < 0 ? buf.length : nl;
    lines.push(buf.subarray(off, end));
    if (nl < 0) break;
    off = nl + 1;
  }
  const user = printable(lines[0] ?? Buffer.alloc(0));
  if (user.length === 0) throw new Error(`auth-user-pass: the username in ${where} is empty`);
  checkLength(user, 'username', `in ${where} `);
  const pass = lines[1] === undefined ? undefined : printable(lines[1]);
  buf.fill(0);
  if (pass !== undefined) checkLength(pass, 'password', `in ${where} `);
  return {
    username: user.toString('utf8'),
    password: pass === undefined || pass.length === 0 ? undefined : pass,
  };
}

/**
 * sanitize_control_message: the value of `auth-token` (up to the next comma) is left out of logs and
 * events. Works on a whole control message and on one pushed option line.
 */
export function redactControlMessage(text: string): string {
  // any whitespace ends the name, as the pushed options are split on it (pushed-options.ts)
  return text.replace(/(^|,)(\s*auth-token)\s[^,]*/g, '$1$2');
}

/** The username in `auth-token-user` (base64), or undefined when it does not decode to anything. */
function decodeTokenUser(b64: string): string | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  const s = Buffer.from(b64, 'base64');
  const nul = s.indexOf(0);
  const user = (nul < 0 ? s : s.subarray(0, nul)).subarray(0, MAX_LEN).toString('utf8');
  return user.length > 0 ? user : undefined;
}

export interface AuthUserPassDeps {
  readFile: ReadFileFn;
  /** Default: the controlling terminal (`ttyPrompter`). */
  prompter?: PrompterFactory;
  /** Messages without secrets: warnings and the token's arrival. */
  log?: (msg: string) => void;
}

export class AuthUserPass {
  private source: FileRef | 'prompt' | undefined;
  private nocache = false;
  private retry: AuthRetry = 'none';
  private username: string | undefined;
  private password: Buffer | undefined;
  private token: string | undefined;
  private tokenUser: string | undefined;
  private cacheWarned = false;

  constructor(
    private readonly deps: AuthUserPassDeps,
    options?: Pick<ClientOptions, 'authUserPass' | 'authNocache' | 'authRetry'>,
  ) {
    if (options !== undefined) this.configure(options);
  }

  /** The options in force (at start and after each SIGHUP); what was cached is kept, as 2.6 does. */
  configure(o: Pick<ClientOptions, 'authUserPass' | 'authNocache' | 'authRetry'>): void {
    this.source = o.authUserPass;
    this.nocache = o.authNocache;
    this.retry = o.authRetry;
  }

  /** `auth-user-pass` is configured. */
  get enabled(): boolean {
    return this.source !== undefined;
  }

  /** A pushed token with a username to go with it: what the next key-method 2 sends. */
  get hasToken(): boolean {
    return this.token !== undefined && this.tokenUser !== undefined;
  }

  /** Username and password are at hand. */
  get cached(): boolean {
    return this.username !== undefined && this.password !== undefined;
  }

  /**
   * auth_user_pass_setup / init_query_passwords: with auth-user-pass and neither credentials nor a
   * token at hand, read (or ask for) them now, before connecting, so that no prompt stalls a
   * handshake. Throws a clear error (file unreadable, empty username, no terminal...).
   */
  async prepare(): Promise<void> {
    if (!this.enabled || this.cached || this.hasToken) return;
    await this.load();
  }

  /**
   * The username and password for key-method 2 (key_method_2_write), or undefined when none are sent
   * (two empty strings): the token when there is one, else the credentials. With auth-nocache the
   * credentials are forgotten once handed out.
   */
  async forKeyMethod2(): Promise<Credentials | undefined> {
    if (this.hasToken) return { username: this.tokenUser!, password: Buffer.from(this.token!, 'utf8') };
    if (!this.enabled) return undefined;
    await this.prepare();
    const out = { username: this.username!, password: Buffer.from(this.password!) };
    // a token pushed later goes with this username
    this.tokenUser = out.username;
    if (this.nocache) this.forget();
    else if (!this.cacheWarned) {
      this.cacheWarned = true;
      this.deps.log?.(
        'WARNING: this configuration may cache passwords in memory -- use the auth-nocache option to prevent this',
      );
    }
    return out;
  }

  /** The `auth-token` and `auth-token-user` options of a PUSH_REPLY (any, also after a renegotiation). */
  applyPushed(options: readonly string[]): void {
    for (const line of options) {
      const w = line.trim().split(/\s+/);
      if (w.length !== 2) continue;
      if (w[0] === 'auth-token' && w[1].length > 0) {
        const fresh = this.token === undefined;
        this.token = w[1].slice(0, MAX_LEN);
        if (fresh)
          this.deps.log?.('auth-token received: later authentications use it instead of the password');
      } else if (w[0] === 'auth-token-user') {
        const user = decodeTokenUser(w[1]);
        if (user === undefined) this.deps.log?.('Error decoding auth-token-username');
        else this.tokenUser = user;
      }
    }
  }

  /**
   * receive_auth_failed: a failed token is dropped and we reconnect with the credentials; else
   * auth-retry decides: none ends the process (SIGTERM, exit 0 as in 2.6), interact forgets the
   * credentials (read or asked for again) and reconnects, nointeract reconnects with them.
   */
  authFailed(reason: string | undefined): AuthFailedAction {
    if (reason?.startsWith('TEMP'))
      return { kind: 'restart', reason: 'auth-temp-failure (server temporary reject)' };
    if (this.token !== undefined) {
      this.dropToken();
      return { kind: 'restart', reason: 'auth-failure (auth-token)' };
    }
    switch (this.retry) {
      case 'none':
        return { kind: 'halt', reason: 'auth-failure' };
      case 'interact':
        this.forget();
        return { kind: 'restart', reason: 'auth-failure' };
      case 'nointeract':
        return { kind: 'restart', reason: 'auth-failure' };
    }
  }

  /** server_pushed_signal: RESTART/HALT forget the credentials unless the server said `[P]`. */
  serverSignal(keepCredentials: boolean): void {
    if (!keepCredentials) this.forget();
  }

  /** Forgets the username and password (zeroing the password); a token is kept. */
  forget(): void {
    this.password?.fill(0);
    this.password = undefined;
    this.username = undefined;
  }

  private dropToken(): void {
    this.token = undefined;
    this.tokenUser = undefined;
  }

  private async load(): Promise<void> {
    const src = this.source!;
    let username: string | undefined;
    let password: Buffer | undefined;
    if (src !== 'prompt') {
      const where = src.kind === 'inline' ? 'the inline <auth-user-pass> block' : `'${src.path}'`;
      const data = await readFileRef(src, this.deps.readFile, 'auth-user-pass');
      try {
        ({ username, password } = parseAuthUserPassFile(data, where));
      } finally {
        data.fill(0);
      }
    }
    if (username === undefined || password === undefined) {
      const prompter = (this.deps.prompter ?? ttyPrompter)();
      if (prompter === undefined) {
        const what = username === undefined ? 'a username and password' : `the password of '${username}'`;
        throw new Error(
          `auth-user-pass: ${what} must be entered, but there is no terminal to ask on (give them in a file: auth-user-pass FILE, username on the first line, password on the second)`,
        );
      }
      if (username === undefined) {
        const u = printable(await prompter.ask(USERNAME_PROMPT, true));
        if (u.length === 0) throw new Error('auth-user-pass: the Auth username is empty');
        checkLength(u, 'username', '');
        username = u.toString('utf8');
      }
      const typed = await prompter.ask(PASSWORD_PROMPT, false);
      password = printable(typed);
      typed.fill(0);
      checkLength(password, 'password', '');
    }
    this.forget();
    this.username = username;
    this.password = password;
  }
}

// ---- the terminal ----

/**
 * Line editing of a prompt in raw mode, byte by byte: Enter ends the line, backspace/DEL takes back
 * one character (a whole UTF-8 sequence), Ctrl-U clears the line, Ctrl-C or Ctrl-D on an empty line
 * abort. Pure, so that it can be tested.
 */
export class PromptLine {
  private bytes: number[] = [];
  private result: 'done' | 'aborted' | undefined;

  /** Feeds typed bytes; returns what to echo back (nothing without echo) and whether the line ended. */
  feed(chunk: Uint8Array, echo: boolean): { echo: Buffer; state: 'more' | 'done' | 'aborted' } {
    const out: number[] = [];
    const rubout = () => {
      if (echo) out.push(0x08, 0x20, 0x08);
    };
    for (const c of chunk) {
      if (this.result !== undefined) break;
      if (c === 0x0d || c === 0x0a) this.result = 'done';
      else if (c === 0x03 || (c === 0x04 && this.bytes.length === 0)) this.result = 'aborted';
      else if (c === 0x7f || c === 0x08) {
        if (this.bytes.length === 0) continue;
        this.popChar();
        rubout();
      } else if (c === 0x15) {
        while (this.bytes.length > 0) {
          this.popChar();
          rubout();
        }
      } else if (c >= 0x20) {
        this.bytes.push(c);
        if (echo) out.push(c);
      }
    }
    return { echo: Buffer.from(out), state: this.result ?? 'more' };
  }

  /** The line typed (a copy); the editor's own bytes are zeroed. */
  take(): Buffer {
    const b = Buffer.from(this.bytes);
    this.bytes.fill(0);
    this.bytes = [];
    return b;
  }

  private popChar(): void {
    while (this.bytes.length > 1 && (this.bytes[this.bytes.length - 1] & 0xc0) === 0x80) this.bytes.pop();
    this.bytes.pop();
  }
}

/**
 * The controlling terminal (/dev/tty, as 2.6's console_builtin.c uses), or undefined when the process
 * has none (a service, `--daemon`, a pipe from a test).
 */
export const ttyPrompter: PrompterFactory = () => {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return undefined;
  }
  const tty = isatty(fd);
  closeSync(fd);
  return tty ? { ask: askOnTty } : undefined;
};

function askOnTty(prompt: string, echo: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = openSync('/dev/tty', 'w');
    const input = new ReadStream(openSync('/dev/tty', 'r'));
    const write = (b: Buffer | string) => {
      if (b.length > 0) writeSync(out, typeof b === 'string' ? Buffer.from(b) : b);
    };
    const line = new PromptLine();
    let ended = false;
    const finish = (err?: Error) => {
      if (ended) return;
      ended = true;
      input.setRawMode(false);
      input.destroy();
      write('\n');
      closeSync(out);
      if (err) {
        line.take().fill(0);
        reject(err);
      } else resolve(line.take());
    };
    input.setRawMode(true);
    write(`${prompt} `);
    input.on('data', (chunk: Buffer) => {
      const r = line.feed(chunk, echo);
      chunk.fill(0);
      write(r.echo);
      if (r.state === 'done') finish();
      else if (r.state === 'aborted') finish(promptAborted('auth-user-pass'));
    });
    input.on('error', (e) => finish(e));
  });
}

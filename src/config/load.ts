/**
 * The one place that reads files for the config language, through an injected `readFile` so that it
 * stays testable: `config` includes (options.c read_config_file via add_option), `cd`, and the files
 * that directives name (`ca ca.crt`, `auth-user-pass creds.txt`, ...).
 *
 * Paths: OpenVPN resolves relative paths against its working directory (changed by `cd`, or by
 * systemd's `--cd`/WorkingDirectory). ovpn-ts resolves them against the directory of the file the
 * directive is written in (the command line's: `cwd`), which is what a profile next to its
 * certificates expects wherever ovpn-ts is started; after a `cd dir`, against that directory.
 */
import { isAbsolute, join } from 'node:path';
import { buildClientOptions, type ClientOptions, type FileRef } from './client-options.js';
import { type ConfigNote, checkDirectives } from './directives.js';
import { argvToDirectives, type Directive, readConfigText } from './read.js';
import type { ServerOptions } from './server-options.js';
import { buildServerOptions } from './server-options-build.js';
import { ConfigError, quoteForMessage } from './tokenize.js';

export type ReadFileFn = (path: string) => Uint8Array | string | Promise<Uint8Array | string>;

/** read_config_file's limit on nested `config` includes. */
export const MAX_CONFIG_DEPTH = 10;

function resolvePath(dir: string, p: string): string {
  return isAbsolute(p) ? p : join(dir, p);
}

function decode(data: Uint8Array | string): string {
  // Keep a BOM: readConfigText skips it on line 1 only, and it counts towards that line's length.
  return typeof data === 'string' ? data : new TextDecoder('utf-8', { ignoreBOM: true }).decode(data);
}

function reason(e: unknown): string {
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ?? e.message;
  return 'read failed';
}

/**
 * Expand `config` directives in place (depth-first, so later directives still win), and apply `cd`
 * to the directory of the directives after it.
 */
export async function expandConfig(list: readonly Directive[], readFile: ReadFileFn): Promise<Directive[]> {
  const out: Directive[] = [];
  const state = { cd: undefined as string | undefined };
  await expandInto(list, readFile, 0, out, state);
  return out;
}

async function expandInto(
  list: readonly Directive[],
  readFile: ReadFileFn,
  depth: number,
  out: Directive[],
  state: { cd: string | undefined },
): Promise<void> {
  for (const raw of list) {
    const d = state.cd === undefined ? raw : withDir(raw, state.cd);
    if (d.name === 'cd' && d.args.length === 1 && d.inline === undefined) {
      state.cd = resolvePath(d.dir, d.args[0]);
      out.push(d);
      continue;
    }
    if (d.name !== 'config' || d.args.length !== 1 || d.inline !== undefined) {
      out.push(d);
      continue;
    }
    const pos = { file: d.file, line: d.line };
    if (d.args[0] === 'stdin')
      throw new ConfigError(pos, 'reading the config from stdin is not supported', 'config');
    if (depth + 1 > MAX_CONFIG_DEPTH) {
      throw new ConfigError(
        pos,
        `more than ${MAX_CONFIG_DEPTH} nested config files including ${quoteForMessage(d.args[0])}: does a file include itself?`,
        'config',
      );
    }
    const path = resolvePath(d.dir, d.args[0]);
    let text: string;
    try {
      text = decode(await readFile(path));
    } catch (e) {
      throw new ConfigError(
        pos,
        `cannot open configuration file ${quoteForMessage(path, 200)}: ${reason(e)}`,
        'config',
      );
    }
    await expandInto(readConfigText(text, path), readFile, depth + 1, out, state);
  }
}

function withDir(d: Directive, dir: string): Directive {
  const r: Directive = { ...d, dir };
  if (d.block) r.block = d.block.map((b) => withDir(b, dir));
  return r;
}

export interface LoadedConfig {
  options: ClientOptions;
  /** Notes to log: show those with `minVerb <= options.verb`. */
  notes: ConfigNote[];
  /** The directive list after includes, for diagnostics. */
  directives: Directive[];
}

/**
 * `ovpn-ts --config client.ovpn --verb 4 ...`: command-line arguments (without the program name)
 * to client options, reading included files through `readFile`.
 */
export async function loadClientConfig(
  argv: readonly string[],
  opts: { readFile: ReadFileFn; cwd: string },
): Promise<LoadedConfig> {
  const directives = await expandConfig(argvToDirectives(argv, opts.cwd), opts.readFile);
  const { directives: checked, notes } = checkDirectives(directives);
  const options = buildClientOptions(checked, notes);
  return { options, notes, directives };
}

/**
 * Whether a config is a server's or a client's, from its directives (after includes), as 2.6 decides
 * its mode: `mode server`, or a helper that sets it (`server`, `server-ipv6`), makes a server; so does
 * `tls-server` (2.6 would run a one-peer TLS server: buildServerOptions refuses it with the reason)
 * unless `client`, `pull` or `tls-client` says client. Anything else is a client. The last `mode`
 * wins, as in add_option; `setenv opt` wrapped directives count as written.
 */
export function configRole(directives: readonly Directive[]): 'client' | 'server' {
  let mode: string | undefined;
  let helper = false;
  let tlsServer = false;
  let client = false;
  for (const raw of directives) {
    const d =
      raw.name === 'setenv' && raw.args[0] === 'opt' && raw.args[1] !== undefined
        ? { name: raw.args[1], args: raw.args.slice(2) }
        : raw;
    if (d.name === 'mode' && d.args.length === 1) mode = d.args[0];
    else if (d.name === 'server' || d.name === 'server-ipv6' || d.name === 'server-bridge') helper = true;
    else if (d.name === 'tls-server') tlsServer = true;
    else if (d.name === 'client' || d.name === 'pull' || d.name === 'tls-client') client = true;
  }
  if (mode === 'server' || helper) return 'server';
  return tlsServer && !client ? 'server' : 'client';
}

export interface LoadedServerConfig {
  options: ServerOptions;
  /** Notes to log: show those with `minVerb <= options.verb`. */
  notes: ConfigNote[];
  /** The directive list after includes, for diagnostics. */
  directives: Directive[];
}

/**
 * `ovpn-ts --config server.conf ...`: command-line arguments (without the program name) to server
 * options, reading included files through `readFile`. Use `configRole` on the expanded directives
 * (or `loadConfigDirectives`) to choose between this and loadClientConfig.
 */
export async function loadServerConfig(
  argv: readonly string[],
  opts: { readFile: ReadFileFn; cwd: string; env?: Readonly<Record<string, string | undefined>> },
): Promise<LoadedServerConfig> {
  const directives = await loadConfigDirectives(argv, opts);
  const { directives: checked, notes } = checkDirectives(directives, 'server');
  const options = buildServerOptions(checked, notes, opts.env);
  return { options, notes, directives };
}

/** The directives of a command line with `config` includes expanded (for `configRole`). */
export async function loadConfigDirectives(
  argv: readonly string[],
  opts: { readFile: ReadFileFn; cwd: string },
): Promise<Directive[]> {
  return expandConfig(argvToDirectives(argv, opts.cwd), opts.readFile);
}

/** The bytes a FileRef stands for: inline text as UTF-8, or the file read through `readFile`. */
export async function readFileRef(ref: FileRef, readFile: ReadFileFn, what: string): Promise<Uint8Array> {
  if (ref.kind === 'inline') return Buffer.from(ref.text, 'utf8');
  const path = resolvePath(ref.dir, ref.path);
  try {
    const data = await readFile(path);
    return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  } catch (e) {
    throw new ConfigError({ file: path, line: 0 }, `cannot read the ${what} file: ${reason(e)}`, what);
  }
}

/**
 * An auth-user-pass file or inline block: the username on the first line, the password on the
 * second (misc.c get_user_pass_cr); without a second line the password must be asked for.
 */
export function parseAuthUserPass(text: string): { username: string; password: string | undefined } {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const username = lines[0] ?? '';
  if (username === '')
    throw new ConfigError({ file: 'auth-user-pass', line: 1 }, 'the username line is empty');
  const password = lines.length > 1 && lines[1] !== '' ? lines[1] : undefined;
  return { username, password };
}

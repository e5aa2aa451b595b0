/**
 * Client-config-dir files and client-connect output files: the per-client directives OpenVPN 2.6
 * reads into a client's instance (options.c options_server_import with multi.h
 * CLIENT_CONNECT_OPT_MASK = OPT_P_INSTANCE | INHERIT | PUSH | TIMER | CONFIG | ECHO | COMP |
 * SOCKFLAGS), and which file is read for a common name (multi.c multi_client_connect_source_ccd,
 * platform.c platform_gen_path, ssl_verify.c's --ccd-exclusive check).
 *
 * Allowed (2.6's parameter counts): ifconfig-push, ifconfig-ipv6-push, iroute, iroute-ipv6, push,
 * push-reset, push-remove, disable, config (through an injected reader), echo/parameter,
 * inactive, session-timeout, ping, ping-exit, ping-restart, ping-timer-rem, max-routes-per-client,
 * comp-lzo, comp-noadapt, compress, cipher, data-ciphers, data-ciphers-fallback, auth-token,
 * auth-token-user, socket-flags, bind-dev, vlan-pvid. The last group is kept in `other` as written,
 * for the shell to honour or log. Anything else (including `setenv`, `route`, `dev`: OPT_P_GENERAL
 * in 2.6) is a ConfigError naming file:line, as 2.6's "option cannot be used in this context".
 *
 * Order matters as in 2.6: `push-reset` empties the push list as it stands (the server's and the
 * file's own pushes so far); `push-remove x` drops the pushes so far that start with `x`
 * (`ifconfig` and `ifconfig-ipv6` instead block the pushed addresses); later pushes are kept.
 */

import { type Directive, readConfigText } from '../../config/read.js';
import type { ClientConfig } from '../../config/server-options.js';
import { ConfigError } from '../../config/tokenize.js';
import { parseIPv4, parseIPv6 } from '../../net/ip-address.js';

/** The fallback file of a client-config-dir (multi.h CCD_DEFAULT). */
export const CCD_DEFAULT = 'DEFAULT';
/** options.c max_recursive_levels: how deep `config` may nest. */
const MAX_CONFIG_DEPTH = 10;

/** [min, max] parameters of each directive allowed in a ccd file. */
const ALLOWED: ReadonlyMap<string, readonly [number, number]> = new Map<string, readonly [number, number]>([
  ['ifconfig-push', [2, 3]],
  ['ifconfig-ipv6-push', [1, 2]],
  ['iroute', [1, 2]],
  ['iroute-ipv6', [1, 1]],
  ['push', [1, 1]],
  ['push-reset', [0, 0]],
  ['push-remove', [1, 1]],
  ['disable', [0, 0]],
  ['config', [1, 1]],
  ['echo', [0, 15]],
  ['parameter', [0, 15]],
  ['inactive', [1, 2]],
  ['session-timeout', [1, 1]],
  ['ping', [1, 1]],
  ['ping-exit', [1, 1]],
  ['ping-restart', [1, 1]],
  ['ping-timer-rem', [0, 0]],
  ['max-routes-per-client', [1, 1]],
  ['comp-lzo', [0, 1]],
  ['comp-noadapt', [0, 0]],
  ['compress', [0, 1]],
  ['cipher', [1, 1]],
  ['data-ciphers', [1, 1]],
  ['data-ciphers-fallback', [1, 1]],
  ['auth-token', [1, 1]],
  ['auth-token-user', [1, 1]],
  ['socket-flags', [1, 15]],
  ['bind-dev', [1, 1]],
  ['vlan-pvid', [1, 1]],
]);

export interface ClientConfigOptions {
  /**
   * The server's own `ifconfig-ipv6` address: the remote of an `ifconfig-ipv6-push` written with one
   * parameter. Without it such a line is an error, as in 2.6.
   */
  serverIfconfigIpv6?: string;
  /** Reads a file named by `config` (the shell's; without it `config` is an error). */
  readFile?: (path: string) => string;
}

export interface ClientConfigResult {
  config: ClientConfig;
  /** Lines 2.6 would log as errors and skip (the rest of the file still applies). */
  errors: ConfigError[];
}

/** An empty ClientConfig (no file, or a file without directives). */
export function emptyClientConfig(): ClientConfig {
  return {
    disable: false,
    ifconfigPush: undefined,
    ifconfigIpv6Push: undefined,
    iroutes: [],
    iroutesIpv6: [],
    pushReset: false,
    pushRemove: [],
    push: [],
    other: [],
  };
}

/**
 * A ccd (or client-connect output) file's text into a ClientConfig, with every bad line as an error
 * and the good ones applied (what 2.6 does: it logs and goes on).
 */
export function readClientConfig(
  text: string,
  file: string,
  opts: ClientConfigOptions = {},
): ClientConfigResult {
  const res: ClientConfigResult = { config: emptyClientConfig(), errors: [] };
  readInto(res, text, file, opts, 0);
  return res;
}

/** readClientConfig, throwing the first error (for a strict shell and for tests). */
export function parseClientConfig(text: string, file: string, opts: ClientConfigOptions = {}): ClientConfig {
  const r = readClientConfig(text, file, opts);
  if (r.errors.length > 0) throw r.errors[0];
  return r.config;
}

function readInto(
  res: ClientConfigResult,
  text: string,
  file: string,
  opts: ClientConfigOptions,
  depth: number,
): void {
  let list: Directive[];
  try {
    list = readConfigText(text, file);
  } catch (e) {
    if (e instanceof ConfigError) {
      res.errors.push(e);
      return;
    }
    throw e;
  }
  for (const d of list) {
    try {
      apply(res, d, opts, depth);
    } catch (e) {
      if (e instanceof ConfigError) res.errors.push(e);
      else throw e;
    }
  }
}

function apply(res: ClientConfigResult, d: Directive, opts: ClientConfigOptions, depth: number): void {
  const c = res.config;
  const at = { file: d.file, line: d.line };
  const fail = (why: string) => new ConfigError(at, why, d.name);
  const counts = ALLOWED.get(d.name);
  if (!counts) {
    throw fail('option cannot be used in a client-config-dir file (2.6 allows it only in the server config)');
  }
  if (d.inline !== undefined) throw fail('cannot be an inline block in a client-config-dir file');
  const p = d.args;
  if (p.length < counts[0] || p.length > counts[1] || d.truncated) {
    throw fail(
      `takes ${counts[0] === counts[1] ? counts[0] : `${counts[0]} to ${counts[1]}`} parameter(s), got ${p.length}`,
    );
  }
  switch (d.name) {
    case 'ifconfig-push': {
      const local = ipv4OrUndefined(p[0]);
      const remote = ipv4OrUndefined(p[1]);
      if (!local || !remote)
        throw fail('cannot parse --ifconfig-push addresses (numeric non-zero IPv4 expected)');
      const v: NonNullable<ClientConfig['ifconfigPush']> = { local, remoteNetmask: remote };
      if (p[2] !== undefined) {
        const alias = ipv4OrUndefined(p[2]);
        if (!alias) throw fail('cannot parse --ifconfig-push alias address');
        v.alias = alias;
      }
      c.ifconfigPush = v;
      return;
    }
    case 'ifconfig-ipv6-push': {
      const net = ipv6Net(p[0]);
      if (!net) throw fail('cannot parse --ifconfig-ipv6-push addresses');
      let remote: string | undefined;
      if (p[1] !== undefined) {
        remote = ipv6Net(p[1])?.address;
        if (!remote) throw fail('cannot parse --ifconfig-ipv6-push addresses');
      } else {
        remote = opts.serverIfconfigIpv6;
        if (!remote) {
          throw fail(
            'second argument to --ifconfig-ipv6-push missing and no global --ifconfig-ipv6 address set',
          );
        }
      }
      c.ifconfigIpv6Push = { address: net, remote };
      return;
    }
    case 'iroute': {
      const network = ipv4Any(p[0]);
      const bits = p[1] === undefined ? 32 : netmaskBits(p[1]);
      if (network === undefined || bits === undefined) {
        throw fail(`in --iroute ${p[0]} ${p[1] ?? ''}: Bad network/subnet specification`);
      }
      c.iroutes.push({ address: network, prefix: bits });
      return;
    }
    case 'iroute-ipv6': {
      const net = ipv6Net(p[0]);
      if (!net) throw fail(`in --iroute-ipv6 ${p[0]}: Bad IPv6 prefix specification`);
      c.iroutesIpv6.push(net);
      return;
    }
    case 'push':
      if (p[0].includes(',')) throw fail(`PUSH OPTION FAILED (illegal comma (',') in string): '${p[0]}'`);
      c.push.push(p[0]);
      return;
    case 'push-reset':
      c.pushReset = true;
      c.push = [];
      // 2.6's push_reset clears the list only: an earlier `push-remove ifconfig` still blocks
      c.pushRemove = c.pushRemove.filter((r) => r === 'ifconfig' || r === 'ifconfig-ipv6');
      return;
    case 'push-remove':
      c.pushRemove.push(p[0]);
      if (p[0] !== 'ifconfig' && p[0] !== 'ifconfig-ipv6') c.push = c.push.filter((o) => !o.startsWith(p[0]));
      return;
    case 'disable':
      c.disable = true;
      return;
    case 'config': {
      if (!opts.readFile) throw fail('config files cannot be read here');
      if (depth + 1 > MAX_CONFIG_DEPTH)
        throw fail(`maximum recursive include levels exceeded (${MAX_CONFIG_DEPTH})`);
      let text: string;
      try {
        text = opts.readFile(p[0]);
      } catch (e) {
        throw fail(`cannot read ${p[0]}: ${e instanceof Error ? e.message : String(e)}`);
      }
      readInto(res, text, p[0], opts, depth + 1);
      return;
    }
    default:
      c.other.push({ name: d.name, args: [...p], at });
  }
}

/** A numeric, non-zero IPv4 address (getaddr's 0 is 2.6's failure), or undefined. */
function ipv4OrUndefined(s: string): string | undefined {
  const a = ipv4Any(s);
  return a === undefined || a === '0.0.0.0' ? undefined : a;
}

function ipv4Any(s: string): string | undefined {
  try {
    parseIPv4(s);
    return s;
  } catch {
    return undefined;
  }
}

/** netmask_to_netbits2: a contiguous netmask's length, else undefined. */
function netmaskBits(s: string): number | undefined {
  let m: number;
  try {
    m = parseIPv4(s).readUInt32BE(0);
  } catch {
    return undefined;
  }
  for (let bits = 0; bits <= 32; bits++) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if (mask === m) return bits;
  }
  return undefined;
}

/** get_ipv6_addr: `addr[/bits]`, bits default 128. */
function ipv6Net(s: string): { address: string; prefix: number } | undefined {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  let prefix = 128;
  if (slash >= 0) {
    const b = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > 128) return undefined;
    prefix = Number(b);
  }
  try {
    parseIPv6(address);
  } catch {
    return undefined;
  }
  return { address, prefix };
}

/**
 * The file name a common name maps to in a client-config-dir (platform_gen_path): every byte that
 * is not printable ASCII, and `/`, becomes `_`; `.` and `..` give no file (undefined). An empty
 * name is 2.6's "UNDEF".
 */
export function ccdFileName(commonName: string): string | undefined {
  const cn = commonName.length === 0 ? 'UNDEF' : commonName;
  let out = '';
  for (const b of Buffer.from(cn, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x2f ? String.fromCharCode(b) : '_';
  }
  return out === '.' || out === '..' ? undefined : out;
}

/** `dir/name` as platform_gen_path joins them. */
export function ccdPath(dir: string, name: string): string {
  return `${dir}/${name}`;
}

/**
 * The ccd file read for a client (multi_client_connect_source_ccd): the common name's file if it
 * exists, else DEFAULT if that exists, else none. `exists` is platform_test_file (the shell's).
 */
export function findCcdFile(
  dir: string,
  commonName: string,
  exists: (path: string) => boolean,
): string | undefined {
  const name = ccdFileName(commonName);
  if (name !== undefined) {
    const own = ccdPath(dir, name);
    if (exists(own)) return own;
  }
  const def = ccdPath(dir, CCD_DEFAULT);
  return exists(def) ? def : undefined;
}

/**
 * `ccd-exclusive` (ssl_verify.c): a client is let in only if a file named after its common name
 * exists; the name DEFAULT (and a name with no file name) never is. Returns 2.6's refusal message,
 * or undefined when the client may go on.
 */
export function ccdExclusiveRefusal(
  dir: string,
  commonName: string | undefined,
  exists: (path: string) => boolean,
): string | undefined {
  const name = commonName === undefined ? undefined : ccdFileName(commonName);
  const path = name === undefined ? undefined : ccdPath(dir, name);
  if (commonName === undefined || commonName === CCD_DEFAULT || path === undefined || !exists(path)) {
    return `TLS Auth Error: --client-config-dir authentication failed for common name '${commonName ?? ''}' file='${path ?? 'UNDEF'}'`;
  }
  return undefined;
}

/**
 * From checked directives to the typed options of an ovpn-ts client. Directives are applied in
 * order, so the later one wins, as in OpenVPN's add_option. Defaults are OpenVPN 2.6's
 * (options.c init_options; helper.c helper_client_server and helper_keepalive;
 * options.c options_postprocess_mutate, options_postprocess_mutate_ce, options_postprocess_cipher,
 * options_postprocess_setdefault_ncpciphers).
 *
 * Connection entries follow options_postprocess_mutate: when there is at least one `<connection>`
 * block, the top-level `remote` lines are not used; each block starts from the top-level per-connection
 * settings as they stood where the block appears (add_option copies `options->ce`), and top-level
 * `remote` lines instead each become an entry with the final top-level settings. tls-auth/tls-crypt(-v2)
 * given at top level apply to the entries that have none of their own, with the final
 * `key-direction` (options_postprocess_mutate_ce).
 */
import type { CheckedDirective, ConfigNote } from './directives.js';
import { CMD_LINE } from './read.js';
import { ConfigError, quoteForMessage } from './tokenize.js';

/** A file given by path (relative to `dir`) or inline. */
export type FileRef = { kind: 'inline'; text: string } | { kind: 'path'; path: string; dir: string };

export interface Remote {
  host: string;
  port: number;
  proto: 'udp' | 'tcp';
  /** `udp4`/`tcp6`...: only that family; `any` tries both. */
  family: 'any' | 4 | 6;
}

export type TlsWrap =
  | {
      mode: 'tls-auth';
      key: FileRef /** 0, 1, or undefined for bidirectional */;
      direction: 0 | 1 | undefined;
    }
  | { mode: 'tls-crypt'; key: FileRef }
  | { mode: 'tls-crypt-v2'; key: FileRef; forceCookie: boolean };

/** Per-connection settings (OpenVPN's `struct connection_entry`). */
export interface ConnectionEntry {
  remote: Remote;
  /** First and largest pause between attempts, seconds (`connect-retry`). */
  connectRetry: number;
  connectRetryMax: number;
  /** `server-poll-timeout` / `connect-timeout`, seconds. */
  connectTimeout: number;
  /** Exit notifications to send (0 = off). */
  explicitExitNotify: number;
  tunMtu: number;
  /** `mssfix`: the MSS clamp (0 = off) and whether it counts the encapsulation (`mtu`) or is `fixed`. */
  mssfix: { value: number; mode: 'default' | 'plain' | 'mtu' | 'fixed' };
  float: boolean;
  tlsWrap: TlsWrap | undefined;
  /** Where the entry's `remote` was written. */
  file: string;
  line: number;
}

/**
 * The compression the options ask for (OpenVPN 2.6 comp.alg, with the swap flag folded in: `stub` is
 * COMP_ALG_STUB with COMP_F_SWAP, `lzo-stub` without). ovpn-ts never compresses: the stubs are only a
 * framing of the data channel; a real algorithm is refused at connect time unless the server's push
 * replaces it with a stub (src/openvpn/data-options.ts).
 */
export type CompressionFraming =
  /** no compression option: no header byte */
  | 'none'
  /** `comp-lzo no`: one header byte 0xFA before the payload */
  | 'lzo-stub'
  /** `compress` / `compress stub`: the header byte is swapped to the end of the packet */
  | 'stub'
  /** `compress stub-v2`: no byte unless the payload starts with 0x50 */
  | 'stub-v2'
  /** `comp-lzo` / `comp-lzo yes|adaptive` / `compress lzo`: real compression */
  | 'lzo'
  /** `compress lz4` */
  | 'lz4'
  /** `compress lz4-v2` */
  | 'lz4-v2';

/** The compression algorithms that compress (comp.h comp_non_stub_enabled). */
export function isRealCompression(c: CompressionFraming): boolean {
  return c === 'lzo' || c === 'lz4' || c === 'lz4-v2';
}

export interface ClientOptions {
  connections: ConnectionEntry[];
  remoteRandom: boolean;
  /** `connect-retry-max`: attempts over the whole list; 0 = unlimited. */
  connectRetryMax: number;
  /** `resolv-retry`: seconds to keep retrying name resolution; Infinity for `infinite` (the default). */
  resolvRetrySeconds: number;
  persistTun: boolean;
  dev: string;
  devType: 'tun' | 'null';
  topology: 'net30' | 'p2p' | 'subnet';

  ca: FileRef | undefined;
  capath: string | undefined;
  cert: FileRef | undefined;
  key: FileRef | undefined;
  extraCerts: FileRef | undefined;
  pkcs12: FileRef | undefined;
  /** `askpass`: the private key's passphrase from a file, or `prompt`. */
  askpass: FileRef | 'prompt' | undefined;
  remoteCertTls: 'server' | 'client' | undefined;
  remoteCertEku: string | undefined;
  /** `remote-cert-ku`: accepted key-usage values, or `required` (present, any value). */
  remoteCertKu: number[] | 'required' | undefined;
  nsCertType: 'server' | 'client' | undefined;
  verifyX509Name: { name: string; type: 'subject' | 'name' | 'name-prefix' } | undefined;
  /** SHA-256 fingerprints of acceptable peer certificates (`peer-fingerprint`). */
  peerFingerprints: Buffer[];
  crlVerify: { ref: FileRef; dir: boolean } | undefined;
  tlsVersionMin: '1.0' | '1.1' | '1.2' | '1.3';
  tlsVersionMax: '1.0' | '1.1' | '1.2' | '1.3' | undefined;
  tlsCipher: string | undefined;
  tlsCiphersuites: string | undefined;
  tlsGroups: string | undefined;
  tlsCertProfile: string | undefined;
  tlsTimeout: number;
  tlsExit: boolean;

  /** Negotiable data ciphers, normalised, AEAD only. */
  dataCiphers: string[];
  dataCiphersFallback: string | undefined;
  /** `cipher` as written (only used in notes: 2.6 clients do not negotiate with it). */
  cipher: string | undefined;
  /** `auth`: the HMAC digest of tls-auth (the data channel is AEAD). */
  auth: string;
  renegSec: number;
  renegSecMin: number | undefined;
  /** 0 = off. */
  renegBytes: number;
  renegPkts: number;
  handWindow: number;
  tranWindow: number;
  /** Seconds between pings we send (0 = off). */
  ping: number;
  /** Seconds without a packet before `pingAction` (0 = off). */
  pingRecvTimeout: number;
  pingAction: 'restart' | 'exit' | undefined;
  pingTimerRem: boolean;
  compression: CompressionFraming;
  /** Where the `comp-lzo` / `compress` that set `compression` was written (undefined: none was). */
  compressionAt: { file: string; line: number; directive: string } | undefined;
  allowCompression: 'no' | 'asym' | 'yes' | undefined;

  authUserPass: FileRef | 'prompt' | undefined;
  authRetry: 'none' | 'nointeract' | 'interact';
  authNocache: boolean;
  pushPeerInfo: boolean;

  routeNopull: boolean;
  pullFilters: { action: 'accept' | 'ignore' | 'reject'; pattern: string }[];
  allowPullFqdn: boolean;
  routeNoexec: boolean;
  ifconfigNoexec: boolean;
  /** Network directives from the profile (route, dhcp-option, dns, ...), applied like pushed ones. */
  network: { name: string; args: string[] }[];

  scriptSecurity: number;
  scripts: { up?: string; down?: string; routeUp?: string; routePreDown?: string; ipchange?: string };
  downPre: boolean;
  upRestart: boolean;

  verb: number;
  log: { ref: FileRef & { kind: 'path' }; append: boolean } | undefined;
  /** `daemon [name]`: true, or the syslog program name. */
  daemon: string | true | undefined;
  writepid: (FileRef & { kind: 'path' }) | undefined;
  /** `setenv` and `setenv-safe` (prefixed `OPENVPN_`), for scripts and IV_/UV_ peer info. */
  setenv: Map<string, string>;
  pull: boolean;
  tlsClient: boolean;
  notes: ConfigNote[];
}

/** OPENVPN_PORT (options.c init_options). */
const DEFAULT_PORT = 1194;
export const AEAD_CIPHERS = ['AES-128-GCM', 'AES-192-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305'];
/** options_postprocess_setdefault_ncpciphers, with ChaCha20-Poly1305 available. */
export const DEFAULT_DATA_CIPHERS = ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305'];
/** Non-AEAD ciphers that profiles name (so the message can say "not AEAD" rather than "unknown"). */
const NON_AEAD =
  /^(NONE|BF-CBC|DES-|DES-EDE|DESX|RC2-|CAST5-|SEED-|CAMELLIA-|ARIA-|SM4-|AES-(128|192|256)-(CBC|CFB|CFB1|CFB8|OFB|CTR))/;

/**
 * Allowed in <connection> but, at top level, global options that reach blocks without their own at
 * the end (options_postprocess_mutate_ce; connect-retry-max is never per-connection).
 */
const GLOBAL_AFTER_BLOCKS = new Set([
  'tls-auth',
  'tls-crypt',
  'tls-crypt-v2',
  'key-direction',
  'connect-retry-max',
  'remote',
]);

interface CeState {
  remote: Remote | undefined;
  remoteAt: { file: string; line: number } | undefined;
  port: number;
  proto: 'udp' | 'tcp';
  family: 'any' | 4 | 6;
  connectRetry: number;
  connectRetryMax: number;
  connectTimeout: number;
  explicitExitNotify: number;
  tunMtu: number;
  mssfix: { value: number; mode: 'default' | 'plain' | 'mtu' | 'fixed' };
  float: boolean;
  keyDirection: 0 | 1 | undefined;
  tlsAuth: FileRef | undefined;
  tlsCrypt: FileRef | undefined;
  tlsCryptV2: FileRef | undefined;
  forceCookie: boolean;
}

/** init_options' per-connection defaults. */
function defaultCe(): CeState {
  return {
    remote: undefined,
    remoteAt: undefined,
    port: DEFAULT_PORT,
    proto: 'udp',
    family: 'any',
    connectRetry: 1,
    connectRetryMax: 300,
    connectTimeout: 120,
    explicitExitNotify: 0,
    tunMtu: 1500,
    mssfix: { value: 0, mode: 'default' },
    float: false,
    keyDirection: undefined,
    tlsAuth: undefined,
    tlsCrypt: undefined,
    tlsCryptV2: undefined,
    forceCookie: true,
  };
}

/** C atoi: optional whitespace and sign, then digits; anything else ends it; no digits is 0. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  const digits = m?.[2] ?? '';
  if (digits === '') return 0;
  const v = Number.parseInt(digits.slice(0, 12), 10);
  const clamped = Math.min(v, 2147483647);
  return m?.[1] === '-' ? -clamped : clamped;
}

/** options.c positive_atoi. */
export function positiveAtoi(s: string): number {
  return Math.max(0, atoi(s));
}

export function err(d: CheckedDirective, reason: string): ConfigError {
  return new ConfigError({ file: d.file, line: d.line }, reason, d.name);
}

/** socket.c proto_names, client side: `tcp-server` variants cannot be used by a client. */
function parseProto(d: CheckedDirective, s: string): { proto: 'udp' | 'tcp'; family: 'any' | 4 | 6 } {
  const m = /^(udp|tcp)([46]?)(-client|-server)?$/.exec(s);
  if (!m || (m[1] === 'udp' && m[3])) {
    throw err(d, `bad protocol ${quoteForMessage(s)}: udp, tcp, udp4, tcp4, udp6, tcp6 (or tcp*-client)`);
  }
  if (m[3] === '-server') throw err(d, `refused: ${s} is the server side of TCP; a client connects`);
  return { proto: m[1] as 'udp' | 'tcp', family: m[2] === '4' ? 4 : m[2] === '6' ? 6 : 'any' };
}

export function parsePort(d: CheckedDirective, s: string): number {
  // OpenVPN checks ports with legal_ipv4_port/atoi: 1..65535.
  const n = /^\d+$/.test(s) ? Number(s) : Number.NaN;
  if (!(n >= 1 && n <= 65535)) throw err(d, `bad port ${quoteForMessage(s)}: 1 to 65535`);
  return n;
}

export function keyDirection(d: CheckedDirective, s: string): 0 | 1 {
  if (s === '0') return 0;
  if (s === '1') return 1;
  throw err(d, `unknown key direction ${quoteForMessage(s)}: must be 0 or 1`);
}

export function fileRef(d: CheckedDirective): FileRef {
  if (d.inline !== undefined) return { kind: 'inline', text: d.inline };
  return { kind: 'path', path: d.args[0], dir: d.dir };
}

export function pathRef(d: CheckedDirective): FileRef & { kind: 'path' } {
  return { kind: 'path', path: d.args[0], dir: d.dir };
}

export function tlsVersion(
  d: CheckedDirective,
  v: string,
  extra: string | undefined,
): '1.0' | '1.1' | '1.2' | '1.3' {
  if (v === '1.0' || v === '1.1' || v === '1.2' || v === '1.3') return v;
  // ssl.c tls_version_parse: an unknown version with `or-highest` means the highest supported.
  if (extra === 'or-highest') return '1.3';
  throw err(d, `unknown TLS version ${quoteForMessage(v)}: 1.0, 1.1, 1.2 or 1.3 (optionally 'or-highest')`);
}

/** parse_hash_fingerprint: 32 bytes as two hex digits each, separated by ':'. */
function parseFingerprint(d: CheckedDirective, s: string): Buffer {
  const parts = s.split(':');
  if (!parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw err(d, `format error in hash fingerprint: ${quoteForMessage(s, 100)}`);
  }
  if (parts.length !== 32) {
    throw err(d, `hash fingerprint is wrong length: expected 32 bytes, got ${parts.length}`);
  }
  return Buffer.from(parts.join(''), 'hex');
}

export function normaliseCipherList(d: CheckedDirective, list: string, notes: ConfigNote[]): string[] {
  const out: string[] = [];
  for (const raw of list.split(':')) {
    if (raw === '') continue;
    const name = raw.toUpperCase();
    if (AEAD_CIPHERS.includes(name)) {
      if (!out.includes(name)) out.push(name);
    } else {
      const why = NON_AEAD.test(name)
        ? 'not an AEAD cipher: the data plane only does AEAD (as OpenVPN DCO)'
        : 'unknown cipher';
      notes.push({
        level: 'warn',
        minVerb: 0,
        file: d.file,
        line: d.line,
        directive: d.name,
        message: `${raw}: ${why}; left out`,
      });
    }
  }
  if (out.length === 0) {
    throw err(
      d,
      `refused: ${quoteForMessage(list, 100)} names no AEAD cipher (${AEAD_CIPHERS.join(', ')}); the data plane only does AEAD`,
    );
  }
  return out;
}

/**
 * Build the client options from checked directives (directives.ts `checkDirectives`, with `config`
 * includes expanded). Throws a ConfigError naming the directive, file and line for a refused value.
 */
export function buildClientOptions(
  directives: readonly CheckedDirective[],
  notes: ConfigNote[] = [],
): ClientOptions {
  const ce = defaultCe();
  const remotes: {
    remote: Omit<Remote, 'port' | 'proto' | 'family'> & Partial<Remote>;
    at: CheckedDirective;
  }[] = [];
  const blocks: ConnectionEntry[] = [];
  let sawConnection = false;
  let dev: CheckedDirective | undefined;
  let devType: CheckedDirective | undefined;
  let dataCiphers: string[] | undefined;
  let keepalive: { ping: number; timeout: number; at: CheckedDirective } | undefined;
  let pingSet: CheckedDirective | undefined;
  let mode: CheckedDirective | undefined;
  let cipherAt: CheckedDirective | undefined;
  const o: Omit<ClientOptions, 'connections' | 'dev' | 'devType' | 'dataCiphers' | 'notes'> = {
    remoteRandom: false,
    connectRetryMax: 0,
    resolvRetrySeconds: Number.POSITIVE_INFINITY,
    persistTun: false,
    topology: 'net30',
    ca: undefined,
    capath: undefined,
    cert: undefined,
    key: undefined,
    extraCerts: undefined,
    pkcs12: undefined,
    askpass: undefined,
    remoteCertTls: undefined,
    remoteCertEku: undefined,
    remoteCertKu: undefined,
    nsCertType: undefined,
    verifyX509Name: undefined,
    peerFingerprints: [],
    crlVerify: undefined,
    tlsVersionMin: '1.2', // options_set_backwards_compatible_options: TLS 1.2 unless a lower max is set
    tlsVersionMax: undefined,
    tlsCipher: undefined,
    tlsCiphersuites: undefined,
    tlsGroups: undefined,
    tlsCertProfile: undefined,
    tlsTimeout: 2,
    tlsExit: false,
    dataCiphersFallback: undefined,
    cipher: undefined,
    auth: 'SHA1',
    renegSec: 3600,
    renegSecMin: undefined,
    renegBytes: 0,
    renegPkts: 0,
    handWindow: 60,
    tranWindow: 3600,
    ping: 0,
    pingRecvTimeout: 0,
    pingAction: undefined,
    pingTimerRem: false,
    compression: 'none',
    compressionAt: undefined,
    allowCompression: undefined,
    authUserPass: undefined,
    authRetry: 'none',
    authNocache: false,
    pushPeerInfo: false,
    routeNopull: false,
    pullFilters: [],
    allowPullFqdn: false,
    routeNoexec: false,
    ifconfigNoexec: false,
    network: [],
    scriptSecurity: 1,
    scripts: {},
    downPre: false,
    upRestart: false,
    verb: 1,
    log: undefined,
    daemon: undefined,
    writepid: undefined,
    setenv: new Map(),
    pull: false,
    tlsClient: false,
  };
  /** After `comp-lzo` / `compress`: where, and 2.6's post-process check against `allow-compression no`. */
  const setCompression = (d: CheckedDirective): void => {
    if (o.allowCompression === 'no' && isRealCompression(o.compression))
      throw err(d, `refused: compression is not allowed since allow-compression is set to 'no'`);
    o.compressionAt = { file: d.file, line: d.line, directive: d.name };
  };

  /** Settings allowed in both places (OPT_P_CONNECTION); `c` is the top-level or a block's state. */
  const applyCe = (d: CheckedDirective, c: CeState, inBlock: boolean): boolean => {
    const a = d.args;
    switch (d.name) {
      case 'remote': {
        const host = a[0];
        const r: Partial<Remote> & { host: string } = { host };
        if (a[1] !== undefined) r.port = parsePort(d, a[1]);
        if (a[2] !== undefined) Object.assign(r, parseProto(d, a[2]));
        if (inBlock) {
          // connection_entry_load_re writes into the block's own settings: a later remote, port or
          // proto in the block replaces them; the entry is read at the end of the block.
          c.remote = { host, port: c.port, proto: c.proto, family: c.family };
          if (r.port !== undefined) c.port = r.port;
          if (r.proto !== undefined && r.family !== undefined) {
            c.proto = r.proto;
            c.family = r.family;
          }
          c.remoteAt = d;
        } else {
          remotes.push({ remote: r, at: d });
        }
        return true;
      }
      case 'proto':
        Object.assign(c, parseProto(d, a[0]));
        return true;
      case 'port':
      case 'rport':
        c.port = parsePort(d, a[0]);
        return true;
      case 'connect-retry':
        c.connectRetry = Math.min(positiveAtoi(a[0]), 0xffff);
        if (a[1] !== undefined) c.connectRetryMax = Math.max(positiveAtoi(a[1]), c.connectRetry);
        return true;
      case 'connect-retry-max':
        o.connectRetryMax = positiveAtoi(a[0]); // a global even inside a block, as in OpenVPN
        return true;
      case 'connect-timeout':
      case 'server-poll-timeout':
        c.connectTimeout = positiveAtoi(a[0]);
        return true;
      case 'explicit-exit-notify':
        c.explicitExitNotify = a[0] === undefined ? 1 : positiveAtoi(a[0]);
        return true;
      case 'tun-mtu': {
        const mtu = positiveAtoi(a[0]);
        if (mtu < 100 || mtu > 65536) throw err(d, 'the MTU must be between 100 and 65536');
        c.tunMtu = mtu;
        return true;
      }
      case 'mssfix':
        if (a[0] === undefined) c.mssfix = { value: 0, mode: 'default' };
        else {
          const mode =
            a[1] === undefined ? 'plain' : a[1] === 'mtu' ? 'mtu' : a[1] === 'fixed' ? 'fixed' : undefined;
          if (!mode) throw err(d, `unknown parameter ${quoteForMessage(a[1])}: 'mtu' or 'fixed'`);
          c.mssfix = { value: positiveAtoi(a[0]), mode };
        }
        return true;
      case 'float':
        c.float = true;
        return true;
      case 'key-direction':
        c.keyDirection = keyDirection(d, a[0]);
        return true;
      case 'tls-auth':
        c.tlsAuth = fileRef(d);
        // in a block, tls-auth resets the block's direction (add_option); a file may carry one
        if (inBlock) c.keyDirection = undefined;
        if (d.inline === undefined && a[1] !== undefined) c.keyDirection = keyDirection(d, a[1]);
        return true;
      case 'tls-crypt':
        c.tlsCrypt = fileRef(d);
        return true;
      case 'tls-crypt-v2':
        c.tlsCryptV2 = fileRef(d);
        if (d.inline === undefined && a[1] !== undefined) {
          if (a[1] === 'force-cookie') c.forceCookie = true;
          else if (a[1] === 'allow-noncookie') c.forceCookie = false;
          else
            throw err(d, `unsupported parameter ${quoteForMessage(a[1])}: force-cookie or allow-noncookie`);
        }
        return true;
      default:
        return false;
    }
  };

  const wrapOf = (c: CeState, top: CeState | undefined, at: CheckedDirective): TlsWrap | undefined => {
    let src = c;
    if (!c.tlsAuth && !c.tlsCrypt && !c.tlsCryptV2 && top) src = { ...top };
    const set = [src.tlsAuth, src.tlsCrypt, src.tlsCryptV2].filter((x) => x !== undefined).length;
    if (src.tlsAuth && src.tlsCrypt) throw err(at, 'tls-auth and tls-crypt are mutually exclusive');
    if (set > 1) throw err(at, 'tls-crypt-v2, tls-auth and tls-crypt are mutually exclusive in client mode');
    if (src.tlsAuth) return { mode: 'tls-auth', key: src.tlsAuth, direction: src.keyDirection };
    if (src.tlsCrypt) return { mode: 'tls-crypt', key: src.tlsCrypt };
    if (src.tlsCryptV2) return { mode: 'tls-crypt-v2', key: src.tlsCryptV2, forceCookie: src.forceCookie };
    return undefined;
  };

  const entryOf = (
    c: CeState,
    remote: Remote,
    at: CheckedDirective,
    wrap: TlsWrap | undefined,
  ): ConnectionEntry => ({
    remote,
    connectRetry: c.connectRetry,
    connectRetryMax: c.connectRetryMax,
    connectTimeout: c.connectTimeout,
    explicitExitNotify: exitNotifyFor(remote, c.explicitExitNotify, at),
    tunMtu: c.tunMtu,
    mssfix: { ...c.mssfix },
    float: c.float,
    tlsWrap: wrap,
    file: at.file,
    line: at.line,
  });

  /** options_postprocess_verify_ce: on TCP the server sees the close; 2.6 drops the option with a notice. */
  const exitNotifyFor = (remote: Remote, n: number, at: CheckedDirective): number => {
    if (n === 0 || remote.proto !== 'tcp') return n;
    notes.push({
      level: 'warn',
      minVerb: 1,
      file: at.file,
      line: at.line,
      directive: 'explicit-exit-notify',
      message: `ignored for proto tcp (remote ${remote.host}): the server sees the connection close`,
    });
    return 0;
  };

  const pendingBlocks: { c: CeState; at: CheckedDirective }[] = [];

  for (const d of directives) {
    const a = d.args;
    if (sawConnection && d.spec.connection && !GLOBAL_AFTER_BLOCKS.has(d.name)) {
      // verify_permission: blocks copied the per-connection settings where they stood
      notes.push({
        level: 'warn',
        minVerb: 1,
        file: d.file,
        line: d.line,
        directive: d.name,
        message: 'ignored by previous <connection> blocks (they only see what comes before them)',
      });
    }
    if (applyCe(d, ce, false)) continue;
    switch (d.name) {
      case 'connection': {
        if (d.inline === undefined) throw err(d, 'must be an inline block <connection> ... </connection>');
        sawConnection = true;
        // add_option copies the top-level per-connection settings as they stand here; tls-auth,
        // tls-crypt(-v2) and key-direction at top level are global options (not copied), applied at
        // the end to blocks without their own (options_postprocess_mutate_ce).
        const c: CeState = {
          ...ce,
          remote: undefined,
          remoteAt: undefined,
          mssfix: { ...ce.mssfix },
          tlsAuth: undefined,
          tlsCrypt: undefined,
          tlsCryptV2: undefined,
          keyDirection: undefined,
        };
        for (const sub of d.checkedBlock ?? []) {
          if (!applyCe(sub, c, true)) throw err(sub, 'cannot be used inside a <connection> block');
        }
        if (!c.remote) throw err(d, "each <connection> block must contain a 'remote' directive");
        c.remote = { host: c.remote.host, port: c.port, proto: c.proto, family: c.family };
        pendingBlocks.push({ c, at: d });
        break;
      }
      case 'config':
        throw err(d, 'config includes must be expanded before building options (use load.ts)');
      case 'ignore-unknown-option':
      case 'cd':
        break;
      case 'setenv':
        o.setenv.set(a[0], a[1] ?? '');
        break;
      case 'setenv-safe':
        o.setenv.set(`OPENVPN_${a[0]}`, a[1] ?? '');
        break;
      case 'client':
        o.pull = true; // helper_client_server: client = pull + tls-client
        o.tlsClient = true;
        break;
      case 'pull':
        o.pull = true;
        break;
      case 'tls-client':
        o.tlsClient = true;
        break;
      case 'mode':
        if (a[0] === 'server') throw err(d, 'refused: mode server is a server option');
        if (a[0] !== 'p2p') throw err(d, `bad mode ${quoteForMessage(a[0])}: p2p or server`);
        mode = d;
        break;
      case 'dev':
        dev = d;
        break;
      case 'dev-type':
        devType = d;
        break;
      case 'topology':
        if (a[0] !== 'net30' && a[0] !== 'p2p' && a[0] !== 'subnet') {
          throw err(d, `bad topology ${quoteForMessage(a[0])}: net30, p2p or subnet`);
        }
        o.topology = a[0];
        break;
      case 'remote-random':
        o.remoteRandom = true;
        break;
      case 'resolv-retry':
        o.resolvRetrySeconds = a[0] === 'infinite' ? Number.POSITIVE_INFINITY : positiveAtoi(a[0]);
        break;
      case 'persist-tun':
        o.persistTun = true;
        break;
      case 'ping':
        o.ping = positiveAtoi(a[0]);
        pingSet = d;
        break;
      case 'ping-restart':
      case 'ping-exit':
        o.pingRecvTimeout = positiveAtoi(a[0]);
        o.pingAction = d.name === 'ping-exit' ? 'exit' : 'restart';
        pingSet = d;
        break;
      case 'ping-timer-rem':
        o.pingTimerRem = true;
        break;
      case 'keepalive':
        keepalive = { ping: atoi(a[0]), timeout: atoi(a[1]), at: d };
        break;
      case 'ca':
        o.ca = fileRef(d);
        break;
      case 'capath':
        o.capath = a[0];
        break;
      case 'cert':
        o.cert = fileRef(d);
        break;
      case 'key':
        o.key = fileRef(d);
        break;
      case 'extra-certs':
        o.extraCerts = fileRef(d);
        break;
      case 'pkcs12':
        o.pkcs12 = fileRef(d);
        break;
      case 'askpass':
        o.askpass = a[0] === undefined || a[0] === 'stdin' ? 'prompt' : pathRef(d);
        break;
      case 'remote-cert-tls':
        if (a[0] !== 'server' && a[0] !== 'client') throw err(d, "must be 'server' or 'client'");
        o.remoteCertTls = a[0];
        o.remoteCertKu = 'required';
        o.remoteCertEku =
          a[0] === 'server' ? 'TLS Web Server Authentication' : 'TLS Web Client Authentication';
        break;
      case 'remote-cert-eku':
        o.remoteCertEku = a[0];
        break;
      case 'remote-cert-ku':
        o.remoteCertKu =
          a.length === 0
            ? 'required'
            : a.map((x) => {
                if (!/^[0-9a-fA-F]+$/.test(x))
                  throw err(d, `bad key usage ${quoteForMessage(x)}: hexadecimal`);
                return Number.parseInt(x.slice(0, 8), 16);
              });
        break;
      case 'ns-cert-type':
        if (a[0] !== 'server' && a[0] !== 'client') throw err(d, "must be 'server' or 'client'");
        o.nsCertType = a[0];
        break;
      case 'verify-x509-name': {
        const t = a[1] ?? 'subject';
        if (t !== 'subject' && t !== 'name' && t !== 'name-prefix') {
          throw err(d, `unknown X.509 name type ${quoteForMessage(t)}: subject, name or name-prefix`);
        }
        o.verifyX509Name = { name: a[0], type: t };
        break;
      }
      case 'peer-fingerprint': {
        // parse_hash_fingerprint_multiline: one per line, blank and #/; comment lines skipped.
        // We also allow trailing whitespace (a CRLF block would otherwise fail).
        const text = d.inline ?? a[0];
        for (const line of text.split('\n')) {
          const t = line.trim();
          if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
          o.peerFingerprints.push(parseFingerprint(d, t));
        }
        break;
      }
      case 'crl-verify':
        if (a[1] !== undefined && a[1] !== 'dir')
          throw err(d, `unknown parameter ${quoteForMessage(a[1])}: only 'dir'`);
        if (a[1] === 'dir' && d.inline !== undefined) throw err(d, 'a CRL directory cannot be inline');
        o.crlVerify = { ref: fileRef(d), dir: a[1] === 'dir' };
        break;
      case 'tls-version-min':
        o.tlsVersionMin = tlsVersion(d, a[0], a[1]);
        break;
      case 'tls-version-max':
        o.tlsVersionMax = tlsVersion(d, a[0], undefined);
        break;
      case 'tls-cipher':
        o.tlsCipher = a[0];
        break;
      case 'tls-ciphersuites':
        o.tlsCiphersuites = a[0];
        break;
      case 'tls-groups':
        o.tlsGroups = a[0];
        break;
      case 'tls-cert-profile':
        if (!['insecure', 'legacy', 'preferred', 'suiteb'].includes(a[0])) {
          throw err(d, `unknown profile ${quoteForMessage(a[0])}: insecure, legacy, preferred or suiteb`);
        }
        o.tlsCertProfile = a[0];
        break;
      case 'tls-timeout':
        o.tlsTimeout = positiveAtoi(a[0]);
        break;
      case 'tls-exit':
        o.tlsExit = true;
        break;
      case 'hand-window':
        o.handWindow = positiveAtoi(a[0]);
        break;
      case 'tran-window':
        o.tranWindow = positiveAtoi(a[0]);
        break;
      case 'reneg-sec':
        o.renegSec = positiveAtoi(a[0]);
        o.renegSecMin = a[1] === undefined ? undefined : positiveAtoi(a[1]);
        break;
      case 'reneg-bytes':
        o.renegBytes = positiveAtoi(a[0]);
        break;
      case 'reneg-pkts':
        o.renegPkts = positiveAtoi(a[0]);
        break;
      case 'cipher':
        o.cipher = a[0];
        cipherAt = d;
        break;
      case 'ncp-ciphers':
      case 'data-ciphers':
        if (d.name === 'ncp-ciphers') {
          notes.push({
            level: 'info',
            minVerb: 1,
            file: d.file,
            line: d.line,
            directive: d.name,
            message: "treated as 'data-ciphers' (renamed in OpenVPN 2.5)",
          });
        }
        dataCiphers = normaliseCipherList(d, a[0], notes);
        break;
      case 'data-ciphers-fallback': {
        const c = a[0].toUpperCase();
        if (!AEAD_CIPHERS.includes(c)) {
          throw err(
            d,
            `refused: ${quoteForMessage(a[0])} is not an AEAD cipher; the data plane only does AEAD`,
          );
        }
        o.dataCiphersFallback = c;
        break;
      }
      case 'auth':
        o.auth = a[0].toUpperCase();
        break;
      case 'comp-lzo':
        // options.c add_option: every comp-lzo variant clears the swap flag
        if (a[0] === 'no') o.compression = 'lzo-stub';
        else if (a[0] === undefined || a[0] === 'yes' || a[0] === 'adaptive') o.compression = 'lzo';
        else throw err(d, `bad parameter ${quoteForMessage(a[0])}: yes, no or adaptive`);
        setCompression(d);
        break;
      case 'compress': {
        const alg = a[0] ?? 'stub';
        if (alg === 'stub') o.compression = 'stub';
        else if (alg === 'stub-v2') o.compression = 'stub-v2';
        else if (alg === 'lzo' || alg === 'lz4' || alg === 'lz4-v2') o.compression = alg;
        else if (alg === 'migrate') throw err(d, 'refused: compress migrate is a server option');
        else throw err(d, `bad compression ${quoteForMessage(alg)}`);
        setCompression(d);
        break;
      }
      case 'allow-compression':
        if (a[0] !== 'no' && a[0] !== 'asym' && a[0] !== 'yes') throw err(d, "must be 'yes', 'no' or 'asym'");
        if (a[0] === 'no' && isRealCompression(o.compression))
          throw err(d, `'allow-compression no' conflicts with enabling compression (${o.compression})`);
        if (a[0] !== 'no' && o.allowCompression === 'no')
          throw err(d, `cannot set allow-compression to '${a[0]}' after it was set to 'no'`);
        o.allowCompression = a[0];
        break;
      case 'auth-user-pass':
        o.authUserPass =
          d.inline !== undefined
            ? fileRef(d)
            : a[0] === undefined || a[0] === 'stdin'
              ? 'prompt'
              : pathRef(d);
        break;
      case 'auth-retry':
        if (a[0] !== 'none' && a[0] !== 'nointeract' && a[0] !== 'interact') {
          throw err(d, `bad parameter ${quoteForMessage(a[0])}: none, nointeract or interact`);
        }
        o.authRetry = a[0];
        break;
      case 'auth-nocache':
        o.authNocache = true;
        break;
      case 'push-peer-info':
        o.pushPeerInfo = true;
        break;
      case 'route-nopull':
        o.routeNopull = true;
        break;
      case 'pull-filter':
        if (a[0] !== 'accept' && a[0] !== 'ignore' && a[0] !== 'reject') {
          throw err(d, `unknown type ${quoteForMessage(a[0])}: accept, ignore or reject`);
        }
        o.pullFilters.push({ action: a[0], pattern: a[1] });
        break;
      case 'allow-pull-fqdn':
        o.allowPullFqdn = true;
        break;
      case 'route-noexec':
        o.routeNoexec = true;
        break;
      case 'ifconfig-noexec':
        o.ifconfigNoexec = true;
        break;
      case 'route':
      case 'route-ipv6':
      case 'route-gateway':
      case 'route-metric':
      case 'redirect-gateway':
      case 'redirect-private':
      case 'dhcp-option':
      case 'dns':
      case 'block-ipv6':
      case 'ifconfig':
      case 'ifconfig-ipv6':
        o.network.push({ name: d.name, args: [...a] });
        break;
      case 'script-security':
        o.scriptSecurity = atoi(a[0]);
        if (o.scriptSecurity < 0 || o.scriptSecurity > 3) throw err(d, 'must be 0, 1, 2 or 3');
        break;
      case 'up':
        o.scripts.up = a[0];
        break;
      case 'down':
        o.scripts.down = a[0];
        break;
      case 'route-up':
        o.scripts.routeUp = a[0];
        break;
      case 'route-pre-down':
        o.scripts.routePreDown = a[0];
        break;
      case 'ipchange':
        o.scripts.ipchange = a[0];
        break;
      case 'down-pre':
        o.downPre = true;
        break;
      case 'up-restart':
        o.upRestart = true;
        break;
      case 'verb':
        o.verb = Math.min(Math.max(atoi(a[0]), 0), 11);
        break;
      case 'log':
      case 'log-append':
        o.log = { ref: pathRef(d), append: d.name === 'log-append' };
        break;
      case 'daemon':
        o.daemon = a[0] ?? true;
        break;
      case 'writepid':
        o.writepid = pathRef(d);
        break;
      default:
        throw err(d, 'honoured in the table but not read by client-options (a bug in ovpn-ts)');
    }
  }

  // helper_client_server and the DCO-style data plane: the peer-id must be pushed (control-plane.md §1).
  if (!o.pull) {
    const at = mode ?? directives[0];
    throw new ConfigError(
      at ? { file: at.file, line: at.line } : { file: CMD_LINE, line: 1 },
      "ovpn-ts needs 'client' (or 'pull' with 'tls-client'): static point-to-point TLS mode is not supported",
    );
  }
  if (!o.tlsClient) {
    const at = directives[0];
    throw new ConfigError(
      { file: at.file, line: at.line },
      "'pull' without 'tls-client': add 'client' instead",
    );
  }

  // dev_type_enum: dev-type if given, else the prefix of the dev name.
  const devName = dev?.args[0];
  if (!devName) {
    throw new ConfigError(
      directives[0] ? { file: directives[0].file, line: directives[0].line } : { file: CMD_LINE, line: 1 },
      "'dev' is missing: use 'dev tun'",
    );
  }
  const typeWord =
    devType?.args[0] ??
    (devName.startsWith('tun')
      ? 'tun'
      : devName.startsWith('tap')
        ? 'tap'
        : devName.startsWith('null')
          ? 'null'
          : undefined);
  const typeAt = devType ?? dev!;
  if (typeWord === 'tap')
    throw err(typeAt, 'refused: dev tap (layer 2) is not supported; ovpn-ts is layer 3 only (dev tun)');
  if (typeWord !== 'tun' && typeWord !== 'null') {
    throw err(typeAt, `cannot tell the device type of ${quoteForMessage(devName)}: add 'dev-type tun'`);
  }

  // helper_keepalive (point-to-point/client side): ping n, ping-restart m.
  if (keepalive) {
    const { ping, timeout, at } = keepalive;
    if (ping <= 0 || timeout <= 0) throw err(at, 'parameters must be > 0');
    if (ping * 2 > timeout)
      throw err(at, `the restart timeout (${timeout}) must be at least twice the ping interval (${ping})`);
    if (pingSet)
      throw err(at, `conflicts with ${pingSet.name} (${pingSet.file}:${pingSet.line}); keepalive sets both`);
    o.ping = ping;
    o.pingRecvTimeout = timeout;
    o.pingAction = 'restart';
  }

  // options_postprocess_setdefault_ncpciphers and options_postprocess_cipher (pull mode): `cipher`
  // takes no part in negotiation; it is only named in a note when the list lacks it.
  const ciphers = dataCiphers ?? [...DEFAULT_DATA_CIPHERS];
  if (
    cipherAt &&
    o.cipher !== undefined &&
    !ciphers.includes(o.cipher.toUpperCase()) &&
    !o.dataCiphersFallback
  ) {
    notes.push({
      level: 'warn',
      minVerb: 1,
      file: cipherAt.file,
      line: cipherAt.line,
      directive: 'cipher',
      message: `'cipher ${o.cipher}' is not in data-ciphers (${ciphers.join(':')}); as OpenVPN 2.6, it is not used for negotiation`,
    });
  }

  // options_postprocess_mutate: <connection> blocks win over top-level remotes.
  const connections: ConnectionEntry[] = [];
  const top = ce;
  if (sawConnection) {
    for (const { c, at } of pendingBlocks) {
      blocks.push(
        entryOf(c, c.remote!, (c.remoteAt as CheckedDirective | undefined) ?? at, wrapOf(c, top, at)),
      );
    }
    connections.push(...blocks);
    if (remotes.length > 0) {
      const r = remotes[0].at;
      notes.push({
        level: 'warn',
        minVerb: 1,
        file: r.file,
        line: r.line,
        directive: 'remote',
        message: 'top-level remote lines are not used when <connection> blocks exist (as OpenVPN)',
      });
    }
  } else if (remotes.length > 0) {
    for (const { remote, at } of remotes) {
      const full: Remote = {
        host: remote.host,
        port: remote.port ?? top.port,
        proto: remote.proto ?? top.proto,
        family: remote.family ?? top.family,
      };
      connections.push(entryOf(top, full, at, wrapOf(top, undefined, at)));
    }
  } else {
    const at = directives[0];
    throw new ConfigError(
      at ? { file: at.file, line: at.line } : { file: CMD_LINE, line: 1 },
      "no 'remote': a client needs a server to connect to",
    );
  }

  // Client-side authentication (options_postprocess_verify_ce, pull case).
  const at0 = directives[0];
  if (o.pkcs12 === undefined) {
    const hasCert = o.cert !== undefined;
    const hasKey = o.key !== undefined;
    if (hasCert !== hasKey) {
      throw new ConfigError(
        { file: at0.file, line: at0.line },
        'if you use one of cert or key, you must use them both',
      );
    }
    if (!hasCert && o.authUserPass === undefined) {
      throw new ConfigError(
        { file: at0.file, line: at0.line },
        'no client authentication: use cert and key, pkcs12, or auth-user-pass',
      );
    }
  } else if (o.cert !== undefined || o.key !== undefined) {
    throw new ConfigError(
      { file: at0.file, line: at0.line },
      'cert and key cannot be used together with pkcs12',
    );
  }
  if (
    o.ca === undefined &&
    o.capath === undefined &&
    o.pkcs12 === undefined &&
    o.peerFingerprints.length === 0
  ) {
    throw new ConfigError(
      { file: at0.file, line: at0.line },
      'no way to verify the server: use ca, capath, pkcs12 or peer-fingerprint',
    );
  }

  return { ...o, connections, dev: devName, devType: typeWord, dataCiphers: ciphers, notes };
}

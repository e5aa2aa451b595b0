/**
 * The client-side directives: for each, how many parameters it takes and what ovpn-ts does with it.
 *
 * - `honoured`: client-options.ts reads it (some values are refused there, e.g. `dev tap`);
 * - `ignored`: harmless for us; a note with the reason is produced (shown at verb >= 3);
 * - `refused`: an error naming the directive, file and line, and why.
 *
 * Parameter counts and the `<connection>` / inline permissions follow OpenVPN 2.6's add_option
 * (options.c): the `p[n] && !p[m]` tests give min/max, `OPT_P_CONNECTION` the directives allowed in
 * a `<connection>` block, `OPT_P_INLINE` those that may be given as `<name>...</name>`.
 *
 * Unknown directives and wrong parameter counts are one case in OpenVPN ("Unrecognized option or
 * missing or extra parameter(s)"), fatal unless the name was listed by an earlier
 * `ignore-unknown-option` or the directive is written `setenv opt <directive> ...` (then a warning).
 * We keep that, and keep refusals fatal even under `setenv opt`: a refused directive is one whose
 * meaning we cannot provide, and dropping it would change what the profile asks for on the wire.
 */
import { type DirectiveSpec, H, I, R } from './directive-spec.js';
import type { Directive } from './read.js';
import { SERVER_OVERRIDES } from './server-directives.js';
import { ConfigError, quoteForMessage } from './tokenize.js';

export type { DirectiveSpec, Disposition } from './directive-spec.js';

const C = { connection: true } as const;
const IN = { inline: true } as const;
const CIN = { connection: true, inline: true } as const;
const MANY = 15;

const SERVER_ONLY = 'a server-side option; ovpn-ts reads client profiles';
const NO_PROXY = 'proxies are not supported yet';
const WINDOWS = 'Windows-only; no effect on Linux';
const NOT_SUPPORTED = 'not supported by ovpn-ts';
const LOGGING = 'logging is done by ovpn-ts itself';

const TABLE: Record<string, DirectiveSpec> = {
  // meta
  config: H(1, 1),
  connection: H(1, 1, IN),
  'ignore-unknown-option': H(1, MANY),
  setenv: H(1, 2),
  'setenv-safe': H(1, 2),
  cd: H(1, 1),
  // roles
  client: H(0, 0),
  pull: H(0, 0),
  'tls-client': H(0, 0),
  mode: H(1, 1),
  'tls-server': R(0, 0, 'this is a client: it cannot be the TLS server'),
  secret: R(1, 2, 'static-key mode (--secret) is not supported: ovpn-ts needs TLS (use a TLS profile)', IN),
  // device
  dev: H(1, 1),
  'dev-type': H(1, 1),
  'dev-node': R(1, 1, 'ovpn-ts creates its own TUN device; a device node cannot be chosen'),
  topology: H(1, 1),
  'tun-mtu': H(1, 2, C),
  'tun-mtu-max': I(1, 2, 'not supported: a pushed tun-mtu is lowered to 1600, its default', C),
  'tun-mtu-extra': I(1, 1, 'only used with dev tap', C),
  'link-mtu': I(1, 1, 'deprecated in 2.6; the link MTU follows from tun-mtu', C),
  'udp-mtu': I(1, 1, 'deprecated in 2.6; the link MTU follows from tun-mtu', C),
  'max-packet-size': I(1, 1, 'only matters for TCP framing on the server side', C),
  'mtu-disc': I(1, 1, 'path MTU discovery is left to the kernel defaults', C),
  'mtu-test': I(0, 0, 'MTU testing is not implemented'),
  mssfix: H(0, 2, C),
  fragment: R(1, 2, 'fragmentation (--fragment) is not supported by the data plane (as with OpenVPN DCO)', C),
  'mtu-dynamic': R(0, MANY, 'removed from OpenVPN', C),
  txqueuelen: I(1, 1, 'the TUN queue length is left at the kernel default'),
  'tun-ipv6': I(0, 0, 'obsolete: IPv6 in the tunnel is always available'),
  // transport
  proto: H(1, 1, C),
  remote: H(1, 3, C),
  port: H(1, 1, C),
  rport: H(1, 1, C),
  lport: R(1, 1, 'binding the client to a fixed local port is not supported', C),
  local: R(1, 1, 'binding the client to a local address is not supported', C),
  bind: R(0, 1, 'binding the client to a fixed local port is not supported', C),
  nobind: I(0, 0, 'the client never binds a fixed local port', C),
  float: H(0, 0, C),
  'remote-random': H(0, 0),
  'remote-random-hostname': I(0, 0, 'hostnames are resolved as written'),
  'resolv-retry': H(1, 1),
  'connect-retry': H(1, 2, C),
  'connect-retry-max': H(1, 1, C),
  'connect-timeout': H(1, 1, C),
  'server-poll-timeout': H(1, 1, C),
  'explicit-exit-notify': H(0, 1, C),
  'remap-usr1': I(1, 1, 'not remapped: SIGUSR1 restarts, SIGHUP re-reads the config', C),
  'proto-force': R(1, 1, NOT_SUPPORTED),
  'http-proxy': R(1, 4, NO_PROXY, C),
  'http-proxy-option': R(1, 3, NO_PROXY, C),
  'http-proxy-retry': R(0, 0, NO_PROXY, C),
  'http-proxy-timeout': R(1, 1, NO_PROXY, C),
  'http-proxy-user-pass': R(1, 1, NO_PROXY, IN),
  'socks-proxy': R(1, 3, NO_PROXY, C),
  'socks-proxy-retry': R(0, 0, NO_PROXY, C),
  sndbuf: I(1, 1, 'socket buffers are sized by ovpn-ts'),
  rcvbuf: I(1, 1, 'socket buffers are sized by ovpn-ts'),
  'socket-flags': I(1, MANY, 'socket options are set by ovpn-ts'),
  'tcp-nodelay': I(0, 0, 'socket options are set by ovpn-ts'),
  'tcp-queue-limit': I(1, 1, 'queues are sized by ovpn-ts'),
  'fast-io': I(0, 0, 'an event-loop hint for OpenVPN; ovpn-ts has its own I/O path'),
  mark: R(1, 1, NOT_SUPPORTED),
  'bind-dev': R(1, 1, NOT_SUPPORTED),
  passtos: I(0, 0, 'the TOS byte is not copied'),
  // keepalive and timers
  ping: H(1, 1),
  'ping-restart': H(1, 1),
  'ping-exit': H(1, 1),
  'ping-timer-rem': H(0, 0),
  keepalive: H(2, 2),
  inactive: R(1, 2, 'the inactivity timeout is not implemented yet'),
  'session-timeout': R(1, 1, 'the session timeout is not implemented yet'),
  // crypto and TLS
  ca: H(1, 1, IN),
  capath: H(1, 1),
  cert: H(1, 1, IN),
  key: H(1, 1, IN),
  'extra-certs': H(1, 1, IN),
  pkcs12: H(1, 1, IN),
  askpass: H(0, 1),
  dh: I(1, 1, 'only used by a TLS server', IN),
  'tls-auth': H(1, 2, CIN),
  'tls-crypt': H(1, 2, CIN),
  'tls-crypt-v2': H(1, 2, CIN),
  'key-direction': H(1, 1, C),
  'remote-cert-tls': H(1, 1),
  'remote-cert-eku': H(1, 1),
  'remote-cert-ku': H(0, MANY),
  'ns-cert-type': H(1, 1),
  'verify-x509-name': H(1, 2),
  'peer-fingerprint': H(1, 1, IN),
  'verify-hash': R(1, 2, 'deprecated in 2.6: use peer-fingerprint', IN),
  'crl-verify': H(1, 2, IN),
  'tls-version-min': H(1, 2),
  'tls-version-max': H(1, 1),
  'tls-cipher': H(1, 1),
  'tls-ciphersuites': H(1, 1),
  'tls-groups': H(1, 1),
  'tls-cert-profile': H(1, 1),
  'ecdh-curve': I(1, 1, 'deprecated: use tls-groups'),
  'tls-timeout': H(1, 1),
  'tls-exit': H(0, 0),
  'hand-window': H(1, 1),
  'tran-window': H(1, 1),
  'reneg-sec': H(1, 2),
  'reneg-bytes': H(1, 1),
  'reneg-pkts': H(1, 1),
  cipher: H(1, 1),
  'data-ciphers': H(1, 1),
  'ncp-ciphers': H(1, 1),
  'data-ciphers-fallback': H(1, 1),
  auth: H(1, 1),
  'ncp-disable': R(0, 0, 'removed in OpenVPN 2.6: use data-ciphers'),
  'key-method': R(1, 1, 'removed in OpenVPN 2.5: key method 2 is the only one'),
  'replay-window': I(1, 2, 'the data plane uses a fixed replay window, as OpenVPN DCO'),
  'mute-replay-warnings': I(0, 0, 'replay drops are counted, not logged'),
  'no-replay': R(0, 0, 'replay protection cannot be turned off'),
  'no-iv': R(0, 0, 'removed from OpenVPN'),
  engine: I(0, 1, 'OpenSSL engines are not used'),
  providers: I(1, MANY, 'OpenSSL providers are not loaded by ovpn-ts'),
  'pkcs11-providers': R(1, MANY, NOT_SUPPORTED),
  'pkcs11-id': R(1, 1, NOT_SUPPORTED),
  'pkcs11-id-management': R(0, 0, NOT_SUPPORTED),
  cryptoapicert: R(1, 1, WINDOWS),
  'management-external-key': R(0, MANY, NOT_SUPPORTED),
  'management-external-cert': R(1, 1, NOT_SUPPORTED),
  'tls-verify': R(
    1,
    1,
    'certificate-verification scripts are not supported: use verify-x509-name or peer-fingerprint',
  ),
  'tls-export-cert': R(1, 1, NOT_SUPPORTED),
  'x509-track': I(1, 1, 'only feeds scripts'),
  'x509-username-field': I(1, MANY, SERVER_ONLY),
  'keying-material-exporter': I(2, 2, 'only feeds plugins'),
  // compression framing
  'comp-lzo': H(0, 1),
  compress: H(0, 1),
  'allow-compression': H(1, 1),
  'comp-noadapt': I(0, 0, 'no compression is done'),
  // authentication
  'auth-user-pass': H(0, 1, IN),
  'auth-retry': H(1, 1),
  'auth-nocache': H(0, 0),
  'auth-token': R(1, 1, 'only the server sends an auth-token (it is pushed)'),
  'auth-token-user': R(1, 1, 'only the server sends an auth-token (it is pushed)'),
  'static-challenge': R(2, 2, 'static challenges are not supported yet'),
  'push-peer-info': H(0, 0),
  // routing and network (kept for the network setup, applied like pushed options)
  'route-nopull': H(0, 0),
  'pull-filter': H(2, 2),
  'allow-pull-fqdn': H(0, 0),
  route: H(1, 4),
  'route-ipv6': H(1, 3),
  'route-gateway': H(1, 1),
  'route-metric': H(1, 1),
  'redirect-gateway': H(0, MANY),
  'redirect-private': H(0, MANY),
  'dhcp-option': H(1, 2),
  dns: H(2, MANY),
  'block-ipv6': H(0, 0),
  ifconfig: H(2, 2),
  'ifconfig-ipv6': H(2, 2),
  'route-noexec': H(0, 0),
  'ifconfig-noexec': H(0, 0),
  'ifconfig-nowarn': I(0, 0, 'ifconfig options are checked when applied'),
  'route-delay': I(0, 2, 'routes are added as soon as the tunnel is up'),
  'max-routes': I(1, 1, 'obsolete'),
  'allow-recursive-routing': I(0, 0, 'ovpn-ts does not drop recursive routes'),
  iproute: I(1, 1, 'ovpn-ts configures the network itself'),
  'route-method': I(1, 1, WINDOWS),
  'ip-win32': I(1, 3, WINDOWS),
  'block-outside-dns': I(0, 0, WINDOWS),
  'register-dns': I(0, 0, WINDOWS),
  'dhcp-renew': I(0, 0, WINDOWS),
  'dhcp-release': I(0, 0, WINDOWS),
  'tap-sleep': I(1, 1, WINDOWS),
  'windows-driver': I(1, 1, WINDOWS),
  'win-sys': I(1, 1, WINDOWS),
  'disable-dco': I(0, 0, 'ovpn-ts is itself the data channel offload'),
  // scripts
  'script-security': H(1, 1),
  up: H(1, 1),
  down: H(1, 1),
  'route-up': H(1, 1),
  'route-pre-down': H(1, 1),
  ipchange: H(1, 1),
  'down-pre': H(0, 0),
  'up-restart': H(0, 0),
  'up-delay': I(0, 0, 'the TUN device is opened after the tunnel is up anyway'),
  plugin: R(1, MANY, 'plugins are not supported'),
  // process and logging
  verb: H(1, 1),
  mute: I(1, 1, LOGGING),
  log: H(1, 1),
  'log-append': H(1, 1),
  daemon: H(0, 1),
  writepid: H(1, 1),
  syslog: I(0, 1, LOGGING),
  'suppress-timestamps': I(0, 0, LOGGING),
  'machine-readable-output': I(0, 0, LOGGING),
  'errors-to-stderr': I(0, 0, LOGGING),
  echo: I(0, MANY, 'echo is only for GUIs'),
  parameter: I(0, MANY, 'echo is only for GUIs'),
  status: I(1, 2, 'status is served by ovpnd'),
  'status-version': I(1, 1, 'status is served by ovpnd'),
  'persist-key': I(0, 0, 'keys are kept in memory across restarts anyway'),
  'persist-tun': H(0, 0),
  'persist-local-ip': I(0, 0, 'addresses are resolved at each connection attempt'),
  'persist-remote-ip': I(0, 0, 'addresses are resolved at each connection attempt'),
  user: I(1, 1, 'privileges belong to ovpnd, which runs the data plane'),
  group: I(1, 1, 'privileges belong to ovpnd, which runs the data plane'),
  chroot: I(1, 1, 'privileges belong to ovpnd, which runs the data plane'),
  nice: I(1, 1, 'the process priority is left alone'),
  mlock: I(0, 0, 'memory locking is not done'),
  management: I(2, 3, 'ovpn-ts has its own management interface (ovpnd)'),
  'management-hold': I(0, 0, 'ovpn-ts has its own management interface (ovpnd)'),
  'management-query-passwords': I(0, 0, 'ovpn-ts has its own management interface (ovpnd)'),
  'management-client': I(0, 0, 'ovpn-ts has its own management interface (ovpnd)'),
  'management-signal': I(0, 0, 'ovpn-ts has its own management interface (ovpnd)'),
  'management-up-down': I(0, 0, 'ovpn-ts has its own management interface (ovpnd)'),
  'management-forget-disconnect': I(0, 0, 'ovpn-ts has its own management interface (ovpnd)'),
  'management-log-cache': I(1, 1, 'ovpn-ts has its own management interface (ovpnd)'),
  'compat-mode': R(1, 1, 'compatibility with pre-2.4 peers (CBC data ciphers) is not supported'),
  'opt-verify': I(0, 0, 'deprecated; option strings are not compared'),
  shaper: R(1, 1, 'traffic shaping is not supported'),
  'client-nat': R(2, 4, NOT_SUPPORTED),
  'vlan-tagging': R(0, 0, 'only used with dev tap on a server'),
  // server side only
  server: R(2, 3, SERVER_ONLY),
  'server-ipv6': R(1, 1, SERVER_ONLY),
  'server-bridge': R(0, 4, SERVER_ONLY),
  push: R(1, 1, SERVER_ONLY),
  'push-reset': R(0, 0, SERVER_ONLY),
  'push-remove': R(1, 1, SERVER_ONLY),
  'ifconfig-pool': R(2, 3, SERVER_ONLY),
  'ifconfig-pool-persist': R(1, 2, SERVER_ONLY),
  'ifconfig-ipv6-pool': R(1, 1, SERVER_ONLY),
  'client-config-dir': R(1, 1, SERVER_ONLY),
  'client-to-client': R(0, 0, SERVER_ONLY),
  'duplicate-cn': R(0, 0, SERVER_ONLY),
  'max-clients': R(1, 1, SERVER_ONLY),
  'verify-client-cert': R(1, 1, SERVER_ONLY),
  'auth-user-pass-verify': R(2, 2, SERVER_ONLY),
  'client-connect': R(1, 1, SERVER_ONLY),
  'client-disconnect': R(1, 1, SERVER_ONLY),
  'learn-address': R(1, 1, SERVER_ONLY),
  'auth-gen-token': R(0, 4, SERVER_ONLY),
  'tls-crypt-v2-verify': R(1, 1, SERVER_ONLY),
  iroute: R(1, 2, SERVER_ONLY),
  'iroute-ipv6': R(1, 1, SERVER_ONLY),
  'username-as-common-name': R(0, 0, SERVER_ONLY),
  'connect-freq': R(2, 2, SERVER_ONLY),
  'single-session': R(0, 0, SERVER_ONLY),
};

export const DIRECTIVES: ReadonlyMap<string, DirectiveSpec> = new Map(Object.entries(TABLE));

/** The server's table: the shared entries, with the server-side ones of server-directives.ts over them. */
export const SERVER_DIRECTIVES: ReadonlyMap<string, DirectiveSpec> = new Map([
  ...Object.entries(TABLE),
  ...Object.entries(SERVER_OVERRIDES),
]);

/** A note for the log: ignored directives (verb >= 3) and tolerated unknown ones (always). */
export interface ConfigNote {
  level: 'warn' | 'info';
  /** Lowest verbosity at which the note is shown. */
  minVerb: number;
  file: string;
  line: number;
  directive: string;
  message: string;
}

/** A directive that passed the checks: honoured ones only (ignored ones became notes). */
export interface CheckedDirective extends Directive {
  spec: DirectiveSpec;
  /** The checked directives of a `<connection>` block. */
  checkedBlock?: CheckedDirective[];
}

export interface CheckResult {
  directives: CheckedDirective[];
  notes: ConfigNote[];
}

/** Number of parameters OpenVPN's p[] would hold after the name (an inline block is one). */
function paramCount(d: Directive): number {
  return d.inline !== undefined ? 1 : d.args.length;
}

function where(d: Directive): { file: string; line: number } {
  return { file: d.file, line: d.line };
}

/** OpenVPN's own wording, so that the message is recognisable. */
function unknownMessage(d: Directive, spec: DirectiveSpec | undefined): string {
  if (!spec) return 'unrecognized option';
  const n = paramCount(d);
  const want = spec.min === spec.max ? `${spec.min}` : `${spec.min} to ${spec.max}`;
  return `wrong number of parameters: ${n} given, ${want} expected`;
}

/**
 * Check a directive list (from read.ts, `config` includes already expanded) against the table,
 * as add_option would: `setenv opt` unwrapping, `ignore-unknown-option` from that point on,
 * `<connection>` contents, inline permissions, parameter counts. Throws a ConfigError at the first
 * refused or unknown directive.
 */
export function checkDirectives(
  list: readonly Directive[],
  role: 'client' | 'server' = 'client',
): CheckResult {
  const notes: ConfigNote[] = [];
  const table = role === 'server' ? SERVER_DIRECTIVES : DIRECTIVES;
  const directives = checkList(list, notes, false, table);
  return { directives, notes };
}

function checkList(
  list: readonly Directive[],
  notes: ConfigNote[],
  inConnection: boolean,
  table: ReadonlyMap<string, DirectiveSpec>,
): CheckedDirective[] {
  const ignoreUnknown = new Set<string>();
  const out: CheckedDirective[] = [];
  for (const raw of list) {
    let d = raw;
    let tolerant = false;
    // add_option: `setenv opt X ...` is X, with an unknown X only a warning (not in pushes).
    if (d.name === 'setenv' && d.args[0] === 'opt' && d.inline === undefined) {
      tolerant = true;
      d = { ...d, name: d.args[1] ?? 'setenv opt', args: d.args.slice(2) };
    }
    if (d.truncated) {
      notes.push(
        note(d, 'warn', 0, 'more than 16 parameters on the line: the rest was ignored, as OpenVPN does'),
      );
    }
    const spec = table.get(d.name);
    const n = paramCount(d);
    const arityOk = spec !== undefined && n >= spec.min && n <= spec.max && !emptyNameArg(d);
    if (!spec || !arityOk) {
      if (tolerant || ignoreUnknown.has(d.name)) {
        notes.push(
          note(
            d,
            'warn',
            0,
            `${unknownMessage(d, spec)}; ignored (${tolerant ? 'setenv opt' : 'ignore-unknown-option'})`,
          ),
        );
        continue;
      }
      throw new ConfigError(where(d), unknownMessage(d, spec), d.name);
    }
    if (inConnection && !spec.connection) {
      throw new ConfigError(where(d), 'cannot be used inside a <connection> block', d.name);
    }
    if (d.inline !== undefined && !spec.inline) {
      throw new ConfigError(where(d), `cannot be given as an inline block <${d.name}>`, d.name);
    }
    if (spec.disposition === 'refused') {
      throw new ConfigError(where(d), `refused: ${spec.reason}`, d.name);
    }
    if (spec.disposition === 'ignored') {
      notes.push(note(d, spec.warn ? 'warn' : 'info', spec.warn ? 0 : 3, `ignored: ${spec.reason}`));
      continue;
    }
    if (d.name === 'ignore-unknown-option') {
      // A `--name` parameter is accepted too (options.c add_option).
      for (const a of d.args) ignoreUnknown.add(a.startsWith('--') ? a.slice(2) : a);
    }
    const checked: CheckedDirective = { ...d, spec };
    if (d.name === 'connection') {
      checked.checkedBlock = checkList(d.block ?? [], notes, true, table);
    }
    out.push(checked);
  }
  return out;
}

/** `verify-x509-name ""` is a parameter-count failure in OpenVPN (its test is `strlen(p[1])`). */
function emptyNameArg(d: Directive): boolean {
  return d.name === 'verify-x509-name' && d.args[0] === '';
}

function note(d: Directive, level: 'warn' | 'info', minVerb: number, message: string): ConfigNote {
  return { level, minVerb, file: d.file, line: d.line, directive: d.name, message };
}

/** Text for a directive in messages: name and parameters, bounded. */
export function describeDirective(d: Directive): string {
  return [d.name, ...d.args].map((a) => (/[\s"'\\]/.test(a) || a === '' ? quoteForMessage(a) : a)).join(' ');
}

/**
 * The server-side directive table: what differs from the client's (directives.ts), which it is laid
 * over (`SERVER_DIRECTIVES`). Same meaning of honoured / ignored / refused; honoured ones are read by
 * server-options-build.ts into ServerOptions.
 *
 * Parameter counts follow OpenVPN 2.6's add_option. Directives 2.6 only accepts in a
 * client-config-dir file or a client-connect script's output (OPT_P_INSTANCE: `iroute`,
 * `ifconfig-push`, `push-reset`, `push-remove`, `disable`...) are refused in the server config, as
 * 2.6 refuses them there ("cannot be used in this context").
 *
 * Choices where 2.6 would do something we do not:
 * - `user` / `group` are ignored with a warning shown at every verbosity: the server keeps the
 *   privileges it was started with (it must keep creating routes and addresses for clients as they
 *   come and go); refusing them would reject most Debian-style configs for a hardening step, and
 *   the warning says plainly that no privileges were dropped. `chroot` is refused: it changes where
 *   later paths (CRL, ccd files, scripts) are found.
 * - `management` is ignored, as for the client: ovpn-ts has its own control interface;
 *   `management-client-auth` is refused since it changes who decides on a client's login.
 */
import { type DirectiveSpec, H, I, R } from './directive-spec.js';

const IN = { inline: true } as const;
const MANY = 15;

const CLIENT_ONLY = 'a client-side option; this is a server config';
const PER_CLIENT =
  'only allowed in a client-config-dir file or client-connect output (OpenVPN: cannot be used in this context)';
const NOT_ON_SERVER = 'cannot be used with mode server';
const NOT_YET = 'not supported on the server yet';

export const SERVER_OVERRIDES: Record<string, DirectiveSpec> = {
  // roles
  client: R(0, 0, 'a client option: --server/--mode server and --client cannot be used together'),
  pull: R(0, 0, '--pull cannot be used with --mode server'),
  'tls-client': R(0, 0, 'specify only one of --tls-server, --tls-client'),
  'tls-server': H(0, 0),
  connection: R(1, 1, '<connection> cannot be used with --mode server', IN),
  // transport
  remote: R(1, 3, '--remote cannot be used with --mode server'),
  rport: I(1, 1, 'the remote port of a client is wherever it connects from'),
  lport: H(1, 1),
  local: H(1, 1),
  bind: H(0, 1),
  nobind: R(0, 0, "--nobind doesn't make sense unless used with --remote (a server listens)"),
  float: I(0, 0, 'a server follows each client to its new address when its packets authenticate'),
  'remote-random': I(0, 0, CLIENT_ONLY),
  'resolv-retry': I(1, 1, CLIENT_ONLY),
  'connect-retry': I(1, 2, CLIENT_ONLY),
  'connect-retry-max': I(1, 1, CLIENT_ONLY),
  'connect-timeout': I(1, 1, CLIENT_ONLY),
  'server-poll-timeout': I(1, 1, CLIENT_ONLY),
  'tcp-nodelay': H(0, 0),
  'port-share': R(2, 3, 'sharing the TCP port with another server is not supported'),
  // timers
  'ping-exit': R(1, 1, `${NOT_YET}: use keepalive (clients silent too long are dropped)`),
  'ping-timer-rem': I(0, 0, 'a server has no remote address until a client connects'),
  'tls-exit': I(0, 0, CLIENT_ONLY),
  // TLS
  dh: H(1, 1, IN),
  'tls-verify': H(1, 1),
  'peer-fingerprint': R(1, 1, NOT_YET, IN),
  'x509-username-field': R(1, MANY, `${NOT_YET}: the common name is the client's username`),
  'tls-crypt-v2-verify': H(1, 1),
  'client-cert-not-required': R(0, 0, "removed in OpenVPN 2.5: use 'verify-client-cert none'"),
  // authentication
  'auth-user-pass': R(0, 1, '--auth-user-pass cannot be used with --mode server (client side only)', IN),
  'auth-retry': I(1, 1, CLIENT_ONLY),
  'auth-nocache': I(0, 0, CLIENT_ONLY),
  'auth-token': R(1, 1, 'a pushed client option: the server makes tokens with auth-gen-token'),
  'auth-token-user': R(1, 1, 'a pushed client option: the server makes tokens with auth-gen-token'),
  'static-challenge': I(2, 2, CLIENT_ONLY),
  'push-peer-info': I(0, 0, CLIENT_ONLY),
  'verify-client-cert': H(0, 1),
  'auth-user-pass-verify': H(2, 2),
  'username-as-common-name': H(0, 0),
  'auth-user-pass-optional': H(0, 0),
  'auth-gen-token': H(0, 3),
  'auth-gen-token-secret': H(1, 1, IN),
  'management-client-auth': R(0, 0, 'client authentication through a management interface is not supported'),
  // the server helpers and the multi-client server
  mode: H(1, 1),
  server: H(2, 3),
  'server-ipv6': H(1, 1),
  'server-bridge': R(0, 4, 'bridging (dev tap) is not supported; ovpn-ts is layer 3 only'),
  push: H(1, 1),
  'push-reset': R(0, 0, PER_CLIENT),
  'push-remove': R(1, 1, PER_CLIENT),
  iroute: R(1, 2, PER_CLIENT),
  'iroute-ipv6': R(1, 1, PER_CLIENT),
  'ifconfig-push': R(1, 3, PER_CLIENT),
  'ifconfig-ipv6-push': R(1, 2, PER_CLIENT),
  disable: R(0, 0, PER_CLIENT),
  'ifconfig-pool': H(2, 3),
  'ifconfig-pool-persist': H(1, 2),
  'ifconfig-ipv6-pool': H(1, 1),
  'ifconfig-pool-linear': R(0, 0, 'removed from OpenVPN'),
  'client-config-dir': H(1, 1),
  'ccd-exclusive': H(0, 0),
  'client-to-client': H(0, 0),
  'duplicate-cn': H(0, 0),
  'max-clients': H(1, 1),
  'connect-freq': H(2, 2),
  'connect-freq-initial': H(2, 2),
  'single-session': R(0, 0, NOT_YET),
  'max-routes-per-client': I(1, 1, 'learned routes are only those of iroute and the client addresses'),
  'hash-size': I(2, 2, 'client tables grow as needed'),
  'bcast-buffers': I(1, 1, 'buffers are sized by ovpn-ts'),
  'stale-routes-check': R(1, 2, NOT_YET),
  // routing and network on the server
  'route-metric': R(1, 1, NOT_YET),
  'redirect-gateway': R(0, MANY, `${NOT_ON_SERVER} (push "redirect-gateway ..." is fine)`),
  'redirect-private': R(0, MANY, `${NOT_ON_SERVER} (push "redirect-private ..." is fine)`),
  'route-nopull': I(0, 0, 'a server pulls nothing'),
  'pull-filter': I(2, 2, 'a server pulls nothing'),
  'allow-pull-fqdn': I(0, 0, 'a server pulls nothing'),
  'dhcp-option': I(1, 2, 'configures a Windows adapter only; push it to clients with push "dhcp-option ..."'),
  dns: R(2, MANY, `${NOT_YET}: push "dns ..." to clients instead`),
  'block-ipv6': R(0, 0, NOT_YET),
  'route-noexec': R(0, 0, NOT_YET),
  'ifconfig-noexec': R(0, 0, NOT_YET),
  'route-delay': R(0, 2, '--route-delay cannot be used with --mode server'),
  'allow-recursive-routing': R(0, 0, '--allow-recursive-routing cannot be used with --mode server'),
  // scripts
  'client-connect': H(1, 1),
  'client-disconnect': H(1, 1),
  'learn-address': H(1, 1),
  'tmp-dir': H(1, 1),
  'route-up': R(1, 1, NOT_YET),
  'route-pre-down': R(1, 1, NOT_YET),
  ipchange: R(1, 1, '--ipchange cannot be used with --mode server, use --client-connect instead'),
  'down-pre': R(0, 0, NOT_YET),
  'up-restart': R(0, 0, NOT_YET),
  'up-delay': R(0, 0, '--up-delay cannot be used with --mode server'),
  // process and status
  status: H(1, 2),
  'status-version': H(1, 1),
  'persist-key': H(0, 0),
  user: I(1, 1, 'privileges are NOT dropped: the server keeps running as the user that started it', {
    warn: true,
  }),
  group: I(1, 1, 'privileges are NOT dropped: the server keeps running as the group that started it', {
    warn: true,
  }),
  chroot: R(1, 1, `${NOT_YET}: it would change where later paths (crl-verify, client-config-dir) are found`),
};

/**
 * The typed options of an ovpn-ts server (`mode server` / `server` / `tls-server`), from a server
 * config as OpenVPN 2.6 reads it. Defaults are 2.6's (options.c init_options; helper.c
 * helper_client_server, helper_keepalive, helper_tcp_nodelay; options.c options_postprocess_*).
 *
 * The `server` and `server-ipv6` helpers are expanded here, as 2.6's helper.c does, into the fields
 * below (ifconfig, pool, push of route-gateway/topology/ifconfig-ipv6...), so the server shell never
 * sees the helpers themselves.
 *
 * This file holds the interface the server shell (src/openvpn/server/) is written against; the
 * builder (`buildServerOptions`) fills it from checked directives.
 */
import type { CompressionFraming, FileRef, TlsWrap } from './client-options.js';
import type { ConfigNote } from './directives.js';

/** An IPv4 network: address and prefix length. */
export interface Ipv4Net {
  /** Dotted quad. */
  address: string;
  prefix: number;
}

/** An IPv6 network: address and prefix length. */
export interface Ipv6Net {
  address: string;
  prefix: number;
}

/** Where a directive was written, for messages. */
export interface At {
  file: string;
  line: number;
}

export interface ServerListen {
  /** `proto udp|udp4|udp6` or `tcp-server|tcp|tcp4|tcp6` (on a server `tcp` means tcp-server). */
  proto: 'udp' | 'tcp';
  /**
   * The address family: 4 (`udp4`/`tcp4`, or `local` an IPv4 address), 6 (`udp6`/`tcp6`, or `local`
   * an IPv6 address), or 'dual' (2.6's default for a server without `local`: an IPv6 socket with
   * IPV6_V6ONLY off, so IPv4 clients arrive as ::ffff:a.b.c.d; `bind ipv6only` makes it 6).
   */
  family: 4 | 6 | 'dual';
  /** `local` (undefined: any address). */
  local: string | undefined;
  /**
   * `bind ipv6only` on an IPv6 socket: IPV6_V6ONLY on. Without it 2.6's IPv6 sockets (`udp6` too)
   * take IPv4 peers as well.
   */
  ipv6only?: boolean;
  /** `port` / `lport`; default 1194. */
  port: number;
}

export interface ServerOptions {
  listen: ServerListen;
  /** `dev` (e.g. `tun0`, `tun` = first free tunN). */
  dev: string;
  /** `dev-type`: only tun (tap is refused, `dev null` refused on a server). */
  devType: 'tun';
  /** `topology`: net30 is 2.6's default (also for a server); p2p with `server` is expanded as net30 without the pushed route, as 2.6 does. */
  topology: 'net30' | 'subnet' | 'p2p';
  tunMtu: number;
  mssfix: { value: number; mode: 'default' | 'plain' | 'mtu' | 'fixed' };

  /**
   * The server's own tunnel address (from `server` or `ifconfig`): in subnet topology its address and
   * the netmask as a prefix length in decimal (`remoteOrPrefix: '24'`); in net30/p2p its local address
   * and the remote end as a dotted quad (`ifconfig local remote`).
   */
  ifconfig: { local: string; remoteOrPrefix: string; topology: 'net30' | 'subnet' | 'p2p' } | undefined;
  /** The server's own IPv6 tunnel address (`server-ipv6` / `ifconfig-ipv6`). */
  ifconfigIpv6: Ipv6Net | undefined;
  /** `ifconfig-pool start end [netmask]` (or from `server`); undefined: no dynamic pool. */
  pool: { start: string; end: string; netmask: string | undefined } | undefined;
  /** `ifconfig-ipv6-pool base/bits` (or from `server-ipv6`). */
  poolIpv6: Ipv6Net | undefined;
  /** `ifconfig-pool-persist file [seconds]` (seconds default 600; 0 = read once, never rewritten). */
  poolPersist: { ref: FileRef & { kind: 'path' }; seconds: number } | undefined;
  /** `duplicate-cn`: several clients with one common name (each gets its own address). */
  duplicateCn: boolean;
  /** `max-clients` (default 1024). */
  maxClients: number;
  /** `client-to-client`: client packets to another client's address go straight to it. */
  clientToClient: boolean;
  /** `client-config-dir` (a directory path). */
  clientConfigDir: string | undefined;
  ccdExclusive: boolean;
  /** `route` lines of the server config: routes on the server (iroutes must be covered by one). */
  routes: {
    network: string;
    netmask: string;
    gateway: string | undefined;
    metric: number | undefined;
    at: At;
  }[];
  routesIpv6: { network: Ipv6Net; gateway: string | undefined; metric: number | undefined; at: At }[];
  /**
   * `route-gateway` for server routes without a gateway. With `server` in subnet topology and no
   * `route-gateway`, 2.6 (helper.c) sets network+2 (an address in the tunnel subnet, e.g. 10.8.0.2);
   * the pushed `route-gateway` is the server's own network+1 (in `push`). Net30: undefined (the
   * routes go to the ifconfig remote end).
   */
  routeGateway: string | undefined;

  /**
   * `push "..."` options in order (the text inside the quotes), after `push-reset`/`push-remove` and
   * with those the helpers add (`route-gateway`, `topology`, `ping`, `ping-restart`...). What the shell
   * adds per client (ifconfig, ifconfig-ipv6, peer-id, cipher, auth-token) is not in here.
   */
  push: string[];

  // TLS and certificates
  ca: FileRef | undefined;
  capath: string | undefined;
  cert: FileRef | undefined;
  key: FileRef | undefined;
  extraCerts: FileRef | undefined;
  pkcs12: FileRef | undefined;
  askpass: FileRef | 'prompt' | undefined;
  /** `dh` (none or a file; ovpn-ts uses ECDHE only, so a file is read and ignored). */
  dh: FileRef | 'none' | undefined;
  /** `verify-client-cert none|optional|require` (default require). */
  verifyClientCert: 'none' | 'optional' | 'require';
  remoteCertTls: 'client' | 'server' | undefined;
  remoteCertEku: string | undefined;
  remoteCertKu: number[] | 'required' | undefined;
  nsCertType: 'server' | 'client' | undefined;
  verifyX509Name: { name: string; type: 'subject' | 'name' | 'name-prefix' } | undefined;
  crlVerify: { ref: FileRef; dir: boolean } | undefined;
  tlsVersionMin: '1.0' | '1.1' | '1.2' | '1.3';
  tlsVersionMax: '1.0' | '1.1' | '1.2' | '1.3' | undefined;
  tlsCipher: string | undefined;
  tlsCiphersuites: string | undefined;
  tlsGroups: string | undefined;
  tlsCertProfile: string | undefined;
  /** tls-auth (with its key-direction, normally 0 on a server), tls-crypt or tls-crypt-v2 (server key). */
  tlsWrap: TlsWrap | undefined;
  /** `tls-crypt-v2-verify cmd`: run with the client key's metadata before the session is created. */
  tlsCryptV2Verify: string | undefined;
  /** `tls-crypt-v2` `force-cookie` (default) or `allow-noncookie`. */
  tlsCryptV2ForceCookie: boolean;

  // Data channel
  /** Negotiable data ciphers, normalised, AEAD only. */
  dataCiphers: string[];
  /** `data-ciphers-fallback` for clients that announce no IV_CIPHERS/IV_NCP (2.3-2.4 style). */
  dataCiphersFallback: string | undefined;
  cipher: string | undefined;
  /** `auth`: the HMAC digest of tls-auth. */
  auth: string;
  compression: CompressionFraming;
  allowCompression: 'no' | 'asym' | 'yes' | undefined;
  renegSec: number;
  renegBytes: number;
  renegPkts: number;
  handWindow: number;
  tranWindow: number;
  tlsTimeout: number;

  // Liveness
  /**
   * `keepalive a b` on a server: we ping every `a` s, a client silent for `2b` s is dropped
   * (`pingRecvTimeout`), and `ping a` / `ping-restart b` are pushed (in `push`).
   */
  ping: number;
  pingRecvTimeout: number;
  /** `explicit-exit-notify N`: on exit, RESTART is sent to every client (N > 0). */
  explicitExitNotify: number;

  // Authentication of users
  /** `auth-user-pass-verify cmd via-file|via-env`. */
  authUserPassVerify: { command: string; method: 'via-file' | 'via-env'; at: At } | undefined;
  /** `verify-client-cert none` with a password: the username is the common name. */
  usernameAsCommonName: boolean;
  /** `auth-user-pass-optional`: clients without a username are let in. */
  authUserPassOptional: boolean;
  /** `auth-gen-token [lifetime] [renewal] [external-auth]`: seconds (0 = no expiry). */
  authGenToken: { lifetime: number; renewal: number | undefined; externalAuth: boolean } | undefined;
  /** `auth-gen-token-secret`: the HMAC key file (PEM "OpenVPN auth-token server key"). */
  authGenTokenSecret: FileRef | undefined;

  // Scripts
  scriptSecurity: number;
  /** `up`, `down`, `client-connect`, `client-disconnect`, `learn-address`, `tls-verify`. */
  scripts: {
    up?: string;
    down?: string;
    clientConnect?: string;
    clientDisconnect?: string;
    learnAddress?: string;
    tlsVerify?: string;
  };
  /** `tmp-dir` for via-file and client-connect's output file (default $TMPDIR or /tmp). */
  tmpDir: string;

  // Rate limits
  /** `connect-freq n sec`: at most n new sessions per sec seconds (undefined: no limit). */
  connectFreq: { n: number; seconds: number } | undefined;
  /** `connect-freq-initial n sec` (2.6 default 100 per 10 s): stateless cookie replies. */
  connectFreqInitial: { n: number; seconds: number };

  // Status and logs
  /** `status file [seconds]` (default 60 s). */
  status: { ref: FileRef & { kind: 'path' }; seconds: number } | undefined;
  /** `status-version 1|2|3` (default 1). */
  statusVersion: 1 | 2 | 3;
  verb: number;
  log: { ref: FileRef & { kind: 'path' }; append: boolean } | undefined;
  daemon: string | true | undefined;
  writepid: (FileRef & { kind: 'path' }) | undefined;
  persistTun: boolean;
  persistKey: boolean;
  setenv: Map<string, string>;
  notes: ConfigNote[];
}

/**
 * What a client-config-dir file (or a client-connect script's output file) says for one client
 * (2.6 options.c with OPT_P_INSTANCE: the directives allowed there; multi.c multi_client_connect_*).
 */
export interface ClientConfig {
  /** `disable`: the client is refused. */
  disable: boolean;
  /** `ifconfig-push local remote-netmask [alias]` (subnet: address and netmask; net30: local, remote). */
  ifconfigPush: { local: string; remoteNetmask: string; alias?: string } | undefined;
  /** `ifconfig-ipv6-push address/bits [remote]`. */
  ifconfigIpv6Push: { address: Ipv6Net; remote: string | undefined } | undefined;
  /** `iroute network [netmask]`: networks behind this client. */
  iroutes: Ipv4Net[];
  /** `iroute-ipv6 network/bits`. */
  iroutesIpv6: Ipv6Net[];
  /** `push-reset`: the server's push list is not sent to this client. */
  pushReset: boolean;
  /** `push-remove opt`: server push options starting with these words are left out. */
  pushRemove: string[];
  /** `push "..."` added for this client (after the server's, unless push-reset). */
  push: string[];
  /** Anything else honoured per client (e.g. `echo`, `setenv`), kept as written. */
  other: { name: string; args: string[]; at: At }[];
}

/**
 * The directive tables of docs/server.md, rendered from the server's config table
 * (config/directives.ts SERVER_DIRECTIVES, laid over by config/server-directives.ts) and from what the
 * server does with each honoured directive today (SERVER_USE below). A unit test compares the page
 * with this rendering; `npm run gen:server-doc` rewrites the part of the page between the markers.
 */
import { SERVER_DIRECTIVES } from '../config/directives.js';

export const SERVER_BEGIN_MARK =
  '<!-- directive tables: generated from src/config/server-directives.ts and src/openvpn/server-doc.ts -->';
export const SERVER_END_MARK = '<!-- end of generated directive tables -->';

type Use = { use: 'used' | 'parsed'; note?: string };
const used = (note?: string): Use => ({ use: 'used', note });
const parsed = (note: string): Use => ({ use: 'parsed', note });

/**
 * For each directive a server config may honour (read into ServerOptions): whether the server acts
 * on it (`used`, with a precision when only partly) or only reads it (`parsed`, saying what is
 * missing). Kept honest against src/openvpn/server/; a test fails when a honoured directive has no
 * entry here.
 */
export const SERVER_USE: Record<string, Use> = {
  'allow-compression': used('as for the client: real compression is refused'),
  askpass: used(
    'the password of an encrypted `key` or `pkcs12`: the first line of the file, else asked on the terminal',
  ),
  auth: used('the HMAC digest of tls-auth'),
  'auth-gen-token': used(),
  'auth-gen-token-secret': used(),
  'auth-user-pass-optional': used(),
  'auth-user-pass-verify': used(
    '`via-file` and `via-env`; exit 0 accepts; deferred authentication (exit 2) is a refusal',
  ),
  bind: used('`ipv6only` makes an IPv6 listener IPv6-only'),
  ca: used(),
  capath: parsed('not supported: give the CAs with `ca`'),
  'ccd-exclusive': used(),
  cd: used(),
  cert: used(),
  cipher: used('the fallback for clients that do not negotiate, when `data-ciphers-fallback` is not set'),
  'client-config-dir': used(),
  'client-connect': used('its output file is read as a ccd file, after the ccd file'),
  'client-disconnect': used(),
  'client-to-client': used('the data plane sends a packet for another client straight to it'),
  'comp-lzo': used(
    "`comp-lzo no`: the framing of every client's data in the data plane; real compression is refused",
  ),
  compress: used('framing only (`compress`, `stub`, `stub-v2`)'),
  config: used(),
  'connect-freq': used(),
  'connect-freq-initial': used(),
  'crl-verify': used('file (re-read when it changes) and `dir`'),
  daemon: parsed('not yet: the server stays in the foreground'),
  'data-ciphers': used('AEAD ciphers only; each client gets the first of these it offers'),
  'data-ciphers-fallback': used(),
  dev: used(),
  'dev-type': used('`tun` only'),
  dh: used('read and ignored: the TLS key exchange is ECDHE'),
  down: used("after the tun is gone, with 2.6's arguments and environment (`signal` set)"),
  'duplicate-cn': used('without it a new session drops the older ones of its common name, as 2.6 does'),
  'explicit-exit-notify': used(
    'RESTART (`RESTART,[N]` with 2) to every UDP client at exit and at SIGUSR1/SIGHUP',
  ),
  'extra-certs': used(),
  'hand-window': used(),
  ifconfig: used(),
  'ifconfig-ipv6': used(),
  'ifconfig-ipv6-pool': used(),
  'ifconfig-pool': used(),
  'ifconfig-pool-persist': used(),
  'ignore-unknown-option': used(),
  keepalive: used('pings every a s, drops a client silent for 2b s, pushes `ping a` and `ping-restart b`'),
  key: used(),
  'key-direction': used(),
  'learn-address': used(),
  local: used(),
  log: used(),
  'log-append': used(),
  lport: used(),
  'max-clients': used(),
  mode: used('`server`'),
  mssfix: used("the MSS clamp of every client's peer in the data plane, computed as 2.6 does"),
  'ncp-ciphers': used('the old name of `data-ciphers`'),
  'ns-cert-type': used(),
  'persist-key': parsed('keys and certificates are read again at each restart'),
  'persist-tun': parsed('SIGUSR1 and SIGHUP make the device again'),
  ping: used(),
  'ping-restart': used(),
  pkcs12: used(),
  port: used(),
  proto: used('`udp`, `tcp-server` (and `tcp`), with `4`/`6`; one protocol per process, as 2.6'),
  push: used(),
  'remote-cert-eku': used(),
  'remote-cert-ku': used(),
  'remote-cert-tls': used('`client`: key usage present and the clientAuth EKU'),
  'reneg-bytes': used("per client, counted on its peer's link counters (both ways) polled once a second"),
  'reneg-pkts': used('per client, as `reneg-bytes`'),
  'reneg-sec': used(),
  route: used('added on the server; iroutes need one that covers them'),
  'route-gateway': used(),
  'route-ipv6': used(),
  'script-security': used(),
  server: used('expanded as 2.6 does for net30, subnet and p2p topologies'),
  'server-ipv6': used(),
  setenv: used('reaches the scripts'),
  'setenv-safe': used(),
  status: used(),
  'status-version': used('1, 2 and 3, byte for byte as 2.6 writes them'),
  'tcp-nodelay': used('pushed as `socket-flags TCP_NODELAY`'),
  'tls-auth': used(),
  'tls-cert-profile': parsed('not applied on the server yet'),
  'tls-cipher': used(),
  'tls-ciphersuites': used(),
  'tls-crypt': used(),
  'tls-crypt-v2': used('`force-cookie` (default) and `allow-noncookie`'),
  'tls-crypt-v2-verify': used(),
  'tls-groups': used(),
  'tls-server': used(),
  'tls-timeout': used(),
  'tls-verify': used(),
  'tls-version-max': used(),
  'tls-version-min': used(),
  'tmp-dir': used(),
  topology: used('`net30` (the default, as in 2.6), `subnet`, `p2p`'),
  'tran-window': used(),
  'tun-mtu': used(),
  up: used(
    "after the tun's addresses, before its routes, with 2.6's arguments and environment; a failure ends the server",
  ),
  'username-as-common-name': used(),
  verb: used(),
  'verify-client-cert': used('`none`, `optional`, `require`'),
  'verify-x509-name': used(),
  writepid: used(),
};

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function renderServerDirectiveTables(): string {
  const names = [...SERVER_DIRECTIVES.keys()].sort();
  const by = (d: 'honoured' | 'ignored' | 'refused') =>
    names.filter((n) => SERVER_DIRECTIVES.get(n)?.disposition === d);
  const out: string[] = [SERVER_BEGIN_MARK, ''];
  const honoured = by('honoured');
  out.push(`### Supported (${honoured.length})`, '');
  out.push(
    'Read into the server options. **used**: the server acts on it; **parsed only**: accepted and',
    'checked, but the server does not act on it yet.',
    '',
    '| directive | server | note |',
    '|---|---|---|',
  );
  for (const n of honoured) {
    const u = SERVER_USE[n];
    out.push(
      `| \`${n}\` | ${u === undefined ? '?' : u.use === 'used' ? 'used' : 'parsed only'} | ${cell(u?.note ?? '')} |`,
    );
  }
  const ignored = by('ignored');
  out.push('', `### Ignored (${ignored.length})`, '');
  out.push(
    'Accepted with a note in the log (at verb 3 and above, or always when it matters); no effect.',
    '',
  );
  out.push('| directive | why |', '|---|---|');
  for (const n of ignored) out.push(`| \`${n}\` | ${cell(SERVER_DIRECTIVES.get(n)?.reason ?? '')} |`);
  const refused = by('refused');
  out.push('', `### Refused (${refused.length})`, '');
  out.push('A config error naming the file, line and directive; ovpn-ts exits 1.', '');
  out.push('| directive | why |', '|---|---|');
  for (const n of refused) out.push(`| \`${n}\` | ${cell(SERVER_DIRECTIVES.get(n)?.reason ?? '')} |`);
  out.push('', SERVER_END_MARK);
  return `${out.join('\n')}\n`;
}

/** `page` with its generated part replaced by the current rendering. */
export function updateServerDoc(page: string): string {
  const a = page.indexOf(SERVER_BEGIN_MARK);
  const b = page.indexOf(SERVER_END_MARK);
  if (a < 0 || b < a) throw new Error('docs/server.md: the generated-table markers are missing');
  return page.slice(0, a) + renderServerDirectiveTables() + page.slice(b + SERVER_END_MARK.length + 1);
}

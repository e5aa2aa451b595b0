/**
 * The directive tables of docs/client.md, rendered from the config table (config/directives.ts) and
 * from what the client does with each honoured directive today (CLIENT_USE below). A unit test
 * compares the page with this rendering; `npm run gen:client-doc` rewrites
 * the part of the page between the markers.
 */
import { DIRECTIVES } from '../config/directives.js';

export const BEGIN_MARK =
  '<!-- directive tables: generated from src/config/directives.ts and src/openvpn/client-doc.ts -->';
export const END_MARK = '<!-- end of generated directive tables -->';

/**
 * For each directive the config language honours (reads into ClientOptions): whether the client
 * acts on it (`used`, with a precision when only partly) or only parses it (`parsed`, saying what
 * is missing). Kept honest against src/openvpn/client.ts and main.ts; a test fails when a honoured
 * directive has no entry here.
 */
export const CLIENT_USE: Record<string, { use: 'used' | 'parsed'; note?: string }> = {
  config: { use: 'used' },
  connection: { use: 'used', note: 'tried in order; the next block after a failed attempt' },
  'ignore-unknown-option': { use: 'used' },
  setenv: { use: 'used', note: 'the variables reach the scripts (`setenv opt` works too)' },
  'setenv-safe': { use: 'used', note: "as `OPENVPN_name` in the scripts' environment" },
  cd: { use: 'used' },
  client: { use: 'used' },
  pull: { use: 'used' },
  'tls-client': { use: 'used' },
  mode: { use: 'used', note: '`p2p` only' },
  dev: { use: 'used', note: 'the device is created with this name as written (`dev tun` makes `tun`)' },
  'dev-type': { use: 'used', note: '`tun` only' },
  topology: { use: 'used', note: 'the pushed topology wins' },
  'tun-mtu': {
    use: 'used',
    note: "the pushed value wins (at most 1600, 2.6's tun-mtu-max default; below 100 refused)",
  },
  mssfix: {
    use: 'used',
    note: 'the MSS clamp of TCP SYNs both ways in the data plane, computed as 2.6 does (default `1492 mtu` at tun-mtu 1500)',
  },
  proto: {
    use: 'used',
    note: "`udp`, `tcp`/`tcp-client`, and their `4`/`6` forms; without a family a name resolves to IPv4 and IPv6, taken in the resolver's order (TCP: each address until one connects; UDP: the first)",
  },
  remote: {
    use: 'used',
    note: 'tried in order, the next after a failed attempt (UDP: the first address of a name)',
  },
  port: { use: 'used' },
  rport: { use: 'used' },
  float: { use: 'parsed' },
  'remote-random': { use: 'used', note: 'the list is shuffled once at start' },
  'resolv-retry': {
    use: 'used',
    note: 'a lookup every 5 s for n seconds; infinite: the next remote; 0: fatal',
  },
  'connect-retry': {
    use: 'used',
    note: 'the pause, doubled per round of the list beyond the fifth, up to the max',
  },
  'connect-retry-max': { use: 'used', note: 'exit 1 after that many rounds of the list' },
  'connect-timeout': {
    use: 'used',
    note: 'bounds each TCP connect; and as server-poll-timeout: no answer in time, the next remote at once',
  },
  'server-poll-timeout': { use: 'used', note: 'no answer in time: the next remote at once' },
  'explicit-exit-notify': {
    use: 'used',
    note: 'the control-channel EXIT (cc-exit), acked or N seconds; the data-channel OCC_EXIT is not sent',
  },
  ping: { use: 'used', note: 'the data plane keepalive; a pushed ping wins' },
  'ping-restart': {
    use: 'used',
    note: 'the data plane keepalive; a pushed one wins; reconnects to the same remote',
  },
  'ping-exit': { use: 'used', note: 'exit 0 on timeout, unless the server pushes ping-restart' },
  'ping-timer-rem': { use: 'parsed' },
  keepalive: { use: 'used', note: 'as ping and ping-restart; pushed values win' },
  ca: { use: 'used', note: 'the only trusted CAs (not the system roots)' },
  capath: { use: 'parsed', note: 'not supported: the connection fails unless `ca` is given too' },
  cert: { use: 'used' },
  key: {
    use: 'used',
    note: 'an encrypted key: the password from `askpass FILE`, else asked on the terminal',
  },
  'extra-certs': { use: 'used', note: 'sent after the certificate' },
  pkcs12: {
    use: 'used',
    note: 'file or inline base64; its CA certificates are trusted when there is no `ca`',
  },
  askpass: {
    use: 'used',
    note: 'the first line of the file; without a file, asked on the terminal (once per process; again after SIGHUP)',
  },
  'tls-auth': { use: 'used' },
  'tls-crypt': { use: 'used' },
  'tls-crypt-v2': { use: 'used', note: 'client keys from `openvpn --genkey tls-crypt-v2-client`' },
  'key-direction': { use: 'used' },
  'remote-cert-tls': { use: 'used', note: 'key usage present and the serverAuth EKU, as 2.6' },
  'remote-cert-eku': { use: 'used', note: 'an OID or its OpenSSL long name' },
  'remote-cert-ku': { use: 'used' },
  'ns-cert-type': { use: 'used', note: 'deprecated in 2.6, still checked as 2.6 does' },
  'verify-x509-name': { use: 'used', note: '`subject`, `name` and `name-prefix`, on the server certificate' },
  'peer-fingerprint': { use: 'used', note: 'SHA-256; without `ca` the chain is not checked (as 2.6)' },
  'crl-verify': { use: 'used', note: 'PEM file (read at each connection) or `dir`; the whole chain, as 2.6' },
  'tls-version-min': { use: 'used' },
  'tls-version-max': { use: 'used' },
  'tls-cipher': { use: 'used', note: 'IANA names are translated to OpenSSL ones' },
  'tls-ciphersuites': { use: 'used' },
  'tls-groups': { use: 'used' },
  'tls-cert-profile': { use: 'used', note: 'as an OpenSSL security level, as 2.6 does' },
  'tls-timeout': { use: 'used' },
  'tls-exit': { use: 'parsed' },
  'hand-window': { use: 'used' },
  'tran-window': { use: 'used', note: 'the old key decrypts until it ends' },
  'reneg-sec': { use: 'used', note: 'client-initiated soft reset (and the max/min random reduction)' },
  'reneg-bytes': {
    use: 'used',
    note: "the peer's link bytes both ways since the key-id began, checked every second",
  },
  'reneg-pkts': {
    use: 'used',
    note: "the peer's link packets both ways since the key-id began, checked every second",
  },
  cipher: { use: 'used', note: 'as in 2.6: not negotiated, only noted' },
  'data-ciphers': { use: 'used' },
  'ncp-ciphers': { use: 'used' },
  'data-ciphers-fallback': { use: 'parsed', note: 'servers without cipher negotiation are not supported' },
  auth: { use: 'used', note: 'the tls-auth digest' },
  'comp-lzo': {
    use: 'used',
    note: '`no`: the 0xFA framing; `yes`/`adaptive` refused at connect unless the server pushes a stub',
  },
  compress: {
    use: 'used',
    note: 'none/`stub`/`stub-v2`: the framing; `lzo`/`lz4`/`lz4-v2` refused at connect unless the server pushes a stub',
  },
  'allow-compression': {
    use: 'used',
    note: '`no` refuses real compression in the profile; nothing is ever compressed',
  },
  'auth-user-pass': {
    use: 'used',
    note: 'file, inline, or asked on the terminal; a pushed auth-token replaces the password afterwards',
  },
  'auth-retry': {
    use: 'used',
    note: 'retries the same remote; `nointeract` after 10 s, as every restart with it',
  },
  'auth-nocache': { use: 'used' },
  'push-peer-info': { use: 'parsed', note: 'the basic peer info is always sent' },
  'route-nopull': { use: 'used', note: 'pushed routes, redirect-gateway and dhcp-option refused' },
  'pull-filter': { use: 'used', note: '`reject` fails the connection' },
  'allow-pull-fqdn': { use: 'parsed' },
  route: { use: 'used', note: 'from the profile and pushed; host names are not resolved' },
  'route-ipv6': { use: 'used', note: 'from the profile and pushed, through the device' },
  'route-gateway': { use: 'used', note: '`dhcp` (tap only) is ignored' },
  'route-metric': { use: 'used' },
  'redirect-gateway': {
    use: 'used',
    note: '`def1`, `ipv6`, `!ipv4`, `local`, `autolocal`; `block-local` ignored; `bypass-dhcp`/`bypass-dns` do nothing on Linux, as in OpenVPN',
  },
  'redirect-private': { use: 'used', note: 'the host route to the server' },
  'dhcp-option': {
    use: 'used',
    note: 'exported to scripts as `foreign_option_N`; ovpn-ts changes no DNS settings itself',
  },
  dns: {
    use: 'used',
    note: 'exported to scripts as `dns_server_N_*` and `dns_search_domain_N`, as 2.6 does on Linux; ovpn-ts changes no DNS settings itself',
  },
  'block-ipv6': { use: 'parsed', note: 'not applied yet' },
  ifconfig: { use: 'used', note: 'the pushed one wins' },
  'ifconfig-ipv6': { use: 'used', note: 'the pushed one wins' },
  'route-noexec': { use: 'used' },
  'ifconfig-noexec': { use: 'used', note: 'the device is not configured (nor brought up)' },
  'script-security': { use: 'used', note: 'scripts need 2 or more' },
  up: { use: 'used', note: 'a refused or failing up script ends the process (exit 1)' },
  down: { use: 'used' },
  'route-up': { use: 'used' },
  'route-pre-down': { use: 'used' },
  ipchange: { use: 'parsed', note: 'not run yet' },
  'down-pre': { use: 'used' },
  'up-restart': { use: 'parsed', note: 'no restart keeps the device yet' },
  verb: { use: 'used', note: 'levels 0-4; 5 and above print nothing more yet' },
  log: { use: 'used' },
  'log-append': { use: 'used' },
  daemon: { use: 'used', note: 'the name is not used: no syslog; output goes to `--log` or nowhere' },
  writepid: { use: 'used' },
  'persist-tun': {
    use: 'used',
    note: 'the device, addresses and routes stay across restarts; set again only if the pushed options change',
  },
};

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The markdown between BEGIN_MARK and END_MARK (both included). */
export function renderDirectiveTables(): string {
  const names = [...DIRECTIVES.keys()].sort();
  const by = (d: 'honoured' | 'ignored' | 'refused') =>
    names.filter((n) => DIRECTIVES.get(n)?.disposition === d);
  const out: string[] = [BEGIN_MARK, ''];
  const honoured = by('honoured');
  out.push(`### Supported (${honoured.length})`, '');
  out.push(
    'Read into the client options. **used**: the client acts on it; **parsed only**: accepted and',
    'checked, but the client does not act on it yet.',
    '',
    '| directive | client | note |',
    '|---|---|---|',
  );
  for (const n of honoured) {
    const u = CLIENT_USE[n];
    out.push(
      `| \`${n}\` | ${u === undefined ? '?' : u.use === 'used' ? 'used' : 'parsed only'} | ${cell(u?.note ?? '')} |`,
    );
  }
  const ignored = by('ignored');
  out.push('', `### Ignored (${ignored.length})`, '');
  out.push('Accepted with a note in the log (at verb 3 and above); no effect.', '');
  out.push('| directive | why |', '|---|---|');
  for (const n of ignored) out.push(`| \`${n}\` | ${cell(DIRECTIVES.get(n)?.reason ?? '')} |`);
  const refused = by('refused');
  out.push('', `### Refused (${refused.length})`, '');
  out.push('A config error naming the file, line and directive; ovpn-ts exits 1.', '');
  out.push('| directive | why |', '|---|---|');
  for (const n of refused) out.push(`| \`${n}\` | ${cell(DIRECTIVES.get(n)?.reason ?? '')} |`);
  out.push('', END_MARK);
  return `${out.join('\n')}\n`;
}

/** `page` with its generated part replaced by the current rendering. */
export function updateClientDoc(page: string): string {
  const a = page.indexOf(BEGIN_MARK);
  const b = page.indexOf(END_MARK);
  if (a < 0 || b < a) throw new Error('docs/client.md: the generated-table markers are missing');
  return page.slice(0, a) + renderDirectiveTables() + page.slice(b + END_MARK.length + 1);
}

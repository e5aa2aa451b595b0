/**
 * What get_peer, get_key and listen_mcast print, line for line as the selftest tool prints the kernel's
 * replies (all of get_peer/get_key goes to stderr there, and so here). Input is the daemon's YNL-style
 * JSON (kebab-case names, addresses as text, enums by name, counters as numbers or decimal strings).
 */

type Json = Record<string, unknown>;

const U32_MINUS_ONE = 4294967295;

function str(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : '';
}

/** A port as `%hu` prints it. */
function port(v: unknown): number {
  return typeof v === 'number' ? v & 0xffff : 0;
}

/** The lines printed for one peer of a peer-get reply. */
export function formatPeer(p: Json): string {
  const out: string[] = [];
  const has = (k: string) => p[k] !== undefined && p[k] !== null;
  if (has('id')) out.push(`* Peer ${str(p.id)}`);
  if (has('tx-id')) out.push(`\tTX peer ID ${str(p['tx-id'])}`);
  if (has('socket-netnsid')) out.push(`\tsocket NetNS ID: ${str(p['socket-netnsid'])}`);
  if (has('vpn-ipv4')) out.push(`\tVPN IPv4: ${str(p['vpn-ipv4'])}`);
  if (has('vpn-ipv6')) out.push(`\tVPN IPv6: ${str(p['vpn-ipv6'])}`);
  const lport = port(p['local-port']);
  const rport = port(p['remote-port']);
  if (has('remote-ipv6')) {
    const scope = has('remote-ipv6-scope-id') ? str(p['remote-ipv6-scope-id']) : String(U32_MINUS_ONE);
    out.push(`\tRemote: ${str(p['remote-ipv6'])}:${rport} (scope-id: ${scope})`);
    if (has('local-ipv6')) out.push(`\tLocal: ${str(p['local-ipv6'])}:${lport}`);
  }
  if (has('remote-ipv4')) {
    out.push(`\tRemote: ${str(p['remote-ipv4'])}:${rport}`);
    if (has('local-ipv4')) out.push(`\tLocal: ${str(p['local-ipv4'])}:${lport}`);
  }
  if (has('keepalive-interval')) out.push(`\tKeepalive interval: ${str(p['keepalive-interval'])} sec`);
  if (has('keepalive-timeout')) out.push(`\tKeepalive timeout: ${str(p['keepalive-timeout'])} sec`);
  const stats: [string, string][] = [
    ['vpn-rx-bytes', 'VPN RX bytes'],
    ['vpn-tx-bytes', 'VPN TX bytes'],
    ['vpn-rx-packets', 'VPN RX packets'],
    ['vpn-tx-packets', 'VPN TX packets'],
    ['link-rx-bytes', 'LINK RX bytes'],
    ['link-tx-bytes', 'LINK TX bytes'],
    ['link-rx-packets', 'LINK RX packets'],
    ['link-tx-packets', 'LINK TX packets'],
  ];
  for (const [k, label] of stats) if (has(k)) out.push(`\t${label}: ${str(p[k])}`);
  return out.map((l) => `${l}\n`).join('');
}

const SLOT_TEXT: Record<string, string> = {
  primary: 'primary',
  secondary: 'secondary',
  '0': 'primary',
  '1': 'secondary',
};
const CIPHER_TEXT: Record<string, string> = {
  none: 'none',
  'aes-gcm': 'aes-gcm',
  'chacha20-poly1305': 'chacha20poly1305',
  '0': 'none',
  '1': 'aes-gcm',
  '2': 'chacha20poly1305',
};

/** The lines printed for a key-get reply. */
export function formatKey(k: Json): string {
  const out: string[] = [];
  if (k['peer-id'] !== undefined) out.push(`* Peer ${str(k['peer-id'])}`);
  if (k.slot !== undefined) out.push(`\t- Slot: ${SLOT_TEXT[str(k.slot)] ?? `invalid (${str(k.slot)})`}`);
  if (k['key-id'] !== undefined) out.push(`\t- Key ID: ${str(k['key-id'])}`);
  if (k['cipher-alg'] !== undefined) {
    const c = str(k['cipher-alg']);
    out.push(`\t- Cipher: ${CIPHER_TEXT[c] ?? `invalid (${c})`}`);
  }
  return out.map((l) => `${l}\n`).join('');
}

/** The stdout line listen_mcast prints for a notification, or undefined for one it does not know. */
export function notificationLine(name: string): string | undefined {
  switch (name) {
    case 'peer-del-ntf':
      return 'received CMD_PEER_DEL_NTF\n';
    case 'peer-float-ntf':
      return 'received CMD_PEER_FLOAT_NTF\n';
    case 'key-swap-ntf':
      return 'received CMD_KEY_SWAP_NTF\n';
    default:
      return undefined;
  }
}

/**
 * JSON text exactly as Python's json.dumps() writes it with its defaults, which is what the kernel's
 * YNL cli.py --output-json prints: ", " and ": " separators, non-ASCII escaped as \uXXXX, key order
 * kept. Integers (including bigints) are written as they are.
 */
export function pyJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
    return Number.isInteger(v) ? BigInt(v).toString() : String(v);
  }
  if (typeof v === 'string') return pyString(v);
  if (Array.isArray(v)) return `[${v.map(pyJson).join(', ')}]`;
  if (typeof v === 'object') {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v as Json)) {
      if (x === undefined) continue;
      parts.push(`${pyString(k)}: ${pyJson(x)}`);
    }
    return `{${parts.join(', ')}}`;
  }
  return pyString(String(v));
}

function pyString(s: string): string {
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

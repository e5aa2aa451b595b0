/**
 * The server's half of the 2.6 stateless three-way handshake (openvpn-protocol.md §4.9; 2.6 ssl_pkt.c
 * calculate_session_id_hmac, check_session_hmac_and_pkt_id, tls_reset_standalone; mudp.c
 * send_hmac_reset_packet). The cookie itself (HMAC over time slot, address and client session id; a
 * slot is (hand-window + 1) / 2 s; the current slot and the two before are accepted) is
 * session-id.ts `SessionCookie`; this file adds what a listener needs around it:
 * - `parsePeerAddress`: the "address:port" / "[v6]:port" text of a datagram's source as the cookie's
 *   peer (the cookie is bound to the address bytes and port);
 * - `statelessReset`: the reply to a client's hard reset, P_CONTROL_HARD_RESET_SERVER_V2 with our
 *   session id = the cookie, one ack (message id 0, the client's session id) and message id 0, wrapped
 *   by a wrap made for this one packet (2.6 resets the temporary wrap's replay id, so it carries 1).
 */
import { OP_CONTROL_HARD_RESET_SERVER_V2 } from '../wire/opcode.js';
import { buildEarlyNegotiation, EARLY_NEG_FLAG_RESEND_WKC, encodeControl } from './packet.js';
import type { CookiePeer } from './session-id.js';
import type { ControlWrap } from './wrap/wrap.js';

/** A datagram source as text: `a.b.c.d:port`, `[v6]:port`; a v4-mapped IPv6 counts as IPv4. */
export function parsePeerAddress(from: string): CookiePeer | undefined {
  let host: string;
  let portText: string;
  if (from.startsWith('[')) {
    const end = from.indexOf(']:');
    if (end < 0) return undefined;
    host = from.slice(1, end);
    portText = from.slice(end + 2);
  } else {
    const colon = from.lastIndexOf(':');
    if (colon < 0) return undefined;
    host = from.slice(0, colon);
    portText = from.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 0xffff) return undefined;
  const v4 = parseIpv4(host);
  if (v4 !== undefined) return { family: 4, addr: v4, port };
  const v6 = parseIpv6(host);
  if (v6 === undefined) return undefined;
  // ::ffff:a.b.c.d (a dual-stack socket's IPv4 client) is the same client as a.b.c.d
  if (v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff)
    return { family: 4, addr: Buffer.from(v6.subarray(12)), port };
  return { family: 6, addr: v6, port };
}

/** Dotted quad to 4 bytes. */
export function parseIpv4(s: string): Buffer | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return undefined;
    const v = Number(parts[i]);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** IPv6 text (with `::`, an embedded IPv4 tail, no zone) to 16 bytes. */
export function parseIpv6(s: string): Buffer | undefined {
  const pct = s.indexOf('%');
  const text = pct >= 0 ? s.slice(0, pct) : s;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (v4 === undefined) return undefined;
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(Number.parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(all[i], i * 2);
  return out;
}

/**
 * The stateless reply to a client's hard reset: wrapped with `wrap` (a fresh one per reply, so its
 * replay id is 1), our session id `cookie`, acking the client's message 0. `resendWkc`: ask a
 * tls-crypt-v2 client to send its wrapped key again (early negotiation).
 */
export function statelessReset(
  wrap: ControlWrap,
  cookie: Buffer,
  clientSessionId: Buffer,
  nowSec: number,
  resendWkc = false,
): Buffer {
  return wrap.wrap(
    encodeControl({
      opcode: OP_CONTROL_HARD_RESET_SERVER_V2,
      keyId: 0,
      sessionId: cookie,
      acks: [0],
      remoteSessionId: clientSessionId,
      messageId: 0,
      payload: resendWkc ? buildEarlyNegotiation(EARLY_NEG_FLAG_RESEND_WKC) : Buffer.alloc(0),
    }),
    nowSec,
  );
}

/**
 * `reneg-bytes` / `reneg-pkts`: a renegotiation once the current key has carried that much traffic.
 *
 * OpenVPN 2.6 counts per key state (ssl.c): every data packet decrypted with it (tls_pre_decrypt) and
 * every one encrypted with it (tls_post_encrypt) adds one to `n_packets` and its length on the link to
 * `n_bytes`, both directions together, from zero when the key state is made; tls_process starts a soft
 * reset once `n_bytes >= reneg-bytes` or `n_packets >= reneg-pkts` (the client or the server, whichever
 * gets there first).
 *
 * The data plane counts per peer, not per key, so the key's traffic is the peer's link counters (rx +
 * tx) since the key state became the current one: the old key's last packets in the transition window
 * count towards the new one, a few packets more than 2.6 would count (and a renegotiation the server
 * starts is seen at the next poll, so its first poll interval is not counted). The shell polls the counters
 * every `RENEG_TRAFFIC_POLL_MS` while a limit is set (2.6 checks on each pass of its event loop; one
 * second late is within what a byte or packet budget means, and costs one peer-get a second).
 */
import type { Counter, PeerCounters } from '../api/messages.js';

export const RENEG_TRAFFIC_POLL_MS = 1000;

export interface RenegLimits {
  /** `reneg-bytes`, 0 = off. */
  bytes: number;
  /** `reneg-pkts`, 0 = off. */
  packets: number;
}

type LinkCounters = Pick<
  PeerCounters,
  'link-rx-bytes' | 'link-tx-bytes' | 'link-rx-packets' | 'link-tx-packets'
>;

const num = (c: Counter): number => Number(c);

export class RenegTraffic {
  private keyId: number | undefined;
  private baseBytes = 0;
  private basePackets = 0;

  constructor(private readonly limits: RenegLimits) {}

  /** True when either limit is set. */
  get enabled(): boolean {
    return this.limits.bytes > 0 || this.limits.packets > 0;
  }

  /**
   * Feeds the peer's counters with the current key-id. Returns a reason (`bytes=N/limit` or
   * `pkts=N/limit`, as 2.6 logs the soft reset) when the key `keyId` has passed a limit, else
   * undefined. A new key-id starts its count from these counters.
   */
  check(keyId: number, c: LinkCounters): string | undefined {
    const bytes = num(c['link-rx-bytes']) + num(c['link-tx-bytes']);
    const packets = num(c['link-rx-packets']) + num(c['link-tx-packets']);
    // a new key state, or counters that went backwards (a new peer): count from here
    if (keyId !== this.keyId || bytes < this.baseBytes || packets < this.basePackets) {
      this.keyId = keyId;
      this.baseBytes = bytes;
      this.basePackets = packets;
      return undefined;
    }
    const b = bytes - this.baseBytes;
    const p = packets - this.basePackets;
    if (this.limits.bytes > 0 && b >= this.limits.bytes) return `bytes=${b}/${this.limits.bytes}`;
    if (this.limits.packets > 0 && p >= this.limits.packets) return `pkts=${p}/${this.limits.packets}`;
    return undefined;
  }
}

/**
 * Polls `probe` every RENEG_TRAFFIC_POLL_MS while a limit is set, and calls `renegotiate` with the
 * reason when the current key passed it. Returns the function that stops the polling.
 */
export function pollRenegTraffic(
  limits: RenegLimits,
  probe: () => { keyId: number; counters: LinkCounters } | undefined,
  renegotiate: (reason: string) => void,
): () => void {
  const traffic = new RenegTraffic(limits);
  if (!traffic.enabled) return () => {};
  const tick = () => {
    const p = probe();
    if (p === undefined) return;
    const reason = traffic.check(p.keyId, p.counters);
    if (reason === undefined) return;
    renegotiate(reason);
    // the new key state counts from now, not from the next poll
    const q = probe();
    if (q !== undefined) traffic.check(q.keyId, q.counters);
  };
  tick();
  const timer = setInterval(tick, RENEG_TRAFFIC_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** A client of the server as the traffic poll sees it. */
export interface RenegClient {
  /** The key-id of its current key state, or undefined while it is not up. */
  readonly renegKeyId: number | undefined;
  /** Its peer's link counters, or undefined (no peer). */
  renegCounters(): LinkCounters | undefined;
  /** Starts a renegotiation with this reason; the client logs it. */
  renegotiateByTraffic(reason: string): void;
}

/**
 * The server's `reneg-bytes` / `reneg-pkts`: one timer for every client (2.6 checks each client's key
 * state in tls_process), each client counted on its own from its current key-id. Clients are held
 * weakly, so one that left leaves nothing behind. Returns the function that stops the polling.
 */
export function pollClientsRenegTraffic(
  limits: RenegLimits,
  clients: () => Iterable<RenegClient>,
): () => void {
  if (!new RenegTraffic(limits).enabled) return () => {};
  const traffic = new WeakMap<RenegClient, RenegTraffic>();
  const sample = (c: RenegClient, t: RenegTraffic): string | undefined => {
    const keyId = c.renegKeyId;
    const counters = keyId === undefined ? undefined : c.renegCounters();
    return keyId === undefined || counters === undefined ? undefined : t.check(keyId, counters);
  };
  const tick = () => {
    for (const c of clients()) {
      let t = traffic.get(c);
      if (t === undefined) {
        t = new RenegTraffic(limits);
        traffic.set(c, t);
      }
      const reason = sample(c, t);
      if (reason === undefined) continue;
      c.renegotiateByTraffic(reason);
      sample(c, t);
    }
  };
  const timer = setInterval(tick, RENEG_TRAFFIC_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

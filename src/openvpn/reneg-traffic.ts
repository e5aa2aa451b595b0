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

/** The current key's id and the peer's link counters, or undefined (not up, or no peer). */
export type RenegSample = { keyId: number; counters: LinkCounters } | undefined;

/** What the traffic poll reads and drives: a client's connection, or one of a server's clients. */
export interface RenegClient {
  renegSample(): RenegSample;
  /** Starts a renegotiation with this reason (`bytes=N/limit` or `pkts=N/limit`). */
  renegotiateByTraffic(reason: string): void;
}

/**
 * Polls every client of `clients()` once each RENEG_TRAFFIC_POLL_MS while a limit is set, each counted
 * on its own from its current key-id, and asks it to renegotiate when that key passed a limit; the new
 * key state counts from that moment, not from the next poll. Clients are held weakly, so one that left
 * leaves nothing behind (the server's clients; 2.6 checks each key state in tls_process). With
 * `now`, the first poll runs at once. Returns the function that stops the polling.
 */
export function pollClientsRenegTraffic(
  limits: RenegLimits,
  clients: () => Iterable<RenegClient>,
  now = false,
): () => void {
  if (!new RenegTraffic(limits).enabled) return () => {};
  const traffic = new WeakMap<RenegClient, RenegTraffic>();
  const sample = (c: RenegClient, t: RenegTraffic): string | undefined => {
    const s = c.renegSample();
    return s === undefined ? undefined : t.check(s.keyId, s.counters);
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
  if (now) tick();
  const timer = setInterval(tick, RENEG_TRAFFIC_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** The client's form: one connection, `probe` for its sample, polled at once and then every second. */
export function pollRenegTraffic(
  limits: RenegLimits,
  probe: () => RenegSample,
  renegotiate: (reason: string) => void,
): () => void {
  const one: RenegClient = { renegSample: probe, renegotiateByTraffic: renegotiate };
  return pollClientsRenegTraffic(limits, () => [one], true);
}

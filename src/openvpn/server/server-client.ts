/**
 * One client of the server (2.6 multi.c struct multi_instance): its control session
 * (control/server-session.ts) with a TLS server engine per key state, key-method 2, the cipher
 * negotiation, the PUSH_REPLY, and its peer with keys on the server's MP device (through the
 * `ServerPlane` the server gives it).
 *
 * Order, as a 2.6 server logs it: TLS handshake (client certificate) → the client's key-method 2 →
 * ours → `admit` (the server's seam: address assignment, later auth and client-connect) → peer on the
 * data plane with its VPN addresses and keepalive → data key → PUSH_REPLY (at once for a client with
 * IV_PROTO REQUEST_PUSH, and on every PUSH_REQUEST). Renegotiation from either side gets a fresh TLS
 * engine, key-method 2 again, and the new key in the secondary slot (dco-keys.ts).
 */
import { randomBytes } from 'node:crypto';
import type { PeerInfo } from '../../api/messages.js';
import {
  authFailed,
  buildPushReplies,
  ControlMessageReader,
  encodeControlMessage,
  parseControlMessage,
  restartMessage,
} from '../../control/control-message.js';
import {
  type DataChannelKeys,
  dataChannelKeys,
  EKM_DATA_KEYS_LABEL,
  KEY2_LEN,
  key2FromEkm,
  key2FromLegacyPrf,
} from '../../control/key-expansion.js';
import {
  type DecodedKeyMethod2,
  decodeKeyMethod2,
  encodeKeyMethod2,
  IvProto,
  type KeySource,
} from '../../control/key-method2.js';
import type { ServerSession } from '../../control/server-session.js';
import { DcoKeys } from '../dco-keys.js';
import type { RenegClient, RenegSample } from '../reneg-traffic.js';
import { AUTH_FAILED_EXIT_SEC, type ClientAuthHooks } from './client-auth.js';
import { type ClientPeerInfo, negotiateCipher, protocolFlags, readClientPeerInfo } from './ncp.js';
import type { ClientAddresses } from './push-list.js';
import { ServerTlsChannel, type ServerTlsConfig } from './server-tls.js';

/** What a client needs from the server shell. */
export interface ServerPlane {
  log(msg: string): void;
  tls: ServerTlsConfig;
  /** The server's data ciphers and fallback. */
  dataCiphers: readonly string[];
  dataCiphersFallback: string | undefined;
  /** The server's OCC options string (key-method 2). */
  occ: string;
  /** Sends one control packet to this client. */
  send(client: ServerClient, packet: Buffer): void;
  /**
   * The client passed TLS and key-method 2: the server decides (addresses, limits, ccd,
   * client-connect). Returns its whole PUSH_REPLY option list, or an error message to refuse it
   * (with AUTH_FAILED to the client, as 2.6 refuses a disabled client or a failed client-connect).
   */
  admit(client: ServerClient): Promise<{ push: string[] } | { refuse: string }>;
  /** The link counters of the client's peer on the data plane, or undefined (none yet, or gone). */
  counters(client: ServerClient): PeerInfo | undefined;
  /** The certificate checks, tls-verify, user/password and auth-token (client-auth.ts). */
  auth: ClientAuthHooks;
  /** peer-new (UDP) or peer-set (TCP) with the VPN addresses and keepalive. */
  addPeer(client: ServerClient): Promise<void>;
  keyNew(client: ServerClient, slot: 'primary' | 'secondary', keyId: number, keys: DataChannelKeys): void;
  keySwap(client: ServerClient): void;
  keyDel(client: ServerClient, slot: 'primary' | 'secondary'): void;
  /** The client is finished (failed, exited, timed out): the server removes it. */
  gone(client: ServerClient, reason: string): void;
}

/** What the status file, management and scripts read about a client. */
export interface ClientRecord {
  peerId: number;
  /** The real address as text (`a.b.c.d:port`, `[v6]:port`). */
  realAddress: string;
  proto: 'udp' | 'tcp';
  commonName: string | undefined;
  username: string | undefined;
  /** The addresses pushed (and on its peer), once admitted. */
  vpn: ClientAddresses | undefined;
  cipher: string | undefined;
  peerInfo: ClientPeerInfo | undefined;
  /** When the instance was made (its first packet); epoch ms. */
  createdMs: number;
  /** When it was admitted and its data channel came up; epoch ms. */
  connectedSinceMs: number | undefined;
  /** Counts up for every client the server made (2.6's management cid). */
  clientId: number;
}

export class ServerClient implements RenegClient {
  readonly record: ClientRecord;
  private tls: ServerTlsChannel | undefined;
  private tlsKeyId = -1;
  private timer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private closed = false;
  private up = false;
  private dco: DcoKeys | undefined;
  private tlsEkm = false;
  private push: string[] = [];
  private readonly exhausted = new Set<number>();
  private loggedDrops = 0;
  /** Set once AUTH_FAILED was sent: the client is dropped AUTH_FAILED_EXIT_SEC later. */
  private exitTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly session: ServerSession,
    private readonly plane: ServerPlane,
    peerId: number,
    realAddress: string,
    proto: 'udp' | 'tcp',
    clientId = 0,
  ) {
    this.record = {
      createdMs: Date.now(),
      clientId,
      peerId,
      realAddress,
      proto,
      commonName: undefined,
      username: undefined,
      vpn: undefined,
      cipher: undefined,
      peerInfo: undefined,
      connectedSinceMs: undefined,
    };
  }

  get peerId(): number {
    return this.record.peerId;
  }

  get isUp(): boolean {
    return this.up;
  }

  /**
   * Starts the client with the result of its session's first packet (the cookie echo, or the client's
   * reset): key-id 0's TLS engine, that packet's TLS bytes, and what the session has to send.
   */
  start(first: ReturnType<ServerSession['receivePacket']>): void {
    this.afterInput(first);
  }

  /** One control packet from this client's address (or stream). */
  receive(packet: Buffer): void {
    if (this.closed) return;
    const before = dropTotal(this.session.drops);
    const r = this.session.receive(packet, Date.now());
    if (!r.accepted && dropTotal(this.session.drops) > before && this.loggedDrops++ < 10)
      this.plane.log(
        `${this.tag()} control packet dropped: ${[...this.session.drops].map(([k, v]) => `${k} ${v}`).join(', ')}`,
      );
    this.afterInput(r);
  }

  private afterInput(r: { tls: Buffer | undefined; keyId: number }): void {
    if (this.session.state !== 'failed' && this.session.keyId !== this.tlsKeyId)
      this.beginKeyState(this.session.keyId);
    if (r.tls !== undefined && r.keyId === this.tlsKeyId) this.tls?.ciphertextIn(r.tls);
    this.pump();
  }

  /** The current key-id and the peer's link counters once the client is up (reneg-bytes/reneg-pkts). */
  renegSample(): RenegSample {
    if (!this.up || this.closed) return undefined;
    const counters = this.plane.counters(this);
    return counters === undefined ? undefined : { keyId: this.session.keyId, counters };
  }

  /** The current key carried `reneg-bytes` or `reneg-pkts` (reason `bytes=N/limit`): renegotiate. */
  renegotiateByTraffic(reason: string): void {
    if (!this.up || this.closed || this.session.renegotiate(Date.now()) === undefined) return;
    this.plane.log(
      `${this.tag()} TLS: soft reset by reneg-bytes/reneg-pkts (${reason}), new key-id ${this.session.keyId}`,
    );
    this.queuePump();
  }

  /** A key ran out of packet-ids (key-swap-ntf): renegotiate. */
  keyExhausted(keyId: number): void {
    this.exhausted.add(keyId);
    if (this.up && this.session.keyId === keyId && this.session.renegotiate(Date.now()) !== undefined) {
      this.plane.log(`${this.tag()} TLS: soft reset on key-swap-ntf, new key-id ${this.session.keyId}`);
    }
    this.queuePump();
  }

  /**
   * Sends RESTART (the server is going: multi_push_restart_schedule_exit) and resolves once acked or
   * after `ms`. `nextServer` (explicit-exit-notify 2): `RESTART,[N]`, the client moves to its next remote.
   */
  async sendRestart(ms: number, nextServer = false): Promise<void> {
    if (!this.up || this.closed || this.tls === undefined) return;
    this.tls.socket.write(encodeControlMessage(restartMessage('RESTART', nextServer ? '[N]' : undefined)));
    const deadline = Date.now() + ms;
    await new Promise((r) => setImmediate(r));
    this.pump();
    while (
      Date.now() < deadline &&
      !this.closed &&
      this.session.state !== 'failed' &&
      !this.session.sendIdle
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops timers and TLS; the server removes the peer. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.exitTimer);
    this.session.abort('closed');
    this.tls?.destroy();
  }

  private tag(): string {
    return `${this.record.commonName ?? '?'}/${this.record.realAddress}`;
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.plane.log(`${this.tag()} ${e.message}`);
    this.plane.gone(this, e.message);
  }

  private beginKeyState(keyId: number): void {
    const old = this.tls;
    const session = this.session;
    const tls = new ServerTlsChannel(this.plane.tls, (data) => {
      if (session.state !== 'failed') session.sendTls(data, keyId);
      this.queuePump();
    });
    this.tls = tls;
    this.tlsKeyId = keyId;
    old?.destroy();
    if (keyId !== 0)
      this.plane.log(
        `${this.tag()} TLS: soft reset by the ${this.session.renegotiatedBy}, new key-id ${keyId}`,
      );
    this.runKeyState(keyId, tls).catch((e: unknown) =>
      this.fail(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** Handshake and key-method 2 of one key state; key-id 0 also admits the client and pushes. */
  private async runKeyState(keyId: number, tls: ServerTlsChannel): Promise<void> {
    const current = () => tls === this.tls && !this.closed;
    const plaintext = this.readPlaintext(tls);
    await tls.handshake();
    if (!current()) return;
    const refused = await this.plane.auth.tlsDone(this, tls.socket, tls.chainError(), keyId);
    if (!current()) return;
    if (refused !== undefined) throw new Error(refused);
    if (keyId === 0) {
      this.record.commonName = tls.commonName();
      this.plane.log(
        `${this.tag()} Control Channel: ${tls.socket.getProtocol()}, cipher ${tls.socket.getCipher().name}, peer CN ${this.record.commonName ?? '(none)'}`,
      );
    }
    const theirs = await plaintext.keyMethod2;
    if (!current()) return;
    const auth = await this.plane.auth.userPass(this, theirs, keyId);
    if (!current()) return;
    if (auth.kind === 'tls-error') throw new Error(auth.log);
    if (keyId === 0) {
      const info = readClientPeerInfo(theirs.peerInfo);
      this.record.peerInfo = info;
      this.record.username = theirs.username;
      const cipher = negotiateCipher(
        this.plane.dataCiphers,
        info,
        theirs.options,
        this.plane.dataCiphersFallback,
      );
      if (cipher === undefined)
        throw new Error(
          `no common data cipher: the client offers ${info.ciphers.join(':') || '(none)'}, the server has ${this.plane.dataCiphers.join(':')}`,
        );
      this.record.cipher = cipher;
      this.tlsEkm = protocolFlags(info.proto).tlsEkm;
    }
    const mine: KeySource = { random1: randomBytes(32), random2: randomBytes(32) };
    const msg = encodeKeyMethod2({ keySource: mine, options: this.plane.occ }, 'server');
    await tls.write(msg);
    if (!current()) return;
    if (auth.kind === 'auth-failed') {
      theirs.keySource.preMaster?.fill(0);
      this.refuseWithAuthFailed(auth.clientReason);
      return;
    }
    const keys = this.keys(tls, theirs, mine);
    if (keyId === 0) {
      const verdict = await this.plane.admit(this);
      if (!current()) return;
      if ('refuse' in verdict) {
        // 2.6 tells the client AUTH_FAILED and lets the instance go a little later
        keys.encrypt.key.fill(0);
        keys.decrypt.key.fill(0);
        this.plane.log(`${this.tag()} refused: ${verdict.refuse}`);
        this.refuseWithAuthFailed(undefined);
        return;
      }
      this.push = verdict.push;
      await this.plane.addPeer(this);
      if (!current()) return;
      this.dco = new DcoKeys({
        keyNew: (slot, k, dk) => this.plane.keyNew(this, slot, k, dk),
        keySwap: () => this.plane.keySwap(this),
        keyDel: (slot) => this.plane.keyDel(this, slot),
      });
    }
    this.exhausted.delete(keyId);
    this.dco!.install(keyId, keys);
    keys.encrypt.key.fill(0);
    keys.decrypt.key.fill(0);
    this.session.markEstablished(Date.now(), keyId);
    if (keyId === 0) {
      this.up = true;
      this.record.connectedSinceMs = Date.now();
      this.plane.log(
        `${this.tag()} Data Channel: cipher '${this.record.cipher}', peer-id ${this.peerId}, key derivation ${this.tlsEkm ? 'tls-ekm' : 'prf'}`,
      );
      if (((this.record.peerInfo?.proto ?? 0) & IvProto.REQUEST_PUSH) !== 0) this.sendPushReply();
    } else {
      const update = this.plane.auth.renegotiated(this, keyId);
      if (update !== undefined) this.sendControl(update);
    }
    this.pump();
  }

  /** Sends a control message (text) over the current TLS session; false when there is none. */
  sendControl(text: string): boolean {
    const tls = this.tls;
    if (tls === undefined || this.closed) return false;
    tls.socket.write(encodeControlMessage(text));
    this.queuePump();
    return true;
  }

  /**
   * 2.6 send_auth_failed: AUTH_FAILED[,reason] to the client, which is dropped a few seconds later
   * (scheduled_exit_interval) unless it goes first; no data key, no peer.
   */
  private refuseWithAuthFailed(reason: string | undefined): void {
    const text = authFailed(reason);
    this.sendControl(text);
    this.plane.log(`${this.tag()} SENT CONTROL: '${text}'`);
    if (this.exitTimer === undefined) {
      this.exitTimer = setTimeout(
        () => this.plane.gone(this, 'authentication failed'),
        AUTH_FAILED_EXIT_SEC * 1000,
      );
    }
  }

  private keys(tls: ServerTlsChannel, theirs: DecodedKeyMethod2, mine: KeySource): DataChannelKeys {
    let key2: Buffer;
    try {
      key2 = this.tlsEkm
        ? key2FromEkm(tls.exportKeyingMaterial(KEY2_LEN, EKM_DATA_KEYS_LABEL))
        : key2FromLegacyPrf({
            client: theirs.keySource,
            server: mine,
            clientSessionId: this.session.clientSessionId,
            serverSessionId: this.session.sessionId,
          });
    } finally {
      theirs.keySource.preMaster?.fill(0);
    }
    try {
      return dataChannelKeys(key2, 'server', this.record.cipher!);
    } finally {
      key2.fill(0);
    }
  }

  /** UDP: where the client's packets come from and ours go (follows a float). */
  remote: { addr: string; port: number } | undefined;

  private sendPushReply(): void {
    const tls = this.tls;
    if (tls === undefined || this.closed) return;
    const replies = buildPushReplies(this.push);
    for (const r of replies) tls.socket.write(encodeControlMessage(r));
    // the auth-token is a credential: never logged (2.6 sanitize_control_message)
    const shown = replies.map((r) => r.replace(/(auth-token) [^,]*/g, '$1 [REDACTED]'));
    this.plane.log(`${this.tag()} SENT CONTROL: '${shown.join("' '")}'`);
    this.queuePump();
  }

  private readPlaintext(tls: ServerTlsChannel): { keyMethod2: Promise<DecodedKeyMethod2> } {
    let got: (k: DecodedKeyMethod2) => void = () => {};
    let bad: (e: Error) => void = () => {};
    const keyMethod2 = new Promise<DecodedKeyMethod2>((resolve, reject) => {
      got = resolve;
      bad = reject;
    });
    keyMethod2.catch(() => {});
    const reader = new ControlMessageReader();
    let km2Done = false;
    tls.socket.on('data', (chunk: Buffer) => {
      if (tls !== this.tls) return;
      if (!km2Done) {
        km2Done = true;
        try {
          got(decodeKeyMethod2(chunk, 'client'));
        } catch (e) {
          bad(e as Error);
        }
        return;
      }
      for (const text of reader.push(chunk)) this.controlMessage(text);
    });
    tls.socket.on('error', (e) => {
      if (tls === this.tls) bad(e);
    });
    return { keyMethod2 };
  }

  /** A control message from the client (forward.c check_incoming_control_channel, server side). */
  private controlMessage(text: string): void {
    const m = parseControlMessage(text);
    if (m.type === 'PUSH_REQUEST') {
      if (this.up) this.sendPushReply();
    } else if (m.type === 'EXIT') {
      this.plane.log(`${this.tag()} received EXIT: the client is going`);
      this.plane.gone(this, 'client exit (EXIT)');
    } else {
      this.plane.log(`${this.tag()} control message ignored: ${text.slice(0, 60)}`);
    }
  }

  private queuePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    const session = this.session;
    if (this.closed) return;
    const now = Date.now();
    for (const packet of session.poll(now)) this.plane.send(this, packet);
    if (session.state === 'failed') {
      this.fail(session.failure!);
      return;
    }
    if (session.keyId !== this.tlsKeyId) {
      this.beginKeyState(session.keyId);
      for (const packet of session.poll(now)) this.plane.send(this, packet);
    }
    if (this.dco !== undefined) {
      const selected = session.encryptionKeyId(now, this.exhausted) ?? session.encryptionKeyId(now);
      try {
        this.dco.update(selected, session.secondaryKeyId(selected));
      } catch (e) {
        this.fail(e as Error);
        return;
      }
    }
    clearTimeout(this.timer);
    const wake = session.nextWakeMs();
    if (wake !== Number.POSITIVE_INFINITY) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(wake - now, 2 ** 31 - 1)));
    }
  }
}

function dropTotal(m: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

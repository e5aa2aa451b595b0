/**
 * The ovpn-ts client for one connection: the control session (control/session.ts) with its TLS
 * engine, key-method 2, the pull of the options, and the data plane set up from them (OpenVPN 2.6
 * ssl.c tls_process_state, push.c, init.c do_deferred_options; 2.7 dco.c for the data plane).
 *
 * Order of events, as a 2.6 client logs them:
 * reset → TLS handshake (certificate checks) → key-method 2 both ways → PUSH_REPLY (with
 * continuations; PUSH_REQUEST every 5 s until it comes, though a 2.6 server pushes at once because we
 * announce REQUEST_PUSH) → peer with the pushed peer-id and keepalive → data keys (TLS-EKM, or the
 * legacy PRF when the server did not push tls-ekm) → addresses and routes → "Initialization Sequence
 * Completed".
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { PeerInfo } from '../api/messages.js';
import type { ClientOptions, ConnectionEntry } from '../config/client-options.js';
import type { ReadFileFn } from '../config/load.js';
import {
  type ControlMessage,
  ControlMessageReader,
  encodeControlMessage,
  exitMessage,
  PushReplyAssembler,
  parseControlMessage,
  pushRequest,
} from '../control/control-message.js';
import {
  type DataChannelKeys,
  dataChannelKeys,
  EKM_DATA_KEYS_LABEL,
  KEY2_LEN,
  key2FromEkm,
  key2FromLegacyPrf,
} from '../control/key-expansion.js';
import { buildPeerInfo, decodeKeyMethod2, encodeKeyMethod2, type KeySource } from '../control/key-method2.js';
import { maxControlPayload } from '../control/reliable.js';
import { ClientSession } from '../control/session.js';
import { AuthUserPass, redactControlMessage } from './auth-user-pass.js';
import { effectiveKeepalive, fatalError, peerGoneError, pushFailed, setupStep } from './connect-retry.js';
import { makeControlWrap } from './control-wrap.js';
import { occWithCompression, peerDataOptions } from './data-options.js';
import type { DataPlane } from './data-plane.js';
import { DataPlaneLink } from './data-plane-link.js';
import { DcoKeys } from './dco-keys.js';
import { type AppliedNetConfig, NetConfig, peerCommonName } from './net-config.js';
import { acceptPushReply } from './push-reply.js';
import { type PushedConfig, parsePushedOptions } from './pushed-options.js';
import { pollRenegTraffic } from './reneg-traffic.js';
import { type ServerCommand, serverMessage, waitUntil } from './server-messages.js';
import { TlsChannel, type TlsChannelOptions } from './tls-channel.js';
import { loadTlsConfig, type TlsConfigCache } from './tls-config.js';
import { occLinkMtu, occProto, openServerTransport, releaseServerTransport } from './transport-connect.js';
import type { KeptTun } from './tun-keeper.js';

/** The version we announce in IV_VER. */
export const IV_VER = '2.6.14';
/** push.c PUSH_REQUEST_INTERVAL, and the first request about a second after the handshake. */
const PUSH_REQUEST_INTERVAL_MS = 5000;
const PUSH_REQUEST_FIRST_MS = 1000;
/**
 * The longest we keep the ack of the server's key-method 2 back in a renegotiation while our new key
 * goes onto the data plane (ClientSession.holdAcks); the server retransmits after 2 s (tls-timeout).
 */
const ACK_HOLD_MAX_MS = 500;

export type LogFn = (msg: string) => void;

export interface ClientRunOptions {
  readFile: ReadFileFn;
  log: LogFn;
  /** The device name (default: `dev` of the options). */
  ifname?: string;
  /** Called once when the tunnel fails after `connect` resolved (a renegotiation failed, the peer went...). */
  onFailure?: (e: Error) => void;
  /**
   * Username/password and auth-token, kept across connections by the caller (default: one of this
   * client's own, from the options, asking on the terminal).
   */
  auth?: AuthUserPass;
  /** The TLS material, loaded once (its password asked once) for the caller's options (tls-config.ts). */
  tlsCache?: TlsConfigCache;
  /**
   * The server asked for a restart or an end (AUTH_FAILED, RESTART, HALT, EXIT): the owner of the
   * lifecycle acts on it (server-messages.ts). Called at most once. Without it, such a message fails
   * the connection.
   */
  onServerCommand?: (cmd: ServerCommand) => void;
  /** persist-tun: the device (and its addresses) kept across connections; the client does not remove it. */
  tun?: KeptTun;
  /** Told by `close` of the device removal under way (over ovpnd it is answered later). */
  onClosed?: (done: Promise<void>) => void;
}

export interface ClientUp {
  ifname: string;
  ifindex: number;
  pushed: PushedConfig;
  pushedOptions: string[];
  cipher: string;
  peerId: number;
  keyDerivation: 'tls-ekm' | 'prf';
  tlsVersion: string;
  netCommands: string[][];
}

/**
 * reneg-sec as init.c do_init_crypto_tls draws it: `max` on a client, or with `reneg-sec max min` a
 * random value in (min, max].
 */
export function effectiveRenegSec(max: number, min: number | undefined, rand = randomInt): number {
  if (min === undefined) return max;
  return max - rand(Math.max(max - min, 1));
}

/** The OCC options string of a 2.6 client without `cipher` (openvpn-protocol.md §6). */
export function occString(o: ClientOptions, ce: ConnectionEntry | undefined = o.connections[0]): string {
  const proto = ce?.remote.proto ?? 'udp';
  return `V4,dev-type tun,link-mtu ${occLinkMtu(proto)},tun-mtu ${ce?.tunMtu ?? 1500},proto ${occProto(proto)},auth ${o.auth},keysize 128,key-method 2,tls-client`;
}

export class OpenvpnClient {
  private link: DataPlaneLink | undefined;
  /** The link being made (over ovpnd, dev-new and peer-new are answered later). */
  private opening: Promise<DataPlaneLink> | undefined;
  private session: ClientSession | undefined;
  private tls: TlsChannel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pushTimer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private fail: (e: Error) => void = () => {};
  private closed = false;
  /** The tunnel is up: renegotiations are handled from now on. */
  private up = false;
  private failedAfterUp = false;
  /** The key-id of the key state `tls` belongs to. */
  private tlsKeyId = 0;
  private tlsOptions: Omit<TlsChannelOptions, 'onCiphertext'> | undefined;
  private dco: DcoKeys | undefined;
  private net: NetConfig | undefined;
  /** Key-ids whose packet-ids ran out (key-swap-ntf): never selected for sending again. */
  private readonly exhausted = new Set<number>();
  private cipher = '';
  private tlsEkm = false;
  private occ = '';
  private peerInfoText = '';
  /** Abandons a TCP connect in progress when the client is closed. */
  private readonly abandon = new AbortController();
  /** The connection entry of this connection (`connect`'s). */
  private entry: ConnectionEntry | undefined;
  private readonly auth: AuthUserPass;
  /** The server pushed `protocol-flags cc-exit`: the exit notification is the control message EXIT. */
  private ccExit = false;
  private commanded = false;
  private stopRenegTraffic: () => void = () => {};

  constructor(
    private readonly api: DataPlane,
    private readonly options: ClientOptions,
    private readonly run: ClientRunOptions,
  ) {
    this.auth = run.auth ?? new AuthUserPass({ readFile: run.readFile, log: run.log }, options);
  }

  /**
   * Connects to connection entry `ce` (default: the first); resolves once the tunnel is up. Call
   * `close` afterwards, or on failure. Errors that retrying cannot cure are fatal (connect-retry.ts).
   */
  async connect(ce: ConnectionEntry | undefined = this.options.connections[0]): Promise<ClientUp> {
    const o = this.options;
    if (ce === undefined) throw fatalError('no remote in the configuration');
    this.entry = ce;
    const log = this.run.log;
    const rf = this.run.readFile;
    // setup errors (keys, certificates, tls-crypt key, credentials) end the process, as in 2.6
    const tlsConfig = await setupStep(this.run.tlsCache?.load(o, rf) ?? loadTlsConfig(o, rf));
    const wrap = await setupStep(makeControlWrap(ce.tlsWrap, o, rf));
    await setupStep(this.auth.prepare());
    const server = await openServerTransport(ce, { log, signal: this.abandon.signal });
    if (this.closed) {
      releaseServerTransport(server);
      throw new Error('the client was closed while connecting');
    }
    const family = server.family;
    let pingAction: 'restart' | 'exit' = 'restart';

    const failed = new Promise<never>((_, reject) => {
      this.fail = (e) => {
        reject(e);
        if (this.up && !this.failedAfterUp && !this.closed) {
          this.failedAfterUp = true;
          if (this.run.onFailure !== undefined) this.run.onFailure(e);
          else log(`ERROR: ${e.message}`);
        }
      };
    });
    failed.catch(() => {});
    const session = new ClientSession({
      wrap,
      maxPayload: maxControlPayload({ wrapOverhead: wrap.overhead, ipv6: family === 6 }),
      handWindowMs: o.handWindow * 1000,
      renegMs: effectiveRenegSec(o.renegSec, o.renegSecMin) * 1000,
      tranWindowMs: o.tranWindow * 1000,
      reliable: { initialTimeoutSec: o.tlsTimeout },
    });
    this.session = session;
    const opening = DataPlaneLink.open(
      this.api,
      {
        ifname: this.run.ifname ?? o.dev,
        remoteAddress: server.address,
        remotePort: server.port,
        tcpFd: server.fd,
        device: await this.run.tun?.device(this.run.ifname ?? o.dev),
      },
      (packet) => {
        const r = session.receive(packet, Date.now());
        // the server's soft reset began a key state: its TLS engine first, then its ciphertext
        if (this.up && session.state !== 'failed' && session.keyId !== this.tlsKeyId)
          this.beginKeyState(session.keyId);
        if (r.tls !== undefined && r.keyId === this.tlsKeyId) this.tls?.ciphertextIn(r.tls);
        this.pump();
      },
      (reason) => this.fail(peerGoneError(reason, pingAction)),
      (keyId) => this.keyExhausted(keyId),
      (e) => this.fail(e),
    );
    this.opening = opening;
    this.link = await opening;
    // `close` meanwhile removes it once it is made
    if (this.closed) throw new Error('the client was closed while connecting');
    session.start(Date.now());
    this.tlsOptions = { tls: tlsConfig, log };
    const tls = this.newTls(0);
    this.tls = tls;
    this.pump();

    // the server's CN for scripts (common_name), read while the handshake's certificate is at hand
    let commonName: string | undefined;
    tls.socket.once('secureConnect', () => {
      commonName = peerCommonName(tls.socket);
    });
    await Promise.race([tls.handshake(), failed]).catch((e: unknown) => {
      throw tls.explainFailure(e, session.remoteSessionId !== undefined);
    });
    log(`Control Channel: ${tls.socket.getProtocol()}, cipher ${tls.socket.getCipher().name}`);

    // key-method 2, in a TLS write of its own
    const mine: KeySource = {
      preMaster: randomBytes(48),
      random1: randomBytes(32),
      random2: randomBytes(32),
    };
    const peerInfo = buildPeerInfo({
      version: IV_VER,
      dataCiphers: o.dataCiphers,
      compressionStubs: true,
    });
    this.occ = occWithCompression(occString(o, ce), o.compression);
    this.peerInfoText = peerInfo;
    const plaintext = this.readPlaintext(tls);
    await Promise.race([this.writeKeyMethod2(tls, mine), failed]);
    const theirs = await Promise.race([plaintext.keyMethod2, failed]);
    log(`Peer options: ${theirs.options}`);
    this.pushTimer = setTimeout(() => this.sendPushRequest(), PUSH_REQUEST_FIRST_MS);
    // the reply as received, and as the pull filters left it (the auth-token was taken from that)
    const { options: pushedOptions, filtered } = await Promise.race([plaintext.pushReply, failed]);
    clearTimeout(this.pushTimer);
    const pushed = parsePushedOptions(filtered.map(redactControlMessage));
    this.ccExit = pushed.protocolFlags.includes('cc-exit');

    const cipher = pushed.cipher;
    if (cipher === undefined || !o.dataCiphers.includes(cipher))
      throw pushFailed(
        `the server pushed cipher ${cipher ?? '(none)'}, not one of ${o.dataCiphers.join(':')}`,
      );
    if (pushed.peerId === undefined)
      throw pushFailed('the server pushed no peer-id (DATA_V1 is not supported)');
    const keys = keyStateKeys(pushed.tlsEkm, tls, mine, theirs.keySource, session, cipher);
    const link = this.link;
    const data = peerDataOptions(o, ce, pushed, { proto: ce.remote.proto, family });
    link.peerDataOptions = data;
    const keepalive = effectiveKeepalive(o, pushed);
    pingAction = keepalive?.action ?? 'restart';
    await link.setPeer(pushed.peerId, keepalive);
    this.cipher = cipher;
    this.tlsEkm = pushed.tlsEkm;
    this.dco = new DcoKeys(
      {
        keyNew: (slot, keyId, k) => link.installKey(keyId, k, slot),
        keySwap: () => link.swapKeys(),
        keyDel: (slot) => link.deleteKey(slot),
      },
      (m) => log(m),
    );
    this.dco.install(0, keys);
    keys.encrypt.key.fill(0);
    keys.decrypt.key.fill(0);
    await link.settled();
    log(
      `Data Channel: cipher '${cipher}', peer-id: ${pushed.peerId}, key derivation ${pushed.tlsEkm ? 'tls-ekm' : 'prf'}`,
    );
    log(`Data Channel: compression framing ${data.compFraming}, MSS clamp ${data.mssClamp || 'off'}`);
    const remote = { address: server.address, port: server.port, family };
    const makeNet = () =>
      new NetConfig(o, { log, ifname: link.ifname, ifindex: link.ifindex, remote, commonName });
    let net: AppliedNetConfig;
    try {
      if (this.run.tun === undefined) {
        this.net = makeNet();
        net = this.net.up(filtered);
      } else net = this.run.tun.configure(filtered, makeNet); // persist-tun: the keeper owns it
    } catch (e) {
      // 2.6 ends the process when the device cannot be configured or the up script fails (M_FATAL)
      throw Object.assign(e instanceof Error ? e : new Error(String(e)), { fatal: true });
    }
    session.markEstablished(Date.now());
    this.up = true;
    this.stopRenegTraffic = pollRenegTraffic(
      { bytes: o.renegBytes, packets: o.renegPkts },
      () => {
        let counters: PeerInfo | undefined;
        try {
          counters = this.closed ? undefined : link.counters();
        } catch {
          // the peer is gone (ENOENT while tearing down): no sample
          counters = undefined;
        }
        return counters === undefined ? undefined : { keyId: session.keyId, counters };
      },
      (reason) => {
        if (session.renegotiate(Date.now()) === undefined) return;
        log(`TLS: renegotiation by reneg-bytes/reneg-pkts (${reason}), new key-id ${session.keyId}`);
        this.queuePump();
      },
    );
    log(`Initialization Sequence Completed${net.routeErrors > 0 ? ' With Errors' : ''}`);
    return {
      ifname: link.ifname,
      ifindex: link.ifindex,
      pushed,
      pushedOptions: pushedOptions.map(redactControlMessage),
      cipher,
      peerId: pushed.peerId,
      keyDerivation: pushed.tlsEkm ? 'tls-ekm' : 'prf',
      tlsVersion: tls.socket.getProtocol() ?? '',
      netCommands: net.commands,
    };
  }

  /** Whether the server answered yet (a packet of its session accepted): the server poll timeout. */
  heardFromServer(): boolean {
    return this.session?.remoteSessionId !== undefined;
  }

  /** Whether the socket to the server is ready (a TCP connect is done): the server poll timeout. */
  transportReady(): boolean {
    return this.session !== undefined;
  }

  /** peer-get of the tunnel's peer. */
  async peerInfo(): Promise<PeerInfo | undefined> {
    return this.link?.peerInfo();
  }

  /** Control session drop counters, for diagnostics. */
  drops(): Record<string, number> {
    return Object.fromEntries(this.session?.drops ?? []);
  }

  /** Tears everything down: timers, TLS, the peer, keys, device and socket. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abandon.abort();
    clearTimeout(this.timer);
    clearTimeout(this.pushTimer);
    this.stopRenegTraffic();
    this.session?.abort('closed');
    this.tls?.destroy();
    this.net?.beforeDeviceClose();
    // the down script runs once the device is gone (over ovpnd: once dev-del is answered)
    const linkClosed =
      this.link !== undefined
        ? this.link.close()
        : (this.opening?.then(
            (l) => l.close(),
            () => {},
          ) ?? Promise.resolve());
    const done = linkClosed
      .catch((e: unknown) => this.run.log(`ERROR: removing the device: ${(e as Error).message}`))
      .finally(() => this.net?.afterDeviceClose());
    this.run.onClosed?.(done);
  }

  /** The server's plaintext: first its key-method 2 message, then control messages. */
  private readPlaintext(tls: TlsChannel) {
    let gotKm2: (k: ReturnType<typeof decodeKeyMethod2>) => void = () => {};
    let gotPush: (o: { options: string[]; filtered: string[] }) => void = () => {};
    const keyMethod2 = new Promise<ReturnType<typeof decodeKeyMethod2>>((r) => {
      gotKm2 = r;
    });
    const pushReply = new Promise<{ options: string[]; filtered: string[] }>((r) => {
      gotPush = r;
    });
    const reader = new ControlMessageReader();
    const assembler = new PushReplyAssembler();
    let km2Done = false;
    tls.socket.on('data', (chunk: Buffer) => {
      if (tls !== this.tls) return; // a retired key state's TLS
      if (!km2Done) {
        // key_method_2_read: one read holds the message; the rest of that read is discarded
        km2Done = true;
        try {
          gotKm2(decodeKeyMethod2(chunk, 'server'));
        } catch (e) {
          this.fail(e as Error);
        }
        return;
      }
      for (const text of reader.push(chunk)) {
        const m = parseControlMessage(text);
        if (m.type === 'PUSH_REPLY') {
          // after the tunnel is up, a PUSH_REPLY renews the auth-token (auth_token.c)
          if (this.up) this.run.log(`PUSH: Received control message: '${redactControlMessage(text)}'`);
          const a = assembler.add(m.reply);
          if (a.state === 'done') {
            const log = this.run.log;
            if (!this.up)
              log(
                `PUSH: Received control message: '${redactControlMessage(`PUSH_REPLY,${a.options.join(',')}`)}'`,
              );
            let filtered: string[];
            try {
              filtered = acceptPushReply(
                a.options,
                this.options.pullFilters,
                this.auth,
                log,
                redactControlMessage,
              );
            } catch (e) {
              this.fail(pushFailed(e));
              return;
            }
            gotPush({ options: a.options, filtered });
          } else if (a.state === 'error') this.fail(pushFailed(new Error(a.reason)));
        } else {
          this.serverMessage(m, text);
        }
      }
    });
    tls.socket.on('error', (e) => {
      if (tls === this.tls) this.fail(e);
    });
    return { keyMethod2, pushReply };
  }

  /** The TLS engine of key state `keyId`: its ciphertext goes to that key state only. */
  private newTls(keyId: number): TlsChannel {
    const session = this.session!;
    return new TlsChannel({
      ...this.tlsOptions!,
      onCiphertext: (data) => {
        if (session.state !== 'failed') session.sendTls(data, keyId);
        this.queuePump();
      },
    });
  }

  /**
   * The control session began key state `keyId` (our reneg-sec, key-swap-ntf, or the server's soft
   * reset): a fresh TLS session on it, the old one retired (2.6 processes no control packets for the
   * lame duck), then key-method 2 and the new key on the data plane.
   */
  private beginKeyState(keyId: number): void {
    const old = this.tls;
    const tls = this.newTls(keyId);
    this.tls = tls;
    this.tlsKeyId = keyId;
    old?.destroy();
    this.run.log(`TLS: soft reset, new key-id ${keyId} (renegotiation ${this.session!.renegotiations})`);
    this.renegotiateKey(keyId, tls).catch((e: unknown) =>
      this.fail(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** TLS handshake and key-method 2 of a renegotiation (no pull), then the new key (ssl.c, dco.c). */
  private async renegotiateKey(keyId: number, tls: TlsChannel): Promise<void> {
    const session = this.session!;
    const current = () => tls === this.tls && !this.closed && session.keyId === keyId;
    await tls.handshake();
    if (!current()) return;
    this.run.log(
      `Control Channel: ${tls.socket.getProtocol()}, cipher ${tls.socket.getCipher().name} (key-id ${keyId})`,
    );
    const mine: KeySource = {
      preMaster: randomBytes(48),
      random1: randomBytes(32),
      random2: randomBytes(32),
    };
    const plaintext = this.readPlaintext(tls);
    await this.writeKeyMethod2(tls, mine);
    if (!current()) return;
    // the ack of the server's key-method 2 waits until our new key can decrypt (see holdAcks)
    session.holdAcks(keyId, true);
    const release = setTimeout(() => {
      session.holdAcks(keyId, false);
      this.pump();
    }, ACK_HOLD_MAX_MS);
    try {
      const theirs = await plaintext.keyMethod2;
      if (!current()) return;
      const keys = keyStateKeys(this.tlsEkm, tls, mine, theirs.keySource, session, this.cipher);
      // let 2.7's bookkeeping see a lame duck that died meanwhile before the new key goes in
      this.updateKeys(Date.now());
      this.exhausted.delete(keyId);
      this.dco!.install(keyId, keys);
      keys.encrypt.key.fill(0);
      keys.decrypt.key.fill(0);
      session.markEstablished(Date.now(), keyId);
      // The acks stay held until the data plane has the key (over ovpnd, its answer comes later).
      // markEstablished goes first: a pass of dco_update_keys meanwhile must see the new key live,
      // or it would delete it from the secondary slot; the operations it issues follow key-new in order.
      await this.link!.settled();
    } finally {
      clearTimeout(release);
      session.holdAcks(keyId, false);
    }
    this.pump();
  }

  /** dco_update_keys after a pass of the control session. */
  private updateKeys(now: number): void {
    const session = this.session;
    if (this.dco === undefined || session === undefined || session.state === 'failed') return;
    const selected = session.encryptionKeyId(now, this.exhausted) ?? session.encryptionKeyId(now);
    try {
      this.dco.update(selected, session.secondaryKeyId(selected));
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** key-swap-ntf: the key's packet-ids ran out; 2.7 answers with a soft reset (forward.c process_incoming_dco). */
  private keyExhausted(keyId: number): void {
    const session = this.session;
    if (session === undefined || this.closed) return;
    this.exhausted.add(keyId);
    this.run.log(`DCO: key-id ${keyId} ran out of packet-ids`);
    if (this.up && session.keyId === keyId && session.renegotiate(Date.now()) !== undefined) {
      this.run.log(`TLS: soft reset on key-swap-ntf, new key-id ${session.keyId}`);
    }
    this.queuePump();
  }

  /**
   * Our key-method 2 in a TLS write of its own, with the username and password or the auth-token
   * (ssl.c key_method_2_write); the plaintext copy is zeroed once TLS has taken it.
   */
  private async writeKeyMethod2(tls: TlsChannel, mine: KeySource): Promise<void> {
    const cred = await this.auth.forKeyMethod2();
    const msg = encodeKeyMethod2(
      { keySource: mine, options: this.occ, peerInfo: this.peerInfoText, ...cred },
      'client',
    );
    cred?.password.fill(0);
    try {
      await tls.write(msg);
    } finally {
      msg.fill(0);
    }
  }

  /** A control message other than PUSH_REPLY (server-messages.ts). */
  private serverMessage(m: ControlMessage, text: string): void {
    if (this.closed) return;
    const r = serverMessage(m, text, this.auth);
    for (const line of r.log) this.run.log(line);
    const cmd = r.command;
    if (cmd === undefined || this.commanded) return;
    this.commanded = true;
    if (this.run.onServerCommand !== undefined) this.run.onServerCommand(cmd);
    else this.fail(new Error(cmd.authFailed ? cmd.message : `the server sent ${cmd.message}`));
  }

  /**
   * explicit-exit-notify before a clean exit (sig.c process_explicit_exit_notification_init): the
   * control message EXIT when the server pushed `protocol-flags cc-exit`, then a wait until the
   * server has acked it, at most N seconds (2.6 always waits the N seconds). The data-channel
   * OCC_EXIT of servers without cc-exit is not sent. Never throws.
   */
  async exitNotify(): Promise<void> {
    const n = this.entry?.explicitExitNotify ?? 0;
    const tls = this.tls;
    const session = this.session;
    if (n <= 0 || !this.up || this.closed || tls === undefined || session === undefined) return;
    if (!this.ccExit) {
      this.run.log(
        'WARNING: explicit-exit-notify: the server did not push protocol-flags cc-exit and ovpn-ts does not send the data-channel OCC_EXIT: the server sees the exit at its keepalive timeout',
      );
      return;
    }
    this.run.log('SIGTERM received, sending exit notification to peer');
    const deadline = Date.now() + n * 1000;
    const gone = () => this.closed || session.state === 'failed';
    let timer: NodeJS.Timeout | undefined;
    try {
      const sent = await Promise.race([
        tls.write(encodeControlMessage(exitMessage())).then(() => true),
        new Promise<false>((r) => {
          timer = setTimeout(() => r(false), n * 1000);
        }),
      ]);
      // let the TLS engine's ciphertext reach the session before asking whether all is acked
      await new Promise((r) => setImmediate(r));
      const acked =
        sent && (await waitUntil(() => gone() || session.sendIdle, Math.max(0, deadline - Date.now())));
      if (!acked || gone()) this.run.log('explicit-exit-notify: the server did not ack EXIT in time');
    } catch (e) {
      this.run.log(`explicit-exit-notify: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private sendPushRequest(): void {
    if (this.closed || this.tls === undefined) return;
    this.run.log('SENT CONTROL: PUSH_REQUEST');
    this.tls.socket.write(encodeControlMessage(pushRequest()));
    this.pushTimer = setTimeout(() => this.sendPushRequest(), PUSH_REQUEST_INTERVAL_MS);
  }

  private queuePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Sends what the session has to send, reports a failure, and arms the timer for its next wake. */
  private pump(): void {
    const session = this.session;
    const link = this.link;
    if (this.closed || session === undefined || link === undefined) return;
    const now = Date.now();
    for (const packet of session.poll(now)) link.send(packet);
    if (session.state === 'failed') {
      this.fail(session.failure!);
      return;
    }
    if (this.up) {
      if (session.keyId !== this.tlsKeyId) {
        this.beginKeyState(session.keyId);
        // its soft reset (and the held ClientHello, once acked) go out in this pass
        for (const packet of session.poll(now)) link.send(packet);
      }
      this.updateKeys(now);
    }
    clearTimeout(this.timer);
    const wake = session.nextWakeMs();
    if (wake !== Number.POSITIVE_INFINITY) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(wake - now, 2 ** 31 - 1)));
    }
  }
}

/**
 * The data-channel keys of one key state: from TLS-EKM when the server pushed `key-derivation
 * tls-ekm`, else from OpenVPN's PRF over both key sources and session ids. The 256-byte key2 is wiped
 * once the directions are cut from it.
 */
function keyStateKeys(
  ekm: boolean,
  tls: TlsChannel,
  mine: KeySource,
  theirs: KeySource,
  session: ClientSession,
  cipher: string,
): DataChannelKeys {
  let key2: Buffer;
  try {
    key2 = ekm
      ? key2FromEkm(tls.exportKeyingMaterial(KEY2_LEN, EKM_DATA_KEYS_LABEL))
      : key2FromLegacyPrf({
          client: mine,
          server: theirs,
          clientSessionId: session.sessionId,
          serverSessionId: session.remoteSessionId!,
        });
  } finally {
    // our pre-master secret is needed for this derivation only
    mine.preMaster?.fill(0);
  }
  try {
    return dataChannelKeys(key2, 'client', cipher);
  } finally {
    key2.fill(0);
  }
}

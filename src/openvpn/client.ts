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
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { PeerInfo } from '../api/messages.js';
import type { OvpnApi } from '../api/ovpn-api.js';
import type { ClientOptions } from '../config/client-options.js';
import { type ReadFileFn, readFileRef } from '../config/load.js';
import {
  ControlMessageReader,
  encodeControlMessage,
  PushReplyAssembler,
  parseControlMessage,
  pushRequest,
} from '../control/control-message.js';
import {
  dataChannelKeys,
  EKM_DATA_KEYS_LABEL,
  KEY2_LEN,
  key2FromEkm,
  key2FromLegacyPrf,
} from '../control/key-expansion.js';
import { buildPeerInfo, decodeKeyMethod2, encodeKeyMethod2, type KeySource } from '../control/key-method2.js';
import { maxControlPayload } from '../control/reliable.js';
import { ClientSession } from '../control/session.js';
import { makeControlWrap } from './control-wrap.js';
import { DataPlaneLink } from './data-plane-link.js';
import { applyNetConfig } from './net-config.js';
import { type PushedConfig, parsePushedOptions } from './pushed-options.js';
import { TlsChannel, tlsVersion } from './tls-channel.js';

/** The version we announce in IV_VER. */
export const IV_VER = '2.6.14';
/** push.c PUSH_REQUEST_INTERVAL, and the first request about a second after the handshake. */
const PUSH_REQUEST_INTERVAL_MS = 5000;
const PUSH_REQUEST_FIRST_MS = 1000;

export type LogFn = (msg: string) => void;

export interface ClientRunOptions {
  readFile: ReadFileFn;
  log: LogFn;
  /** The device name (default: `dev` of the options). */
  ifname?: string;
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

/** The OCC options string of a 2.6 client without `cipher` (openvpn-protocol.md §6). */
function occString(o: ClientOptions): string {
  return `V4,dev-type tun,link-mtu 1541,tun-mtu ${o.connections[0]?.tunMtu ?? 1500},proto UDPv4,auth ${o.auth},keysize 128,key-method 2,tls-client`;
}

export class OpenvpnClient {
  private link: DataPlaneLink | undefined;
  private session: ClientSession | undefined;
  private tls: TlsChannel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pushTimer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private fail: (e: Error) => void = () => {};
  private closed = false;

  constructor(
    private readonly api: OvpnApi,
    private readonly options: ClientOptions,
    private readonly run: ClientRunOptions,
  ) {}

  /** Connects to the first remote; resolves once the tunnel is up. Call `close` afterwards, or on failure. */
  async connect(): Promise<ClientUp> {
    const o = this.options;
    const ce = o.connections[0];
    if (ce === undefined) throw new Error('no remote in the configuration');
    if (ce.remote.proto !== 'udp') throw new Error('only UDP remotes are supported yet');
    if (o.ca === undefined) throw new Error('a CA (ca) is required');
    const log = this.run.log;
    const rf = this.run.readFile;
    const ca = Buffer.from(await readFileRef(o.ca, rf, 'ca'));
    const cert = o.cert === undefined ? undefined : Buffer.from(await readFileRef(o.cert, rf, 'cert'));
    const key = o.key === undefined ? undefined : Buffer.from(await readFileRef(o.key, rf, 'key'));
    const wrap = await makeControlWrap(ce.tlsWrap, o, rf);
    const family = ce.remote.family === 6 ? 6 : 4;
    const { address } = await lookup(ce.remote.host, { family });
    log(`UDP link remote: [AF_INET${family === 6 ? '6' : ''}]${address}:${ce.remote.port}`);

    const failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    failed.catch(() => {});
    const session = new ClientSession({
      wrap,
      maxPayload: maxControlPayload({ wrapOverhead: wrap.overhead, ipv6: family === 6 }),
      handWindowMs: o.handWindow * 1000,
      reliable: { initialTimeoutSec: o.tlsTimeout },
    });
    this.session = session;
    this.link = new DataPlaneLink(
      this.api,
      { ifname: this.run.ifname ?? o.dev, remoteAddress: address, remotePort: ce.remote.port },
      (packet) => {
        const r = session.receive(packet, Date.now());
        if (r.tls !== undefined) this.tls?.ciphertextIn(r.tls);
        this.pump();
      },
      (reason) => this.fail(new Error(`the data plane removed the peer: ${reason}`)),
    );
    session.start(Date.now());
    const tls = new TlsChannel({
      ca,
      cert,
      key,
      minVersion: tlsVersion(o.tlsVersionMin),
      requireServerEku: o.remoteCertTls === 'server',
      onCiphertext: (data) => {
        if (session.state !== 'failed') session.sendTls(data);
        this.queuePump();
      },
    });
    this.tls = tls;
    this.pump();

    await Promise.race([tls.handshake(), failed]);
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
      features: { ccExit: false },
    });
    const plaintext = this.readPlaintext(tls);
    await Promise.race([
      tls.write(encodeKeyMethod2({ keySource: mine, options: occString(o), peerInfo }, 'client')),
      failed,
    ]);
    const theirs = await Promise.race([plaintext.keyMethod2, failed]);
    log(`Peer options: ${theirs.options}`);
    this.pushTimer = setTimeout(() => this.sendPushRequest(), PUSH_REQUEST_FIRST_MS);
    const pushedOptions = await Promise.race([plaintext.pushReply, failed]);
    clearTimeout(this.pushTimer);
    log(`PUSH: Received control message: 'PUSH_REPLY,${pushedOptions.join(',')}'`);
    const pushed = parsePushedOptions(pushedOptions);

    const cipher = pushed.cipher;
    if (cipher === undefined || !o.dataCiphers.includes(cipher))
      throw new Error(
        `the server pushed cipher ${cipher ?? '(none)'}, not one of ${o.dataCiphers.join(':')}`,
      );
    if (pushed.peerId === undefined)
      throw new Error('the server pushed no peer-id (DATA_V1 is not supported)');
    const key2 = pushed.tlsEkm
      ? key2FromEkm(tls.exportKeyingMaterial(KEY2_LEN, EKM_DATA_KEYS_LABEL))
      : key2FromLegacyPrf({
          client: mine,
          server: theirs.keySource,
          clientSessionId: session.sessionId,
          serverSessionId: session.remoteSessionId!,
        });
    const keys = dataChannelKeys(key2, 'client', cipher);
    key2.fill(0);
    const link = this.link;
    const keepalive =
      pushed.ping !== undefined && pushed.pingRestart !== undefined
        ? { interval: pushed.ping, timeout: pushed.pingRestart }
        : undefined;
    link.setPeer(pushed.peerId, keepalive);
    link.installKey(0, keys);
    keys.encrypt.key.fill(0);
    keys.decrypt.key.fill(0);
    log(
      `Data Channel: cipher '${cipher}', peer-id: ${pushed.peerId}, key derivation ${pushed.tlsEkm ? 'tls-ekm' : 'prf'}`,
    );
    const net = applyNetConfig(link.ifname, pushed, this.options.connections[0]?.tunMtu ?? 1500);
    for (const c of net.commands) log(`net: ip ${c.join(' ')}`);
    session.markEstablished();
    log('Initialization Sequence Completed');
    return {
      ifname: link.ifname,
      ifindex: link.ifindex,
      pushed,
      pushedOptions,
      cipher,
      peerId: pushed.peerId,
      keyDerivation: pushed.tlsEkm ? 'tls-ekm' : 'prf',
      tlsVersion: tls.socket.getProtocol() ?? '',
      netCommands: net.commands,
    };
  }

  /** peer-get of the tunnel's peer. */
  peerInfo(): PeerInfo | undefined {
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
    clearTimeout(this.timer);
    clearTimeout(this.pushTimer);
    this.session?.abort('closed');
    this.tls?.destroy();
    this.link?.close();
  }

  /** The server's plaintext: first its key-method 2 message, then control messages. */
  private readPlaintext(tls: TlsChannel) {
    let gotKm2: (k: ReturnType<typeof decodeKeyMethod2>) => void = () => {};
    let gotPush: (o: string[]) => void = () => {};
    const keyMethod2 = new Promise<ReturnType<typeof decodeKeyMethod2>>((r) => {
      gotKm2 = r;
    });
    const pushReply = new Promise<string[]>((r) => {
      gotPush = r;
    });
    const reader = new ControlMessageReader();
    const assembler = new PushReplyAssembler();
    let km2Done = false;
    tls.socket.on('data', (chunk: Buffer) => {
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
          const a = assembler.add(m.reply);
          if (a.state === 'done') gotPush(a.options);
          else if (a.state === 'error') this.fail(new Error('bad push-continuation in PUSH_REPLY'));
        } else if (m.type === 'AUTH_FAILED') {
          this.fail(new Error(`AUTH_FAILED${m.reason === undefined ? '' : `,${m.reason}`}`));
        } else if (m.type === 'RESTART' || m.type === 'HALT') {
          this.fail(new Error(`the server sent ${m.type}${m.message ? `,${m.message}` : ''}`));
        } else {
          this.run.log(`control message ignored: ${text}`);
        }
      }
    });
    tls.socket.on('error', (e) => this.fail(e));
    return { keyMethod2, pushReply };
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
    clearTimeout(this.timer);
    const wake = session.nextWakeMs();
    if (wake !== Number.POSITIVE_INFINITY) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(wake - now, 2 ** 31 - 1)));
    }
  }
}

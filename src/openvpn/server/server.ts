/**
 * The ovpn-ts server (2.6 `mode server`, multi.c / mudp.c / mtcp.c) on one multipoint ovpn device:
 * every client is a peer of that device, with its VPN addresses, keepalive and keys (2.7 dco.c
 * dco_multi_add_new_peer and the DCO key handling), driven through the in-process OvpnApi.
 *
 * Transport (one per process, as 2.6: `proto udp` or `proto tcp-server`):
 * - UDP: one socket, dual-stack by default. It is attached to the device for the server's whole life
 *   by an anchor peer (an id no client gets, a VPN address in the discard prefix 100::/64 that nothing
 *   routes to, no keys, no keepalive): the device reads the socket, decrypts the data of the clients'
 *   peers and hands every other packet up here, where the listener (control/listener.ts) says what to
 *   do: the stateless cookie reply, a new client, or the client's own session. A client's peer is
 *   added once it passed TLS and key-method 2, with its real address as the remote.
 * - TCP: a listening socket; each accepted stream is handed to the device at once as the peer of a new
 *   client, with a placeholder VPN address (100::<peer-id>) until it is admitted and given its own
 *   (peer-set); the device frames the stream and hands the control frames up.
 *
 * Client removal (peer gone: keepalive timeout or the stream closed; EXIT; a failed handshake or
 * renegotiation): its peer is deleted, its addresses released. Teardown (`stop`): RESTART to every
 * client when explicit-exit-notify is set (multi_push_restart_schedule_exit), then the device goes
 * (with its peers, keys, addresses and routes) and the sockets are closed.
 *
 * The seams for the other server modules are the methods marked SEAM below: `admit` (address pool,
 * ccd, auth, client-connect), `clientGone` (client-disconnect, pool release, learn-address), and
 * `clientRecords` (status file, management).
 */
import type { PeerInfo } from '../../api/messages.js';
import { OvpnApi } from '../../api/ovpn-api.js';
import type { ReadFileFn } from '../../config/load.js';
import type { ClientConfig, ServerOptions } from '../../config/server-options.js';
import type { DataChannelKeys } from '../../control/key-expansion.js';
import { IvProto } from '../../control/key-method2.js';
import { type ListenerVerdict, ServerListener } from '../../control/listener.js';
import { type ControlPacket, decodeControl, PacketError } from '../../control/packet.js';
import { maxControlPayload } from '../../control/reliable.js';
import { ServerSession } from '../../control/server-session.js';
import { newSessionId, SessionCookie } from '../../control/session-id.js';
import type { ControlWrap } from '../../control/wrap/wrap.js';
import { WrapError } from '../../control/wrap/wrap.js';
import { socketInode } from '../../device/sockets.js';
import { Endpoint } from '../../net/endpoint.js';
import {
  accept4,
  close as closeFd,
  EAGAIN,
  EINTR,
  errno,
  ifNameToIndex,
  SOCK_CLOEXEC,
} from '../../sys/libc.js';
import { type FdWatcher, watchFd } from '../../sys/poll.js';
import { tcpListen } from '../../transport/tcp-socket.js';
import { createUdpSocket } from '../../transport/udp-socket.js';
import { OP_CONTROL_HARD_RESET_CLIENT_V2, OP_CONTROL_HARD_RESET_CLIENT_V3 } from '../../wire/opcode.js';
import { type CompFramingName, compFramingOf, mssClampFor } from '../data-options.js';
import { tcpFrame } from '../data-plane-link.js';
import { pollClientsRenegTraffic } from '../reneg-traffic.js';
import { reserveStaticAddresses, selectVpnAddresses } from './address-select.js';
import { ServerAuth } from './client-auth.js';
import { ClientConfigDir, disabledRefusal } from './client-config-dir.js';
import { IfconfigPool, type PoolLease, poolOptionsFromServer } from './ifconfig-pool.js';
import { type PoolPersistTask, startPoolPersist } from './pool-persist-file.js';
import { buildPushList, type ServerAddressing } from './push-list.js';
import { type ClientRecord, ServerClient, type ServerPlane } from './server-client.js';
import { ClientRoutes } from './server-routes.js';
import { ServerStatus } from './server-status.js';
import { loadServerTls, type ServerTlsConfig } from './server-tls.js';
import { ServerTun } from './server-tun.js';
import { makeServerWrapFactory } from './server-wrap.js';
import type { StatusSnapshot } from './status-file.js';
import { type StatusFileTask, startServerStatusFile } from './status-writer.js';

/** The anchor peer's id: above every client's (2.6 peer-ids are < max-clients). */
const ANCHOR_PEER_ID = 0xfffffe;
/** The 2-byte length before each packet on a TCP stream. */
const TCP_LENGTH = 2;

export interface ServerRunOptions {
  readFile: ReadFileFn;
  log: (msg: string) => void;
  /** The data plane (default: a new in-process one, closed by `stop`). */
  api?: OvpnApi;
  /** The config file's path (the scripts' `config` variable). */
  configFile?: string;
}

export class OpenvpnServer {
  private readonly clients = new Map<number, ServerClient>();
  /** UDP: client by real address text; TCP: client by socket identity. */
  private readonly byAddress = new Map<string, ServerClient>();
  private readonly bySocket = new Map<string, ServerClient>();
  private readonly tcpFds = new Map<ServerClient, number>();
  /** The pool entry each client holds. */
  private readonly leases = new Map<ServerClient, PoolLease>();
  private readonly ccd: ClientConfigDir | undefined;
  private readonly routes: ClientRoutes;
  private readonly persist: PoolPersistTask | undefined;
  private readonly statusView: ServerStatus;
  private readonly unsubscribe: (() => void)[] = [];
  /** Stops the reneg-bytes/reneg-pkts poll. */
  private readonly stopRenegTraffic: () => void;
  /** Accepted streams whose first frame (the client's reset) has not come yet, by socket identity. */
  private readonly tcpPending = new Map<string, TcpPending>();
  private listener: ServerListener | undefined;
  private listenFd = -1;
  private acceptWatch: FdWatcher | undefined;
  private stopped = false;
  private status: StatusFileTask | undefined;
  private nextClientId = 0;
  private readonly pool: IfconfigPool | undefined;
  private readonly addressing: ServerAddressing;
  private readonly plane: ServerPlane;
  private newWrap: (first: number) => ControlWrap = () => {
    throw new Error('not started');
  };

  private constructor(
    private readonly o: ServerOptions,
    private readonly run: ServerRunOptions,
    private readonly api: OvpnApi,
    private readonly ownsApi: boolean,
    private readonly tun: ServerTun,
    tls: ServerTlsConfig,
    private readonly auth: ServerAuth,
  ) {
    const poolOptions = poolOptionsFromServer(o);
    this.pool = poolOptions === undefined ? undefined : new IfconfigPool(poolOptions);
    for (const n of this.pool?.notes ?? []) run.log(n);
    this.ccd = ClientConfigDir.fromServer(o, run.log);
    if (this.pool !== undefined && this.ccd !== undefined)
      reserveStaticAddresses(this.pool, this.ccd.staticAddresses(), run.log);
    this.persist = startPoolPersist(o, this.pool, run.log);
    this.routes = new ClientRoutes(o, tun.ifindex, tun.ifname, run.log);
    this.statusView = new ServerStatus({
      records: () => this.clientRecords(),
      counters: (id) => this.peerCounters(id),
      routesOf: (id) => this.routes.routesOf(id),
    });
    this.addressing = {
      topology: o.topology,
      subnetNetmask:
        o.pool?.netmask ??
        (o.ifconfig?.topology === 'subnet' && o.ifconfig.remoteOrPrefix.includes('.')
          ? o.ifconfig.remoteOrPrefix
          : undefined),
      serverLocal: o.ifconfig?.local,
      serverIpv6: o.ifconfigIpv6,
    };
    this.stopRenegTraffic = pollClientsRenegTraffic({ bytes: o.renegBytes, packets: o.renegPkts }, () =>
      this.clients.values(),
    );
    this.plane = {
      log: run.log,
      tls,
      dataCiphers: o.dataCiphers,
      dataCiphersFallback: o.dataCiphersFallback,
      occ: occString(o),
      send: (c, p) => this.sendTo(c, p),
      admit: (c) => this.admit(c),
      counters: (c) => this.peerCounters(c.peerId),
      auth,
      addPeer: (c) => this.addPeer(c),
      keyNew: (c, slot, keyId, keys) => this.keyNew(c, slot, keyId, keys),
      keySwap: (c) =>
        this.op(() => this.api.keySwap({ ifindex: this.ifindex, keyconf: { 'peer-id': c.peerId } })),
      keyDel: (c, slot) =>
        this.op(() => this.api.keyDel({ ifindex: this.ifindex, keyconf: { 'peer-id': c.peerId, slot } })),
      gone: (c, reason) => this.clientGone(c, reason),
    };
  }

  get ifindex(): number {
    return this.tun.ifindex;
  }

  get ifname(): string {
    return this.tun.ifname;
  }

  /** The socket's port (UDP or the TCP listener). */
  port = 0;

  /** The UDP listener's counters: datagrams dropped by reason, stateless replies sent (undefined: TCP). */
  get listenerStats(): { drops: ServerListener['drops']; replies: number } | undefined {
    const l = this.listener;
    return l === undefined ? undefined : { drops: l.drops, replies: l.replies };
  }

  /** Creates the device, its addresses and routes, the listener socket; resolves once serving. */
  static async start(o: ServerOptions, run: ServerRunOptions): Promise<OpenvpnServer> {
    const tls = await loadServerTls(o, run.readFile);
    const newWrap = await makeServerWrapFactory(o, run.readFile);
    const ifname = resolveIfname(o.dev);
    let server: OpenvpnServer | undefined;
    const auth = await ServerAuth.create(o, {
      readFile: run.readFile,
      log: run.log,
      configFile: run.configFile,
      dev: ifname,
      sendControl: (c, text) => {
        if (server?.clients.get(c.peerId) === c) c.sendControl(text);
      },
      linkBytes: (c) => (server?.clients.get(c.peerId) === c ? server.linkBytes(c.peerId) : undefined),
    });
    const api = run.api ?? new OvpnApi();
    let tun: ServerTun | undefined;
    try {
      tun = ServerTun.create(api, o, ifname, run.log);
      // 2.6 do_open_tun: the addresses, then `up` (fatal when it fails), then the routes
      if (!(await auth.upDown('up'))) throw new Error(`up: the script failed: ${o.scripts.up}`);
      tun.addRoutes(o, run.log);
      const srv = new OpenvpnServer(o, run, api, run.api === undefined, tun, tls, auth);
      server = srv;
      srv.newWrap = newWrap;
      try {
        srv.listen();
      } catch (e) {
        await srv.stop();
        throw e;
      }
      srv.status = startServerStatusFile(
        o,
        () => srv.statusSnapshot(),
        (m) => run.log(`status: ${m}`),
      );
      run.log('Initialization Sequence Completed');
      return srv;
    } catch (e) {
      // a failed `up` is fatal in 2.6 (M_FATAL: the process ends, no `down`)
      if (tun !== undefined && !tun.closed) tun.close();
      if (run.api === undefined) api.close();
      throw e;
    }
  }

  /** SEAM (status, management): what is known about each client. */
  clientRecords(): ClientRecord[] {
    return [...this.clients.values()].map((c) => c.record);
  }

  /** SEAM (status): the data plane's counters of a client's peer (bytes, packets), or undefined. */
  peerCounters(peerId: number): PeerInfo | undefined {
    try {
      return this.api.peerGet({ ifindex: this.ifindex, peer: { id: peerId } });
    } catch {
      return undefined;
    }
  }

  /** SEAM (status file, management): the clients, their addresses, counters and iroutes (server-status.ts). */
  statusSnapshot(): StatusSnapshot {
    return this.statusView.snapshot();
  }

  /**
   * Ends the server: RESTART to the clients (explicit-exit-notify), then every client, the device and
   * the sockets go. Idempotent.
   */
  async stop(signal = 'sigterm'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.listener?.shutdown();
    if (this.o.explicitExitNotify > 0) {
      const ms = Math.min(this.o.explicitExitNotify, 2) * 1000;
      await Promise.all(
        [...this.clients.values()].map((c) => c.sendRestart(ms, this.o.explicitExitNotify === 2)),
      );
    }
    // 2.6 saves the pool before the clients go (their names are kept either way: soft release)
    this.persist?.close();
    this.stopRenegTraffic();
    for (const c of [...this.clients.values()]) this.clientGone(c, 'server exiting');
    for (const p of this.tcpPending.values()) closeFd(p.fd);
    this.tcpPending.clear();
    this.status?.close();
    this.routes.close();
    // client-disconnect and learn-address runs of the clients just removed
    await this.auth.drain(5000);
    for (const u of this.unsubscribe.splice(0)) u();
    this.acceptWatch?.close();
    if (!this.tun.closed) {
      this.tun.close();
      // 2.6 do_close_tun: `down` once the device is gone, with the signal that ended the run
      await this.auth.upDown('down', signal);
    }
    if (this.listenFd >= 0) {
      closeFd(this.listenFd);
      this.listenFd = -1;
    }
    if (this.ownsApi) this.api.close();
  }

  /** Control packets whose handling threw (a bug): dropped and counted, the first ten logged. */
  controlFaults = 0;

  private listen(): void {
    const l = this.o.listen;
    const family = l.family === 4 ? 4 : 6;
    this.unsubscribe.push(
      this.api.onControl((m) => {
        if (m.ifindex !== this.ifindex) return;
        // A fault here must not stop the device's delivery of control packets to us: counted, logged.
        try {
          this.control(m.socket, m['remote-addr'], m['remote-port'], m.packet);
        } catch (e) {
          this.controlFaults++;
          if (this.controlFaults <= 10) {
            const why = e instanceof Error ? e.message : String(e);
            this.run.log(
              `control packet from ${m['remote-addr']}:${m['remote-port']} dropped: internal error: ${why}`,
            );
          }
        }
      }),
      this.api.subscribe((n) => {
        if (n.name === 'peer-del-ntf' && n.msg.ifindex === this.ifindex) {
          const c = this.clients.get(n.msg.peer.id);
          if (c !== undefined) this.clientGone(c, `peer gone: ${n.msg.peer['del-reason']}`);
          // a stream that closed (or idled out) before its first packet
          for (const [socket, p] of this.tcpPending) {
            if (p.peerId !== n.msg.peer.id) continue;
            this.tcpPending.delete(socket);
            closeFd(p.fd);
          }
        } else if (n.name === 'key-swap-ntf' && n.msg.ifindex === this.ifindex) {
          this.clients.get(n.msg.keyconf['peer-id'])?.keyExhausted(n.msg.keyconf['key-id']);
        } else if (n.name === 'peer-float-ntf' && n.msg.ifindex === this.ifindex) {
          const c = this.clients.get(n.msg.peer.id);
          const p = n.msg.peer;
          const addr = p['remote-ipv4'] ?? p['remote-ipv6'];
          if (c !== undefined && addr !== undefined && p['remote-port'] !== undefined)
            this.floated(c, addr, p['remote-port']);
        }
      }),
    );
    if (l.proto === 'udp') {
      this.listenFd = createUdpSocket({
        family,
        port: l.port,
        address: l.local,
        v6only: l.ipv6only === true,
      });
      this.listener = new ServerListener({
        cookie: SessionCookie.create(this.o.handWindow),
        newWrap: this.newWrap,
        connectFreqInitial: this.o.connectFreqInitial,
        connectFreq: this.o.connectFreq,
        forceCookie: this.o.tlsCryptV2ForceCookie,
      });
      // the anchor keeps the socket attached to the device while no client is there
      this.api.peerNew({
        ifindex: this.ifindex,
        peer: {
          id: ANCHOR_PEER_ID,
          socket: this.listenFd,
          ...(family === 4
            ? { 'remote-ipv4': '127.0.0.1', 'remote-port': 9 }
            : { 'remote-ipv6': '::1', 'remote-port': 9 }),
          'vpn-ipv6': '100::fffe',
        },
      });
      this.port = Number(
        this.api.peerGet({ ifindex: this.ifindex, peer: { id: ANCHOR_PEER_ID } })['local-port'],
      );
      this.run.log(
        `UDP${family === 4 ? 'v4' : 'v6'} link local (bound): ${l.local ?? '[AF_INET6]'}:${this.port}`,
      );
    } else {
      this.listenFd = tcpListen({
        family,
        port: l.port,
        address: l.local,
        backlog: 32,
        v6only: l.ipv6only === true,
      });
      this.acceptWatch = watchFd(this.listenFd, { readable: true, writable: false }, () => this.acceptAll());
      this.port = l.port;
      this.run.log(
        `TCPv${family === 4 ? 4 : 6}_SERVER link local (bound): ${l.local ?? '[AF_INET6]'}:${l.port}`,
      );
    }
  }

  // ---- transport ----------------------------------------------------------------------------------

  private control(socket: string, addr: string, port: number, packet: Buffer): void {
    if (this.stopped) return;
    if (this.o.listen.proto === 'tcp') {
      const c = this.bySocket.get(socket);
      if (c !== undefined) {
        c.receive(packet.subarray(TCP_LENGTH));
        return;
      }
      const p = this.tcpPending.get(socket);
      if (p !== undefined) this.tcpFirst(socket, p, addr, port, packet.subarray(TCP_LENGTH));
      return;
    }
    const from = safeKey(addr, port);
    const known = this.byAddress.get(from);
    if (known !== undefined) {
      known.receive(packet);
      return;
    }
    const v = this.listener!.receive(from, packet, Date.now());
    this.verdict(v, from, addr, port);
  }

  private verdict(v: ListenerVerdict, from: string, addr: string, port: number): void {
    if (v.kind === 'reply') {
      this.op(() => this.api.controlSend(this.ifindex, this.listenFd, Endpoint.parse(addr, port), v.packet));
    } else if (v.kind === 'create') {
      if (this.clients.size >= this.o.maxClients) {
        this.run.log(
          `MULTI: new incoming connection from ${from} would exceed the maximum number of clients`,
        );
        return;
      }
      const session = new ServerSession({
        wrap: v.wrap,
        sessionId: v.sessionId ?? newSessionId(),
        clientSessionId: v.clientSessionId,
        from: v.from,
        maxPayload: maxControlPayload({
          wrapOverhead: v.wrap.overhead,
          ipv6: addr.includes(':') && !addr.startsWith('::ffff:'),
        }),
        handWindowMs: this.o.handWindow * 1000,
        renegMs: this.o.renegSec * 1000,
        tranWindowMs: this.o.tranWindow * 1000,
        reliable: { initialTimeoutSec: this.o.tlsTimeout },
        nowMs: Date.now(),
      });
      const c = new ServerClient(session, this.plane, this.freePeerId(), from, 'udp', this.nextClientId++);
      this.clients.set(c.peerId, c);
      this.auth.clientCreated(c, v.wrap);
      this.byAddress.set(from, c);
      this.listener!.attach(from);
      c.remote = { addr, port };
      this.run.log(`MULTI: new connection from ${from}, peer-id ${c.peerId}`);
      c.start(session.receivePacket(v.packet, Date.now()));
    }
  }

  private acceptAll(): void {
    for (;;) {
      const fd = accept4(this.listenFd, null, null, SOCK_CLOEXEC);
      if (fd < 0) {
        const e = errno();
        if (e !== EAGAIN && e !== EINTR) this.run.log(`TCP accept failed (errno ${e})`);
        return;
      }
      this.tcpClient(fd);
    }
  }

  /** An accepted stream: a client whose first frame is its hard reset, peer on the device at once. */
  private tcpClient(fd: number): void {
    if (this.stopped || this.clients.size >= this.o.maxClients) {
      closeFd(fd);
      return;
    }
    const wrap = this.newWrap(0);
    const peerId = this.freePeerId();
    // the session starts at the client's reset, which the first control frame brings (registered
    // before peer-new: the device may hand that frame up at once)
    const socketId = socketInode(fd);
    this.tcpPending.set(socketId, { peerId, fd, wrap });
    try {
      this.api.peerNew({
        ifindex: this.ifindex,
        peer: {
          id: peerId,
          socket: fd,
          'vpn-ipv6': `100::${peerId.toString(16)}`,
          'keepalive-interval': this.o.ping,
          'keepalive-timeout': this.o.handWindow,
        },
      });
    } catch (e) {
      this.run.log(`TCP: cannot attach the stream: ${(e as Error).message}`);
      this.tcpPending.delete(socketId);
      closeFd(fd);
      return;
    }
  }

  /** The first frame on a TCP stream: the client's hard reset. */
  private tcpFirst(socket: string, p: TcpPending, addr: string, port: number, frame: Buffer): void {
    const nowMs = Date.now();
    const plain = p.wrap.unwrap(frame, Math.floor(nowMs / 1000));
    const first = decodeFirstReset(plain);
    if (first === undefined) {
      this.run.log(`TCP ${safeKey(addr, port)}: the first packet is not a client reset: closing`);
      this.tcpPending.delete(socket);
      this.op(() => this.api.peerDel({ ifindex: this.ifindex, peer: { id: p.peerId } }));
      closeFd(p.fd);
      return;
    }
    this.tcpPending.delete(socket);
    const session = new ServerSession({
      wrap: p.wrap,
      sessionId: newSessionId(),
      clientSessionId: first.sessionId,
      from: 'reset',
      maxPayload: maxControlPayload({ wrapOverhead: p.wrap.overhead, ipv6: addr.includes(':') }),
      handWindowMs: this.o.handWindow * 1000,
      renegMs: this.o.renegSec * 1000,
      tranWindowMs: this.o.tranWindow * 1000,
      reliable: { initialTimeoutSec: this.o.tlsTimeout },
      nowMs,
    });
    const c = new ServerClient(
      session,
      this.plane,
      p.peerId,
      safeKey(addr, port),
      'tcp',
      this.nextClientId++,
    );
    this.clients.set(p.peerId, c);
    this.auth.clientCreated(c, p.wrap);
    this.bySocket.set(socket, c);
    this.tcpFds.set(c, p.fd);
    this.run.log(`MULTI: new TCP connection from ${c.record.realAddress}, peer-id ${c.peerId}`);
    // the client's reset first: our reset then carries its ack, as 2.6's does
    c.start(session.receivePacket(first, nowMs));
  }

  private sendTo(c: ServerClient, packet: Buffer): void {
    if (this.stopped && !this.clients.has(c.peerId)) return;
    if (c.record.proto === 'tcp') {
      const fd = this.tcpFds.get(c);
      if (fd === undefined) return;
      this.op(() => this.api.controlSend(this.ifindex, fd, undefined, tcpFrame(packet)));
    } else {
      const r = c.remote;
      if (r === undefined) return;
      this.op(() =>
        this.api.controlSend(this.ifindex, this.listenFd, Endpoint.parse(r.addr, r.port), packet),
      );
    }
  }

  private floated(c: ServerClient, addr: string, port: number): void {
    const key = safeKey(addr, port);
    if (c.record.proto !== 'udp' || c.record.realAddress === key) return;
    this.byAddress.delete(c.record.realAddress);
    this.listener?.detach(c.record.realAddress);
    this.run.log(`${c.record.commonName ?? '?'}: floated from ${c.record.realAddress} to ${key}`);
    c.record.realAddress = key;
    c.remote = { addr, port };
    this.byAddress.set(key, c);
    this.listener?.attach(key);
  }

  // ---- clients ------------------------------------------------------------------------------------

  /**
   * SEAM (ccd, auth, client-connect): may this client in, with which addresses and which PUSH_REPLY
   * options. Called after TLS and key-method 2 (the client authenticated), with the CN, peer-info and
   * cipher known. As 2.6 multi_connection_established: the ccd file (client-config-dir.ts:
   * ccd-exclusive, the file, `disable`), the addresses (address-select.ts: its ifconfig-push, else a
   * pool lease: multi_select_virtual_addr), client-connect (whose output is laid over the ccd's and
   * may set the address again), then the PUSH_REPLY with the auth-token, and the client's iroutes on
   * the tun (server-routes.ts).
   */
  private async admit(c: ServerClient): Promise<{ push: string[] } | { refuse: string }> {
    this.dropDuplicates(c);
    const ccdRead = this.ccd?.forClient(c.record.commonName);
    if (ccdRead !== undefined && 'refuse' in ccdRead) return ccdRead;
    const ccd = ccdRead?.config;
    if (disabledRefusal(ccd) !== undefined) {
      this.run.log(disabledRefusal(ccd)!);
      return { refuse: "'disable' directive" };
    }
    const others = () => [...this.clients.values()].filter((o) => o !== c).map((o) => o.record.vpn);
    const select = (config: ClientConfig | undefined, previous?: PoolLease) =>
      selectVpnAddresses({
        pool: this.pool,
        addressing: this.addressing,
        commonName: c.record.commonName,
        config,
        others: others(),
        log: this.run.log,
        previous,
      });
    const first = select(ccd);
    if ('refuse' in first) return first;
    const release = () => {
      if (first.lease !== undefined)
        this.pool?.release(first.lease.handle, true, Math.floor(Date.now() / 1000));
    };
    const connect = await this.auth.clientConnect(c, ccd, first.addresses);
    if (!this.clients.has(c.peerId) || this.clients.get(c.peerId) !== c) {
      release();
      return { refuse: 'gone' };
    }
    if (!connect.ok) {
      release();
      return { refuse: connect.reason };
    }
    const config = connect.config;
    if (disabledRefusal(config) !== undefined) {
      release();
      this.run.log(disabledRefusal(config)!);
      return { refuse: "'disable' directive" };
    }
    // selected again with client-connect's output (its ifconfig-push: the pool entry goes)
    const chosen = select(config, first.lease);
    if ('refuse' in chosen) return chosen;
    if (chosen.lease !== undefined) this.leases.set(c, chosen.lease);
    const addresses = chosen.addresses;
    c.record.vpn = addresses;
    const iroutes = [
      ...(config?.iroutes ?? []).map((r) => `${r.address}/${r.prefix}`),
      ...(config?.iroutesIpv6 ?? []).map((r) => `${r.address}/${r.prefix}`),
    ];
    const authToken = this.auth.admitted(c, addresses, iroutes);
    const info = c.record.peerInfo;
    const ivMtu = info?.vars.get('IV_MTU');
    const push = buildPushList({
      serverPush: this.o.push,
      client: config,
      addresses,
      // dynamic tls-crypt for renegotiations (2.6 ssl.c tls_session_generate_dynamic_tls_crypt_key) is
      // not implemented yet: not announcing it keeps the client on the configured control wrap
      ivProto: (info?.proto ?? 0) & ~IvProto.DYN_TLS_CRYPT,
      peerId: c.peerId,
      cipher: c.record.cipher,
      ncp: (info?.ciphers.length ?? 0) > 0,
      authToken,
      ivMtu: ivMtu === undefined ? undefined : Number(ivMtu),
      tunMtu: this.o.tunMtu,
    });
    this.routes.install(c.peerId, config, addresses);
    return { push };
  }

  /** peer-new (UDP, with the real address) or peer-set (TCP) with VPN addresses and keepalive. */
  private async addPeer(c: ServerClient): Promise<void> {
    const v = c.record.vpn;
    const vpn = {
      ...(v?.ifconfig !== undefined ? { 'vpn-ipv4': v.ifconfig.local } : {}),
      'vpn-ipv6': v?.ifconfigIpv6 !== undefined ? v.ifconfigIpv6.local : '::',
    };
    if (v?.ifconfig === undefined && v?.ifconfigIpv6 === undefined)
      throw new Error('the client has no VPN address');
    const keepalive =
      this.o.ping > 0 && this.o.pingRecvTimeout > 0
        ? { 'keepalive-interval': this.o.ping, 'keepalive-timeout': this.o.pingRecvTimeout }
        : {};
    const r = c.remote;
    const v6 = r?.addr.includes(':') === true && !r.addr.startsWith('::ffff:');
    const data = serverPeerDataOptions(this.o, c.record.proto, v6 ? 6 : 4);
    if (c.record.proto === 'tcp') {
      this.api.peerSet({ ifindex: this.ifindex, peer: { id: c.peerId, ...vpn, ...keepalive, ...data } });
      return;
    }
    if (r === undefined) throw new Error('the client has no address');
    this.api.peerNew({
      ifindex: this.ifindex,
      peer: {
        id: c.peerId,
        'tx-id': c.peerId,
        socket: this.listenFd,
        ...(r.addr.includes(':') ? { 'remote-ipv6': r.addr } : { 'remote-ipv4': r.addr }),
        'remote-port': r.port,
        ...vpn,
        ...keepalive,
        ...data,
      },
    });
  }

  private keyNew(c: ServerClient, slot: 'primary' | 'secondary', keyId: number, keys: DataChannelKeys): void {
    this.op(() =>
      this.api.keyNew({
        ifindex: this.ifindex,
        keyconf: {
          'peer-id': c.peerId,
          slot,
          'key-id': keyId,
          'cipher-alg': keys.cipher === 'CHACHA20-POLY1305' ? 'chacha20-poly1305' : 'aes-gcm',
          'encrypt-dir': {
            'cipher-key': keys.encrypt.key.toString('hex'),
            'nonce-tail': keys.encrypt.nonceTail.toString('hex'),
          },
          'decrypt-dir': {
            'cipher-key': keys.decrypt.key.toString('hex'),
            'nonce-tail': keys.decrypt.nonceTail.toString('hex'),
          },
        },
      }),
    );
  }

  /**
   * Without `duplicate-cn`, a new session with a common name drops the other sessions of that name
   * before it takes an address (2.6 multi.c multi_delete_dup, with its log line), so the name's
   * address is free for it.
   */
  private dropDuplicates(c: ServerClient): void {
    const cn = c.record.commonName;
    if (this.o.duplicateCn || cn === undefined) return;
    for (const other of [...this.clients.values()]) {
      if (other === c || other.record.commonName !== cn) continue;
      this.run.log(
        `MULTI: new connection by client '${cn}' will cause previous active sessions by this client to be dropped.  Remember to use the --duplicate-cn option if you want multiple clients using the same certificate or username to concurrently connect.`,
      );
      this.clientGone(other, 'a newer session with the same common name');
    }
  }

  /** SEAM (client-disconnect, pool release, learn-address delete): the client is removed. */
  private clientGone(c: ServerClient, reason: string): void {
    if (this.clients.get(c.peerId) !== c) return;
    this.clients.delete(c.peerId);
    this.run.log(`${c.record.commonName ?? '?'}/${c.record.realAddress} removed: ${reason}`);
    c.close();
    if (c.record.proto === 'udp') {
      this.byAddress.delete(c.record.realAddress);
      this.listener?.detach(c.record.realAddress);
    } else {
      for (const [k, v] of this.bySocket) if (v === c) this.bySocket.delete(k);
    }
    this.auth.clientGone(c, this.linkBytes(c.peerId));
    try {
      this.api.peerDel({ ifindex: this.ifindex, peer: { id: c.peerId } });
    } catch {
      // already gone (the notification that brought us here)
    }
    const fd = this.tcpFds.get(c);
    if (fd !== undefined) {
      this.tcpFds.delete(c);
      closeFd(fd);
    }
    this.routes.remove(c.peerId);
    const lease = this.leases.get(c);
    this.leases.delete(c);
    if (lease !== undefined) this.pool?.release(lease.handle, false, Math.floor(Date.now() / 1000));
  }

  /** The link bytes of a client's peer (client-disconnect's bytes_received/bytes_sent), if it is there. */
  private linkBytes(peerId: number): { rx: number | bigint; tx: number | bigint } | undefined {
    const p = this.peerCounters(peerId);
    return p === undefined ? undefined : { rx: p['link-rx-bytes'] ?? 0, tx: p['link-tx-bytes'] ?? 0 };
  }

  /** 2.6 multi_assign_peer_id: the lowest id no client has. */
  private freePeerId(): number {
    let id = 0;
    while (this.clients.has(id) || [...this.tcpPending.values()].some((p) => p.peerId === id)) id++;
    return id;
  }

  /** A data-plane operation whose failure is logged, not thrown (a packet lost, a peer already gone). */
  private op(f: () => unknown): void {
    try {
      f();
    } catch (e) {
      this.run.log(`data plane: ${(e as Error).message}`);
    }
  }
}

interface TcpPending {
  peerId: number;
  fd: number;
  wrap: ControlWrap;
}

/** "a.b.c.d:port" / "[v6]:port" for an address and port from the data plane; never throws. */
function safeKey(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** A stream's first packet, unwrapped: the client's hard reset (key-id 0, message id 0), or undefined. */
function decodeFirstReset(plain: Buffer | WrapError): ControlPacket | undefined {
  if (plain instanceof WrapError) return undefined;
  const p = decodeControl(plain);
  if (p instanceof PacketError) return undefined;
  // V3: a tls-crypt-v2 client's reset, its WKc already taken by the wrap
  const reset = p.opcode === OP_CONTROL_HARD_RESET_CLIENT_V2 || p.opcode === OP_CONTROL_HARD_RESET_CLIENT_V3;
  return reset && p.keyId === 0 && p.messageId === 0 ? p : undefined;
}

/** `dev tun` (or any name ending in no digit... only `tun`): the first free tunN, as the kernel names it. */
function resolveIfname(dev: string): string {
  if (dev !== 'tun') return dev;
  for (let i = 0; i < 256; i++) if (ifNameToIndex(`tun${i}`) === 0) return `tun${i}`;
  throw new Error('dev tun: no free tunN name');
}

/** The server's OCC options string (openvpn-protocol.md §6), as a 2.6 server sends it. */
function occString(o: ServerOptions): string {
  const proto = o.listen.proto === 'udp' ? 'UDPv4' : 'TCPv4_SERVER';
  return `V4,dev-type tun,link-mtu 1559,tun-mtu ${o.tunMtu},proto ${proto},auth ${o.auth},keysize 128,key-method 2,tls-server`;
}

/**
 * The compression framing and MSS clamp of a client's peer: the server config's `comp-lzo no` /
 * `compress stub(-v2)` framing (2.6 frames every client's data with its own compression setting) and
 * its mssfix, computed as 2.6's mss.c does for the client's transport (data-options.ts).
 */
export function serverPeerDataOptions(
  o: Pick<ServerOptions, 'compression' | 'mssfix' | 'tunMtu'>,
  proto: 'udp' | 'tcp',
  family: 4 | 6,
): { 'mss-clamp': number; 'comp-framing': CompFramingName } {
  return {
    'mss-clamp': mssClampFor({
      mssfix: o.mssfix,
      tunMtu: o.tunMtu,
      proto,
      family,
      compression: o.compression,
    }),
    'comp-framing': compFramingOf(o.compression),
  };
}

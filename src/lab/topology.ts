/**
 * The test, demo and benchmark topology, the kernel selftests' star (spec ovpn-kernel §7.4) as built by
 * star.ts: one server namespace with an MP device and N client namespaces with a P2P device each, every
 * client joined to the server by its own veth pair; one ovpn-agent per namespace, driven with
 * OvpndClient over its stdio link; keys generated for the run.
 *
 *   server  <prefix>-srv: tun0 5.5.5.1/24 fd55::1/64   veth v<i>s 10.10.<i>.1/24 fd00:0:0:<i>::1/64
 *   client  <prefix>-c<i>: tun<i> 5.5.5.<i+1>/24 fd55::<i+1>/64   veth v<i>c 10.10.<i>.2/24 fd00:0:0:<i>::2/64
 *
 * Peer ids are asymmetric by default, as in the selftests: the server knows client i as id i and sends
 * with tx-id i+9; the client knows the server as id i+9 and sends with tx-id i.
 */
import { EventLog } from '../client/event-log.js';
import { OvpndClient } from '../client/ovpnd-client.js';
import { NetnsLab } from './netns.js';
import { type KeyDir, linkClient, pingArgs, pingResult, randomKeyDir, vethAddr, vpnAddr } from './star.js';

export type { KeyDir };

export interface ClientSpec {
  /** Outer (transport) IP version between this client and the server. */
  transport: 4 | 6;
}

export interface TopologyOptions {
  prefix: string;
  clients: ClientSpec[];
  cipher?: 'aes-gcm' | 'chacha20-poly1305';
  /** Key length for AES-GCM: 16, 24 or 32 (ChaCha20-Poly1305 always 32). */
  keyLen?: number;
  /** Tunnel MTU; default: the device default (1416). */
  mtu?: number;
  /** MSS clamp of every peer on both sides (`mss-clamp`; OpenVPN's mssfix); default none. */
  mssClamp?: number;
  symmetricIds?: boolean;
  /** UDP port everywhere (selftests use 1). */
  port?: number;
  /** The server's device mode; 'p2p' takes exactly one client. Default 'mp'. */
  serverMode?: 'mp' | 'p2p';
  /** Transport protocol; with TCP each client connects to the server's listening socket. */
  proto?: 'udp' | 'tcp';
  /** SO_MARK of the server's UDP socket. */
  serverMark?: number;
}

export interface TunnelNode {
  ns: string;
  /** The client of this namespace's ovpn-agent (subscribed to notifications). */
  agent: OvpndClient;
  /** Its notifications and control packets. */
  events: EventLog;
  /** The agent's process id (daemon-info). */
  agentPid: number;
  ifname: string;
  ifindex: number;
  vpn4: string;
  vpn6: string;
  /** fd of the UDP socket, in the agent's process. */
  sockFd: number;
}

export interface ClientNode extends TunnelNode {
  index: number;
  transport: 4 | 6;
  /** Transport addresses: the client's and the server's end of its veth. */
  addr: string;
  serverAddr: string;
  /** The server's id for this client, and the client's id for the server. */
  serverPeerId: number;
  clientPeerId: number;
  /** The server-side fd of this client's socket (UDP: the server's shared socket; TCP: the accepted one). */
  serverFd: number;
}

export class Topology {
  readonly lab: NetnsLab;
  server!: TunnelNode;
  readonly clients: ClientNode[] = [];
  readonly cipher: 'aes-gcm' | 'chacha20-poly1305';
  readonly keyLen: number;
  readonly port: number;
  readonly proto: 'udp' | 'tcp';
  /** TCP: the server's listening socket (fd in the server agent). */
  private listenFd = -1;
  /** Every agent started, also those of a node that failed half-way. */
  private readonly agents: OvpndClient[] = [];

  private constructor(readonly opts: TopologyOptions) {
    this.lab = new NetnsLab(opts.prefix);
    this.cipher = opts.cipher ?? 'aes-gcm';
    this.keyLen = this.cipher === 'chacha20-poly1305' ? 32 : (opts.keyLen ?? 32);
    this.port = opts.port ?? 1;
    this.proto = opts.proto ?? 'udp';
  }

  /** Builds everything and brings the tunnels up with key-id 0 in the primary slots. */
  static async create(opts: TopologyOptions): Promise<Topology> {
    const t = new Topology(opts);
    try {
      await t.build();
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  private async build(): Promise<void> {
    const { lab } = this;
    const srvNs = lab.ns('srv');
    const serverMode = this.opts.serverMode ?? 'mp';
    if (serverMode === 'p2p' && this.opts.clients.length !== 1)
      throw new Error('a P2P server takes one client');
    this.server = await this.node(srvNs, 'tun0', serverMode, 0);
    // The server relays between clients, as an OpenVPN server with client-to-client traffic does.
    lab.exec(srvNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    for (let i = 1; i <= this.opts.clients.length; i++) {
      const spec = this.opts.clients[i - 1];
      const ns = lab.ns(`c${i}`);
      linkClient(lab, srvNs, `v${i}s`, ns, `v${i}c`, i);
      const n = await this.node(ns, `tun${i}`, 'p2p', i);
      const offset = this.opts.symmetricIds ? 0 : 9;
      this.clients.push({
        ...n,
        index: i,
        transport: spec.transport,
        addr: vethAddr(i, 2, spec.transport),
        serverAddr: vethAddr(i, 1, spec.transport),
        serverPeerId: i,
        clientPeerId: i + offset,
        serverFd: this.server.sockFd,
      });
    }
    for (const c of this.clients) await this.connect(c);
  }

  /** Starts an agent in `ns`, creates node n's device, its addresses and a dual-stack UDP socket. */
  private async node(ns: string, ifname: string, mode: 'p2p' | 'mp', n: number): Promise<TunnelNode> {
    const vpn4 = vpnAddr(n, 4);
    const vpn6 = vpnAddr(n, 6);
    const agent = OvpndClient.spawnAgent({ netns: ns });
    this.agents.push(agent);
    const events = new EventLog(agent);
    await agent.subscribe();
    const agentPid = (await agent.daemonInfo()).pid;
    const dev = await agent.request<{ ifindex: number }>('dev-new', { ifname, mode });
    const ip = (args: string[]) => this.lab.exec(ns, 'ip', args);
    if (this.opts.mtu !== undefined) ip(['link', 'set', ifname, 'mtu', String(this.opts.mtu)]);
    ip(['addr', 'add', `${vpn4}/24`, 'dev', ifname]);
    ip(['addr', 'add', `${vpn6}/64`, 'dev', ifname, 'nodad']);
    ip(['link', 'set', ifname, 'up']);
    let fd = -1;
    const server = ifname === 'tun0';
    if (this.proto === 'udp') {
      const mark = server ? this.opts.serverMark : undefined;
      fd = (await agent.request<{ fd: number }>('udp-socket', { family: 6, port: this.port, mark })).fd;
    } else if (server) {
      this.listenFd = (await agent.request<{ fd: number }>('tcp-listen', { family: 6, port: this.port })).fd;
    }
    return { ns, agent, events, agentPid, ifname, ifindex: dev.ifindex, vpn4, vpn6, sockFd: fd };
  }

  /** Adds the peer on both sides and installs a fresh key pair in the primary slots (key-id 0). */
  private async connect(c: ClientNode): Promise<void> {
    const s = this.server;
    const udp = this.proto === 'udp';
    if (!udp) {
      // the control planes' job: the client connects, the server accepts; then both hand the fds over
      const accepted = s.agent.request<{ fd: number }>('tcp-accept', { fd: this.listenFd });
      c.sockFd = (
        await c.agent.request<{ fd: number }>('tcp-connect', {
          'remote-addr': c.serverAddr,
          'remote-port': this.port,
        })
      ).fd;
      c.serverFd = (await accepted).fd;
    }
    const mss = this.opts.mssClamp === undefined ? {} : { 'mss-clamp': this.opts.mssClamp };
    const remote = (addr: string) =>
      udp ? { [c.transport === 4 ? 'remote-ipv4' : 'remote-ipv6']: addr, 'remote-port': this.port } : {};
    await s.agent.request('peer-new', {
      ifindex: s.ifindex,
      peer: {
        id: c.serverPeerId,
        'tx-id': c.clientPeerId,
        socket: c.serverFd,
        ...remote(c.addr),
        ...(this.opts.serverMode === 'p2p' ? {} : { 'vpn-ipv4': c.vpn4, 'vpn-ipv6': c.vpn6 }),
        ...mss,
      },
    });
    await c.agent.request('peer-new', {
      ifindex: c.ifindex,
      peer: {
        id: c.clientPeerId,
        'tx-id': c.serverPeerId,
        socket: c.sockFd,
        ...remote(c.serverAddr),
        ...mss,
      },
    });
    await this.installKeys(c, 0, 'primary');
  }

  /** Fresh keys for both directions of client `c`'s tunnel, into `slot` on both sides. */
  async installKeys(c: ClientNode, keyId: number, slot: 'primary' | 'secondary'): Promise<void> {
    const c2s = randomKeyDir(this.keyLen);
    const s2c = randomKeyDir(this.keyLen);
    const conf = (peerId: number, enc: KeyDir, dec: KeyDir) => ({
      'peer-id': peerId,
      slot,
      'key-id': keyId,
      'cipher-alg': this.cipher,
      'encrypt-dir': enc,
      'decrypt-dir': dec,
    });
    await this.server.agent.request('key-new', {
      ifindex: this.server.ifindex,
      keyconf: conf(c.serverPeerId, s2c, c2s),
    });
    await c.agent.request('key-new', { ifindex: c.ifindex, keyconf: conf(c.clientPeerId, c2s, s2c) });
  }

  /** Runs `ping` in `ns`; resolves with packets sent and received. */
  async ping(
    ns: string,
    dst: string,
    opts: { count?: number; size?: number; intervalS?: number; deadlineS?: number; flood?: boolean } = {},
  ): Promise<{ sent: number; received: number; output: string }> {
    const deadlineS = opts.deadlineS ?? 10;
    const args = pingArgs(dst, {
      count: opts.count ?? 3,
      flood: opts.flood,
      intervalS: opts.flood ? undefined : (opts.intervalS ?? 0.2),
      size: opts.size,
      deadlineS,
    });
    const r = await this.lab.run(ns, 'ping', args, (deadlineS + 5) * 1000);
    const { sent, received } = pingResult(r);
    return { sent, received, output: r.stdout + r.stderr };
  }

  /** Stops every agent (deleting its devices) and tears the namespaces down. */
  async close(): Promise<void> {
    for (const a of this.agents) a.close();
    await Promise.all(this.agents.map((a) => a.closed));
    await this.lab.cleanup();
  }
}

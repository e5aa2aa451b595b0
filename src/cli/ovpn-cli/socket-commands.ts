/**
 * The commands that make sockets and hand them to ovpnd: new_peer, new_multi_peer (UDP), listen and
 * connect (TCP). Like the selftest tool they end in the background, holding the sockets and the
 * management connection (hold.ts), and the foreground exits with the tool's status: 0 once the holder
 * runs, even when new_peer's peer-new or connect's control packet failed (the tool daemonizes anyway).
 */

import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { OvpndClient } from '../../client/ovpnd-client.js';
import { close } from '../../sys/libc.js';
import { tcpAccept, tcpConnect, tcpListen } from '../../transport/tcp-socket.js';
import { createUdpSocket } from '../../transport/udp-socket.js';
import {
  AddressError,
  parsePort,
  type ResolvedAddress,
  remoteAttrs,
  resolveHost,
  vpnAttrs,
} from './address.js';
import type { Command } from './args.js';
import { holdInBackground } from './hold.js';
import { ifindexOf } from './interfaces.js';
import { keyNewMsg, readKeyFile } from './key-file.js';
import { PeersFileError, parseTcpPeers, parseUdpPeers, txIdFor } from './peers-file.js';
import { openSession, reportFailure, tryRequest } from './session.js';
import { ArgFailure, CliFailure, type Output } from './status.js';

/** Not in ERRNO (errors/ovpn-error.ts) or sys/libc.ts: the system's own number, through Node. */
const E2BIG = constants.errno.E2BIG;

type Cmd<N extends Command['cmd']> = Extract<Command, { cmd: N }>;

/** Most connections `listen` accepts (the tool's MAX_PEERS). */
export const MAX_TCP_PEERS = 10;
/** The listen backlog of the tool. */
export const LISTEN_BACKLOG = 10;
/** The fake control packet `connect` sends: a 2-byte length 1000, then 1000 bytes 0x86 (opcode 16). */
export const FAKE_CONTROL_PACKET = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(1000, 0x86)]);

/** Longest wait for anything the tool would block on forever (setTimeout's maximum). */
const FOREVER_MS = 2 ** 31 - 1;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A command-line address (the tool resolves these while parsing arguments). */
async function argAddress(
  out: Output,
  host: string,
  family: 0 | 4 | 6,
  what: string,
): Promise<ResolvedAddress> {
  try {
    return await resolveHost(host, family, ifindexOf);
  } catch (e) {
    out.err(`cannot resolve ${what}: ${message(e)}\n`);
    throw new ArgFailure(-1, 'address');
  }
}

function argPort(out: Output, s: string): number {
  try {
    return parsePort(s);
  } catch (e) {
    out.err(`cannot resolve remote: ${message(e)}\n`);
    throw new ArgFailure(-1, 'port');
  }
}

function readPeersFile(out: Output, path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    out.err(`cannot open file: ${path}\n`);
    throw new CliFailure(-1, 'peers file');
  }
}

function lineError(out: Output, e: unknown): CliFailure {
  if (e instanceof PeersFileError) out.err(`line ${e.line}: ${e.message}\n`);
  else if (e instanceof AddressError) out.err(`${e.message}\n`);
  else throw e;
  out.err('error while parsing line\n');
  return new CliFailure(-1, 'peers file line');
}

async function hold(out: Output, client: OvpndClient, fds: number[], what: string): Promise<void> {
  try {
    await holdInBackground(client, fds, what);
  } catch (e) {
    out.err(`cannot go to the background: ${message(e)}\n`);
    throw new CliFailure(-1, 'holder');
  }
}

function udpSocket(out: Output, lport: number, mark: number): number {
  try {
    return createUdpSocket({ family: 6, port: lport, reuse: true, mark: mark === 0 ? undefined : mark });
  } catch (e) {
    out.err(`cannot create UDP socket: ${message(e)}\n`);
    throw new CliFailure(-1, 'socket');
  }
}

export async function newPeer(c: Cmd<'new_peer'>, out: Output): Promise<void> {
  const remote = await argAddress(out, c.raddr, 0, `remote ${c.raddr}`);
  const rport = argPort(out, c.rport);
  const vpn = c.vpnaddr === undefined ? undefined : await argAddress(out, c.vpnaddr, 0, `vpnip ${c.vpnaddr}`);
  const fd = udpSocket(out, c.lport, 0);
  let client: OvpndClient;
  try {
    client = await openSession(out);
  } catch (e) {
    close(fd);
    throw e;
  }
  const peer = {
    id: c.peerId,
    'tx-id': c.txId,
    socket: fd,
    ...remoteAttrs(remote, rport),
    ...(vpn === undefined ? {} : vpnAttrs(vpn)),
  };
  // as in the tool, a refused peer-new is reported but the socket is held all the same (status 0)
  await tryRequest(out, client.peerNew({ ifindex: c.ifindex, peer }));
  await hold(out, client, [fd], `new_peer ${c.ifname} ${c.peerId}`);
}

export async function newMultiPeer(c: Cmd<'new_multi_peer'>, out: Output): Promise<void> {
  const fd = udpSocket(out, c.lport, c.mark);
  let client: OvpndClient | undefined;
  try {
    const entries = (() => {
      try {
        return parseUdpPeers(readPeersFile(out, c.peersFile));
      } catch (e) {
        throw e instanceof CliFailure ? e : lineError(out, e);
      }
    })();
    const peers: { entry: (typeof entries)[number]; peer: Record<string, unknown> }[] = [];
    for (const e of entries) {
      try {
        const remote = await resolveHost(e.raddr, 0, ifindexOf);
        const rport = parsePort(e.rport);
        const vpn = await resolveHost(e.vpnaddr, 0, ifindexOf);
        peers.push({
          entry: e,
          peer: {
            id: e.peerId,
            'tx-id': txIdFor(e, c.asymm),
            socket: fd,
            ...remoteAttrs(remote, rport),
            ...vpnAttrs(vpn),
          },
        });
      } catch (err) {
        throw lineError(out, err);
      }
    }
    client = await openSession(out);
    for (const { entry, peer } of peers) {
      const r = await tryRequest(out, client.peerNew({ ifindex: c.ifindex, peer }));
      if (!r.ok) {
        out.err(`cannot add peer to VPN: ${entry.peerId} ${entry.raddr} ${entry.rport} ${entry.vpnaddr}\n`);
        throw new CliFailure(r.status, 'peer-new');
      }
    }
  } catch (e) {
    client?.close();
    close(fd);
    throw e;
  }
  await hold(out, client, [fd], `new_multi_peer ${c.ifname} ${c.lport}`);
}

export async function listen(c: Cmd<'listen'>, out: Output): Promise<void> {
  const entries = (() => {
    try {
      return parseTcpPeers(readPeersFile(out, c.peersFile));
    } catch (e) {
      throw e instanceof CliFailure ? e : lineError(out, e);
    }
  })();
  if (entries.length > MAX_TCP_PEERS) {
    out.err('max peers reached!\n');
    throw new CliFailure(-E2BIG, 'too many peers');
  }
  const vpns: ResolvedAddress[] = [];
  for (const e of entries) {
    try {
      txIdFor(e, c.asymm);
      vpns.push(await resolveHost(e.vpnaddr, 0, ifindexOf));
    } catch (err) {
      throw lineError(out, err);
    }
  }
  let listenFd: number;
  try {
    listenFd = tcpListen({ family: c.ipv6 ? 6 : 4, port: c.lport, backlog: LISTEN_BACKLOG });
  } catch (e) {
    out.err(`${message(e)}\ncannot listen on TCP socket\n`);
    throw new CliFailure(-1, 'listen');
  }
  const fds = [listenFd];
  let client: OvpndClient | undefined;
  try {
    client = await openSession(out);
    const arrived = new Map<number, Buffer>();
    const waiters = new Map<number, (b: Buffer) => void>();
    client.onControl((m) => {
      if (arrived.has(m.socket)) return;
      const pkt = Buffer.from(m.packet, 'hex');
      arrived.set(m.socket, pkt);
      waiters.get(m.socket)?.(pkt);
    });
    const accepted: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      let fd: number;
      try {
        fd = await tcpAccept(listenFd, FOREVER_MS);
      } catch (err) {
        out.err(`accept: ${message(err)}\ncannot accept connection!\n`);
        throw new CliFailure(-1, 'accept');
      }
      out.err('Connection received!\n');
      fds.push(fd);
      accepted.push(fd);
      const peer = { id: e.peerId, 'tx-id': txIdFor(e, c.asymm), socket: fd, ...vpnAttrs(vpns[i]) };
      const r = await tryRequest(out, client.peerNew({ ifindex: c.ifindex, peer }));
      if (!r.ok) {
        out.err(`cannot add peer to VPN: ${e.peerId} ${e.vpnaddr}\n`);
        throw new CliFailure(r.status, 'peer-new');
      }
    }
    // one control packet from every client proves that they reach userspace
    const closed = client.closed.then(() => undefined);
    for (const fd of accepted) {
      const pkt =
        arrived.get(fd) ??
        (await Promise.race([new Promise<Buffer>((resolve) => waiters.set(fd, resolve)), closed]));
      if (pkt === undefined) {
        out.err('>>>> Error while reading TCP data: ovpnd closed the connection\n');
        break;
      }
      const header = pkt.length >= 2 ? pkt.readUInt16BE(0) : 0;
      out.out(`>>>> Received ${pkt.length} bytes over TCP socket, header: ${header}\n`);
    }
  } catch (e) {
    client?.close();
    for (const fd of fds) close(fd);
    throw e;
  }
  await hold(out, client, fds, `listen ${c.ifname} ${c.lport}`);
}

export async function connect(c: Cmd<'connect'>, out: Output): Promise<void> {
  const remote = await argAddress(out, c.raddr, 4, `remote ${c.raddr}`);
  const rport = argPort(out, c.rport);
  let key: ReturnType<typeof readKeyFile> | undefined;
  if (c.keyFile !== undefined) {
    try {
      key = readKeyFile(c.keyFile, 1);
    } catch (e) {
      out.err(`${message(e)}\n`);
      throw new ArgFailure(-1, 'key file');
    }
  }
  let fd: number;
  try {
    fd = await tcpConnect({ addr: remote.address, port: rport, timeoutMs: 130_000 });
  } catch (e) {
    out.err(`connect: ${message(e)}\ncannot connect TCP socket\n`);
    throw new CliFailure(-1, 'connect');
  }
  out.err('connected\n');
  let client: OvpndClient | undefined;
  try {
    client = await openSession(out);
    const r = await tryRequest(
      out,
      client.peerNew({ ifindex: c.ifindex, peer: { id: c.peerId, 'tx-id': c.txId, socket: fd } }),
    );
    if (!r.ok) {
      out.err('cannot add peer to VPN\n');
      throw new CliFailure(r.status, 'peer-new');
    }
    if (key !== undefined) {
      const k = await tryRequest(
        out,
        client.keyNew(
          keyNewMsg(c.ifindex, { peerId: c.peerId, slot: 'primary', keyId: 0, cipher: 'aes-gcm' }, key),
        ),
      );
      if (!k.ok) {
        out.err('cannot set key\n');
        throw new CliFailure(k.status, 'key-new');
      }
    }
    try {
      await client.controlSend({
        ifindex: c.ifindex,
        socket: fd,
        packet: FAKE_CONTROL_PACKET.toString('hex'),
      });
      out.out(`Sent ${FAKE_CONTROL_PACKET.length} bytes over TCP socket\n`);
    } catch (e) {
      // the tool reports the failed send and daemonizes all the same
      reportFailure(out, e);
      out.out('Sent 0 bytes over TCP socket\n');
    }
  } catch (e) {
    client?.close();
    close(fd);
    throw e;
  }
  await hold(out, client, [fd], `connect ${c.ifname} ${c.peerId}`);
}

/**
 * The commands that only talk to ovpnd: interfaces, peer settings, keys. Each prints what the selftest
 * tool prints and throws CliFailure with the tool's status when it fails.
 */
import type { Command } from './args.js';
import { keyNewMsg, readKeyFile } from './key-file.js';
import { formatKey, formatPeer } from './print.js';
import { openSession, request } from './session.js';
import { ArgFailure, type Output } from './status.js';

type Cmd<N extends Command['cmd']> = Extract<Command, { cmd: N }>;
type Json = Record<string, unknown>;

/** The object inside a reply that may come flat or wrapped (`{ peer: {...} }`). */
function unwrap(reply: unknown, key: string): Json {
  if (reply === null || typeof reply !== 'object') return {};
  const r = reply as Json;
  const inner = r[key];
  return inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Json) : r;
}

export async function newIface(c: Cmd<'new_iface'>, out: Output): Promise<void> {
  out.out(`Creating interface ${c.ifname} with mode ${c.mode === 'mp' ? 1 : 0}\n`);
  const s = await openSession(out, true);
  try {
    const msg: Record<string, unknown> = { ifname: c.ifname };
    if (c.mode !== undefined) msg.mode = c.mode;
    for (const off of c.offloadsOff) msg[off] = 0;
    await request(out, s.devNew(msg));
  } finally {
    s.close();
  }
}

export async function delIface(c: Cmd<'del_iface'>, out: Output): Promise<void> {
  out.out(`Deleting interface ${c.ifname} ifindex ${c.ifindex}\n`);
  const s = await openSession(out);
  try {
    await request(out, s.devDel({ ifindex: c.ifindex }));
  } finally {
    s.close();
  }
}

export async function setPeer(c: Cmd<'set_peer'>, out: Output): Promise<void> {
  const s = await openSession(out);
  try {
    await request(
      out,
      s.peerSet({
        ifindex: c.ifindex,
        peer: {
          id: c.peerId,
          'keepalive-interval': c.keepaliveInterval,
          'keepalive-timeout': c.keepaliveTimeout,
        },
      }),
    );
  } finally {
    s.close();
  }
}

export async function delPeer(c: Cmd<'del_peer'>, out: Output): Promise<void> {
  const s = await openSession(out);
  try {
    await request(out, s.peerDel({ ifindex: c.ifindex, peer: { id: c.peerId } }));
  } finally {
    s.close();
  }
}

export async function getPeer(c: Cmd<'get_peer'>, out: Output): Promise<void> {
  if (c.peerId === undefined) out.err(`List of peers connected to: ${c.ifname}\n`);
  const s = await openSession(out);
  try {
    if (c.peerId === undefined) {
      const peers = await request(out, s.peerDump({ ifindex: c.ifindex }));
      for (const p of peers) out.err(formatPeer(unwrap(p, 'peer')));
    } else {
      const p = await request(out, s.peerGet({ ifindex: c.ifindex, peer: { id: c.peerId } }));
      out.err(formatPeer(unwrap(p, 'peer')));
    }
  } finally {
    s.close();
  }
}

export async function newKey(c: Cmd<'new_key'>, out: Output): Promise<void> {
  // the tool reads the key file while parsing its arguments: failures are "invalid arguments"
  const material = (() => {
    try {
      return readKeyFile(c.keyFile, c.keyDir);
    } catch (e) {
      out.err(`${(e as Error).message}\n`);
      throw new ArgFailure(-1, 'key file');
    }
  })();
  const s = await openSession(out);
  try {
    await request(out, s.keyNew(keyNewMsg(c.ifindex, c, material)));
  } finally {
    s.close();
  }
}

export async function delKey(c: Cmd<'del_key'>, out: Output): Promise<void> {
  const s = await openSession(out);
  try {
    await request(out, s.keyDel({ ifindex: c.ifindex, keyconf: { 'peer-id': c.peerId, slot: c.slot } }));
  } finally {
    s.close();
  }
}

export async function getKey(c: Cmd<'get_key'>, out: Output): Promise<void> {
  const s = await openSession(out);
  try {
    const k = await request(
      out,
      s.keyGet({ ifindex: c.ifindex, keyconf: { 'peer-id': c.peerId, slot: c.slot } }),
    );
    out.err(formatKey(unwrap(k, 'keyconf')));
  } finally {
    s.close();
  }
}

export async function swapKeys(c: Cmd<'swap_keys'>, out: Output): Promise<void> {
  const s = await openSession(out);
  try {
    await request(out, s.keySwap({ ifindex: c.ifindex, keyconf: { 'peer-id': c.peerId } }));
  } finally {
    s.close();
  }
}

/**
 * Frames from a peer's TCP stream (spec ovpn-kernel §5.4): DATA_V2 frames are copied into the device's
 * receive batch (one copy: a stream read does not fall on packet boundaries) and then opened and
 * delivered like UDP datagrams, with the stream's peer regardless of the peer-id in the header; DATA_V1
 * is a stream error; anything else goes to the control plane as one framed packet, length included.
 */
import type { Peer } from '../peer/peer.js';
import type { TcpPeerSocket } from '../transport/peer-socket.js';
import type { TcpHandlers } from '../transport/tcp.js';
import { classify, PacketClass } from '../wire/opcode.js';
import { TCP_LENGTH_SIZE } from '../wire/tcp-frame.js';
import type { DatapathContext } from './context.js';
import { DropReason } from './drop-reason.js';
import { openAndDeliver } from './recv.js';

/** Why a TCP stream ended, as the owner must act on it. */
export type TcpStreamEnd = 'disconnect' | 'error';

/**
 * Handlers for `peer`'s stream on `sock`. `ended` is called once when the stream is over: 'disconnect'
 * when the remote closed it, 'error' for framing/protocol/IO errors.
 */
export function tcpFrameHandlers(
  ctx: DatapathContext,
  peer: Peer,
  sock: TcpPeerSocket,
  ended: (how: TcpStreamEnd, detail: string) => void,
): TcpHandlers {
  const batch = ctx.rxBatch;
  let k = 0;
  const flush = () => {
    if (k === 0) return;
    openAndDeliver(ctx, batch, k, undefined);
    k = 0;
  };
  return {
    frame(buf, start, end) {
      const cls = classify(buf[start]);
      if (cls === PacketClass.DATA_V2) {
        const len = end - start;
        if (k === batch.size) flush();
        const at = batch.dataStart(k);
        buf.copy(batch.mem.buf, at, start, end);
        batch.offs[k] = at;
        batch.lens[k] = len;
        ctx.slots[k] = k;
        ctx.slotPeers[k] = peer;
        k++;
        return;
      }
      if (cls === PacketClass.DATA_V1) {
        ctx.drops.add(DropReason.RX_DATA_V1);
        sock.transport.abort();
        ended('error', 'DATA_V1 on a TCP stream');
        return;
      }
      const packet = Buffer.from(buf.subarray(start - TCP_LENGTH_SIZE, end));
      if (ctx.control({ sock, from: sock.transport.remote, packet })) ctx.counters.controlIn++;
      else ctx.drops.add(DropReason.RX_CONTROL_UNCLAIMED);
    },
    flush,
    closed(why, detail) {
      flush();
      ended(why === 'eof' ? 'disconnect' : 'error', detail);
    },
  };
}

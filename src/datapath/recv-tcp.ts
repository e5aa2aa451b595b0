/**
 * Frames from a peer's TCP stream (spec ovpn-kernel §5.4): DATA_V2 frames are copied into the data
 * path's receive batch (one copy: a stream read does not fall on packet boundaries) and then opened and
 * delivered like UDP datagrams, with the stream's peer regardless of the peer-id in the header; DATA_V1
 * is a stream error; anything else is posted to the control plane as one framed packet, length
 * included. One read of the stream is one batch: upcalls posted by its frames reach the device when the
 * read is flushed.
 */
import type { Peer } from '../peer/peer.js';
import type { TcpPeerSocket } from '../transport/peer-socket.js';
import type { StreamHandlers } from '../transport/transport.js';
import { classify, PacketClass } from '../wire/opcode.js';
import { TCP_LENGTH_SIZE } from '../wire/tcp-frame.js';
import type { DataPath } from './datapath.js';
import { DropReason } from './drop-reason.js';
import { openAndDeliver } from './recv.js';

/** Handlers for `peer`'s stream on `sock`. Its end is posted as a `stream-end` upcall. */
export function streamHandlers(dp: DataPath, peer: Peer, sock: TcpPeerSocket): StreamHandlers {
  const batch = dp.rxBatch;
  const rx = dp.rx;
  let k = 0;
  let inBatch = false;
  const begin = () => {
    if (inBatch) return;
    inBatch = true;
    dp.upcalls.enter();
  };
  const deliver = () => {
    if (k === 0) return;
    openAndDeliver(dp, batch, k, undefined);
    k = 0;
  };
  const end = () => {
    if (!inBatch) return;
    inBatch = false;
    dp.upcalls.leave();
  };
  return {
    frame(buf, start, stop) {
      begin();
      const cls = classify(buf[start]);
      if (cls === PacketClass.DATA_V2) {
        if (k === batch.size) deliver();
        const at = batch.dataStart(k);
        buf.copy(batch.mem.buf, at, start, stop);
        batch.offs[k] = at;
        batch.lens[k] = stop - start;
        rx.slots[k] = k;
        rx.peers[k] = peer;
        k++;
        return;
      }
      if (cls === PacketClass.DATA_V1) {
        dp.drops.add(DropReason.RX_DATA_V1);
        sock.transport.abort();
        dp.upcalls.post({ kind: 'stream-end', peer, how: 'error' });
        return;
      }
      const packet = Buffer.from(buf.subarray(start - TCP_LENGTH_SIZE, stop));
      dp.upcalls.post({ kind: 'control', pkt: { sock, from: sock.transport.remote, packet } });
    },
    flush() {
      try {
        deliver();
      } finally {
        end();
      }
    },
    closed(why) {
      begin();
      try {
        deliver();
        dp.upcalls.post({ kind: 'stream-end', peer, how: why === 'eof' ? 'disconnect' : 'error' });
      } finally {
        end();
      }
    },
  };
}

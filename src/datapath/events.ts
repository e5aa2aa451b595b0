/**
 * What the data plane reports upwards: the kernel's three notification points (spec ovpn-kernel §2.5),
 * turned around so that the data path never imports the management layer. The management layer
 * implements this interface and turns calls into peer-del-ntf / key-swap-ntf / peer-float-ntf.
 */
import type { Peer } from '../peer/peer.js';

export interface DataplaneEvents {
  /** A key was killed because its TX packet-ids ran out: userspace must install a new one. */
  keySwapNeeded(peer: Peer, keyId: number): void;
  /** A UDP peer moved to a new remote address (`peer.remote`), learnt from an authenticated packet. */
  peerFloated(peer: Peer): void;
}

/** A sink that ignores everything. */
export const noEvents: DataplaneEvents = {
  keySwapNeeded: () => {},
  peerFloated: () => {},
};

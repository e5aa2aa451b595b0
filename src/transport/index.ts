/** UDP transport of the data plane: socket creation for owners, and the batched transport itself. */

export type {
  DatagramTransport,
  StreamCloseReason,
  StreamHandlers,
  StreamTransport,
} from './transport.js';
export { UdpTransport, type UdpTransportOptions } from './udp.js';
export { NAME_SIZE } from './udp-arena.js';
export type { SourceAddress } from './udp-cmsg.js';
export { GRO_MIN_SLOT } from './udp-gro.js';
export { GSO_MAX_SEGMENTS } from './udp-gso.js';
export {
  createUdpSocket,
  UDP_SOCKET_BUFFER,
  type UdpSocketOptions,
} from './udp-socket.js';

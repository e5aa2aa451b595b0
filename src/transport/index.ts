/** UDP transport of the data plane: socket creation for owners, and the batched transport itself. */
export {
  GRO_MIN_SLOT,
  GSO_MAX_SEGMENTS,
  NAME_SIZE,
  type SourceAddress,
  UDP_SOCKET_BUFFER,
  UdpTransport,
  type UdpTransportOptions,
} from './udp.js';
export { createUdpSocket, errnoName, sysError, type UdpSocketOptions } from './udp-socket.js';

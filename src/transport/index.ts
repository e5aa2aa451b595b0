/** UDP transport of the data plane: socket creation for owners, and the batched transport itself. */
export { NAME_SIZE, type SourceAddress, UDP_SOCKET_BUFFER, UdpTransport } from './udp.js';
export { createUdpSocket, errnoName, sysError, type UdpSocketOptions } from './udp-socket.js';

/** ovpn-ts: the OpenVPN data channel offload in TypeScript. The library's public surface. */

export * from './api/index.js';
export { type ConnectOptions, OvpndClient, OvpndError, startDaemon } from './client/ovpnd-client.js';
export * from './clock/clock.js';
export * from './crypto/index.js';
export * from './datapath/index.js';
export * from './errors/index.js';
export * from './keys/index.js';
export type { ApiOps, ControlPacketEvent, DaemonInfo, RemoteApiOps, WireEvent } from './mgmt/protocol.js';
export * from './peer/index.js';
export * from './pktid/index.js';
export * from './sys/address.js';
export * from './wire/index.js';

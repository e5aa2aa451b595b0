export { aeadOpen, aeadSeal } from './crypto.js';
export { DataPath, type DeviceCounters } from './datapath.js';
export { DROP_REASON_NAMES, DropCounters, DropReason } from './drop-reason.js';
export { openPacket } from './recv.js';
export type { ControlPacket, KeyEvents, StreamEnd, Upcall } from './upcalls.js';
export { sealPacket } from './xmit.js';

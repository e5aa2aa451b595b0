export { openPacket, sealPacket } from './crypt.js';
export { DROP_REASON_NAMES, DropCounters, DropReason } from './drop-reason.js';
export { type DataplaneEvents, noEvents } from './events.js';

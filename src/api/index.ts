export type { Attrs } from './attrs.js';
export type * from './messages.js';
export { OvpnApi, type OvpnApiOptions } from './ovpn-api.js';
export { ATTR_SETS, CIPHER_ALGS, DEL_REASONS, KEY_SLOTS, MODES, NOTIFICATIONS, OPS } from './spec.js';

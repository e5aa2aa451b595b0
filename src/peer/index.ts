export { DEL_REASON_NAMES, DelReason } from './del-reason.js';
export { Peer } from './peer.js';
export { PeerStats, type PeerStatsSnapshot, Stat } from './stats.js';

export { PKTID_RECV_EXPIRE_MS, REPLAY_WINDOW_SIZE, ReplayWindow } from './replay.js';
export { PKTID_MAX, TxPacketId } from './xmit.js';

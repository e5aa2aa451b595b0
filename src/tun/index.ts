/** The device layer: the TUN side of an ovpn device. */
export type { TunDevice } from './tun.js';
export {
  createTun,
  type LinuxTunDevice,
  TUN_DEFAULT_MTU,
  TUN_MAX_MTU,
  TUN_MIN_MTU,
  type TunOptions,
} from './tun-linux.js';

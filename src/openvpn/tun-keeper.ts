/**
 * `persist-tun`: the client's tunnel device kept across SIGUSR1-style restarts (ping-restart, a failed
 * attempt, the server's RESTART), as OpenVPN 2.6 keeps its tun (init.c do_close_tun skips the close on
 * SIGUSR1 with persist_tun; do_open_tun then logs "Preserving previous TUN/TAP instance"). While the
 * client reconnects, the device stays with its addresses and routes, so traffic for the tunnel is
 * dropped on it rather than leaving by another route. After the reconnection, the addresses and routes
 * are set again only if the pushed options differ from last time (push.c push_update_digest; 2.6 then
 * closes and reopens the device: here the device carries the new peer already, so the old
 * configuration is taken back (routes, its addresses through rtnetlink, `down` script), and the new
 * one applied). SIGHUP and the exit release it (the lifecycle decides: lifecycle.ts), as a device close
 * does: routes, the device, then `down`.
 */
import { pushedDigest } from './connect-retry.js';
import type { DataPlane } from './data-plane.js';
import { TunnelDevice } from './data-plane-link.js';
import type { AppliedNetConfig } from './net-config.js';

/** One network configuration of the device (NetConfig fits). */
export interface DeviceNetConfig {
  up(pushedLines: readonly string[]): AppliedNetConfig;
  beforeDeviceClose(): void;
  /** Deletes the addresses `up` gave the device, which stays (a device close would take them). */
  removeAddresses(): void;
  afterDeviceClose(): void;
}

export class KeptTun {
  private dev: TunnelDevice | undefined;
  private digest: string | undefined;
  private net: DeviceNetConfig | undefined;
  private applied: AppliedNetConfig | undefined;

  constructor(
    private readonly api: DataPlane,
    private readonly log: (msg: string) => void,
  ) {}

  /** The kept device, or a new one the first time (and after a release). */
  async device(ifname: string): Promise<TunnelDevice> {
    const d = this.dev;
    if (d !== undefined && !d.closed) {
      this.log(`Preserving previous TUN/TAP instance: ${d.ifname}`);
      return d;
    }
    this.dev = await TunnelDevice.create(this.api, ifname);
    this.digest = undefined;
    this.net = undefined;
    this.applied = undefined;
    return this.dev;
  }

  /** The device's ifindex, or undefined when none is kept. */
  get ifindex(): number | undefined {
    return this.dev?.closed === false ? this.dev.ifindex : undefined;
  }

  /**
   * The network configuration for `pushedLines`: a new one from `make` is brought up unless the
   * device already has one for the same pushed options (then nothing is run and the result says so
   * with no commands).
   */
  configure(pushedLines: readonly string[], make: () => DeviceNetConfig): AppliedNetConfig {
    const digest = pushedDigest(pushedLines);
    if (this.digest === digest && this.applied !== undefined) return { ...this.applied, commands: [] };
    if (this.net !== undefined) {
      this.log('NOTE: Pulled options changed on restart, will need to close and reopen TUN/TAP device.');
      this.unconfigure();
    }
    const net = make();
    this.net = net;
    const applied = net.up(pushedLines);
    this.digest = digest;
    this.applied = applied;
    return applied;
  }

  /**
   * Takes the configuration back and removes the device (routes, device, `down`). Idempotent. The
   * device removal is issued at once; the promise settles when it is done (over ovpnd, answered).
   */
  async release(): Promise<void> {
    const net = this.net;
    this.net = undefined;
    this.digest = undefined;
    this.applied = undefined;
    net?.beforeDeviceClose();
    const dev = this.dev;
    this.dev = undefined;
    try {
      await dev?.close();
    } finally {
      net?.afterDeviceClose();
    }
  }

  /** The previous configuration taken back while the device stays: its routes, addresses, `down`. */
  private unconfigure(): void {
    const net = this.net;
    const dev = this.dev;
    this.net = undefined;
    this.digest = undefined;
    this.applied = undefined;
    net?.beforeDeviceClose();
    // the addresses go with the device in a close; here the device stays (their prefix routes go too)
    if (dev !== undefined && !dev.closed) net?.removeAddresses();
    net?.afterDeviceClose();
  }
}

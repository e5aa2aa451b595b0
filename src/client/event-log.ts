/**
 * Collects what a client receives besides replies — notifications (once subscribed) and control
 * packets — for tests and tools that look at them afterwards or wait for one.
 */
import type { Notification } from '../api/messages.js';
import type { ControlPacketEvent } from '../mgmt/protocol.js';
import type { OvpndClient } from './ovpnd-client.js';

export class EventLog {
  readonly notifications: Notification[] = [];
  readonly controls: ControlPacketEvent['msg'][] = [];
  private readonly waiters: (() => void)[] = [];
  /** Stops collecting. */
  readonly stop: () => void;

  constructor(client: OvpndClient) {
    this.stop = client.onEvent((e) => {
      if (e.name === 'control-packet') this.controls.push(e.msg);
      else this.notifications.push(e);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Waits until `pred` holds for what was collected; rejects after `timeoutMs`. */
  async waitFor(pred: () => boolean, timeoutMs = 10_000, what = 'event'): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/**
 * ovpnd must not outlive its network namespace. A namespace stays alive while a process is in it, so
 * `ip netns del` alone would leave the daemon (and its devices) running in an orphaned namespace: we
 * watch the `ip netns` name that referred to our namespace when we started, and call `gone` once it no
 * longer does (removed, or now naming another namespace).
 */
import { NETNS_RUN_DIR, netnsId, netnsName } from '../sys/netns.js';

export interface NetnsWatch {
  /** The name being watched, if the namespace had one. */
  readonly name: string | undefined;
  stop(): void;
}

export function watchNetns(gone: (name: string) => void, intervalMs = 500): NetnsWatch {
  const self = netnsId();
  const name = netnsName(self);
  if (name === undefined || self === undefined) return { name: undefined, stop() {} };
  const timer = setInterval(() => {
    if (netnsId(`${NETNS_RUN_DIR}/${name}`) !== self) {
      clearInterval(timer);
      gone(name);
    }
  }, intervalMs);
  timer.unref();
  return { name, stop: () => clearInterval(timer) };
}

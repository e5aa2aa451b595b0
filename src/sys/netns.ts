/**
 * Network namespaces as seen from a process: the identity of the current one, the `ip netns` name
 * that refers to it (if any), and running a synchronous function inside another one.
 *
 * `inNetns` switches only the calling thread (setns), which for Node is the main thread that runs our
 * koffi calls: sockets created in `fn` belong to the target namespace and stay there. No JavaScript
 * of other callbacks runs in between, since `fn` is synchronous.
 */
import { readdirSync, statSync } from 'node:fs';
import { close, errno, libcOpen, O_CLOEXEC, setns, strerror } from './libc.js';

const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;
/** Where `ip netns` keeps its named namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

/** device:inode of the network namespace behind a path such as /proc/self/ns/net, or undefined. */
export function netnsId(path = '/proc/self/ns/net'): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** The `ip netns` name of the namespace with identity `id`, if one refers to it. */
export function netnsName(id = netnsId()): string | undefined {
  if (id === undefined) return undefined;
  let names: string[];
  try {
    names = readdirSync(NETNS_RUN_DIR);
  } catch {
    return undefined;
  }
  return names.find((n) => netnsId(`${NETNS_RUN_DIR}/${n}`) === id);
}

/** Runs `fn` with this thread inside named network namespace `name`, then switches back. */
export function inNetns<T>(name: string, fn: () => T): T {
  const home = libcOpen('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC, 0);
  if (home < 0) throw new Error(`cannot open own netns: ${strerror(errno())}`);
  const target = libcOpen(`${NETNS_RUN_DIR}/${name}`, O_RDONLY | O_CLOEXEC, 0);
  if (target < 0) {
    close(home);
    throw new Error(`no network namespace ${name}: ${strerror(errno())}`);
  }
  try {
    if (setns(target, CLONE_NEWNET) !== 0) throw new Error(`setns ${name}: ${strerror(errno())}`);
    try {
      return fn();
    } finally {
      if (setns(home, CLONE_NEWNET) !== 0) {
        // Staying in the wrong namespace would silently misdirect every later socket.
        process.stderr.write(`fatal: cannot return to the original netns: ${strerror(errno())}\n`);
        process.exit(70);
      }
    }
  } finally {
    close(target);
    close(home);
  }
}

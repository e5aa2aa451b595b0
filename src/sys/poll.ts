/**
 * Readiness of raw fds on Node's own event loop: koffi's `uv_poll_t` wrapper. No thread, no busy
 * polling: libuv's epoll tells us when the fd is readable or writable and we drain it until EAGAIN.
 *
 * koffi 3.3.4 calls the callback as `(status, events)` although its typings declare `(events)`; this
 * wrapper hides that.
 */
import koffi from 'koffi';

export interface PollEvents {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

/** A registered fd watcher. `close()` is idempotent. */
export interface FdWatcher {
  /** Changes which events are watched (e.g. add writable while a queue is blocked). */
  update(events: { readable: boolean; writable: boolean }): void;
  close(): void;
}

export function watchFd(
  fd: number,
  events: { readable: boolean; writable: boolean },
  cb: (ev: PollEvents) => void,
): FdWatcher {
  const handler = ((_status: number, ev: PollEvents) => cb(ev)) as unknown as (ev: PollEvents) => void;
  const opts = () => ({ readable: events.readable, writable: events.writable, disconnect: false });
  const h = koffi.node.poll(fd, opts(), handler);
  let closed = false;
  return {
    update(e) {
      if (closed) return;
      events = e;
      h.stop();
      if (e.readable || e.writable) h.start(opts(), handler);
    },
    close() {
      if (closed) return;
      closed = true;
      h.stop();
      h.close();
    },
  };
}

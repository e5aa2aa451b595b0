/**
 * Readiness of raw fds on Node's own event loop: koffi's `uv_poll_t` wrapper. No thread, no busy
 * polling: libuv's epoll tells us when the fd is readable or writable and we drain it until EAGAIN.
 *
 * koffi 3.3.4 calls the callback as `(status, events)` although its typings declare `(events)`; this
 * wrapper hides that, and turns an error status into readiness (see below).
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
  // On an error condition (EPOLLERR: e.g. a connection reset) libuv stops the watcher and reports a
  // negative status with no events. We report it as everything ready, so that the owner's next read
  // or write meets the error and handles it (usually by closing), and then watch again: ignoring it
  // would leave the fd unwatched forever.
  let closed = false;
  const handler = ((status: number, ev: PollEvents) => {
    if (status >= 0) {
      cb(ev);
      return;
    }
    cb({ readable: true, writable: true, disconnect: true });
    if (!closed && (events.readable || events.writable)) h.start(opts(), handler);
  }) as unknown as (ev: PollEvents) => void;
  const opts = () => ({ readable: events.readable, writable: events.writable, disconnect: false });
  const h = koffi.node.poll(fd, opts(), handler);
  return {
    update(e) {
      if (closed || (e.readable === events.readable && e.writable === events.writable)) return;
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

/**
 * The API suite (api-suite.ts) through ovpnd: the daemon is started on demand in the namespace, the
 * client runs in this process, and sockets are this process's fds (made inside the namespace), handed
 * over with peer-new by SCM_RIGHTS.
 */

import type { Notification } from '../../src/api/messages.js';
import { OvpndClient } from '../../src/client/ovpnd-client.js';
import { close } from '../../src/sys/libc.js';
import { inNetns } from '../../src/sys/netns.js';
import { createUdpSocket } from '../../src/transport/udp-socket.js';
import { apiSuite } from './api-suite.js';

apiSuite('ovpnd', 'ovapd', async (ns) => {
  const c = await OvpndClient.connect({ netns: ns, start: true });
  const notifications: Notification[] = [];
  const waiters: (() => void)[] = [];
  c.onNotification((n) => {
    notifications.push(n);
    for (const w of waiters.splice(0)) w();
  });
  await c.subscribe();
  const fds: number[] = [];
  return {
    request: (op, msg, dump) =>
      op === 'peer-new' ? (c.peerNew(msg) as Promise<never>) : c.request(op, msg, { dump }),
    notifications: notifications as unknown as { name: string; msg: Record<string, unknown> }[],
    waitFor: async (pred, ms = 10_000, what = 'event') => {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 100);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
    udpSocket: async (family, port) => {
      const fd = inNetns(ns, () => createUdpSocket({ family, port, reuse: true }));
      fds.push(fd);
      return fd;
    },
    close: async () => {
      c.close();
      for (const fd of fds) close(fd);
    },
  };
});

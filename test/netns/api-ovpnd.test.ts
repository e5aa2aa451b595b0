/**
 * The API suite (api-suite.ts) through ovpnd: the daemon is started on demand in the namespace, the
 * client runs in this process, and sockets are this process's fds (made inside the namespace), handed
 * over with peer-new by SCM_RIGHTS.
 */

import { EventLog } from '../../src/client/event-log.js';
import { OvpndClient } from '../../src/client/ovpnd-client.js';
import { close } from '../../src/sys/libc.js';
import { inNetns } from '../../src/sys/netns.js';
import { createUdpSocket } from '../../src/transport/udp-socket.js';
import { apiSuite } from './api-suite.js';

apiSuite('ovpnd', 'ovapd', async (ns) => {
  const c = await OvpndClient.connect({ netns: ns, start: true });
  const events = new EventLog(c);
  await c.subscribe();
  const fds: number[] = [];
  return {
    request: (op, msg, dump) =>
      op === 'peer-new' ? (c.peerNew(msg) as Promise<never>) : c.request(op, msg, { dump }),
    notifications: events.notifications,
    waitFor: (pred, ms, what) => events.waitFor(pred, ms, what),
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

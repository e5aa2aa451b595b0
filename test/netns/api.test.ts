/** The API suite (api-suite.ts) through ovpn-agent's stdio link: sockets are the agent's own fds. */
import { EventLog } from '../../src/client/event-log.js';
import { OvpndClient } from '../../src/client/ovpnd-client.js';
import { apiSuite } from './api-suite.js';

apiSuite('the stdio agent', 'ovapi', async (ns) => {
  const a = OvpndClient.spawnAgent({ netns: ns });
  const events = new EventLog(a);
  await a.subscribe();
  return {
    request: (op, msg, dump) => a.request(op, msg, { dump }),
    notifications: events.notifications,
    waitFor: (pred, ms, what) => events.waitFor(pred, ms, what),
    udpSocket: async (family, port) => (await a.request<{ fd: number }>('udp-socket', { family, port })).fd,
    close: async () => {
      a.close();
      await a.closed;
    },
  };
});

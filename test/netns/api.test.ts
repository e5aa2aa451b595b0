/** The API suite (api-suite.ts) through the stdio agent: sockets are the agent's own fds. */
import { AgentClient } from '../../src/mgmt/stdio-client.js';
import { apiSuite } from './api-suite.js';

apiSuite('the stdio agent', 'ovapi', async (ns) => {
  const a = new AgentClient(ns);
  return {
    request: (op, msg, dump) => a.request(op, msg, dump),
    notifications: a.notifications,
    waitFor: (pred, ms, what) => a.waitFor(pred, ms, what),
    udpSocket: async (family, port) => (await a.request<{ fd: number }>('udp-socket', { family, port })).fd,
    close: () => a.close(),
  };
});

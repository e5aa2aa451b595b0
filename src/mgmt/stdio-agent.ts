/**
 * The management protocol of dispatch.ts over stdin/stdout, one JSON object per line: requests in,
 * replies out, plus `{"ntf": {...}}` for notifications and `{"control": {...}}` for control packets.
 * Used to run an ovpn-ts data plane inside a network namespace from a test or the demo (one process per
 * namespace, since TUN devices and sockets belong to the namespace of the process that makes them).
 */
import { createInterface } from 'node:readline';
import { OvpnApi } from '../api/ovpn-api.js';
import { dispatch, type Request, toJson } from './dispatch.js';
import { errorReply } from './protocol.js';

export function runStdioAgent(): void {
  const api = new OvpnApi();
  const write = (o: unknown) => process.stdout.write(`${toJson(o)}\n`);
  api.subscribe((ntf) => write({ ntf }));
  api.onControl((control) => write({ control }));
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch {
      write({ error: errorReply('EINVAL', 'request is not JSON') });
      return;
    }
    void dispatch(api, req).then(write);
  });
  const shutdown = () => {
    api.close();
    process.exit(0);
  };
  rl.on('close', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

/**
 * Test entry for listener-flood.test.ts: `ovpn-ts --config server.conf` (loaded as main.ts loads it,
 * served by serveUntilSignal) plus a report on SIGUSR2, one line
 * `LISTENER-STATS {json}` with the UDP listener's drops by reason and stateless replies, the number of
 * clients, and the heap in use after a full collection (run node with --expose-gc, or heap is
 * measured without one).
 */
import { readFile } from 'node:fs/promises';
import { loadServerConfig } from '../../../src/config/load.js';
import { serveUntilSignal } from '../../../src/openvpn/server/server-main.js';

export interface ListenerStatsLine {
  drops: Record<string, number>;
  replies: number;
  clients: number;
  heapUsed: number;
  rss: number;
  gc: boolean;
}

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: run-flood-server.js server.conf\n');
  process.exit(1);
}
const { options: o } = await loadServerConfig(['--config', file], {
  readFile: (p) => readFile(p),
  cwd: process.cwd(),
  env: process.env,
});
const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
const gc = (globalThis as { gc?: () => void }).gc;
const code = await serveUntilSignal(o, {
  readFile: (p) => readFile(p),
  log,
  onUp: (server) => {
    process.on('SIGUSR2', () => {
      gc?.();
      gc?.();
      const st = server.listenerStats;
      const mem = process.memoryUsage();
      const line: ListenerStatsLine = {
        drops: Object.fromEntries(st?.drops ?? []),
        replies: st?.replies ?? 0,
        clients: server.clientRecords().length,
        heapUsed: mem.heapUsed,
        rss: mem.rss,
        gc: gc !== undefined,
      };
      log(`LISTENER-STATS ${JSON.stringify(line)}`);
    });
  },
});
process.exit(code);

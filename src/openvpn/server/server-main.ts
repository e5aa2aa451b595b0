/**
 * The server program's run: start the server, serve until SIGTERM or SIGINT, then stop it (RESTART
 * to the clients with explicit-exit-notify, everything torn down) and resolve with the exit code.
 * main.ts calls it for a server config; tests call it with options they built.
 */
import type { ReadFileFn } from '../../config/load.js';
import type { ServerOptions } from '../../config/server-options.js';
import { OpenvpnServer } from './server.js';

export interface ServeOptions {
  readFile: ReadFileFn;
  log: (msg: string) => void;
  /** Called once the server is up. */
  onUp?: (server: OpenvpnServer) => void;
}

export async function serveUntilSignal(o: ServerOptions, run: ServeOptions): Promise<number> {
  let server: OpenvpnServer;
  try {
    server = await OpenvpnServer.start(o, { readFile: run.readFile, log: run.log });
  } catch (e) {
    run.log(`ERROR: ${(e as Error).message}`);
    return 1;
  }
  run.onUp?.(server);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(s);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
  run.log(`${signal}[hard,] received, process exiting`);
  await server.stop();
  return 0;
}

/**
 * The server program's run: start the server, serve until SIGTERM or SIGINT, then stop it (RESTART
 * to the clients with explicit-exit-notify, everything torn down) and resolve with the exit code.
 * main.ts calls it for a server config; tests call it with options they built.
 */
import { isAbsolute, join } from 'node:path';
import type { FileRef } from '../../config/client-options.js';
import { loadServerConfig, type ReadFileFn } from '../../config/load.js';
import type { ServerOptions } from '../../config/server-options.js';
import { programVersion } from '../args.js';
import { removePidFile, writePidFile } from '../daemonize.js';
import { fileSink, LOG_DETAIL, LOG_INFO, Logger, type LogSink, streamSink } from '../log.js';
import { OpenvpnServer } from './server.js';

export interface ServeOptions {
  readFile: ReadFileFn;
  log: (msg: string) => void;
  /** The config file's path (the scripts' `config` variable). */
  configFile?: string;
  /** Called once the server is up. */
  onUp?: (server: OpenvpnServer) => void;
}

export async function serveUntilSignal(o: ServerOptions, run: ServeOptions): Promise<number> {
  let server: OpenvpnServer;
  try {
    server = await OpenvpnServer.start(o, {
      readFile: run.readFile,
      log: run.log,
      configFile: run.configFile,
    });
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

/**
 * `ovpn-ts --config server.conf`: loads the server config (errors to stderr as "Options error:"),
 * logs at `verb` to stdout or `--log`, writes `--writepid`, serves until SIGTERM/SIGINT.
 */
export async function serverMain(configArgv: readonly string[], readFile: ReadFileFn): Promise<number> {
  let loaded: Awaited<ReturnType<typeof loadServerConfig>>;
  try {
    loaded = await loadServerConfig(configArgv, { readFile, cwd: process.cwd(), env: process.env });
  } catch (e) {
    process.stderr.write(`Options error: ${(e as Error).message}\nUse --help for more information.\n`);
    return 1;
  }
  const o = loaded.options;
  let sink: LogSink = streamSink(process.stdout);
  let closeLog = () => {};
  if (o.log !== undefined) {
    try {
      const f = fileSink(refPath(o.log.ref), o.log.append);
      sink = f.sink;
      closeLog = f.close;
    } catch (e) {
      process.stderr.write(`Options error: --log: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const logger = new Logger({ verb: o.verb, sink });
  logger.log(LOG_INFO, `ovpn-ts ${programVersion()} [Node ${process.version}] [pid ${process.pid}] server`);
  for (const n of loaded.notes) {
    if (n.minVerb <= o.verb)
      logger.log(
        n.level === 'warn' ? LOG_INFO : LOG_DETAIL,
        `config: ${n.file}:${n.line}: ${n.directive}: ${n.message}`,
      );
  }
  const pidFile = o.writepid === undefined ? undefined : refPath(o.writepid);
  if (pidFile !== undefined) writePidFile(pidFile);
  try {
    const at = configArgv.indexOf('--config');
    const configFile = at >= 0 ? configArgv[at + 1] : undefined;
    return await serveUntilSignal(o, { readFile, log: (m) => logger.log(LOG_INFO, m), configFile });
  } finally {
    if (pidFile !== undefined) removePidFile(pidFile);
    closeLog();
  }
}

function refPath(ref: FileRef & { kind: 'path' }): string {
  return isAbsolute(ref.path) ? ref.path : join(ref.dir, ref.path);
}

/**
 * The server program's run: start the server, serve until a signal, then stop it (RESTART to the
 * clients with explicit-exit-notify, everything torn down). SIGTERM/SIGINT end the run with its exit
 * code; SIGUSR1 starts the server again with the same options and SIGHUP with the config read again
 * (`reload`), as 2.6's main loop does (SIGUSR1 keeps the parsed options, SIGHUP re-parses them).
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
  /** Called once the server is up (again after each restart). */
  onUp?: (server: OpenvpnServer) => void;
  /** SIGHUP: the options read again from the config; without it SIGHUP restarts as SIGUSR1 does. */
  reload?: () => Promise<ServerOptions>;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGHUP'];

export async function serveUntilSignal(o: ServerOptions, run: ServeOptions): Promise<number> {
  // signals are queued from the start, so one arriving during a restart is not lost (nor fatal)
  const pending: NodeJS.Signals[] = [];
  let wake: (() => void) | undefined;
  const on = (s: NodeJS.Signals) => {
    pending.push(s);
    wake?.();
  };
  for (const s of SIGNALS) process.on(s, on);
  const nextSignal = async (): Promise<NodeJS.Signals> => {
    while (pending.length === 0) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    return pending.shift()!;
  };
  try {
    let opts = o;
    for (;;) {
      let server: OpenvpnServer;
      try {
        server = await OpenvpnServer.start(opts, {
          readFile: run.readFile,
          log: run.log,
          configFile: run.configFile,
        });
      } catch (e) {
        run.log(`ERROR: ${(e as Error).message}`);
        return 1;
      }
      run.onUp?.(server);
      const signal = await nextSignal();
      if (signal === 'SIGTERM' || signal === 'SIGINT') {
        run.log(`${signal}[hard,] received, process exiting`);
        await server.stop(signal.toLowerCase());
        return 0;
      }
      run.log(`${signal}[${signal === 'SIGHUP' ? 'hard' : 'soft'},] received, process restarting`);
      await server.stop(signal.toLowerCase());
      if (signal === 'SIGHUP' && run.reload !== undefined) {
        try {
          opts = await run.reload();
        } catch (e) {
          run.log(`ERROR: SIGHUP: the config could not be read again: ${(e as Error).message}`);
          return 1;
        }
      }
      // a SIGTERM that came while we stopped still ends the run
      const end = pending.findIndex((s) => s === 'SIGTERM' || s === 'SIGINT');
      if (end >= 0) {
        run.log(`${pending[end]}[hard,] received, process exiting`);
        return 0;
      }
      pending.length = 0;
    }
  } finally {
    for (const s of SIGNALS) process.off(s, on);
  }
}

/**
 * `ovpn-ts --config server.conf`: loads the server config (errors to stderr as "Options error:"),
 * logs at `verb` to stdout or `--log`, writes `--writepid`, serves until SIGTERM/SIGINT (SIGUSR1
 * and SIGHUP restart it, SIGHUP with the config read again).
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
    return await serveUntilSignal(o, {
      readFile,
      log: (m) => logger.log(LOG_INFO, m),
      configFile,
      reload: async () =>
        (await loadServerConfig(configArgv, { readFile, cwd: process.cwd(), env: process.env })).options,
    });
  } finally {
    if (pidFile !== undefined) removePidFile(pidFile);
    closeLog();
  }
}

function refPath(ref: FileRef & { kind: 'path' }): string {
  return isAbsolute(ref.path) ? ref.path : join(ref.dir, ref.path);
}

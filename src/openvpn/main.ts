/**
 * `ovpn-ts --config client.ovpn [--directive args...]`: the client program (bin/ovpn-ts). Options are
 * OpenVPN's (config/load.ts), the later one winning; the program's own are `--help`, `--version` and
 * `--json` (args.ts). Logs at OpenVPN's verb levels (log.ts) to stdout, or `--log`/`--log-append`;
 * `--daemon` detaches and `--writepid` writes the pid file (daemonize.ts). Signals drive the
 * lifecycle (lifecycle.ts): SIGTERM/SIGINT tear down and exit 0, SIGUSR1 reconnects, SIGHUP re-reads
 * the config and reconnects. A failed attempt moves on to the next connection entry after the
 * connect-retry pause, and a tunnel that fails once up (ping-restart) reconnects (connect-retry.ts);
 * `persist-tun` keeps the device across those restarts (tun-keeper.ts).
 *
 * With `--json`, progress also goes to stdout as one JSON object per line (`{"event":"up",...}`,
 * `{"event":"log",...}`, `{"event":"reconnecting",...}` before each new attempt, `{"event":"error",...}`
 * when the process gives up) and the log to stderr; lines on stdin are commands:
 * `stats` prints the peer (peer-get), `quit` is SIGTERM, `restart` SIGUSR1, `reload` SIGHUP.
 */
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ClientOptions, FileRef } from '../config/client-options.js';
import { configRole, loadClientConfig, loadConfigDirectives } from '../config/load.js';
import { DAEMON_CHILD_ENV, parseProgramArgs, programVersion, usageText, versionText } from './args.js';
import { AuthUserPass } from './auth-user-pass.js';
import { type ClientUp, OpenvpnClient } from './client.js';
import { removePidFile, startDaemonChild, writePidFile } from './daemonize.js';
import { type DataPlane, inProcessDataPlane, ovpndDataPlane } from './data-plane.js';
import { Lifecycle, type LifecycleSignal, type Scheduler } from './lifecycle.js';
import {
  clientMessageLevel,
  fileSink,
  LOG_DETAIL,
  LOG_FATAL,
  LOG_INFO,
  Logger,
  type LogSink,
  streamSink,
} from './log.js';
import { serverMain } from './server/server-main.js';
import type { ServerCommand } from './server-messages.js';
import { TlsConfigCache } from './tls-config.js';
import { KeptTun } from './tun-keeper.js';

/** The lifecycle's timers. */
const scheduler: Scheduler = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

function jsonLine(o: Record<string, unknown>): string {
  return `${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}\n`;
}

function refPath(ref: FileRef & { kind: 'path' }): string {
  return isAbsolute(ref.path) ? ref.path : join(ref.dir, ref.path);
}

const SIGNALS: LifecycleSignal[] = ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGHUP'];

async function main(argv: string[]): Promise<number> {
  const req = parseProgramArgs(argv);
  if (req.kind === 'help') {
    process.stdout.write(usageText());
    return 0;
  }
  if (req.kind === 'version') {
    process.stdout.write(versionText());
    return 0;
  }
  if (req.kind === 'usage') {
    process.stderr.write(usageText());
    return 1;
  }
  const { json, ovpnd, configArgv } = req;
  const emit = (o: Record<string, unknown>) => {
    if (json) process.stdout.write(jsonLine(o));
  };
  const readFileFn = (p: string) => readFile(p);
  const load = () => loadClientConfig(configArgv, { readFile: readFileFn, cwd: process.cwd() });

  // a server config (`mode server`, `server`, `tls-server`) runs the server program instead
  const role = await loadConfigDirectives(configArgv, { readFile: readFileFn, cwd: process.cwd() }).then(
    configRole,
    () => 'client' as const, // the client's load below reports what is wrong
  );
  if (role === 'server') {
    if (json || ovpnd) {
      process.stderr.write(
        `Options error: ${json ? '--json' : '--ovpnd'} is not supported with a server config yet (docs/server.md)\n`,
      );
      return 1;
    }
    return serverMain(configArgv, readFileFn);
  }

  // Config errors go to stderr before any --log applies, as OpenVPN's "Options error:" lines do.
  let loaded: Awaited<ReturnType<typeof load>>;
  try {
    loaded = await load();
  } catch (e) {
    const message = (e as Error).message;
    process.stderr.write(`Options error: ${message}\nUse --help for more information.\n`);
    emit({ event: 'error', message });
    return 1;
  }
  const first = loaded.options;

  const daemonChild = process.env[DAEMON_CHILD_ENV] === '1';
  if (first.daemon !== undefined && !daemonChild) {
    if (json) {
      process.stderr.write('Options error: --daemon cannot be combined with --json\n');
      return 1;
    }
    // 2.6 asks for passwords before it daemonizes; the background process has no terminal to ask on
    if (first.authUserPass !== undefined) {
      const check = new AuthUserPass({ readFile: readFileFn, prompter: () => undefined }, first);
      try {
        await check.prepare();
      } catch (e) {
        process.stderr.write(`Options error: --daemon: ${(e as Error).message}\n`);
        return 1;
      } finally {
        check.forget();
      }
    }
    try {
      await startDaemonChild({
        script: process.argv[1],
        argv,
        log: first.log === undefined ? undefined : { path: refPath(first.log.ref), append: first.log.append },
      });
    } catch (e) {
      process.stderr.write(`ERROR: --daemon: cannot start the background process: ${(e as Error).message}\n`);
      return 1;
    }
    return 0;
  }

  let sink: LogSink;
  let closeLog = () => {};
  if (daemonChild) {
    sink = streamSink(process.stderr); // the --log file (or /dev/null) the parent opened
  } else if (first.log !== undefined) {
    try {
      const f = fileSink(refPath(first.log.ref), first.log.append);
      sink = f.sink;
      closeLog = f.close;
    } catch (e) {
      process.stderr.write(`Options error: --log: ${(e as Error).message}\n`);
      return 1;
    }
  } else {
    sink = streamSink(json ? process.stderr : process.stdout);
  }
  const logger = new Logger({
    verb: first.verb,
    sink,
    onMessage: (level, msg) => emit({ event: 'log', level, msg }),
  });
  const logNotes = (notes: typeof loaded.notes, verb: number) => {
    for (const n of notes) {
      if (n.minVerb <= verb)
        logger.log(
          n.level === 'warn' ? LOG_INFO : LOG_DETAIL,
          `config: ${n.file}:${n.line}: ${n.directive}: ${n.message}`,
        );
    }
  };
  logger.log(LOG_INFO, `ovpn-ts ${programVersion()} [Node ${process.version}] [pid ${process.pid}]`);
  logNotes(loaded.notes, first.verb);

  const pidFile = first.writepid === undefined ? undefined : refPath(first.writepid);
  if (pidFile !== undefined) {
    try {
      writePidFile(pidFile);
    } catch (e) {
      logger.log(LOG_FATAL, `ERROR: --writepid: cannot write ${pidFile}: ${(e as Error).message}`);
      closeLog();
      return 1;
    }
  }

  let api: DataPlane;
  try {
    api = ovpnd ? await ovpndDataPlane() : inProcessDataPlane();
  } catch (e) {
    const message = `--ovpnd: ${(e as Error).message}`;
    logger.log(LOG_FATAL, `ERROR: ${message}`);
    emit({ event: 'error', message });
    if (pidFile !== undefined) removePidFile(pidFile);
    closeLog();
    return 1;
  }
  if (ovpnd) logger.log(LOG_INFO, "Data plane: this network namespace's ovpnd (--ovpnd)");
  /** Device removals under way (over ovpnd: not answered yet), awaited before the data plane goes. */
  const removing = new Set<Promise<void>>();
  const removal = (p: Promise<void>) => {
    const t = p.catch((e: unknown) => clientLog(`ERROR: removing the device: ${(e as Error).message}`));
    removing.add(t);
    void t.finally(() => removing.delete(t));
  };
  const clientLog = (m: string) => logger.log(clientMessageLevel(m), m);
  // the credentials and auth-token outlive each connection, as 2.6's do
  const auth = new AuthUserPass({ readFile: readFileFn, log: clientLog }, first);
  // so is the loaded private key (its password asked once), until a SIGHUP re-read
  const tlsCache = new TlsConfigCache();
  // AUTH_FAILED, RESTART, HALT, EXIT from the server: a soft signal with 2.6's reason
  const onServerCommand = (cmd: ServerCommand) => {
    if (cmd.authFailed && cmd.kind === 'halt') emit({ event: 'error', message: cmd.message });
    if (cmd.kind === 'halt') lifecycle.halt(cmd.reason);
    // AUTH_FAILED retries the same remote; RESTART,[N] moves on (push.c no_advance)
    else lifecycle.restart(cmd.reason, { sameRemote: cmd.authFailed, nextRemote: cmd.nextRemote });
  };
  /** Each client's kept device (persist-tun), for the lifecycle to hand on. */
  const tuns = new WeakMap<OpenvpnClient, KeptTun>();
  const lifecycle = new Lifecycle<ClientOptions, OpenvpnClient, ClientUp, KeptTun>(
    {
      load: async () => {
        const l = await load();
        logNotes(l.notes, l.options.verb);
        return l.options;
      },
      create: (o, kept, onFailure) => {
        const tun = o.persistTun ? (kept ?? new KeptTun(api, clientLog)) : undefined;
        const c = new OpenvpnClient(api, o, {
          readFile: readFileFn,
          log: clientLog,
          auth,
          tlsCache,
          onServerCommand,
          onFailure,
          tun,
          onClosed: removal,
        });
        if (tun !== undefined) tuns.set(c, tun);
        return c;
      },
      keptTun: (c) => tuns.get(c),
      releaseTun: (t) => removal(t.release()),
      log: (level, msg) => logger.log(level, msg),
      configured: (o) => {
        logger.setVerb(o.verb);
        auth.configure(o);
      },
      up: (up) => emit({ event: 'up', ...up }),
      retrying: (e, _c, pause) => emit({ event: 'reconnecting', message: e.message, pause }),
      failed: (e, c) =>
        emit({
          event: 'error',
          message: e.message,
          ...(e.cause instanceof Error ? { cause: e.cause.message } : {}),
          drops: c?.drops() ?? {},
        }),
      beforeExit: (c) => c.exitNotify(),
    },
    first,
    { scheduler, randomInt: (n) => randomInt(n) },
  );
  const handlers = SIGNALS.map((sig) => {
    const h = () => lifecycle.signal(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  if (json) {
    createInterface({ input: process.stdin }).on('line', (line) => {
      const cmd = line.trim();
      const c = lifecycle.current;
      if (cmd === 'stats')
        void (c?.peerInfo() ?? Promise.resolve(undefined)).then(
          (peer) => emit({ event: 'stats', peer, drops: c?.drops() ?? {} }),
          (e: unknown) => emit({ event: 'stats', error: (e as Error).message, drops: c?.drops() ?? {} }),
        );
      else if (cmd === 'quit') lifecycle.signal('SIGTERM');
      else if (cmd === 'restart') lifecycle.signal('SIGUSR1');
      else if (cmd === 'reload') lifecycle.signal('SIGHUP');
    });
  }
  lifecycle.start();
  const code = await lifecycle.done;
  for (const [sig, h] of handlers) process.off(sig, h);
  await Promise.all([...removing]);
  api.close();
  if (pidFile !== undefined) removePidFile(pidFile);
  emit({ event: 'exit', code });
  closeLog();
  return code;
}

process.exitCode = await main(process.argv.slice(2));
process.exit();

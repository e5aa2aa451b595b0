/**
 * The `ovpn-ts` command line before the config language sees it: the program's own switches
 * (`--help`, `--version`, `--json`, `--ovpnd`), and the argv a `--daemon` child is started with. Everything else
 * is OpenVPN's: `--directive args...` as in a config file, the later one winning (config/read.ts
 * argvToDirectives, config/load.ts).
 */
import { readFileSync } from 'node:fs';

/** What the program was asked to do. */
export type ProgramRequest =
  | { kind: 'help' }
  | { kind: 'version' }
  /** No arguments at all: the usage on stderr and exit 1, as OpenVPN does. */
  | { kind: 'usage' }
  | {
      kind: 'run';
      /** `--json`: progress as JSON lines on stdout and commands on stdin (for tests and tools). */
      json: boolean;
      /** `--ovpnd`: the data plane in this namespace's ovpnd (started if none runs), not in process. */
      ovpnd: boolean;
      /** The OpenVPN options, `--json` and `--ovpnd` removed. */
      configArgv: string[];
    };

/** The program's own switches, taken out before the config language sees the options. */
const PROGRAM_SWITCHES = ['--json', '--ovpnd'];

/**
 * `--help`/`--version` win wherever they are on the command line (OpenVPN acts on them as it parses,
 * before any connection); `--help` first if both are given.
 */
export function parseProgramArgs(argv: readonly string[]): ProgramRequest {
  if (argv.length === 0) return { kind: 'usage' };
  if (argv.includes('--help')) return { kind: 'help' };
  if (argv.includes('--version')) return { kind: 'version' };
  return {
    kind: 'run',
    json: argv.includes('--json'),
    ovpnd: argv.includes('--ovpnd'),
    configArgv: argv.filter((a) => !PROGRAM_SWITCHES.includes(a)),
  };
}

/**
 * argv for the `--daemon` child: the same options without `--daemon` and its optional name
 * (parse_argv gives a `--name` the words up to the next `--word`). A `daemon` line in a config file
 * cannot be removed this way: the child is also told by the environment (DAEMON_CHILD_ENV).
 */
export function withoutDaemon(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--daemon') {
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) i++;
      continue;
    }
    out.push(argv[i]);
  }
  return out;
}

/** Set in the environment of the process `--daemon` starts, so that it does not detach again. */
export const DAEMON_CHILD_ENV = 'OVPN_TS_DAEMON_CHILD';

/** ovpn-ts's version, from the package.json beside dist/ (or the source tree). */
export function programVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'ovpn-ts' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

/** `ovpn-ts --version`: ovpn-ts's version, the runtime, and the protocol version it speaks. */
export function versionText(): string {
  return [
    `ovpn-ts ${programVersion()} [Node ${process.version}] userspace OpenVPN client (data channel offload in-process, or in ovpnd with --ovpnd)`,
    'Speaks the OpenVPN 2.6 protocol (UDP, TLS, key-method 2, AEAD data channel); see docs/client.md.',
    '',
  ].join('\n');
}

/** `ovpn-ts --help`. */
export function usageText(): string {
  return `Usage: ovpn-ts --config client.ovpn [--directive args...]...
       ovpn-ts --config server.conf [--directive args...]...
       ovpn-ts client.ovpn
       ovpn-ts --help | --version

An OpenVPN-compatible client, and server, on the ovpn-ts data plane: a server config (mode server,
server, tls-server) serves stock OpenVPN clients (docs/server.md). Every config directive may also be
given on the command line as --directive args; the later one wins. Needs root (it creates a TUN
device).

Often used:
  --config file          read directives from file (may be repeated; files may include others)
  --verb n               log level: 0 fatal errors only, 1-4 normal (default 1), 5+ more detail
  --log file             log to file instead of stdout (truncated); --log-append file appends
  --daemon [name]        detach after reading the config; returns before the tunnel is up
  --writepid file        write the process id to file; removed on exit
  --dev name             the TUN device's name, as written (dev tun gives a device named tun)
  --json                 (ovpn-ts) JSON events on stdout; commands on stdin: stats, quit, restart, reload
  --ovpnd                (ovpn-ts) run the data plane (device, socket, peer, keys) in this network
                         namespace's ovpnd, started if none runs, instead of in this process

Signals: SIGTERM/SIGINT tear down and exit 0; SIGUSR1 reconnects; SIGHUP re-reads the config and
reconnects.

Exit status: 0 after a clean stop (SIGTERM/SIGINT, also Ctrl-C at a prompt), --help/--version, the
server's AUTH_FAILED (auth-retry none) or HALT, and ping-exit; 1 on a config error or another fatal
error (a key, certificate or credentials that cannot be used, a device or up script that fails), and
when connect-retry-max attempts have failed. Other failed connections are retried.

Server: SIGTERM/SIGINT send RESTART to the clients (explicit-exit-notify) and exit 0; SIGUSR1
restarts; SIGHUP re-reads the config and restarts. --json, --ovpnd and --daemon are client-only yet.

Supported, ignored and refused directives: docs/client.md, docs/server.md.
`;
}

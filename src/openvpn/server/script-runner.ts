/**
 * Running the server's external scripts (2.6 run_command.c openvpn_run_script / openvpn_execve):
 * the command is split into words as a config line is (argv_parse_cmd), the script's own arguments
 * are appended, and it is executed directly (no shell) with exactly the environment OpenVPN built for
 * it: nothing of ovpn-ts's own environment is passed on.
 *
 * 2.6 forks and waits, stopping every client while a script runs; here the script runs
 * asynchronously, so the event loop (and every other client's traffic) keeps going. The server shell
 * must therefore not act on a session whose script has not answered yet.
 *
 * The `ScriptRunner` interface is what the auth and script modules call, so unit tests drive them
 * with a fake; `spawnScriptRunner` is the real one.
 */
import { spawn } from 'node:child_process';
import { tokenizeLine } from '../../config/tokenize.js';
import { SCRIPT_SECURITY_WARNING } from '../script-env.js';

/** How a script ended. */
export interface ScriptResult {
  /** The exit status; undefined when it was killed by a signal or could not be started. */
  exitCode: number | undefined;
  /** The signal that ended it, if any. */
  signal: string | undefined;
  /** Why it could not be started (ENOENT, EACCES...), if so. */
  error: string | undefined;
}

export interface ScriptRunner {
  /** Runs `argv` (argv[0] a path) with exactly `env`; never rejects. */
  run(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<ScriptResult>;
}

/** The words of a script directive (`client-connect "/etc/x y" arg`), as argv_parse_cmd splits them. */
export function commandWords(command: string, directive: string): string[] {
  const words = tokenizeLine(command, { file: `--${directive}`, line: 1 }).params;
  if (words.length === 0) throw new Error(`--${directive}: the command is empty`);
  return words;
}

/** True for an exit status 0, as openvpn_run_script without S_EXITCODE judges success. */
export function succeeded(r: ScriptResult): boolean {
  return r.exitCode === 0;
}

/**
 * The warning 2.6 logs for a failed script (run_command.c system_error_message), e.g.
 * `WARNING: Failed running command (--client-connect): external program exited with error status: 1`.
 */
export function failureMessage(what: string, r: ScriptResult): string {
  if (r.error === NOT_ALLOWED) return NOT_ALLOWED;
  const why =
    r.error !== undefined
      ? `could not execute external program (${r.error})`
      : r.signal !== undefined
        ? `external program received signal ${r.signal}`
        : `external program exited with error status: ${r.exitCode}`;
  return `WARNING: Failed running command (${what}): ${why}`;
}

/** `script-security` levels (run_command.h SSEC_*). */
export const SSEC_BUILT_IN = 1;
export const SSEC_SCRIPTS = 2;
export const SSEC_PW_ENV = 3;

/** openvpn_execve_allowed: user-defined scripts need `script-security 2` or more. */
export function scriptsAllowed(scriptSecurity: number): boolean {
  return scriptSecurity >= SSEC_SCRIPTS;
}

/**
 * make_env_array with check_allowed: below `script-security 3` no variable whose name starts with
 * `password` reaches a script (env_allowed / is_password_env_var).
 */
export function allowedEnv(
  env: Readonly<Record<string, string>>,
  scriptSecurity: number,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (scriptSecurity >= SSEC_PW_ENV || !k.startsWith('password')) out[k] = v;
  }
  return out;
}

/** OpenVPN's SCRIPT_SECURITY_WARNING: the `error` of a script that may not run. */
export const NOT_ALLOWED = SCRIPT_SECURITY_WARNING;

/** Longest output kept from one script, per stream (the rest is dropped). */
const MAX_OUTPUT = 64 * 1024;

/**
 * The real runner: spawns the script (no shell), stdin closed; each line it writes on stdout or
 * stderr goes to `log` prefixed with its name. A script that cannot be started resolves with
 * `error` set. `scriptSecurity` (default 2) applies as openvpn_execve does: below 2 nothing runs
 * (`error` is NOT_ALLOWED), below 3 the `password*` variables are left out.
 */
export function spawnScriptRunner(
  log: (line: string) => void = () => {},
  scriptSecurity = SSEC_SCRIPTS,
): ScriptRunner {
  return {
    run(argv, env) {
      return new Promise<ScriptResult>((resolve) => {
        if (!scriptsAllowed(scriptSecurity)) {
          resolve({ exitCode: undefined, signal: undefined, error: NOT_ALLOWED });
          return;
        }
        let done = false;
        const finish = (r: ScriptResult): void => {
          if (!done) {
            done = true;
            resolve(r);
          }
        };
        if (argv.length === 0) {
          finish({ exitCode: undefined, signal: undefined, error: 'empty command' });
          return;
        }
        const child = spawn(argv[0], argv.slice(1), {
          env: allowedEnv(env, scriptSecurity),
          stdio: ['ignore', 'pipe', 'pipe'],
          shell: false,
        });
        const name = argv[0].split('/').pop() ?? argv[0];
        const lines = (stream: NodeJS.ReadableStream | null): void => {
          if (stream === null) return;
          let kept = 0;
          let partial = '';
          stream.setEncoding('utf8');
          stream.on('data', (chunk: string) => {
            if (kept >= MAX_OUTPUT) return;
            kept += chunk.length;
            const parts = (partial + chunk).split('\n');
            partial = parts.pop() ?? '';
            for (const l of parts) if (l !== '') log(`${name}: ${l}`);
          });
          stream.on('end', () => {
            if (partial !== '') log(`${name}: ${partial}`);
          });
        };
        lines(child.stdout);
        lines(child.stderr);
        child.once('error', (e: NodeJS.ErrnoException) => {
          finish({ exitCode: undefined, signal: undefined, error: e.code ?? e.message });
        });
        child.once('close', (code, signal) => {
          finish({ exitCode: code ?? undefined, signal: signal ?? undefined, error: undefined });
        });
      });
    },
  };
}

/**
 * The per-client scripts of an OpenVPN 2.6 server (multi.c multi_client_connect_call_script,
 * multi_client_disconnect_script, multi_learn_addr / learn_address_script):
 *
 * - `client-connect cmd`: an empty 0600 file is made in tmp-dir, its path set as
 *   `client_connect_config_file` and passed as the last argument; exit 0 = the client is let in and
 *   the file's text is read as a client-config-dir file (the caller parses it with ccd.ts
 *   parseClientConfig); anything else refuses the client. The file is removed afterwards.
 *   Deferred client-connect (exit 0 after writing 2 to `client_connect_deferred_file`) is not
 *   supported: that variable is not set.
 * - `client-disconnect cmd`: run when a client that passed client-connect goes away, with
 *   bytes_received, bytes_sent and time_duration; its exit status is only logged.
 * - `learn-address cmd`: `cmd add|update|delete address [common_name]` whenever an address (or iroute)
 *   is bound to or unbound from a client; a failure is logged (2.6 only warns).
 */
import { commandWords, failureMessage, type ScriptRunner } from './script-runner.js';
import { type Env, SCRIPT_TYPE, setenv } from './server-script-env.js';
import type { TempFiles } from './temp-file.js';

export interface ClientScriptDeps {
  runner: ScriptRunner;
  tmp: TempFiles;
  log: (line: string) => void;
}

export type ClientConnectResult =
  | {
      ok: true;
      /** What the script wrote into its config file (parse it as a CCD file); '' when nothing. */
      config: string;
      /** Where to name that file in messages (its temporary path, gone by now). */
      configPath: string;
    }
  | { ok: false; reason: string };

/**
 * Runs `client-connect` with `env` (the client's environment: process, certificate, peer-info,
 * auth and clientConnectEnv). Never throws.
 */
export async function runClientConnect(
  command: string,
  env: Env,
  tmpDir: string,
  deps: ClientScriptDeps,
): Promise<ClientConnectResult> {
  const what = '--client-connect';
  let argv: string[];
  try {
    argv = commandWords(command, 'client-connect');
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  let path: string;
  try {
    path = await deps.tmp.create(tmpDir, 'cc', '');
  } catch (e) {
    return { ok: false, reason: `${what}: ${(e as Error).message}` };
  }
  try {
    const scriptEnv = { ...env };
    setenv(scriptEnv, 'script_type', SCRIPT_TYPE.clientConnect);
    setenv(scriptEnv, 'client_connect_config_file', path);
    const r = await deps.runner.run([...argv, path], scriptEnv);
    if (r.exitCode !== 0) {
      const reason = failureMessage(what, r);
      deps.log(reason);
      return { ok: false, reason };
    }
    let text: string;
    try {
      text = (await deps.tmp.read(path)).toString('utf8');
    } catch (e) {
      return { ok: false, reason: `${what}: cannot read ${path}: ${(e as Error).message}` };
    }
    return { ok: true, config: text, configPath: path };
  } finally {
    await deps.tmp.remove(path).catch((e: Error) => {
      deps.log(`MULTI: problem deleting temporary file: ${path} (${e.message})`);
    });
  }
}

/** Runs `client-disconnect` with `env` (clientDisconnectEnv on top). True when it exited 0. */
export async function runClientDisconnect(
  command: string,
  env: Env,
  deps: ClientScriptDeps,
): Promise<boolean> {
  return runSimple(command, 'client-disconnect', SCRIPT_TYPE.clientDisconnect, [], env, deps);
}

export type LearnAddressOp = 'add' | 'update' | 'delete';

/**
 * Runs `learn-address cmd op address [cn]`: `address` as mroute_addr_print writes it (`10.8.0.6`,
 * `fd00::1000`, `192.168.5.0/24` for an iroute); `client` undefined when no client instance is
 * involved (then no name is passed); a client without a name is passed as `UNDEF`
 * (tls_common_name(multi, false)).
 */
export async function runLearnAddress(
  command: string,
  op: LearnAddressOp,
  address: string,
  client: { commonName: string | undefined } | undefined,
  env: Env,
  deps: ClientScriptDeps,
): Promise<boolean> {
  const extra = [op, address];
  if (client !== undefined) extra.push(client.commonName || 'UNDEF');
  return runSimple(command, 'learn-address', SCRIPT_TYPE.learnAddress, extra, env, deps);
}

async function runSimple(
  command: string,
  directive: string,
  scriptType: string,
  extra: string[],
  env: Env,
  deps: ClientScriptDeps,
): Promise<boolean> {
  let argv: string[];
  try {
    argv = commandWords(command, directive);
  } catch (e) {
    deps.log(`WARNING: ${(e as Error).message}`);
    return false;
  }
  const scriptEnv = { ...env };
  setenv(scriptEnv, 'script_type', scriptType);
  const r = await deps.runner.run([...argv, ...extra], scriptEnv);
  if (r.exitCode !== 0) {
    deps.log(failureMessage(`--${directive}`, r));
    return false;
  }
  return true;
}

/** The server's own `up` / `down` (not per client). */
export type ServerUpDown = 'up' | 'down';

/**
 * The server's `up` (after the tun's addresses, before its routes) or `down` (after the tun is
 * gone), as 2.6 init.c run_up_down: `cmd dev tun_mtu 0 ifconfig_local ifconfig_remote|netmask init`
 * (0 where 2.6 once passed the link MTU) with the process environment. `up` runs before do_route,
 * so without `redirect_gateway`; `down` gets the `signal` that ended the run (signal_description:
 * sigterm, sigint, sigusr1, sighup). False when it failed (logged); 2.6 ends the process then.
 */
export async function runServerUpDown(
  command: string,
  type: ServerUpDown,
  signal: string | undefined,
  env: Env,
  deps: ClientScriptDeps,
): Promise<boolean> {
  const e: Env = { ...env };
  if (type === 'up') delete e.redirect_gateway;
  else setenv(e, 'signal', signal);
  const extra = [
    e.dev ?? '',
    e.tun_mtu ?? '',
    '0',
    e.ifconfig_local ?? '',
    e.ifconfig_netmask ?? e.ifconfig_remote ?? '',
    'init',
  ];
  return runSimple(command, type, type, extra, e, deps);
}

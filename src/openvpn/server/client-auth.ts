/**
 * The server shell's glue to the authentication and script modules: one `ServerAuth` per server
 * process, keeping per client (2.6's tls_multi and the instance's env_set) what the checks and scripts
 * need across its key states. The order is 2.6's:
 *
 * 1. session created: `tls-crypt-v2-verify` with the client key's metadata (started at once, waited for
 *    before the session moves past its first TLS handshake);
 * 2. every TLS handshake: the client's chain (verify-client-cert, remote-cert-*, verify-x509-name,
 *    crl-verify re-read when the file changed), then `tls-verify`; a refusal fails the TLS session;
 * 3. every key-method 2 from the client: peer-info variables, `auth-user-pass-verify` or an
 *    auth-gen-token token; `auth-failed` means AUTH_FAILED to the client, `tls-error` a dead session;
 * 4. admission (key-id 0): after the ccd file (the shell's `clientConfig`), `client-connect` (its
 *    output file read as a ccd file on top: multi.c reads both into the same instance options), the
 *    common name locked, the auth-token
 *    pushed, `learn-address add` for each address, the token renewal timer;
 * 5. a renegotiation that authenticated: `PUSH_REPLY,auth-token ...` with the renewed token;
 * 6. the client gone: `client-disconnect` (only when client-connect let it in) with the peer's byte
 *    counters and the time since it was created, `learn-address delete`.
 *
 * Scripts run asynchronously (script-runner.ts): a client waits for its own scripts, others go on.
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { ReadFileFn } from '../../config/load.js';
import { readFileRef } from '../../config/load.js';
import type { ClientConfig, ServerOptions } from '../../config/server-options.js';
import type { DecodedKeyMethod2 } from '../../control/key-method2.js';
import { TlsCryptV2ServerWrap } from '../../control/wrap/tls-crypt-v2.js';
import type { ControlWrap } from '../../control/wrap/wrap.js';
import { type AuthTokenKey, parseAuthTokenSecret, randomAuthTokenKey } from './auth-token-gen.js';
import { readClientConfig } from './ccd.js';
import {
  type CrlState,
  checkClientChain,
  clientCertTlsOptions,
  clientCheckOptions,
  crlVerifier,
  peerChainDer,
  runTlsVerify,
} from './client-cert-check.js';
import {
  type ClientScriptDeps,
  runClientConnect,
  runClientDisconnect,
  runLearnAddress,
  runServerUpDown,
  type ServerUpDown,
} from './client-scripts.js';
import type { ClientAddresses } from './push-list.js';
import { type ScriptRunner, spawnScriptRunner } from './script-runner.js';
import type { ServerClient } from './server-client.js';
import {
  clientConnectEnv,
  clientDisconnectEnv,
  type Env,
  linkEnv,
  mergeEnv,
  peerInfoEnv,
  serverProcessEnv,
  serverProcessEnvInput,
  type VirtualAddress,
  x509Env,
} from './server-script-env.js';
import { nodeTempFiles, type TempFiles } from './temp-file.js';
import { runTlsCryptV2Verify } from './tls-crypt-v2-verify.js';
import {
  authTokenPushOption,
  authTokenRenewalInterval,
  authTokenUpdateMessage,
  type ClientAuthState,
  lockCommonName,
  newClientAuthState,
  renewAuthToken,
  type UserPassConfig,
  type UserPassVerdict,
  userPassConfig,
  verifyUserPass,
} from './user-pass-verify.js';

/** 2.6 scheduled_exit_interval: how long a client refused with AUTH_FAILED is kept (seconds). */
export const AUTH_FAILED_EXIT_SEC = 5;

/** What the client calls during its handshakes (ServerPlane.auth). */
export interface ClientAuthHooks {
  /**
   * After every TLS handshake of the client (`keyId` its key state): the refusal message, or
   * undefined when it may go on. `chainError` is OpenSSL's verification result (undefined: verified).
   */
  tlsDone(
    c: ServerClient,
    socket: TLSSocket,
    chainError: string | undefined,
    keyId: number,
  ): Promise<string | undefined>;
  /** After the client's key-method 2, before ours: the authentication verdict. */
  userPass(c: ServerClient, km2: DecodedKeyMethod2, keyId: number): Promise<UserPassVerdict>;
  /** After a renegotiation's key is in: the control message to send (the renewed auth-token), if any. */
  renegotiated(c: ServerClient, keyId: number): string | undefined;
}

/** What the shell knows that the config does not (for the scripts' process environment). */
export interface ServerAuthRuntime {
  readFile: ReadFileFn;
  log: (msg: string) => void;
  /** The config file (`config` variable), if known. */
  configFile: string | undefined;
  /** The tun device's actual name. */
  dev: string;
  /** Sends a control message (text) to a client over its TLS session. */
  sendControl: (c: ServerClient, text: string) => void;
  /** The link byte counters of a client's peer while it is on the data plane. */
  linkBytes?: (c: ServerClient) => LinkBytes | undefined;
  /** Injected for tests: scripts and temp files (default: real ones). */
  runner?: ScriptRunner;
  tmp?: TempFiles;
}

/** A peer's link byte counters. */
export interface LinkBytes {
  rx: bigint | number;
  tx: bigint | number;
}

/** How often the counters of a client with client-disconnect are sampled (ms). */
const COUNTER_SAMPLE_MS = 5000;

/** The outcome of client-connect for `admit`. */
export type ConnectVerdict = { ok: true; config: ClientConfig | undefined } | { ok: false; reason: string };

/** Per client: 2.6's tls_multi auth state and the client instance's env_set. */
interface ClientAuth {
  state: ClientAuthState;
  /** When the instance was created (unix seconds: time_unix, time_duration). */
  createdSec: number;
  remote: { address: string; port: number };
  /** tls-crypt-v2-verify's verdict, when it runs. */
  tcv2: Promise<boolean> | undefined;
  commonName: string | undefined;
  /** The environment grown so far: certificate, peer-info, user-pass (on top of the process's). */
  certEnv: Env;
  peerEnv: Env;
  userEnv: Env;
  /** client-connect's environment (set once it ran OK: then client-disconnect runs at the end). */
  connectEnv: Env | undefined;
  /** Addresses announced to learn-address (deleted when the client goes). */
  learned: string[];
  renewTimer: NodeJS.Timeout | undefined;
  /**
   * The peer's counters as last sampled: a peer the data plane removed itself (keepalive timeout)
   * cannot be asked any more when the client is gone.
   */
  lastBytes: LinkBytes | undefined;
  sampleTimer: NodeJS.Timeout | undefined;
  /** This client's learn-address runs, in order. */
  chain: Promise<unknown>;
}

export class ServerAuth implements ClientAuthHooks {
  private readonly clients = new Map<ServerClient, ClientAuth>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly deps: ClientScriptDeps;
  private readonly procEnv: Env;
  private readonly upCfg: UserPassConfig;
  private readonly crl: () => CrlState;
  readonly tlsOptions: { requestCert: boolean; rejectUnauthorized: false };

  private constructor(
    private readonly o: ServerOptions,
    private readonly rt: ServerAuthRuntime,
    tokenKey: AuthTokenKey | undefined,
  ) {
    const log = rt.log;
    this.deps = {
      runner: rt.runner ?? spawnScriptRunner(log, o.scriptSecurity),
      tmp: rt.tmp ?? nodeTempFiles,
      log,
    };
    this.procEnv = serverProcessEnv(
      serverProcessEnvInput(o, {
        config: rt.configFile,
        daemon: o.daemon !== undefined,
        logRedirect: o.log !== undefined,
        startTime: Math.floor(Date.now() / 1000),
        pid: process.pid,
        dev: rt.dev,
      }),
    );
    this.upCfg = userPassConfig(o, tokenKey);
    // 2.6 loads the CRL at startup: a file that cannot be stat'ed is fatal here
    this.crl = crlVerifier(o.crlVerify, log);
    this.tlsOptions = clientCertTlsOptions(o.verifyClientCert);
  }

  /** Reads the token secret (auth-gen-token-secret) and the CRL; errors name the directive. */
  static async create(o: ServerOptions, rt: ServerAuthRuntime): Promise<ServerAuth> {
    let key: AuthTokenKey | undefined;
    if (o.authGenToken !== undefined) {
      key =
        o.authGenTokenSecret === undefined
          ? randomAuthTokenKey()
          : parseAuthTokenSecret(
              Buffer.from(
                await readFileRef(o.authGenTokenSecret, rt.readFile, 'auth-gen-token-secret'),
              ).toString('utf8'),
            );
    }
    return new ServerAuth(o, rt, key);
  }

  /**
   * A new client (its session just created): starts tls-crypt-v2-verify on the client key's metadata
   * when the wrap has one and `tls-crypt-v2-verify` is set.
   */
  clientCreated(c: ServerClient, wrap: ControlWrap): void {
    const a: ClientAuth = {
      state: newClientAuthState(),
      createdSec: Math.floor(Date.now() / 1000),
      remote: parseRealAddress(c.record.realAddress),
      tcv2: undefined,
      commonName: undefined,
      certEnv: {},
      peerEnv: {},
      userEnv: {},
      connectEnv: undefined,
      learned: [],
      renewTimer: undefined,
      lastBytes: undefined,
      sampleTimer: undefined,
      chain: Promise.resolve(),
    };
    this.clients.set(c, a);
    const cmd = this.o.tlsCryptV2Verify;
    if (cmd !== undefined && wrap instanceof TlsCryptV2ServerWrap) {
      const meta = wrap.metadata;
      a.tcv2 =
        meta === undefined
          ? Promise.resolve(false)
          : this.track(runTlsCryptV2Verify(cmd, meta, this.o.tmpDir, this.deps));
    }
  }

  async tlsDone(
    c: ServerClient,
    socket: TLSSocket,
    chainError: string | undefined,
    keyId: number,
  ): Promise<string | undefined> {
    const a = this.clients.get(c);
    if (a === undefined) return 'closed';
    if (keyId === 0 && a.tcv2 !== undefined && !(await a.tcv2)) {
      return 'tls-crypt-v2-verify refused the client key';
    }
    let crl: CrlState;
    try {
      crl = this.crl();
    } catch (e) {
      return `VERIFY ERROR: ${(e as Error).message}`;
    }
    const v = checkClientChain(
      peerChainDer(socket),
      chainError,
      this.o.verifyClientCert,
      clientCheckOptions(this.o, crl),
      new Date(),
      this.rt.log,
    );
    if (!v.ok) return v.reason;
    a.commonName = v.commonName;
    const tlsVerify = this.o.scripts.tlsVerify;
    if (tlsVerify !== undefined && v.chain.length > 0) {
      const ok = await this.track(runTlsVerify(tlsVerify, v.chain, this.procEnv, a.remote, this.deps));
      if (!ok) return 'VERIFY ERROR: the tls-verify script refused the certificate';
    }
    if (keyId === 0) {
      a.certEnv = mergeEnv(
        v.chain.length > 0 ? x509Env(v.chain) : {},
        linkEnv('untrusted', a.remote.address, a.remote.port),
      );
    }
    return undefined;
  }

  async userPass(c: ServerClient, km2: DecodedKeyMethod2, keyId: number): Promise<UserPassVerdict> {
    const a = this.clients.get(c);
    if (a === undefined) return { kind: 'tls-error', log: 'closed' };
    if (keyId === 0) {
      const pi = peerInfoEnv(km2.peerInfo ?? '');
      a.peerEnv = pi.env;
      if (pi.refused > 0)
        this.rt.log(
          `${tag(c)} WARNING: validation failed on ${pi.refused} peer_info line(s) received from client`,
        );
    }
    const v = await this.track(
      verifyUserPass(
        this.upCfg,
        a.state,
        {
          username: km2.username,
          password: km2.password,
          credentialsTooLong: km2.credentialsTooLong,
          commonName: a.commonName,
          remote: a.remote,
          env: mergeEnv(this.procEnv, a.certEnv, a.peerEnv),
          nowSec: Math.floor(Date.now() / 1000),
        },
        this.deps,
      ),
    );
    if (v.kind !== 'ok') {
      this.rt.log(`${tag(c)} ${v.log}`);
      return v;
    }
    a.userEnv = mergeEnv(a.userEnv, v.env);
    if (v.commonName !== '') c.record.commonName = v.commonName;
    if (v.checked) c.record.username = v.username;
    return v;
  }

  renegotiated(c: ServerClient, keyId: number): string | undefined {
    const a = this.clients.get(c);
    if (a === undefined || keyId === 0 || a.connectEnv === undefined) return undefined;
    return authTokenUpdateMessage(a.state);
  }

  /**
   * `client-connect` (when set) for a client about to be admitted with `addresses` and its ccd's
   * config; the script's output file is laid over the ccd's. Without the script: the ccd's config.
   */
  async clientConnect(
    c: ServerClient,
    ccd: ClientConfig | undefined,
    addresses: ClientAddresses,
  ): Promise<ConnectVerdict> {
    const a = this.clients.get(c);
    if (a === undefined) return { ok: false, reason: 'closed' };
    if (ccd?.disable) return { ok: false, reason: "client has been rejected due to 'disable' directive" };
    const env = mergeEnv(
      this.procEnv,
      a.certEnv,
      a.peerEnv,
      a.userEnv,
      clientConnectEnv({
        commonName: c.record.commonName,
        remote: a.remote,
        topology: this.o.topology,
        virtual: virtualAddress(addresses),
        created: a.createdSec,
      }),
    );
    const cmd = this.o.scripts.clientConnect;
    let config = ccd;
    if (cmd !== undefined) {
      const r = await this.track(runClientConnect(cmd, env, this.o.tmpDir, this.deps));
      if (!r.ok) return { ok: false, reason: `client-connect failed: ${r.reason}` };
      if (r.config.trim() !== '') {
        const out = this.parseClientConfig(c, r.config, r.configPath);
        config = config === undefined ? out : mergeClientConfigs(config, out);
      }
      if (config?.disable)
        return { ok: false, reason: "client has been rejected due to 'disable' directive" };
    }
    a.connectEnv = env;
    return { ok: true, config };
  }

  /**
   * The client is in with `addresses`: its common name is locked, learn-address hears of each
   * address, the token renewal timer starts. Returns the `auth-token` to push, if any.
   */
  admitted(c: ServerClient, addresses: ClientAddresses, iroutes: readonly string[]): string | undefined {
    const a = this.clients.get(c);
    if (a === undefined) return undefined;
    lockCommonName(a.state, c.record.commonName ?? '');
    a.connectEnv ??= mergeEnv(this.procEnv, a.certEnv, a.peerEnv, a.userEnv);
    const la = this.o.scripts.learnAddress;
    if (la !== undefined) {
      const addrs = [addresses.ifconfig?.local, addresses.ifconfigIpv6?.local, ...iroutes].filter(
        (x): x is string => x !== undefined,
      );
      for (const addr of addrs) {
        a.learned.push(addr);
        this.learn(a, la, 'add', addr, c.record.commonName);
      }
    }
    const sample = this.rt.linkBytes;
    if (this.o.scripts.clientDisconnect !== undefined && sample !== undefined) {
      a.sampleTimer = setInterval(() => {
        a.lastBytes = sample(c) ?? a.lastBytes;
      }, COUNTER_SAMPLE_MS);
      a.sampleTimer.unref();
    }
    const tokens = this.upCfg.tokens;
    if (tokens !== undefined && a.state.token !== undefined) {
      const every = authTokenRenewalInterval(tokens.renewal, this.o.renegSec);
      if (every !== undefined && every > 0) {
        a.renewTimer = setInterval(() => {
          const msg = renewAuthToken(tokens, a.state, Math.floor(Date.now() / 1000));
          if (msg !== undefined) this.rt.sendControl(c, msg);
        }, every * 1000);
        a.renewTimer.unref();
      }
    }
    return authTokenPushOption(a.state) === undefined ? undefined : a.state.token;
  }

  /**
   * The client is gone: client-disconnect (if client-connect let it in) with the peer's link byte
   * counters (`counters`, or the last sample when the peer is gone already), learn-address delete for
   * its addresses. Runs in the background (see `drain`).
   */
  clientGone(c: ServerClient, counters: LinkBytes | undefined): void {
    const a = this.clients.get(c);
    if (a === undefined) return;
    this.clients.delete(c);
    clearInterval(a.renewTimer);
    clearInterval(a.sampleTimer);
    const bytes = counters ?? a.lastBytes;
    const cmd = this.o.scripts.clientDisconnect;
    if (a.connectEnv !== undefined && cmd !== undefined) {
      const env = mergeEnv(
        a.connectEnv,
        clientDisconnectEnv({
          remote: a.remote,
          bytesReceived: bytes?.rx ?? 0,
          bytesSent: bytes?.tx ?? 0,
          created: a.createdSec,
          now: Math.floor(Date.now() / 1000),
        }),
      );
      a.chain = a.chain.then(() => runClientDisconnect(cmd, env, this.deps));
      this.track(a.chain);
    }
    const la = this.o.scripts.learnAddress;
    if (la !== undefined)
      for (const addr of a.learned) this.learn(a, la, 'delete', addr, c.record.commonName);
  }

  /** The server's `up` or `down` script (client-scripts.ts runServerUpDown); true when none is set. */
  async upDown(type: ServerUpDown, signal?: string): Promise<boolean> {
    const cmd = type === 'up' ? this.o.scripts.up : this.o.scripts.down;
    if (cmd === undefined) return true;
    return this.track(runServerUpDown(cmd, type, signal, this.procEnv, this.deps));
  }

  /** Waits (at most `ms`) for the scripts still running. */
  async drain(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.pending]),
      new Promise((r) => {
        timer = setTimeout(r, ms);
      }),
    ]);
    clearTimeout(timer);
  }

  private learn(
    a: ClientAuth,
    cmd: string,
    op: 'add' | 'delete',
    addr: string,
    cn: string | undefined,
  ): void {
    const env = a.connectEnv ?? this.procEnv;
    a.chain = a.chain.then(() => runLearnAddress(cmd, op, addr, { commonName: cn }, env, this.deps));
    this.track(a.chain);
  }

  private parseClientConfig(c: ServerClient, text: string, file: string): ClientConfig {
    const r = readClientConfig(text, file, {
      serverIfconfigIpv6: this.o.ifconfigIpv6?.address,
      readFile: (p) => readFileSync(p, 'utf8'),
    });
    for (const e of r.errors) this.rt.log(`${tag(c)} ${e.message}`);
    return r.config;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const done = () => this.pending.delete(p);
    p.then(done, done);
    return p;
  }
}

/**
 * A client-connect output file laid over the ccd file (2.6 reads both into the same instance
 * options, the script's last): addresses it sets win, iroutes and other directives add up, its
 * push-remove drops the ccd's matching pushes as well as the server's, its push-reset drops the
 * ccd's pushes too.
 */
export function mergeClientConfigs(base: ClientConfig, next: ClientConfig): ClientConfig {
  const prefixes = next.pushRemove.filter((r) => r !== 'ifconfig' && r !== 'ifconfig-ipv6');
  const kept = next.pushReset ? [] : base.push.filter((p) => !prefixes.some((r) => p.startsWith(r)));
  return {
    disable: base.disable || next.disable,
    ifconfigPush: next.ifconfigPush ?? base.ifconfigPush,
    ifconfigIpv6Push: next.ifconfigIpv6Push ?? base.ifconfigIpv6Push,
    iroutes: [...base.iroutes, ...next.iroutes],
    iroutesIpv6: [...base.iroutesIpv6, ...next.iroutesIpv6],
    pushReset: base.pushReset || next.pushReset,
    pushRemove: [...base.pushRemove, ...next.pushRemove],
    push: [...kept, ...next.push],
    other: [...base.other, ...next.other],
  };
}

function virtualAddress(a: ClientAddresses): VirtualAddress {
  return {
    ipv4:
      a.ifconfig === undefined
        ? undefined
        : { local: a.ifconfig.local, remoteNetmask: a.ifconfig.remoteNetmask },
    ipv6:
      a.ifconfigIpv6 === undefined
        ? undefined
        : { local: a.ifconfigIpv6.local, remote: a.ifconfigIpv6.remote, netbits: a.ifconfigIpv6.prefix },
  };
}

/** `a.b.c.d:port` / `[v6]:port` (the shell's real address text) into address and port. */
export function parseRealAddress(text: string): { address: string; port: number } {
  const m = /^\[(.*)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text);
  return m === null ? { address: text, port: 0 } : { address: m[1], port: Number(m[2]) };
}

function tag(c: ServerClient): string {
  return `${c.record.commonName ?? '?'}/${c.record.realAddress}`;
}

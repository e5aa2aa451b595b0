/**
 * The server's `client-config-dir` at run time (2.6 multi.c multi_client_connect_source_ccd,
 * ssl_verify.c's --ccd-exclusive check, options.c options_server_import), on top of the pure ccd.ts:
 *
 * - `forClient(cn)`: with `ccd-exclusive`, a client without its own file is refused in 2.6's words;
 *   else the common name's file (or DEFAULT) is read, every bad line logged as 2.6 logs it
 *   (`Options error: file:line: ...`) and skipped, the rest applied;
 * - `disabledRefusal(config)`: `disable` (from the ccd or a client-connect output) refuses the client;
 * - `staticAddresses()`: the `ifconfig-push` / `ifconfig-ipv6-push` addresses written in every file of
 *   the directory, read at start-up so the pool never hands them out (ours beyond 2.6);
 * A client-connect script's output is laid over the ccd's config by client-auth.ts
 * `mergeClientConfigs`.
 */
import { closeSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ClientConfig, ServerOptions } from '../../config/server-options.js';
import { ccdExclusiveRefusal, findCcdFile, readClientConfig } from './ccd.js';

/** What the directory is read through (the file system; tests may pass their own). */
export interface CcdFs {
  /** platform_test_file: the file can be opened for reading. */
  readable(path: string): boolean;
  read(path: string): string;
  /** The names of the regular files in `dir`. */
  list(dir: string): string[];
}

export const nodeCcdFs: CcdFs = {
  readable(path) {
    try {
      closeSync(openSync(path, 'r'));
      return true;
    } catch {
      return false;
    }
  },
  read: (path) => readFileSync(path, 'utf8'),
  list(dir) {
    try {
      return readdirSync(dir).filter((n) => {
        try {
          return statSync(join(dir, n)).isFile();
        } catch {
          return false;
        }
      });
    } catch {
      return [];
    }
  },
};

/** The ccd's verdict on one client. */
export type CcdVerdict =
  | { refuse: string }
  /** The file's directives (undefined: no file applies), and which file it was. */
  | { config: ClientConfig | undefined; file: string | undefined };

/** 2.6's log line when `disable` turns a client away (multi_client_connect_post's chain). */
export const DISABLE_REFUSAL = "MULTI: client has been rejected due to 'disable' directive";

export class ClientConfigDir {
  constructor(
    readonly dir: string,
    private readonly exclusive: boolean,
    private readonly serverIfconfigIpv6: string | undefined,
    private readonly log: (msg: string) => void,
    private readonly fs: CcdFs = nodeCcdFs,
  ) {}

  /** The server's ccd (undefined without `client-config-dir`). */
  static fromServer(
    o: Pick<ServerOptions, 'clientConfigDir' | 'ccdExclusive' | 'ifconfigIpv6'>,
    log: (msg: string) => void,
    fs: CcdFs = nodeCcdFs,
  ): ClientConfigDir | undefined {
    if (o.clientConfigDir === undefined) return undefined;
    return new ClientConfigDir(o.clientConfigDir, o.ccdExclusive, o.ifconfigIpv6?.address, log, fs);
  }

  /** ccd-exclusive, then the client's file read and applied (bad lines logged and skipped). */
  forClient(commonName: string | undefined): CcdVerdict {
    if (this.exclusive) {
      const refusal = ccdExclusiveRefusal(this.dir, commonName, (p) => this.fs.readable(p));
      // the shell logs the refusal (and tells the client AUTH_FAILED)
      if (refusal !== undefined) return { refuse: refusal };
    }
    const file = findCcdFile(this.dir, commonName ?? '', (p) => this.fs.readable(p));
    if (file === undefined) return { config: undefined, file: undefined };
    this.log(`OPTIONS IMPORT: reading client specific options from: ${file}`);
    const config = this.readFile(file, true);
    if (config === undefined) return { config: undefined, file: undefined };
    return { config, file };
  }

  /**
   * Every `ifconfig-push` / `ifconfig-ipv6-push` address written in the directory's files (their
   * errors are not logged here: each file is read again, and logged, when its client connects).
   */
  staticAddresses(): string[] {
    const out: string[] = [];
    for (const name of this.fs.list(this.dir)) {
      const c = this.readFile(join(this.dir, name), false);
      if (c?.ifconfigPush !== undefined) out.push(c.ifconfigPush.local);
      if (c?.ifconfigIpv6Push !== undefined) out.push(c.ifconfigIpv6Push.address.address);
    }
    return out;
  }

  private readFile(file: string, logErrors: boolean): ClientConfig | undefined {
    let text: string;
    try {
      text = this.fs.read(file);
    } catch (e) {
      if (logErrors) this.log(`Options error: cannot read ${file}: ${(e as Error).message}`);
      return undefined;
    }
    const r = readClientConfig(text, file, {
      serverIfconfigIpv6: this.serverIfconfigIpv6,
      readFile: (p) => this.fs.read(isAbsolute(p) ? p : join(this.dir, p)),
    });
    if (logErrors) for (const e of r.errors) this.log(`Options error: ${e.message}`);
    return r.config;
  }
}

/** 2.6's refusal for `disable` in the (merged) client config, or undefined. */
export function disabledRefusal(config: ClientConfig | undefined): string | undefined {
  return config?.disable ? DISABLE_REFUSAL : undefined;
}

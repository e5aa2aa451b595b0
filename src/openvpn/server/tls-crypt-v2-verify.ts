/**
 * The server's check of a tls-crypt-v2 client key's metadata (2.6 tls_crypt.c
 * tls_crypt_v2_verify_metadata), run once the client's WKc unwrapped (control/wrap/tls-crypt-v2.ts
 * TlsCryptV2ServerWrap.metadata) and before the client's session is set up:
 *
 * `tls-crypt-v2-verify cmd` runs with an environment of its own holding only `script_type`
 * (`tls-crypt-v2-verify`), `metadata_type` (the type byte in decimal) and `metadata_file` (a 0600 file
 * in tmp-dir holding the metadata after its type byte, removed afterwards). Exit 0 accepts the key.
 * Metadata without even a type byte is refused without running anything.
 */
import { METADATA_TYPE_TIMESTAMP, METADATA_TYPE_USER } from '../../control/wrap/tls-crypt-v2.js';
import { commandWords, failureMessage, type ScriptRunner } from './script-runner.js';
import { SCRIPT_TYPE } from './server-script-env.js';
import type { TempFiles } from './temp-file.js';

export interface TlsCryptV2Metadata {
  /** The type byte: 0 user data, 1 timestamp; others are passed on as they are. */
  type: number;
  /** The bytes after the type byte. */
  data: Buffer;
  /** For type 1 with 8 data bytes: the key's creation time (unix seconds, from a 64-bit BE value). */
  createdAt: bigint | undefined;
}

/** Splits metadata (type byte first); undefined when it is empty ("ERROR: no metadata type"). */
export function parseTlsCryptV2Metadata(metadata: Uint8Array): TlsCryptV2Metadata | undefined {
  if (metadata.length < 1) return undefined;
  const m = Buffer.from(metadata);
  const type = m[0];
  const data = m.subarray(1);
  const createdAt =
    type === METADATA_TYPE_TIMESTAMP && data.length === 8 ? data.readBigUInt64BE(0) : undefined;
  return { type, data, createdAt };
}

/** A one-line description for logs: `user data (12 bytes)`, `created 2026-12-02T12:00:00Z`... */
export function describeTlsCryptV2Metadata(m: TlsCryptV2Metadata): string {
  if (m.type === METADATA_TYPE_USER) return `user data (${m.data.length} bytes)`;
  if (m.createdAt !== undefined) {
    const ms = Number(m.createdAt) * 1000;
    const when =
      Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(m.createdAt);
    return `timestamp ${m.createdAt} (${when})`;
  }
  return `type ${m.type} (${m.data.length} bytes)`;
}

export interface TlsCryptV2VerifyDeps {
  runner: ScriptRunner;
  tmp: TempFiles;
  log: (line: string) => void;
}

/** Runs `tls-crypt-v2-verify`; true when it accepts the client key. Never throws. */
export async function runTlsCryptV2Verify(
  command: string,
  metadata: Uint8Array,
  tmpDir: string,
  deps: TlsCryptV2VerifyDeps,
): Promise<boolean> {
  const m = parseTlsCryptV2Metadata(metadata);
  if (m === undefined) {
    deps.log('ERROR: no metadata type');
    return false;
  }
  let argv: string[];
  try {
    argv = commandWords(command, 'tls-crypt-v2-verify');
  } catch (e) {
    deps.log(`ERROR: ${(e as Error).message}`);
    return false;
  }
  let path: string;
  try {
    path = await deps.tmp.create(tmpDir, 'tls_crypt_v2_metadata_', m.data);
  } catch {
    deps.log('ERROR: could not write metadata to file');
    return false;
  }
  try {
    const r = await deps.runner.run(argv, {
      script_type: SCRIPT_TYPE.tlsCryptV2Verify,
      metadata_type: String(m.type),
      metadata_file: path,
    });
    if (r.exitCode !== 0) {
      deps.log(failureMessage('--tls-crypt-v2-verify', r));
      deps.log('TLS CRYPT V2 VERIFY SCRIPT ERROR');
      return false;
    }
    deps.log('TLS CRYPT V2 VERIFY SCRIPT OK');
    return true;
  } finally {
    await deps.tmp.remove(path).catch(() => deps.log(`WARNING: failed to remove temp file '${path}`));
  }
}

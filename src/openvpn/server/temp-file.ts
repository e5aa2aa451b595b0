/**
 * The temporary files scripts are handed (via-file credentials, client-connect's output file,
 * tls-crypt-v2 metadata), as 2.6 platform_create_temp_file makes them: in `tmp-dir`, named
 * `openvpn_<prefix>_<two random 64-bit numbers in hex, each at least 8 digits>.tmp`, created
 * exclusively (O_CREAT|O_EXCL) with mode 0600,
 * retried on a name clash up to 6 times. The caller removes them when the script has run.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';

export interface TempFiles {
  /** Creates a new file holding `content` (mode 0600) and returns its path. */
  create(dir: string, prefix: string, content: Uint8Array | string): Promise<string>;
  /** Reads a file back (client-connect's output). */
  read(path: string): Promise<Buffer>;
  /** Removes a file; a missing file is not an error. */
  remove(path: string): Promise<void>;
}

/** 2.6's temporary file name for `prefix` from 16 random bytes (`%08" PRIx64 "%08" PRIx64`). */
export function tempFileName(prefix: string, random: Uint8Array): string {
  const r = Buffer.from(random);
  if (r.length !== 16) throw new Error('tempFileName: 16 random bytes');
  const part = (o: number) => r.readBigUInt64BE(o).toString(16).padStart(8, '0');
  return `openvpn_${prefix}_${part(0)}${part(8)}.tmp`;
}

const ATTEMPTS = 6;

/** Temporary files on the real file system. */
export const nodeTempFiles: TempFiles = {
  async create(dir, prefix, content) {
    for (let attempt = 1; ; attempt++) {
      const path = join(dir, tempFileName(prefix, randomBytes(16)));
      let fh: fs.FileHandle;
      try {
        fh = await fs.open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST' && attempt < ATTEMPTS) continue;
        throw new Error(`could not create a temporary file in ${dir}: ${(e as Error).message}`);
      }
      try {
        await fh.writeFile(content);
      } catch (e) {
        await fh.close().catch(() => {});
        await fs.rm(path, { force: true });
        throw new Error(`could not write the temporary file ${path}: ${(e as Error).message}`);
      }
      await fh.close();
      return path;
    }
  },
  read(path) {
    return fs.readFile(path);
  },
  async remove(path) {
    await fs.rm(path, { force: true });
  },
};

/**
 * Certificates made for one demo run with the `openssl` command (scripts/setup.sh installs it): an EC
 * P-256 CA, a server certificate (serverAuth, as `remote-cert-tls server` wants) and client
 * certificates (clientAuth), valid for two days, written into a folder the demo owns and removes.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

const EXTENSIONS = [
  '[server]',
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
  '[client]',
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature',
  'extendedKeyUsage=clientAuth',
  '',
].join('\n');

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** `ca.crt`/`ca.key` in `dir`, subject `/CN=<name>`. */
export function makeCa(dir: string, name: string): void {
  writeFileSync(join(dir, 'extensions.cnf'), EXTENSIONS);
  openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    `/CN=${name}`,
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=keyCertSign,cRLSign',
  ]);
}

/** `<file>.crt`/`<file>.key` in `dir` for common name `cn`, issued by the CA of `makeCa`. */
export function issue(dir: string, file: string, cn: string, kind: 'server' | 'client'): void {
  openssl(dir, ['req', ...EC, '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${cn}`]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${file}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${file}.crt`,
    '-days',
    '2',
    '-extfile',
    'extensions.cnf',
    '-extensions',
    kind,
  ]);
}

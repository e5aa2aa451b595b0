/**
 * Throwaway certificates made with the `openssl` command at test time: a CA (EC P-256 or RSA 2048),
 * certificates it issues with chosen subjects and extensions, a CRL revoking some of them, PKCS#12
 * bundles. Everything is written into a folder the test owns and removes.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type KeyType = 'ec' | 'rsa';

export function ossl(dir: string, ...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }).toString();
}

function keyArgs(type: KeyType): string[] {
  return type === 'rsa'
    ? ['-newkey', 'rsa:2048', '-nodes']
    : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
}

/** `<name>.key` and a self-signed `<name>.crt` with CA:TRUE and keyCertSign, cRLSign. */
export function makeCa(dir: string, name: string, subj: string, type: KeyType = 'ec'): void {
  ossl(
    dir,
    'req',
    '-x509',
    ...keyArgs(type),
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-subj',
    subj,
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=keyCertSign,cRLSign',
  );
}

export interface IssueOptions {
  /** The issuing CA's file name stem (default `ca`). */
  ca?: string;
  /** `-subj` (`/C=DE/O=Acme/CN=vpn`; `-multivalue-rdn` is passed, so `+` joins attributes). */
  subj: string;
  /** Extension lines (`keyUsage=...`, `extendedKeyUsage=...`); none at all when empty. */
  ext: string[];
  type?: KeyType;
  /** Passed to `req` (e.g. `-utf8`). */
  reqArgs?: string[];
}

/** `<name>.key` and `<name>.crt` issued by the CA; returns the certificate's DER. */
export function issue(dir: string, name: string, o: IssueOptions): Buffer {
  const ca = o.ca ?? 'ca';
  ossl(
    dir,
    'req',
    ...keyArgs(o.type ?? 'ec'),
    ...(o.reqArgs ?? []),
    '-multivalue-rdn',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    o.subj,
  );
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ['[e]', ...o.ext, ''].join('\n'));
  ossl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    ...(o.ext.length > 0 ? ['-extfile', extFile, '-extensions', 'e'] : []),
  );
  return der(dir, `${name}.crt`);
}

/** The DER of a PEM certificate file. */
export function der(dir: string, file: string): Buffer {
  return execFileSync('openssl', ['x509', '-in', file, '-outform', 'DER'], { cwd: dir });
}

/**
 * A PEM CRL (`<out>`) signed by CA `ca`, revoking the certificates named (file stems); valid for
 * `days` days from now.
 */
export function makeCrl(dir: string, out: string, revoke: string[], ca = 'ca', days = 1): string {
  const db = `${ca}-${out}.index`;
  writeFileSync(join(dir, db), '');
  writeFileSync(join(dir, `${ca}-${out}.crlnumber`), '01\n');
  const cnf = join(dir, `${ca}-${out}.cnf`);
  writeFileSync(
    cnf,
    [
      '[ca]',
      'default_ca = d',
      '[d]',
      `database = ${db}`,
      `crlnumber = ${ca}-${out}.crlnumber`,
      'default_md = sha256',
      `default_crl_days = ${days}`,
      '',
    ].join('\n'),
  );
  for (const r of revoke) {
    ossl(dir, 'ca', '-config', cnf, '-keyfile', `${ca}.key`, '-cert', `${ca}.crt`, '-revoke', `${r}.crt`);
  }
  ossl(dir, 'ca', '-config', cnf, '-keyfile', `${ca}.key`, '-cert', `${ca}.crt`, '-gencrl', '-out', out);
  return readFileSync(join(dir, out), 'latin1');
}

/** `<out>`: a PKCS#12 bundle of `<name>.crt`, `<name>.key` and the CA certificate, with `password`. */
export function makePkcs12(dir: string, name: string, out: string, password: string, ca = 'ca'): void {
  ossl(
    dir,
    'pkcs12',
    '-export',
    '-in',
    `${name}.crt`,
    '-inkey',
    `${name}.key`,
    '-certfile',
    `${ca}.crt`,
    '-out',
    out,
    '-passout',
    `pass:${password}`,
  );
}

/** The SHA-256 fingerprint as `AB:CD:...` (openssl x509 -fingerprint). */
export function fingerprint(dir: string, file: string): string {
  const out = ossl(dir, 'x509', '-in', file, '-noout', '-fingerprint', '-sha256');
  return out.trim().replace(/^.*=/, '');
}

/** The subject as OpenSSL prints it with OpenVPN's flags (x509_get_subject). */
export function opensslSubject(dir: string, file: string): string {
  const out = ossl(
    dir,
    'x509',
    '-in',
    file,
    '-noout',
    '-subject',
    '-nameopt',
    'sep_comma_plus_space,sname,utf8,esc_ctrl',
  );
  return out.replace(/^subject=/, '').replace(/\n$/, '');
}

/**
 * A throwaway PKI for the VPN benchmarks, made with the `openssl` command in a folder the caller owns
 * and removes: an EC P-256 CA, a server certificate (serverAuth) and client certificates (clientAuth).
 * Many clients (the connect storm) share one key and differ in their CN, which is all a server tells
 * them apart by; issuing is one `openssl req -x509 -CA` call per certificate, a few at a time.
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface BenchPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** The key every client certificate is issued for. */
  clientKey: string;
  /** Client certificate paths, in order (CN `<cn>-client-<i>`). */
  clientCerts: string[];
}

/** CA, server and the first client in `dir`; more clients with `addClients`. */
export function makeBenchPki(dir: string, cn: string): BenchPki {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(
    join(dir, 'ext.cnf'),
    [
      '[req]',
      'distinguished_name=dn',
      '[dn]',
      '[srv]',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '[cli]',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature',
      'extendedKeyUsage=clientAuth',
      '',
    ].join('\n'),
  );
  ossl(
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    `/CN=${cn}-ca`,
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=keyCertSign,cRLSign',
  );
  ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'client.key');
  ossl(...issueArgs('server', `/CN=${cn}-server`, 'srv', EC));
  ossl(...issueArgs('client-0', `/CN=${cn}-client-0`, 'cli', ['-key', 'client.key']));
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientKey: join(dir, 'client.key'),
    clientCerts: [join(dir, 'client-0.crt')],
  };
}

function issueArgs(name: string, subj: string, ext: string, key: string[]): string[] {
  return [
    'req',
    '-x509',
    ...key,
    ...(key[0] === '-newkey' ? ['-keyout', `${name}.key`] : []),
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-subj',
    subj,
    '-days',
    '2',
    '-config',
    'ext.cnf',
    '-extensions',
    ext,
    '-out',
    `${name}.crt`,
  ];
}

/** Issues client certificates until there are `count`, `parallel` openssl processes at a time. */
export async function addClients(pki: BenchPki, cn: string, count: number, parallel = 4): Promise<void> {
  let next = pki.clientCerts.length;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await execFileP(
        'openssl',
        issueArgs(`client-${i}`, `/CN=${cn}-client-${i}`, 'cli', ['-key', 'client.key']),
        {
          cwd: pki.dir,
        },
      );
      pki.clientCerts[i] = join(pki.dir, `client-${i}.crt`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** The control-channel wrap a connection entry asks for (plain, tls-auth, tls-crypt). */
import type { ClientOptions, TlsWrap } from '../config/client-options.js';
import { type ReadFileFn, readFileRef } from '../config/load.js';
import { parseKeyDirection, parseStaticKey } from '../control/static-key.js';
import { PlainWrap } from '../control/wrap/plain.js';
import { TlsAuthWrap } from '../control/wrap/tls-auth.js';
import { TlsCryptWrap } from '../control/wrap/tls-crypt.js';
import type { ControlWrap } from '../control/wrap/wrap.js';

export async function makeControlWrap(
  tlsWrap: TlsWrap | undefined,
  options: ClientOptions,
  readFile: ReadFileFn,
): Promise<ControlWrap> {
  if (tlsWrap === undefined) return new PlainWrap();
  const text = Buffer.from(await readFileRef(tlsWrap.key, readFile, tlsWrap.mode)).toString('utf8');
  switch (tlsWrap.mode) {
    case 'tls-auth':
      return new TlsAuthWrap({
        key2: parseStaticKey(text, 'tls-auth'),
        direction: parseKeyDirection(tlsWrap.direction === undefined ? undefined : String(tlsWrap.direction)),
        digest: options.auth,
      });
    case 'tls-crypt':
      return new TlsCryptWrap({ key2: parseStaticKey(text, 'tls-crypt'), role: 'client' });
    default:
      throw new Error('tls-crypt-v2 is not supported by the ovpn-ts client yet');
  }
}

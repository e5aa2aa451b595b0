/** The control-channel wrap a connection entry asks for (plain, tls-auth, tls-crypt, tls-crypt-v2). */
import type { ClientOptions, TlsWrap } from '../config/client-options.js';
import { type ReadFileFn, readFileRef } from '../config/load.js';
import { ConfigError } from '../config/tokenize.js';
import { parseKeyDirection, parseStaticKey, parseTlsCryptV2ClientKey } from '../control/static-key.js';
import { PlainWrap } from '../control/wrap/plain.js';
import { TlsAuthWrap } from '../control/wrap/tls-auth.js';
import { TlsCryptWrap } from '../control/wrap/tls-crypt.js';
import { TlsCryptV2ClientWrap } from '../control/wrap/tls-crypt-v2.js';
import type { ControlWrap } from '../control/wrap/wrap.js';

export async function makeControlWrap(
  tlsWrap: TlsWrap | undefined,
  options: ClientOptions,
  readFile: ReadFileFn,
): Promise<ControlWrap> {
  if (tlsWrap === undefined) return new PlainWrap();
  try {
    return await makeWrap(tlsWrap, options, readFile);
  } catch (e) {
    // name the directive unless the message does already (a file that cannot be read names its line)
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof ConfigError || msg.startsWith(tlsWrap.mode)) throw e;
    throw new Error(`${tlsWrap.mode}: ${msg}`, { cause: e });
  }
}

async function makeWrap(
  tlsWrap: TlsWrap,
  options: ClientOptions,
  readFile: ReadFileFn,
): Promise<ControlWrap> {
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
    case 'tls-crypt-v2':
      // the client key and its WKc (`openvpn --genkey tls-crypt-v2-client`); replay ids start at the
      // early-negotiation marker, as every 2.6 client's do
      return new TlsCryptV2ClientWrap({ clientKey: parseTlsCryptV2ClientKey(text) });
  }
}

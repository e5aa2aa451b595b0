/**
 * The server's control-channel wrap factory: a fresh wrap of its tls-auth / tls-crypt key per use
 * (the listener's stateless check and reply, each new session), whose first replay id follows
 * `firstPacketId` (2.6 sets a session made from a cookie to continue after the reply's id 1).
 */

import { type ReadFileFn, readFileRef } from '../../config/load.js';
import type { ServerOptions } from '../../config/server-options.js';
import { parseKeyDirection, parseStaticKey, parseTlsCryptV2ServerKey } from '../../control/static-key.js';
import { PlainWrap } from '../../control/wrap/plain.js';
import { TlsAuthWrap } from '../../control/wrap/tls-auth.js';
import { TlsCryptWrap } from '../../control/wrap/tls-crypt.js';
import { TlsCryptV2ServerWrap } from '../../control/wrap/tls-crypt-v2.js';
import type { ControlWrap } from '../../control/wrap/wrap.js';

export async function makeServerWrapFactory(
  o: ServerOptions,
  rf: ReadFileFn,
): Promise<(firstPacketId: number) => ControlWrap> {
  const w = o.tlsWrap;
  if (w === undefined) return () => new PlainWrap();
  const text = Buffer.from(await readFileRef(w.key, rf, w.mode)).toString('utf8');
  switch (w.mode) {
    case 'tls-auth': {
      const key2 = parseStaticKey(text, 'tls-auth');
      // a server's tls-auth key-direction is normally 0 (`tls-auth ta.key 0`)
      const direction = parseKeyDirection(w.direction === undefined ? undefined : String(w.direction));
      return (first) => new TlsAuthWrap({ key2, direction, digest: o.auth, firstPacketId: first });
    }
    case 'tls-crypt': {
      const key2 = parseStaticKey(text, 'tls-crypt');
      return (first) => new TlsCryptWrap({ key2, role: 'server', firstPacketId: first });
    }
    case 'tls-crypt-v2': {
      // the server key; each client's key comes in its WKc (TlsCryptV2ServerWrap)
      const serverKey = parseTlsCryptV2ServerKey(text);
      return (first) => new TlsCryptV2ServerWrap({ serverKey, firstPacketId: first });
    }
  }
}

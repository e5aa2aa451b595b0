export { AeadContext, type AeadDirection } from './aead.js';
export { CIPHER_ALG_NAMES, CipherAlg, evpCipherName } from './cipher-alg.js';
export { evp } from './evp.js';

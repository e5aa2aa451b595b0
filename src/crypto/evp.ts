/**
 * koffi bindings to OpenSSL's EVP cipher API: the few calls a persistent AEAD context needs.
 *
 * We use Node's own OpenSSL (`dlopen(NULL)`: official Linux builds of Node export the EVP symbols),
 * so nothing is compiled; if the running binary does not export them, the system `libcrypto.so.3`
 * is loaded instead. Per-packet calls take raw addresses (`intptr_t`) rather than Buffers, so that no
 * view or object is created per packet (see sys/address.ts).
 */
import koffi, { type LibraryHandle } from 'koffi';
import { eio } from '../errors/ovpn-error.js';

/** `EVP_CIPHER_CTX_ctrl` commands (openssl/evp.h). */
export const EVP_CTRL_AEAD_SET_IVLEN = 0x9;
export const EVP_CTRL_AEAD_GET_TAG = 0x10;
export const EVP_CTRL_AEAD_SET_TAG = 0x11;

/** The EVP entry points, typed. Addresses are plain numbers, contexts and ciphers bigint pointers. */
export interface Evp {
  /** Which library the symbols came from. */
  readonly source: string;
  ctxNew(): bigint | null;
  ctxFree(ctx: bigint): void;
  cipherByName(name: string): bigint | null;
  /** `EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc)`: binds cipher and key once. */
  initKey(ctx: bigint, cipher: bigint, key: Buffer, enc: number): number;
  /** `EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1)`: new nonce, same key and direction. */
  initIv(ctx: bigint, cipher: number, engine: number, key: number, iv: number, enc: number): number;
  update(ctx: bigint, out: number, outLen: number, input: number, inputLen: number): number;
  final(ctx: bigint, out: number, outLen: number): number;
  ctrl(ctx: bigint, type: number, arg: number, ptr: number): number;
}

let loaded: Evp | undefined;

/** The EVP binding, loaded on first use. Throws EIO if no OpenSSL with EVP can be found. */
export function evp(): Evp {
  if (loaded === undefined) loaded = loadEvp();
  return loaded;
}

function loadEvp(): Evp {
  const errors: string[] = [];
  for (const path of [null, 'libcrypto.so.3']) {
    try {
      return bind(koffi.load(path), path ?? 'node (built-in OpenSSL)');
    } catch (e) {
      errors.push(`${path ?? 'node'}: ${(e as Error).message}`);
    }
  }
  throw eio(`cannot load OpenSSL EVP functions (${errors.join('; ')})`);
}

function bind(lib: LibraryHandle, source: string): Evp {
  const P = 'intptr_t';
  const init = lib.func(
    'int EVP_CipherInit_ex(void *ctx, void *cipher, void *engine, const uint8_t *key, const uint8_t *iv, int enc)',
  ) as (ctx: bigint, cipher: bigint, engine: null, key: Buffer, iv: null, enc: number) => number;
  return {
    source,
    ctxNew: lib.func('void *EVP_CIPHER_CTX_new()') as () => bigint | null,
    ctxFree: lib.func('void EVP_CIPHER_CTX_free(void *ctx)') as (ctx: bigint) => void,
    cipherByName: lib.func('void *EVP_get_cipherbyname(const char *name)') as (name: string) => bigint | null,
    initKey: (ctx, cipher, key, enc) => init(ctx, cipher, null, key, null, enc),
    initIv: lib.func('EVP_CipherInit_ex', 'int', ['void *', P, P, P, P, 'int']) as Evp['initIv'],
    update: lib.func('EVP_CipherUpdate', 'int', ['void *', P, P, P, 'int']) as Evp['update'],
    final: lib.func('EVP_CipherFinal_ex', 'int', ['void *', P, P]) as Evp['final'],
    ctrl: lib.func('EVP_CIPHER_CTX_ctrl', 'int', ['void *', 'int', 'int', P]) as Evp['ctrl'],
  };
}

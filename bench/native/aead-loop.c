/*
 * The per-packet AEAD sequence of src/crypto/aead.ts (new nonce, 8-byte AAD, in-place payload, final,
 * tag), written in C against the same OpenSSL, for an apples-to-apples floor: `openssl speed -aead`
 * uses the TLS record path, which for ChaCha20-Poly1305 is a faster stitched implementation that
 * OpenVPN's packet format cannot use.
 * Usage: aead-loop <openssl cipher name> <bytes> <iterations>; prints ns per packet.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int size = atoi(argv[2]);
  long iterations = atol(argv[3]);
  unsigned char key[32] = {1}, nonce[12] = {0};
  unsigned char *pkt = calloc(1, size + 64);
  int outl;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  const EVP_CIPHER *cipher = EVP_get_cipherbyname(argv[1]);
  if (!ctx || !cipher || !pkt || EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, 1) != 1) return 1;
  double t0 = now_ns();
  for (long i = 0; i < iterations; i++) {
    nonce[3] = (unsigned char)i;
    EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1);
    EVP_CipherUpdate(ctx, NULL, &outl, pkt, 8);
    EVP_CipherUpdate(ctx, pkt + 24, &outl, pkt + 24, size);
    EVP_CipherFinal_ex(ctx, pkt + 24 + size, &outl);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, pkt + 8);
  }
  printf("%.1f\n", (now_ns() - t0) / iterations);
  EVP_CIPHER_CTX_free(ctx);
  free(pkt);
  return 0;
}

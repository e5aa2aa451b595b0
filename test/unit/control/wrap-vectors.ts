/**
 * Published OpenVPN 2.6 unit-test vectors for the control-channel wrappers, as cited by spec
 * openvpn-protocol §4.6 / §10: the static key of tests/unit_tests/openvpn/test_pkt.c (bytes only) and the
 * two client resets of that test, whose hex the spec gives in full.
 */
import { execFileSync } from 'node:child_process';

export const TEST_PKT_STATIC_KEY_HEX =
  '37268ea8f95d7f71f9fb8fc03770c460daf714a483d815c013ce0a537efc18f2' +
  '8f4f172669d9e6a413bac6741d8ea05400f49b7fd6326470f23798c606bf53d4' +
  'de63ebc64ec59d57ce5d04d5b62e68b53ca6e5354351097fa370446c4d269f18' +
  '7bb6ae54af2dc70ff7317fe2f8754b8282aad4202f9fa42c8640245d883e2c54' +
  'a0c1c489a036cf3a8964d8d289c1583b9447c262b1da5fd167a5d27bd5ac5143' +
  '17bc2343a31a2efc38dd920d910375f51c2e27f3afd36c49269da079f7ce466e' +
  'bb0f9ad13e9bbb4665974e6bc24b513c5700393bf4a3e7f967e2f384069ac8a8' +
  'e78b18b15604993fd16515cce9c0f3e42b4126b999005ade802797b0eeb8b9e6';

/** tls-auth (HMAC-SHA1, client = key-direction 1) client hard reset, replay id 1, time 0x61d3bf6c. */
export const TLS_AUTH_CLIENT_RESET_HEX =
  '38de694c5c7bfba27493537c1ded4e781529ae7cfe4b8c6d6b2b51f05a0000000161d3bf6c0000000000';

/** tls-crypt client hard reset, replay id 1, time 0x61d3f8e1. */
export const TLS_CRYPT_CLIENT_RESET_HEX =
  '38f419cb12d1f9e48f0000000161d3f8e1330206f56802be44fbed905064e3db43416bec5e526719462b7eb90c96defc9b05c44879f7';

/** True if the `openvpn` binary can be run (interop cases skip otherwise). */
export function openvpnAvailable(): boolean {
  try {
    execFileSync('openvpn', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // openvpn --version exits with status 1 after printing; only a missing binary is "not available"
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

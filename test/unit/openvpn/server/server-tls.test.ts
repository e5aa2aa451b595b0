/**
 * The server's secure context (server-tls.ts loadServerTls) from a real server config: an encrypted
 * server key opened with `askpass FILE` (2.6 reads the first line), refused naming `askpass` when no
 * password can be had (no terminal here) and naming `key` when the password is wrong; a PKCS#12 server
 * certificate from a file and inline (base64, as 2.6 reads the block), with its password; a real
 * handshake against each context proves the key is the one in use.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, createServer } from 'node:tls';
import { loadServerConfig } from '../../../../src/config/load.js';
import { loadServerTls } from '../../../../src/openvpn/server/server-tls.js';
import { issue, makeCa, makePkcs12, ossl } from '../../../support/pki.js';

const SERVER_EXT = [
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
];

describe('server TLS: encrypted keys and PKCS#12 (server-tls.ts)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ovst-unit-'));
    makeCa(dir, 'ca', '/CN=ovst-ca');
    issue(dir, 'srv', { subj: '/CN=ovst-server', ext: SERVER_EXT });
    ossl(dir, 'pkey', '-in', 'srv.key', '-aes256', '-passout', 'pass:sesame', '-out', 'srv-enc.key');
    makePkcs12(dir, 'srv', 'srv.p12', 'sesame', 'ca');
    writeFileSync(join(dir, 'pass.txt'), 'sesame\nignored\n');
    writeFileSync(join(dir, 'wrong.txt'), 'open\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function load(lines: string[]) {
    const cfg = join(dir, `s${Math.random().toString(36).slice(2)}.conf`);
    writeFileSync(cfg, ['server 10.99.0.0 255.255.255.0', 'dev tun', 'dh none', ...lines, ''].join('\n'));
    const { options } = await loadServerConfig(['--config', cfg], {
      readFile: (p) => readFile(p),
      cwd: dir,
      env: {},
    });
    return loadServerTls(options, (p) => readFile(p));
  }

  /** A TLS client handshake against the context: resolves with the server certificate's CN. */
  async function handshakeCn(ctx: Awaited<ReturnType<typeof load>>): Promise<string> {
    // a tls.Server builds its own context from its options; SNICallback hands it ours
    const s = createServer({ SNICallback: (_name, cb) => cb(null, ctx.secureContext) });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    try {
      return await new Promise<string>((resolve, reject) => {
        const c = connect({
          port,
          host: '127.0.0.1',
          ca: readFileSync(join(dir, 'ca.crt')),
          servername: 'x',
          checkServerIdentity: () => undefined,
        });
        c.on('secureConnect', () => {
          const cn = c.getPeerCertificate().subject.CN;
          c.destroy();
          resolve(String(cn));
        });
        c.on('error', reject);
      });
    } finally {
      s.close();
    }
  }

  it('an encrypted key opens with askpass FILE; none or a wrong one is refused naming the directive', async () => {
    const ok = await load(['ca ca.crt', 'cert srv.crt', 'key srv-enc.key', 'askpass pass.txt']);
    assert.equal(await handshakeCn(ok), 'ovst-server');
    await assert.rejects(
      load(['ca ca.crt', 'cert srv.crt', 'key srv-enc.key']),
      /^Error: askpass: the private key is encrypted and there is no terminal/,
    );
    await assert.rejects(
      load(['ca ca.crt', 'cert srv.crt', 'key srv-enc.key', 'askpass wrong.txt']),
      /^Error: key: cannot decrypt the private key/,
    );
  });

  it('a PKCS#12 server certificate, from a file and inline, with its password', async () => {
    assert.equal(await handshakeCn(await load(['pkcs12 srv.p12', 'askpass pass.txt'])), 'ovst-server');
    const b64 = readFileSync(join(dir, 'srv.p12')).toString('base64').replace(/.{64}/g, '$&\n');
    assert.equal(
      await handshakeCn(await load(['<pkcs12>', b64, '</pkcs12>', 'askpass pass.txt'])),
      'ovst-server',
    );
    await assert.rejects(load(['pkcs12 srv.p12', 'askpass wrong.txt']), /^Error: pkcs12: /);
    await assert.rejects(
      load(['pkcs12 srv.p12']),
      /^Error: askpass: the private key is encrypted and there is no terminal/,
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseProgramArgs,
  programVersion,
  usageText,
  versionText,
  withoutDaemon,
} from '../../../src/openvpn/args.js';

describe('ovpn-ts command line', () => {
  it('--help and --version win wherever they are; no arguments is a usage error', () => {
    assert.deepEqual(parseProgramArgs(['--config', 'a.ovpn', '--help']), { kind: 'help' });
    assert.deepEqual(parseProgramArgs(['--version', '--verb', '3']), { kind: 'version' });
    assert.deepEqual(parseProgramArgs(['--version', '--help']), { kind: 'help' });
    assert.deepEqual(parseProgramArgs([]), { kind: 'usage' });
  });

  it("--json and --ovpnd are the program's; everything else goes to the config language in order", () => {
    assert.deepEqual(parseProgramArgs(['--config', 'c.ovpn', '--json', '--verb', '4']), {
      kind: 'run',
      json: true,
      ovpnd: false,
      configArgv: ['--config', 'c.ovpn', '--verb', '4'],
    });
    assert.deepEqual(parseProgramArgs(['--ovpnd', '--config', 'c.ovpn', '--dev', 'tun1']), {
      kind: 'run',
      json: false,
      ovpnd: true,
      configArgv: ['--config', 'c.ovpn', '--dev', 'tun1'],
    });
    assert.deepEqual(parseProgramArgs(['c.ovpn']), {
      kind: 'run',
      json: false,
      ovpnd: false,
      configArgv: ['c.ovpn'],
    });
  });

  it('--help names --ovpnd', () => {
    assert.match(usageText(), /--ovpnd +\(ovpn-ts\) run the data plane/);
  });

  it('the daemon child gets the same options without --daemon and its optional name', () => {
    assert.deepEqual(withoutDaemon(['--config', 'c', '--daemon', '--verb', '3']), [
      '--config',
      'c',
      '--verb',
      '3',
    ]);
    assert.deepEqual(withoutDaemon(['--daemon', 'vpn1', '--config', 'c']), ['--config', 'c']);
    assert.deepEqual(withoutDaemon(['--config', 'c', '--daemon']), ['--config', 'c']);
  });

  it("the version is the package's, and the usage names the signals and exit statuses", () => {
    assert.match(programVersion(), /^\d+\.\d+\.\d+/);
    assert.match(versionText(), new RegExp(`^ovpn-ts ${programVersion().replace(/\./g, '\\.')} `));
    for (const w of [
      '--config',
      '--verb',
      '--log',
      '--daemon',
      '--writepid',
      'SIGUSR1',
      'SIGHUP',
      'Exit status',
    ])
      assert.ok(usageText().includes(w), w);
  });
});

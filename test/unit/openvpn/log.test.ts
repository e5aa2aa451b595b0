import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientMessageLevel, fileSink, Logger, openvpnTimestamp } from '../../../src/openvpn/log.js';

describe('client log', () => {
  it('stamps lines with local time as OpenVPN does in the foreground', () => {
    assert.equal(openvpnTimestamp(new Date(2024, 0, 5, 7, 8, 9)), '2024-01-05 07:08:09');
    const lines: string[] = [];
    const l = new Logger({
      verb: 1,
      sink: (s) => lines.push(s),
      now: () => new Date(2024, 11, 31, 23, 59, 1),
    });
    l.log(1, 'Initialization Sequence Completed');
    assert.deepEqual(lines, ['2024-12-31 23:59:01 Initialization Sequence Completed\n']);
  });

  it('filters by verb: 0 prints fatal errors only, higher levels need a higher verb, setVerb changes it', () => {
    const lines: string[] = [];
    const seen: number[] = [];
    const l = new Logger({
      verb: 0,
      sink: (s) => lines.push(s),
      timestamps: false,
      onMessage: (lv) => seen.push(lv),
    });
    l.log(0, 'fatal');
    l.log(1, 'info');
    l.setVerb(3);
    l.log(3, 'detail');
    l.log(4, 'parms');
    assert.deepEqual(lines, ['fatal\n', 'detail\n']);
    assert.deepEqual(seen, [0, 3]);
    assert.equal(l.enabled(4), false);
  });

  it('multi-line messages get a stamp on each line', () => {
    const lines: string[] = [];
    new Logger({ verb: 1, sink: (s) => lines.push(s), now: () => new Date(2024, 0, 1) }).log(1, 'a\nb');
    assert.deepEqual(lines, ['2024-01-01 00:00:00 a\n', '2024-01-01 00:00:00 b\n']);
  });

  it("gives the client's messages the verb OpenVPN prints them at", () => {
    assert.equal(clientMessageLevel('Initialization Sequence Completed'), 1);
    assert.equal(clientMessageLevel('UDP link remote: [AF_INET]10.0.0.1:1194'), 1);
    assert.equal(clientMessageLevel('TCP_CLIENT link remote: [AF_INET6]fd00::1:1194'), 1);
    assert.equal(clientMessageLevel('Attempting to establish TCP connection with [AF_INET]10.0.0.1:1194'), 1);
    assert.equal(clientMessageLevel('TCP connection established with [AF_INET]10.0.0.1:1194'), 1);
    assert.equal(clientMessageLevel('TCP: connect to [AF_INET]10.0.0.1:1194 failed: refused'), 1);
    assert.equal(clientMessageLevel('ERROR: boom'), 1);
    assert.equal(clientMessageLevel('Control Channel: TLSv1.3, cipher TLS_AES_256_GCM_SHA384'), 2);
    assert.equal(clientMessageLevel("PUSH: Received control message: 'PUSH_REPLY,...'"), 2);
    assert.equal(clientMessageLevel('Peer options: V4,...'), 4);
    assert.equal(clientMessageLevel('something new'), 3);
  });

  it('--log truncates and --log-append appends', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovpn-log-'));
    try {
      const p = join(dir, 'client.log');
      writeFileSync(p, 'old\n');
      const a = fileSink(p, true);
      a.sink('appended\n');
      a.close();
      assert.equal(readFileSync(p, 'utf8'), 'old\nappended\n');
      const t = fileSink(p, false);
      t.sink('fresh\n');
      t.close();
      t.sink('after close is dropped\n');
      assert.equal(readFileSync(p, 'utf8'), 'fresh\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

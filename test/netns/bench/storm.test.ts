/**
 * The connect-storm harness (bench/storm.ts) at a small size: 20 stock `openvpn` clients with `dev null`
 * started at once against a stock `openvpn` server, then against the ovpn-ts server once it serves.
 * Every client must come up with its pushed options, the server's status file must list all of them,
 * and after they stop nothing may be left (status back to 0, fds, links, UDP sockets, processes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runStorm } from '../../../bench/storm.js';
import { canUseNetns, NetnsLab } from '../../../src/lab/netns.js';
import { haveOpenvpn } from '../openvpn/fixture.js';

const CLIENTS = 20;

describe('connect storm harness', {
  skip: !canUseNetns() ? 'needs root' : !haveOpenvpn() ? 'needs openvpn' : false,
}, () => {
  it(`connects ${CLIENTS} openvpn clients to each available server and finds nothing left after they stop`, async (t) => {
    const run = await runStorm({ clients: CLIENTS, connectTimeoutS: 60 });
    const byServer = new Map(run.results.map((r) => [r.server, r]));
    const ref = byServer.get('openvpn');
    assert.ok(ref !== undefined, 'the openvpn server was measured');
    if (run.ovpnTsUnavailable !== undefined)
      t.diagnostic(`ovpn-ts server not available: ${run.ovpnTsUnavailable}`);
    else assert.ok(byServer.has('ovpn-ts'), 'the ovpn-ts server started, so it was measured');
    for (const r of run.results) {
      assert.deepEqual(r.problems, [], `${r.server} server: ${r.problems.join('; ')}`);
      assert.equal(r.connected, CLIENTS, `${r.server}: every client connected`);
      assert.equal(r.statusListed, CLIENTS, `${r.server}: the status file listed every client`);
      assert.equal(r.statusAfter, 0, `${r.server}: no client listed after they stopped`);
      assert.equal(r.fdsAfter, r.fdsBefore, `${r.server}: server fds as before`);
      assert.ok(r.lastS >= r.firstS && r.firstS > 0, `${r.server}: connect times ${r.firstS}..${r.lastS}`);
      assert.ok(r.rssConnectedKiB > 0 && r.rssBeforeKiB > 0, `${r.server}: RSS read`);
    }
    // the harness removed its namespaces
    assert.deepEqual(new NetnsLab('sbs').leftovers(), []);
  });
});

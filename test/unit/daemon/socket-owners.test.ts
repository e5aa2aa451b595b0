import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SocketOwners } from '../../../src/daemon/socket-owners.js';

describe('SocketOwners', () => {
  it('routes to the latest connection that handed a socket over', () => {
    const o = new SocketOwners<string>();
    o.add('s1', 'a', 5);
    o.add('s1', 'b', 9);
    assert.deepEqual(o.owner('s1'), { conn: 'b', socket: 9 });
    assert.equal(o.inodeOf('a', 5), 's1');
    assert.equal(o.inodeOf('b', 9), 's1');
    assert.deepEqual(o.removeConn('b'), [], 'a still holds s1');
    assert.deepEqual(o.owner('s1'), { conn: 'a', socket: 5 });
    assert.deepEqual(o.removeConn('a'), ['s1'], 'the last owner gone: the socket counts as closed');
    assert.equal(o.owner('s1'), undefined);
  });

  it('a number reused for another socket by the same connection means the new socket', () => {
    const o = new SocketOwners<string>();
    o.add('old', 'a', 20);
    o.add('new', 'a', 20);
    assert.equal(o.inodeOf('a', 20), 'new');
    assert.deepEqual(o.owner('new'), { conn: 'a', socket: 20 });
    assert.deepEqual(
      o.owner('old'),
      { conn: 'a', socket: -1 },
      'events from the old socket no longer claim 20',
    );
    assert.deepEqual(o.removeConn('a').sort(), ['new', 'old'], 'both close with the connection');
  });

  it('prune forgets sockets no device uses', () => {
    const o = new SocketOwners<string>();
    o.add('s1', 'a', 1);
    o.add('s2', 'a', 2);
    o.prune((inode) => inode === 's2');
    assert.equal(o.size, 1);
    assert.equal(o.inodeOf('a', 1), undefined);
  });
});

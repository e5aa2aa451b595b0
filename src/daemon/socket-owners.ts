/**
 * Which client connection handed over which socket. The kernel resolves `socket` in the caller's fd
 * table and keeps the socket until the caller closes it; here the caller's connection plays the fd's
 * part: control packets arriving on a socket go to the connection that handed it over, and when the
 * last connection that handed a socket over closes, the socket counts as closed (its peers go).
 */

/** What a connection calls the socket: the `socket` number it gave in peer-new. */
export interface Handover<C> {
  readonly conn: C;
  readonly socket: number;
}

export class SocketOwners<C> {
  private readonly byInode = new Map<string, Handover<C>[]>();
  /** Handovers whose number the same connection has since given to another socket. */
  private readonly renamed = new WeakSet<Handover<C>>();

  /**
   * Records that `conn` handed over the socket with identity `inode`, calling it `socket`. The newest
   * handover wins a number: a client that closed its fd and reused the number for another socket
   * means the new one from now on (its earlier socket keeps its peers until the connection closes).
   */
  add(inode: string, conn: C, socket: number): void {
    for (const [other, hs] of this.byInode) {
      if (other === inode) continue;
      for (const h of hs) if (h.conn === conn && h.socket === socket) this.renamed.add(h);
    }
    const list = this.byInode.get(inode) ?? [];
    const i = list.findIndex((h) => h.conn === conn);
    if (i >= 0) list.splice(i, 1);
    list.push({ conn, socket });
    this.byInode.set(inode, list);
  }

  /**
   * The latest connection that handed this socket over, if any is still open, with its number for it
   * (-1 if that connection has since given the number to another socket).
   */
  owner(inode: string): Handover<C> | undefined {
    const list = this.byInode.get(inode);
    const h = list?.[list.length - 1];
    if (h === undefined || !this.renamed.has(h)) return h;
    return { conn: h.conn, socket: -1 };
  }

  /** The inode of the socket `conn` calls `socket`, if it handed one over under that number. */
  inodeOf(conn: C, socket: number): string | undefined {
    for (const [inode, list] of this.byInode) {
      if (list.some((h) => h.conn === conn && h.socket === socket && !this.renamed.has(h))) return inode;
    }
    return undefined;
  }

  /** Forgets `conn`; returns the sockets no open connection owns any more. */
  removeConn(conn: C): string[] {
    const orphaned: string[] = [];
    for (const [inode, list] of this.byInode) {
      const rest = list.filter((h) => h.conn !== conn);
      if (rest.length === list.length) continue;
      if (rest.length === 0) {
        this.byInode.delete(inode);
        orphaned.push(inode);
      } else this.byInode.set(inode, rest);
    }
    return orphaned;
  }

  /** Drops records of sockets for which `live` is false (no device uses them any more). */
  prune(live: (inode: string) => boolean): void {
    for (const inode of [...this.byInode.keys()]) if (!live(inode)) this.byInode.delete(inode);
  }

  get size(): number {
    return this.byInode.size;
  }
}

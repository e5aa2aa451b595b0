/** The few libc calls the TCP transport needs beyond sys/libc.ts. */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

/** writev(fd, iovec[] address, count) with raw addresses. */
export const writev = libc.func('writev', 'intptr_t', ['int', 'intptr_t', 'int']) as (
  fd: number,
  iov: number,
  count: number,
) => number;

/** getpeername into `addr`; `lenBuf` is a 4-byte Buffer holding the length in and out. */
export const getpeername = libc.func('getpeername', 'int', ['int', 'void *', 'void *']) as (
  fd: number,
  addr: Buffer,
  lenBuf: Buffer,
) => number;

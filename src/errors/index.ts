export { ERRNO, type Errno, eexist, einval, eio, enoent, erange, OvpnError } from './ovpn-error.js';

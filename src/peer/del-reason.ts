/** Why a peer was removed: the netlink `del-reason` enum (spec ovpn-kernel §2.2, §4.7). */
export const DelReason = {
  TEARDOWN: 0,
  USERSPACE: 1,
  EXPIRED: 2,
  TRANSPORT_ERROR: 3,
  TRANSPORT_DISCONNECT: 4,
} as const;
export type DelReason = (typeof DelReason)[keyof typeof DelReason];

/** YNL names, indexed by value. */
export const DEL_REASON_NAMES = [
  'teardown',
  'userspace',
  'expired',
  'transport-error',
  'transport-disconnect',
] as const;

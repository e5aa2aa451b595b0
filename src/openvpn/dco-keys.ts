/**
 * Which data-channel key sits in which slot of the data plane, moved the way OpenVPN 2.7 drives DCO
 * (dco.c dco_install_key, dco_update_keys; control-plane.md §2):
 * - a new key goes into `primary` only when no key is installed yet, otherwise into `secondary`;
 * - `update(selected, secondary)` runs after every pass of the control session, with the key the
 *   control session wants to encrypt with (tls_select_encryption_key) and the other live key
 *   (dco_get_secondary_key): when the selected key is still in the secondary slot, key-swap; when no
 *   second key lives any more but two are installed, key-del of the secondary slot; when no key at all
 *   is usable, both slots are wiped.
 * Pure bookkeeping over three operations, so that it can be tested without a data plane.
 */
import type { DataChannelKeys } from '../control/key-expansion.js';

export type DcoSlot = 'primary' | 'secondary';

export interface DcoKeyOps {
  keyNew(slot: DcoSlot, keyId: number, keys: DataChannelKeys): void;
  keySwap(): void;
  keyDel(slot: DcoSlot): void;
}

export class DcoKeys {
  /** Where each installed key-id is (dco_status). */
  private readonly status = new Map<number, DcoSlot>();
  /** dco_keys_installed. */
  private installed = 0;

  constructor(
    private readonly ops: DcoKeyOps,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** dco_install_key: key-new into `primary` if nothing is installed, else into `secondary`. */
  install(keyId: number, keys: DataChannelKeys): DcoSlot {
    const slot: DcoSlot = this.installed > 0 ? 'secondary' : 'primary';
    this.ops.keyNew(slot, keyId, keys);
    if (this.installed < 2) this.installed++;
    for (const [k, s] of this.status) if (s === slot) this.status.delete(k);
    this.status.set(keyId, slot);
    this.log(`DCO: key-id ${keyId} installed in the ${slot} slot`);
    return slot;
  }

  /** The slot of `keyId`, if installed. */
  slotOf(keyId: number): DcoSlot | undefined {
    return this.status.get(keyId);
  }

  /** How many slots hold a key. */
  get installedCount(): number {
    return this.installed;
  }

  /** dco_update_keys. Throws on a state mismatch (a key selected that was never installed). */
  update(selected: number | undefined, secondary: number | undefined): void {
    if (this.installed === 0) return;
    if (selected === undefined) {
      this.log('DCO: no encryption key, purging the data channel keys');
      this.ops.keyDel('primary');
      this.ops.keyDel('secondary');
      this.installed = 0;
      this.status.clear();
      return;
    }
    const st = this.status.get(selected);
    if (st === undefined) throw new Error(`DCO key state mismatch: key-id ${selected} is not installed`);
    if (st === 'secondary') {
      if (secondary !== undefined && this.status.get(secondary) !== 'primary')
        throw new Error(`DCO key state mismatch: key-id ${secondary} is not the primary before the swap`);
      this.ops.keySwap();
      this.status.set(selected, 'primary');
      if (secondary !== undefined) this.status.set(secondary, 'secondary');
      else for (const [k, s] of this.status) if (k !== selected && s === 'primary') this.status.delete(k);
      this.log(`DCO: swapped, key-id ${selected} sends now`);
    }
    if (secondary === undefined && this.installed === 2) {
      this.ops.keyDel('secondary');
      this.installed = 1;
      this.log('DCO: old key deleted from the secondary slot');
    }
    for (const k of [...this.status.keys()]) if (k !== selected && k !== secondary) this.status.delete(k);
  }
}

import type { IoDevice } from '../bus.js';
import type { Arena } from '../arena.js';
import type { Memslots } from '../memslots.js';
import type { Hypervisor } from '../hypervisor.js';
import { gfn, gpa, hfn } from '../../arch/address.js';

/**
 * mmulab's test device (ports 0x5e0-0x5ff), through which a guest changes memslots at run time
 * and reads KVM's counters, so a guest can test the MMU's memslot and MMIO handling from inside.
 * Nothing in QEMU answers here: reads of 0x5f0 return the signature "MMLB" only in mmulab.
 *
 *   0x5e0  W  counter selector (index into COUNTERS)
 *   0x5e4  R  the selected counter's value (low 32 bits); 0xffffffff with no hypervisor
 *   0x5f0  R  signature 0x424c4d4d ("MMLB")      W  command: 1 add, 2 remove, 3 move
 *   0x5f4  W  memslot id                          R  status of the last command: 0 ok, 1 refused
 *   0x5f8  W  guest-physical address (4 KiB aligned, below 4 GiB)
 *   0x5fc  W  size in pages (add, get, clear) or flags (manual protect)
 *   0x5e8  R  result of the last dirty-log command (pages)
 *   0x5ec  R  dirty pages in the whole slot at the last GET
 *          W  guest-physical address of a buffer GET copies the range's bitmap into (1 bit per
 *             page, least significant bit first; 0: no copy), as KVM_GET_DIRTY_LOG's dirty_bitmap
 *   9  the VMM moves slot 0x5f4 to new host memory (reback below)
 * A slot added here is backed by fresh, zeroed host memory.
 *
 * Dirty logging (commands 4-8): what a VMM does with KVM's ioctls when the guest asks, standing in
 * for userspace's migration thread (the ioctls are issued from the vCPU's port exit, so that
 * vCPU's clock pays for them and it takes mmu_lock):
 *   4  KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), flags in 0x5fc (1 enable, 3 also initially set)
 *   5  KVM_MEM_LOG_DIRTY_PAGES on for slot 0x5f4;  6  off
 *   7  KVM_GET_DIRTY_LOG of slot 0x5f4; the result is the number of dirty pages in
 *      [0x5f8, 0x5f8 + 0x5fc pages) (0x5fc = 0: the whole slot)
 *   8  KVM_CLEAR_DIRTY_LOG of slot 0x5f4 for the pages [0x5f8, 0x5f8 + 0x5fc pages); the first must
 *      be 64-page aligned within the slot; the result is the number of bits cleared
 */
export const TEST_DEVICE_BASE = 0x5e0;
export const TEST_DEVICE_PORTS = 32;
const SIGNATURE = 0x424c4d4d;

/** Counters a guest can read, by index. */
export const COUNTERS = [
  'pf_mmio_spte_created', 'mmio_fast_hit', 'mmio_gen_mismatch', 'mmio_gen_wrap_zaps', 'root_alloc', 'root_freed',
  'root_reuse', 'exits', 'pf_fixed', 'mmio_exits', 'memslot_updates', 'invariant_violations',
  'cr3_writes', 'fast_pgd_switch_hit', 'fast_pgd_switch_miss', 'req_mmu_sync', 'unsync_marked', 'unsync_to_sync',
  'sync_page', 'invlpg', 'dirty_pages_logged', 'pf_fast', 'huge_pages_split', 'huge_pages_recovered',
] as const;

/** What a hypervisor with dirty logging offers (KVM's ioctls; mmu/kvm/dirty-log-ioctls.ts). */
export interface DirtyLogControl {
  enableManualProtect(flags: number): boolean;
  setLogging(slotId: number, on: boolean): boolean;
  getDirtyLog(slotId: number): { readonly bitmap: Uint8Array; readonly dirty: number } | undefined;
  clearDirtyLog(slotId: number, first: number, count: number): number | undefined;
}

function dirtyLogOf(hv: Hypervisor | undefined): DirtyLogControl | undefined {
  return (hv as { dirtyLog?: DirtyLogControl } | undefined)?.dirtyLog;
}

/** What the test device works on: the memory map, host memory for new slots, and the hypervisor. */
export interface TestDeviceHost {
  readonly memslots: Memslots;
  readonly arena: Arena;
  readonly hypervisor: Hypervisor | undefined;
}

export class TestDevice implements IoDevice {
  readonly name = 'mmulab-test';
  private readonly vm: TestDeviceHost;
  private counter = 0;
  private id = 0;
  private gpa = 0;
  private pages = 0;
  private status = 0;
  private result = 0;
  private slotDirty = 0;
  private bitmapGpa = 0;

  constructor(vm: TestDeviceHost) {
    this.vm = vm;
  }

  ioRead(offset: number): number {
    switch (offset) {
      case 0x04: {
        const name = COUNTERS[this.counter];
        const value = name === undefined ? undefined : this.vm.hypervisor?.counter(name);
        return value === undefined ? 0xffffffff : value >>> 0;
      }
      case 0x10: return SIGNATURE;
      case 0x14: return this.status;
      case 0x08: return this.result >>> 0;
      case 0x0c: return this.slotDirty >>> 0;
      default: return 0xffffffff;
    }
  }

  ioWrite(offset: number, _size: number, value: number): void {
    switch (offset) {
      case 0x00: this.counter = value >>> 0; break;
      case 0x10: this.status = this.command(value) ? 0 : 1; break;
      case 0x14: this.id = value >>> 0; break;
      case 0x18: this.gpa = value >>> 0; break;
      case 0x1c: this.pages = value >>> 0; break;
      case 0x0c: this.bitmapGpa = value >>> 0; break;
      default: break;
    }
  }

  private command(cmd: number): boolean {
    const slots = this.vm.memslots;
    if ((this.gpa & 0xfff) !== 0) return false;
    try {
      switch (cmd) {
        case 1: {
          if (this.pages === 0 || this.pages > 65536) return false;
          const host = this.vm.arena.reserveContiguous(this.pages);
          this.vm.arena.bytes.fill(0, host * 4096, (host + this.pages) * 4096);
          slots.add({ id: this.id, baseGfn: gfn(this.gpa / 4096), npages: this.pages, hostHfn: hfn(host), readOnly: false });
          return true;
        }
        case 2: slots.remove(this.id); return true;
        case 3: slots.move(this.id, gfn(this.gpa / 4096)); return true;
        case 9: return this.reback(this.id);
        default: return this.dirtyLogCommand(cmd);
      }
    } catch {
      return false; // overlap, unknown id, no host memory: refused, as KVM_SET_USER_MEMORY_REGION would
    }
  }

  /**
   * Command 9: the VMM moves a slot's guest memory to other host pages, as a VMM remapping guest
   * RAM does: copy the pages, delete the slot and create it again over the copy (two
   * KVM_SET_USER_MEMORY_REGION calls), and poison the old pages as a freed page is (Linux's
   * POISON_FREE, 0x6b), so a translation that still points at them reads garbage (lkml (d)).
   */
  private reback(id: number): boolean {
    const slots = this.vm.memslots;
    const old = slots.byId(id);
    if (old === undefined || id === 0 || old.dirtyBitmap !== undefined) return false;
    const host = this.vm.arena.reserveContiguous(old.npages);
    const bytes = this.vm.arena.bytes;
    const from = old.hostHfn * 4096;
    const end = from + old.npages * 4096;
    bytes.copyWithin(host * 4096, from, end);
    slots.remove(id);
    slots.add({ ...old, hostHfn: hfn(host) });
    bytes.fill(0x6b, from, end);
    return true;
  }

  /** Commands 4-8: dirty logging through the hypervisor; refused without one (bare mode). */
  private dirtyLogCommand(cmd: number): boolean {
    const log = dirtyLogOf(this.vm.hypervisor);
    if (log === undefined) return false;
    this.result = 0;
    switch (cmd) {
      case 4: return log.enableManualProtect(this.pages);
      case 5: return log.setLogging(this.id, true);
      case 6: return log.setLogging(this.id, false);
      case 7: {
        const copy = log.getDirtyLog(this.id);
        const slot = this.vm.memslots.all.find((s) => s.id === this.id);
        if (copy === undefined || slot === undefined) return false;
        const first = this.pages === 0 ? 0 : this.gpa / 4096 - slot.baseGfn;
        const count = this.pages === 0 ? slot.npages : this.pages;
        if (first < 0 || first + count > slot.npages) return false;
        for (let k = first; k < first + count; k++) this.result += copy.bitmap[k];
        this.slotDirty = copy.dirty;
        return this.bitmapGpa === 0 || this.copyBitmap(copy.bitmap, first, count);
      }
      case 8: {
        const slot = this.vm.memslots.all.find((s) => s.id === this.id);
        if (slot === undefined) return false;
        const cleared = log.clearDirtyLog(this.id, this.gpa / 4096 - slot.baseGfn, this.pages);
        if (cleared === undefined) return false;
        this.result = cleared;
        return true;
      }
      default: return false;
    }
  }

  /**
   * Writes bits [first, first + count) of a dirty bitmap into guest memory at bitmapGpa, as the
   * VMM's copy_to_user of the log (not through the MMU: the VMM writes guest memory through its
   * own mapping, which KVM does not log). False if the buffer is not all RAM.
   */
  private copyBitmap(bitmap: Uint8Array, first: number, count: number): boolean {
    const bytes = this.vm.arena.bytes;
    for (let b = 0; b * 8 < count; b++) {
      const hpa = this.vm.memslots.gpaToHpa(gpa(this.bitmapGpa + b));
      if (hpa < 0) return false;
      let v = 0;
      for (let i = 0; i < 8 && b * 8 + i < count; i++) v |= bitmap[first + b * 8 + i] << i;
      bytes[hpa] = v;
    }
    return true;
  }
}

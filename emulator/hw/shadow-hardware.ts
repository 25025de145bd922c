import type { Arena } from '../machine/arena.js';
import type { Gpa, Hpa } from '../arch/address.js';
import { FORMATS, PagingMode } from '../paging/format.js';
import { type TableMemory, WalkContext } from '../paging/walker.js';

/**
 * The hardware in `shadow` mode (KVM with ept=0/npt=0): CR3 holds the shadow root KVM built and
 * the CPU walks KVM's SPTEs in host memory, in the 64-bit format for 4- and 5-level guests and
 * in PAE format (through KVM's pae_root) for 32-bit, PAE and paging-off guests. KVM keeps the
 * hardware's CR0.WP and EFER.NX set; SMEP and SMAP are the guest's while it pages. A fault in
 * this walk is a #PF intercepted by KVM, with the hardware's error code.
 */

/** A #PF the hardware raised while walking the shadow tables. Reused; read it during the call. */
export class ShadowFault {
  /** Linear address. */
  lo = 0;
  hi = 0;
  /** The hardware error code (P, W, U, RSVD, I/D). */
  errorCode = 0;
  /** Access bits of the attempt (emulator/paging/walker Access: also IMPLICIT and AC for SMAP). */
  access = 0;
  /** Out, for INJECT: the error code the guest's #PF gets. */
  injectCode = 0;
  /** Out, for EMULATE: the guest-physical page the access goes to. */
  gpaPage = 0 as Gpa;
  /** Out, for EMULATE: KVM's emulator runs the rest of the instruction (a write to a guest table; not MMIO). */
  wholeInstruction = false;
}

export const enum ShadowOutcome {
  /** KVM changed the shadow tables: walk again. */
  RETRY = 0,
  /** The guest's own tables do not allow the access: deliver #PF to the guest. */
  INJECT = 1,
  /** KVM emulates the access at `gpaPage` (MMIO, or a write to a write-protected guest table). */
  EMULATE = 2,
}

/** The hypervisor side of shadow paging. */
export interface ShadowHypervisor {
  shadowFault(fault: ShadowFault): ShadowOutcome;
  /** A write KVM emulated to guest RAM has been done: follow up on shadowed tables (kvm_mmu_track_write). */
  emulatedWrite(gpa: Gpa, bytes: number): void;
  /** The instruction KVM was emulating has completed: the VM entry after it (pending requests). */
  emulationDone(): void;
}

/** Host memory as the hardware walker's table memory: SPTEs are read and A/D set in place. */
class HostTables implements TableMemory {
  constructor(private readonly view: DataView) {}

  readPhys32(hpa: number): number {
    return this.view.getInt32(hpa, true);
  }

  writePhys32(hpa: number, value: number): void {
    this.view.setInt32(hpa, value, true);
  }
}

export class ShadowHardware {
  /** The hardware's paging state: format, root, PDPTE registers and permission controls. */
  readonly ctx = new WalkContext();
  readonly tables: TableMemory;
  readonly hv: ShadowHypervisor;
  readonly fault = new ShadowFault();
  /** Walks and #PF intercepts, for reports. */
  walks = 0;
  exits = 0;

  constructor(arena: Arena, hostPhysBits: number, hv: ShadowHypervisor) {
    this.tables = new HostTables(arena.view);
    this.hv = hv;
    this.ctx.wp = true;
    this.ctx.nxe = true;
    this.ctx.pse = true;
    this.ctx.gbPages = true;
    this.ctx.maxPhyAddr = hostPhysBits;
  }

  /** The guest's mode changed: the hardware pages as KVM sets it up for that mode. */
  updateMode(longMode: boolean, la57: boolean, paging: boolean, smep: boolean, smap: boolean): void {
    const ctx = this.ctx;
    ctx.format = FORMATS[longMode ? (la57 ? PagingMode.LEVEL5 : PagingMode.LEVEL4) : PagingMode.PAE];
    // SMEP/SMAP/PKE are cleared in the hardware CR4 while the guest has paging off.
    ctx.smep = paging && smep;
    ctx.smap = paging && smap;
  }

  /**
   * VM entry with CR3 = `root`. In PAE mode (no EPT) the entry also loads the four PDPTEs from
   * the table CR3 points at, every time.
   */
  loadRoot(root: Hpa | -1): void {
    const ctx = this.ctx;
    ctx.root = root;
    if (ctx.format.mode !== PagingMode.PAE || root < 0) return;
    for (let i = 0; i < 4; i++) {
      ctx.pdpteLo[i] = this.tables.readPhys32(root + 8 * i);
      ctx.pdpteHi[i] = this.tables.readPhys32(root + 8 * i + 4);
    }
  }
}

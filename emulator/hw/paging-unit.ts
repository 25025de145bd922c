import type { Arena } from '../machine/arena.js';
import type { Memslots } from '../machine/memslots.js';
import type { Bus } from '../machine/bus.js';
import { Cr0, Cr4, Efer } from '../arch/control.js';
import { isCanonical } from '../arch/u64.js';
import { FORMATS, PagingMode } from '../../mmu/paging/format.js';
import { Access, permissionFault, type TableMemory, WalkContext, WalkResult, walk } from '../../mmu/paging/walker.js';
import { TLB_MASK, Tlb, TlbPerm } from './tlb.js';
import type { TdpHardware } from './tdp-hardware.js';
import { TdpAccess } from './tdp-walk.js';

/** TDP permission bits of a TLB entry in bare mode, where nothing restricts the host mapping. */
const TDP_ALL = TlbPerm.TR | TlbPerm.TW | TlbPerm.TX;

/** What the paging unit needs from the CPU: its control state and a way to report faults. */
export interface PagingCpu {
  cr0: number;
  cr4: number;
  efer: number;
  cr3Lo: number;
  cr3Hi: number;
  cpl: number;
  pkru: number;
  raisePageFault(lo: number, hi: number, errorCode: number): void;
  raiseGp(errorCode: number): void;
}

/** Watches host pages holding decoded instructions, so writes to them invalidate the decode cache. */
export interface CodeWatcher {
  isCodePage(hostPage: number): boolean;
  invalidateCodePage(hostPage: number): void;
}

/**
 * The emulated hardware's address translation in `bare` mode: TLB lookup, then a walk of the
 * guest's own tables through the guest-physical memory map. Faults are reported to the CPU as #PF
 * (or #GP for a non-canonical address). Also owns guest-physical access (RAM or MMIO).
 */
export class PagingUnit implements TableMemory {
  readonly tlb = new Tlb();
  readonly ctx = new WalkContext();
  private readonly result = new WalkResult();
  readonly arena: Arena;
  private readonly memslots: Memslots;
  private readonly bus: Bus;
  private cpu!: PagingCpu;
  private code: CodeWatcher | undefined;
  private pagingOn = false;
  private longMode = false;
  private pcid = 0;
  /** Walks performed (TLB misses that reached the page tables). */
  walks = 0;
  /** In `legacy-tdp` and `tdp` modes: the TDP root, the guest-physical TLB, and exits. */
  tdp: TdpHardware | null = null;
  /** Linear address being translated, reported with TDP exits caused by the guest walk. */
  private walkLo = 0;
  private walkHi = 0;
  private readonly allowed = new Int32Array(1);

  constructor(arena: Arena, memslots: Memslots, bus: Bus) {
    this.arena = arena;
    this.memslots = memslots;
    this.bus = bus;
  }

  attach(cpu: PagingCpu, code: CodeWatcher): void {
    this.cpu = cpu;
    this.code = code;
  }

  /** Re-reads CR0/CR3/CR4/EFER after the CPU changed any of them. */
  updateContext(maxPhyAddr: number, gbPages: boolean): void {
    const cpu = this.cpu;
    const ctx = this.ctx;
    this.pagingOn = (cpu.cr0 & Cr0.PG) !== 0;
    this.longMode = (cpu.efer & Efer.LMA) !== 0;
    let mode = PagingMode.NONE;
    if (this.pagingOn) {
      if (this.longMode) mode = (cpu.cr4 & Cr4.LA57) !== 0 ? PagingMode.LEVEL5 : PagingMode.LEVEL4;
      else mode = (cpu.cr4 & Cr4.PAE) !== 0 ? PagingMode.PAE : PagingMode.BITS32;
    }
    ctx.format = FORMATS[mode];
    ctx.wp = (cpu.cr0 & Cr0.WP) !== 0;
    ctx.nxe = (cpu.efer & Efer.NXE) !== 0 && mode >= PagingMode.PAE;
    ctx.pse = (cpu.cr4 & Cr4.PSE) !== 0;
    ctx.pge = (cpu.cr4 & Cr4.PGE) !== 0;
    ctx.smep = (cpu.cr4 & Cr4.SMEP) !== 0;
    ctx.smap = (cpu.cr4 & Cr4.SMAP) !== 0;
    ctx.pke = (cpu.cr4 & Cr4.PKE) !== 0 && this.longMode;
    ctx.pkru = cpu.pkru;
    ctx.maxPhyAddr = maxPhyAddr;
    ctx.gbPages = gbPages;
    const pcide = (cpu.cr4 & Cr4.PCIDE) !== 0 && this.longMode;
    this.pcid = pcide ? cpu.cr3Lo & 0xfff : 0;
    const rootMask = mode === PagingMode.PAE ? 0xffffffe0 : 0xfffff000;
    ctx.root = mode === PagingMode.BITS32 || mode === PagingMode.PAE
      ? (cpu.cr3Lo & rootMask) >>> 0
      : (cpu.cr3Hi & 0x000fffff) * 4294967296 + ((cpu.cr3Lo & 0xfffff000) >>> 0);
    this.tlb.clearAllFast();
    this.tlb.selectPrivilege(cpu.cpl === 3);
  }

  /** Loads PAE's PDPTE registers from the table CR3 points at. */
  loadPdptes(): void {
    for (let i = 0; i < 4; i++) {
      this.ctx.pdpteLo[i] = this.readPhys32(this.ctx.root + 8 * i);
      this.ctx.pdpteHi[i] = this.readPhys32(this.ctx.root + 8 * i + 4);
    }
  }

  /**
   * Makes sure the TLB slot of (lo, hi) holds a translation permitting `access`, walking if needed.
   * Returns false after raising #PF or #GP.
   */
  translate(lo: number, hi: number, access: number): boolean {
    const tlb = this.tlb;
    const vpn = (hi >>> 0) * 1048576 + (lo >>> 12);
    const slot = (lo >>> 12) & TLB_MASK;
    if (this.longMode && !isCanonical(lo, hi, this.ctx.format.vaBits || 48)) {
      this.cpu.raiseGp(0);
      return false;
    }
    const tdp = this.tdp;
    if (tlb.vpn[slot] === vpn && (tlb.pcid[slot] === this.pcid || (tlb.perm[slot] & TlbPerm.G) !== 0) &&
      (tdp === null || (tlb.root[slot] === tdp.root && (tlb.perm[slot] & TlbPerm.MMIO) === 0))) {
      const perm = tlb.perm[slot];
      const needsDirty = (access & Access.WRITE) !== 0 && (perm & TlbPerm.D) === 0;
      if (!needsDirty && this.permitted(perm, access)) {
        if (tdp !== null) tdp.checkIncarnation(tlb.root[slot], tlb.incarnation[slot], tlb.host[slot]);
        this.setFastTags(slot, vpn, perm);
        return true;
      }
    }
    if (!this.pagingOn) {
      const gpaPage = (lo & ~0xfff) >>> 0;
      this.fillSlot(slot, vpn, gpaPage, TlbPerm.W | TlbPerm.U | TlbPerm.X | TlbPerm.D | (12 << TlbPerm.SIZE_SHIFT), access, lo, hi);
      return true;
    }
    this.walks++;
    const out = this.result;
    this.walkLo = lo;
    this.walkHi = hi;
    if (!walk(this.ctx, this, lo, hi, access, out)) {
      // A page fault invalidates the TLB entries for the faulting address (SDM Vol. 3 4.10.4.1).
      tlb.invalidateSlot(slot);
      this.cpu.raisePageFault(lo, hi, out.errorCode);
      return false;
    }
    this.fillSlot(slot, vpn, out.gpa, out.perm, access, lo, hi);
    return true;
  }

  /** Whether a cached translation permits the access (guest rules, and under TDP the root's). */
  private permitted(perm: number, access: number): boolean {
    const tdpNeeded = (access & Access.WRITE) !== 0 ? TlbPerm.TW : (access & Access.FETCH) !== 0 ? TlbPerm.TX : TlbPerm.TR;
    if ((perm & tdpNeeded) === 0) return false;
    return permissionFault(this.ctx, access, (perm & TlbPerm.W) !== 0, (perm & TlbPerm.U) !== 0,
      (perm & TlbPerm.X) === 0, (perm & TlbPerm.PK_MASK) >>> TlbPerm.PK_SHIFT) === 0;
  }

  /**
   * Completes a translation: the guest-physical page to a host page (memslots in bare mode, the
   * TDP root otherwise, which may exit), then the TLB entry. Under TDP an MMIO page is entered
   * only for this access: the next one must exit again, as hardware keeps taking the fault.
   */
  private fillSlot(slot: number, vpn: number, gpaPage: number, perm: number, access: number, lo: number, hi: number): void {
    const tdp = this.tdp;
    if (tdp === null) {
      const host = this.memslots.gpaToHpa(gpaPage);
      if (host < 0) {
        this.tlb.fill(slot, vpn, gpaPage, perm | TDP_ALL | TlbPerm.MMIO, this.pcid);
        return;
      }
      this.tlb.fill(slot, vpn, host, perm | TDP_ALL, this.pcid);
      this.setFastTags(slot, vpn, perm | TDP_ALL);
      return;
    }
    const tdpAccess = (access & Access.WRITE) !== 0 ? TdpAccess.WRITE : (access & Access.FETCH) !== 0 ? TdpAccess.FETCH : TdpAccess.READ;
    const host = tdp.translate(gpaPage, tdpAccess, false, lo, hi, this.allowed);
    const root = tdp.root;
    if (host < 0) {
      this.tlb.fill(slot, vpn, gpaPage, perm | TDP_ALL | TlbPerm.MMIO, this.pcid, root, tdp.incarnation(root));
      return;
    }
    const a = this.allowed[0];
    const full = perm | ((a & TdpAccess.READ) !== 0 ? TlbPerm.TR : 0) | ((a & TdpAccess.WRITE) !== 0 ? TlbPerm.TW : 0) |
      ((a & TdpAccess.FETCH) !== 0 ? TlbPerm.TX : 0);
    this.tlb.fill(slot, vpn, host, full, this.pcid, root, tdp.incarnation(root));
    this.setFastTags(slot, vpn, full);
  }

  /**
   * Grants the fast path for what the current context may do with this page without further checks.
   * Pages that need a check on every access stay slow: supervisor data access to user pages under
   * SMAP (EFLAGS.AC decides), user pages under protection keys (PKRU decides), MMIO.
   */
  private setFastTags(slot: number, vpn: number, perm: number): void {
    if ((perm & TlbPerm.MMIO) !== 0) return;
    const tlb = this.tlb;
    const ctx = this.ctx;
    const user = this.cpu.cpl === 3;
    const userPage = (perm & TlbPerm.U) !== 0;
    if (user && !userPage) return;
    const pkChecked = ctx.pke && userPage;
    const smapChecked = !user && ctx.smap && userPage;
    if (!pkChecked && !smapChecked) {
      if ((perm & TlbPerm.TR) !== 0) tlb.read[slot] = vpn;
      const writable = ((perm & TlbPerm.W) !== 0 || (!user && !ctx.wp)) && (perm & TlbPerm.TW) !== 0;
      if (writable && (perm & TlbPerm.D) !== 0 && !this.code!.isCodePage(Math.floor(tlb.host[slot] / 4096))) {
        tlb.write[slot] = vpn;
      }
    }
    const executable = ((perm & TlbPerm.X) !== 0 || !ctx.nxe) && !(!user && ctx.smep && userPage) && (perm & TlbPerm.TX) !== 0;
    if (executable) tlb.fetch[slot] = vpn;
  }

  /** Host offset of the byte at `lo` after a successful translate; -2 for MMIO. Invalidates code for a write. */
  hostOf(lo: number, forWrite: boolean): number {
    const slot = (lo >>> 12) & TLB_MASK;
    if ((this.tlb.perm[slot] & TlbPerm.MMIO) !== 0) return -2;
    const host = this.tlb.host[slot];
    const page = Math.floor(host / 4096);
    if (forWrite && this.code!.isCodePage(page)) this.code!.invalidateCodePage(page);
    return host + (lo & 0xfff);
  }

  /**
   * Guest-physical address of a linear address as the current paging state maps it, without
   * touching the TLB, A/D bits or raising faults (reports and traces). -1 if not mapped.
   */
  probe(lo: number, hi: number): number {
    if (!this.pagingOn) return (lo >>> 0);
    const out = new WalkResult();
    if (!walk(this.ctx, this, lo, hi, Access.PROBE, out)) return -1;
    return out.gpa + (lo & 0xfff);
  }

  /** Reads `size` bytes at (lo) through the translation `translate` just placed in its TLB slot. */
  readTranslated(lo: number, size: number): number {
    const slot = (lo >>> 12) & TLB_MASK;
    const base = this.tlb.host[slot] + (lo & 0xfff);
    if ((this.tlb.perm[slot] & TlbPerm.MMIO) !== 0) return this.bus.mmioRead(base, size);
    const view = this.arena.view;
    switch (size) {
      case 1: return view.getUint8(base);
      case 2: return view.getUint16(base, true);
      default: return view.getInt32(base, true);
    }
  }

  writeTranslated(lo: number, size: number, v: number): void {
    const slot = (lo >>> 12) & TLB_MASK;
    const base = this.tlb.host[slot] + (lo & 0xfff);
    if ((this.tlb.perm[slot] & TlbPerm.MMIO) !== 0) {
      this.bus.mmioWrite(base, size, v);
      return;
    }
    this.writeHost(base, size, v);
  }

  /** Writes to host memory, invalidating decoded code on the page first. */
  private writeHost(base: number, size: number, v: number): void {
    const page = Math.floor(base / 4096);
    if (this.code!.isCodePage(page)) this.code!.invalidateCodePage(page);
    const view = this.arena.view;
    switch (size) {
      case 1: view.setUint8(base, v); break;
      case 2: view.setUint16(base, v, true); break;
      default: view.setInt32(base, v, true); break;
    }
  }

  // Guest-physical access (page-table walks, the loader, devices that do DMA).

  /** Host address for the hardware's own guest-physical access (page walks), or -1 for MMIO. */
  private physHost(gpa: number, write: boolean): number {
    const tdp = this.tdp;
    if (tdp === null) return this.memslots.gpaToHpa(gpa);
    return tdp.translate(gpa, write ? TdpAccess.WRITE : TdpAccess.READ, true, this.walkLo, this.walkHi, this.allowed);
  }

  readPhys32(gpa: number): number {
    const host = this.physHost(gpa, false);
    if (host < 0) return this.bus.mmioRead(gpa, 4);
    return this.arena.view.getInt32(host, true);
  }

  writePhys32(gpa: number, value: number): void {
    const host = this.physHost(gpa, true);
    if (host < 0) {
      this.bus.mmioWrite(gpa, 4, value);
      return;
    }
    this.writeHost(host, 4, value);
  }

  flushAll(): void {
    this.tlb.flushAll();
  }

  /** Loads a TDP root (EPTP/nCR3). Fast tags were derived under the old root, so they go. */
  loadTdpRoot(root: number): void {
    if (this.tdp === null) throw new Error('no TDP hardware in bare mode');
    this.tdp.root = root;
    this.tlb.clearAllFast();
  }

  flushNonGlobal(): void {
    this.tlb.flushNonGlobal();
  }

  invlpg(lo: number, hi: number): void {
    this.tlb.flushPage((hi >>> 0) * 1048576 + (lo >>> 12));
  }
}

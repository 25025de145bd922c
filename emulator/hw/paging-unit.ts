import type { Arena } from '../machine/arena.js';
import type { Memslots } from '../machine/memslots.js';
import { type Gpa, type Hpa, gpa as asGpa, gpaToGfn } from '../arch/address.js';
import type { Bus } from '../machine/bus.js';
import { Cr0, Cr4, Efer } from '../arch/control.js';
import { isCanonical } from '../arch/u64.js';
import { FORMATS, PagingMode } from '../paging/format.js';
import { Access, permissionFault, type TableMemory, WalkContext, WalkResult, walk } from '../paging/walker.js';
import { TLB_MASK, Tlb, TlbPerm } from './tlb.js';
import type { TdpHardware } from './tdp-hardware.js';
import { TdpAccess } from './tdp-walk.js';
import { type ShadowHardware, ShadowOutcome } from './shadow-hardware.js';

/** TDP permission bits of a TLB entry in bare mode, where nothing restricts the host mapping. */
const TDP_ALL = TlbPerm.TR | TlbPerm.TW | TlbPerm.TX;
/** A TLB entry for one access KVM emulates: everything allowed, but it goes to emulation. */
const EMULATED = TlbPerm.W | TlbPerm.U | TlbPerm.X | TlbPerm.D | TDP_ALL | TlbPerm.MMIO | (12 << TlbPerm.SIZE_SHIFT);
/** CR0.WP's bit in PagingUnit's fast-tag context flags. */
const FAST_WP = 1 << 4;
/** A key's access-disable bit in its two bits of PKRU/PKRS (write-disable is the other). */
const PK_AD = 1;
/** Retries of one access after which a shadow fault that keeps recurring is a bug in the MMU model. */
const MAX_SHADOW_RETRIES = 64;

/**
 * KVM's instruction emulator translating the accesses of the one instruction it emulates (its
 * forced-emulation prefix): a guest-physical address, or -1 with the #PF error code to inject.
 */
export interface EmulatorTranslation {
  gvaToGpa(lo: number, hi: number, access: number): number;
  readonly errorCode: number;
}

/** What the paging unit needs from the CPU: its control state and a way to report faults. */
export interface PagingCpu {
  cr0: number;
  cr4: number;
  efer: number;
  cr3Lo: number;
  cr3Hi: number;
  cpl: number;
  pkru: number;
  pkrs: number;
  raisePageFault(lo: number, hi: number, errorCode: number): void;
  raiseGp(errorCode: number): void;
  /** Ask to be told (endInstructionEmulation) when the current instruction is over. */
  emulationPending(): void;
}

/** Watches host pages holding decoded instructions, so writes to them invalidate the decode cache. */
export interface CodeWatcher {
  isCodePage(hostPage: number): boolean;
  invalidateCodePage(hostPage: number): void;
}

/**
 * The emulated hardware's address translation: TLB lookup, then a walk. In `bare` mode the walk
 * reads the guest's own tables through the guest-physical memory map; under TDP each guest-physical
 * address then goes through the TDP root (tdp-hardware.ts); in `shadow` mode the walk reads KVM's
 * shadow tables instead (shadow-hardware.ts). Faults are reported to the CPU as #PF (or #GP for a
 * non-canonical address). Also owns guest-physical access (RAM or MMIO).
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
  /** The context the TLB's fast tags were derived under (updateContext); -1: none yet. */
  private fastFlags = -1;
  private fastPkru = 0;
  private fastPkrs = 0;
  private fastPcid = 0;
  private fastRoot = 0;
  /** Walks performed (TLB misses that reached the page tables). */
  walks = 0;
  /** In `legacy-tdp` and `tdp` modes: the TDP root, the guest-physical TLB, and exits. */
  tdp: TdpHardware | null = null;
  /**
   * In `shadow` mode: the shadow root and the hardware's own paging state. The instructions that
   * flush the TLB (MOV CR3, INVLPG, INVPCID, CR0/CR4 writes) are then intercepted, so their
   * architectural flushes are KVM's to do, not the hardware's.
   */
  shadow: ShadowHardware | null = null;
  /**
   * A debugger's read/access watchpoints (emulator/debug/gdb-target.ts): told of every access that
   * reaches translate, i.e. every one that misses the fast tags, which the debugger clears for the
   * watched pages before each instruction. Null (one check per slow-path access) otherwise.
   */
  accessWatch: ((lo: number, hi: number, access: number, size: number) => void) | null = null;
  /** KVM's kvm_mmio tracepoint while tracing (emulator/debug/trace-kvm.ts): every MMIO access emulated; else null. */
  mmioTrace: { mmio(write: boolean, len: number, gpa: number, value: number): void } | null = null;
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
    ctx.pks = (cpu.cr4 & Cr4.PKS) !== 0 && this.longMode;
    ctx.pkrs = cpu.pkrs;
    ctx.maxPhyAddr = maxPhyAddr;
    ctx.gbPages = gbPages;
    const pcide = (cpu.cr4 & Cr4.PCIDE) !== 0 && this.longMode;
    this.pcid = pcide ? cpu.cr3Lo & 0xfff : 0;
    const rootMask = mode === PagingMode.PAE ? 0xffffffe0 : 0xfffff000;
    ctx.root = mode === PagingMode.BITS32 || mode === PagingMode.PAE
      ? (cpu.cr3Lo & rootMask) >>> 0
      : (cpu.cr3Hi & 0x000fffff) * 4294967296 + ((cpu.cr3Lo & 0xfffff000) >>> 0);
    this.shadow?.updateMode(this.longMode, mode === PagingMode.LEVEL5, this.pagingOn, ctx.smep, ctx.smap);
    // The fast tags were derived under the previous context; keep them when nothing they depend on
    // changed (a MOV to CR0 of its own value, CR0.TS toggles, WRMSR to EFER of the same value),
    // which makes such writes cost what other instructions cost instead of a 6 x 4096-slot clear.
    const flags = mode | (ctx.wp ? FAST_WP : 0) | (ctx.nxe ? 1 << 5 : 0) | (ctx.pse ? 1 << 6 : 0) | (ctx.pge ? 1 << 7 : 0) |
      (ctx.smep ? 1 << 8 : 0) | (ctx.smap ? 1 << 9 : 0) | (ctx.pke ? 1 << 10 : 0) | (gbPages ? 1 << 11 : 0) |
      (this.pagingOn ? 1 << 12 : 0) | (this.longMode ? 1 << 13 : 0) | (ctx.pks ? 1 << 14 : 0) | (maxPhyAddr << 16);
    const sameRest = ctx.pkru === this.fastPkru && ctx.pkrs === this.fastPkrs && this.pcid === this.fastPcid && ctx.root === this.fastRoot;
    if (sameRest && (flags ^ this.fastFlags) === FAST_WP) {
      // Only CR0.WP changed (upstream vmexit's toggle_cr0_wp does this in a loop): it decides
      // supervisor writes to read-only pages and nothing else.
      this.fastFlags = flags;
      if (ctx.wp) this.tlb.revokeReadOnlySupervisorWrites();
    } else if (flags !== this.fastFlags || !sameRest) {
      this.fastFlags = flags;
      this.fastPkru = ctx.pkru;
      this.fastPkrs = ctx.pkrs;
      this.fastPcid = this.pcid;
      this.fastRoot = ctx.root;
      this.tlb.clearAllFast();
    }
    this.tlb.selectPrivilege(cpu.cpl === 3);
  }

  /**
   * WRPKRU and WRMSR to IA32_PKRS: new protection-key rights. Fast tags may stand for pages whose
   * key the old rights left unrestricted (setFastTags), so a change drops them all.
   */
  setKeyRights(pkru: number, pkrs: number): void {
    const ctx = this.ctx;
    if (ctx.pkru === pkru && ctx.pkrs === pkrs) return;
    ctx.pkru = pkru;
    ctx.pkrs = pkrs;
    this.fastPkru = pkru;
    this.fastPkrs = pkrs;
    this.tlb.clearAllFast();
  }

  /** The context that decides what a cached translation permits: the guest's, or in shadow mode the hardware's. */
  private get permCtx(): WalkContext {
    return this.shadow === null ? this.ctx : this.shadow.ctx;
  }

  /**
   * Loads PAE's PDPTE registers from the table CR3 points at, checking their reserved bits (SDM
   * Vol. 3 4.4.1). Returns false, leaving the registers as they were, if a present entry has one.
   */
  loadPdptes(): boolean {
    const ctx = this.ctx;
    const lo = this.pdpteScratch;
    const rsvdHi = ctx.reservedHigh | (1 << 31);
    for (let i = 0; i < 4; i++) {
      lo[2 * i] = this.readPhys32(ctx.root + 8 * i);
      lo[2 * i + 1] = this.readPhys32(ctx.root + 8 * i + 4);
      if ((lo[2 * i] & 1) !== 0 && ((lo[2 * i] & 0x1e6) !== 0 || (lo[2 * i + 1] & rsvdHi) !== 0)) return false;
    }
    for (let i = 0; i < 4; i++) {
      ctx.pdpteLo[i] = lo[2 * i];
      ctx.pdpteHi[i] = lo[2 * i + 1];
    }
    return true;
  }

  private readonly pdpteScratch = new Int32Array(8);
  /** TLB slot of the page whose writes KVM is emulating for the current instruction, or -1. */
  private emulatedSlot = -1;
  /** KVM's emulator, translating every access of the instruction it emulates; null otherwise. */
  private emulator: EmulatorTranslation | null = null;
  /** TLB slots the emulated instruction's pages were put in (dropped when it ends). */
  private readonly emulatorSlots: number[] = [];

  /**
   * KVM emulates the next instruction in software: its fetch and data accesses are translated by
   * KVM's walker and go to guest-physical memory (as kvm_vcpu_read/write_guest do), past the TLB
   * and the hardware's permission checks. Fast tags go, so every access takes translate().
   */
  emulateNextInstruction(emulator: EmulatorTranslation): void {
    this.emulator = emulator;
    this.tlb.clearAllFast();
  }

  private translateEmulated(emulator: EmulatorTranslation, slot: number, vpn: number, lo: number, hi: number, access: number): boolean {
    if (this.emulatorSlots.length === 0) this.cpu.emulationPending();
    this.emulatorSlots.push(slot);
    const gpa = emulator.gvaToGpa(lo, hi, access);
    if (gpa < 0) {
      this.tlb.invalidateSlot(slot);
      this.cpu.raisePageFault(lo, hi, emulator.errorCode);
      return false;
    }
    this.tlb.fill(slot, vpn, gpa - (gpa % 4096), EMULATED, this.pcid);
    return true;
  }

  /**
   * Makes sure the TLB slot of (lo, hi) holds a translation permitting `access`, walking if needed.
   * Returns false after raising #PF or #GP. `size`: the bytes of the access on this page, for a
   * watchpoint that any of them may hit.
   */
  translate(lo: number, hi: number, access: number, size = 1): boolean {
    if (this.accessWatch !== null) this.accessWatch(lo, hi, access, size);
    const tlb = this.tlb;
    const vpn = (hi >>> 0) * 1048576 + (lo >>> 12);
    const slot = (lo >>> 12) & TLB_MASK;
    if (this.longMode && !isCanonical(lo, hi, this.ctx.format.vaBits || 48)) {
      this.cpu.raiseGp(0);
      return false;
    }
    if (this.emulator !== null) return this.translateEmulated(this.emulator, slot, vpn, lo, hi, access);
    const tdp = this.tdp;
    const virtualized = tdp !== null || this.shadow !== null;
    if (tlb.vpn[slot] === vpn && (tlb.pcid[slot] === this.pcid || (tlb.perm[slot] & TlbPerm.G) !== 0) &&
      // Virtualized, an MMIO access exits every time: such entries serve one access only, but for
      // the page of a write KVM emulates, which serves the rest of the instruction (below).
      (!virtualized || (tlb.perm[slot] & TlbPerm.MMIO) === 0 || slot === this.emulatedSlot) &&
      (tdp === null || tlb.root[slot] === tdp.root)) {
      const perm = tlb.perm[slot];
      const needsDirty = (access & Access.WRITE) !== 0 && (perm & TlbPerm.D) === 0;
      if (!needsDirty && this.permitted(perm, access)) {
        if (tdp !== null) tdp.checkIncarnation(tlb.root[slot] as Hpa, tlb.incarnation[slot], tlb.host[slot] as Hpa);
        this.setFastTags(slot, vpn, perm);
        return true;
      }
    }
    if (this.shadow !== null) return this.translateShadow(slot, vpn, lo, hi, access);
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

  /**
   * Shadow mode: walk KVM's shadow tables. A fault is a #PF intercept: KVM fixes the shadow tables
   * (walk again), injects the guest's own #PF, or emulates the access at a guest-physical page.
   */
  private translateShadow(slot: number, vpn: number, lo: number, hi: number, access: number): boolean {
    const hw = this.shadow!;
    const out = this.result;
    for (let attempt = 0; attempt < MAX_SHADOW_RETRIES; attempt++) {
      this.walks++;
      hw.walks++;
      if (walk(hw.ctx, hw.tables, lo, hi, access, out)) {
        // SPTEs map 4 KiB pieces of host memory directly; out.gpa is the host page.
        const perm = out.perm | TDP_ALL;
        // The shadow root is recorded for the checker only; lookups match on PCID, as hardware does.
        this.tlb.fill(slot, vpn, out.gpa, perm, this.pcid, hw.ctx.root);
        this.setFastTags(slot, vpn, perm);
        return true;
      }
      this.tlb.invalidateSlot(slot);
      const f = hw.fault;
      f.lo = lo;
      f.hi = hi;
      f.errorCode = out.errorCode;
      f.access = access;
      hw.exits++;
      const outcome = hw.hv.shadowFault(f);
      if (outcome === ShadowOutcome.INJECT) {
        this.cpu.raisePageFault(lo, hi, f.injectCode);
        return false;
      }
      if (outcome === ShadowOutcome.EMULATE) {
        this.tlb.fill(slot, vpn, f.gpaPage, EMULATED, this.pcid);
        if (f.wholeInstruction) this.emulateRestOfInstruction(slot);
        return true;
      }
    }
    throw new Error(`shadow #PF at 0x${((hi >>> 0) * 4294967296 + (lo >>> 0)).toString(16)} recurs after ${MAX_SHADOW_RETRIES} exits: the MMU model does not fix it`);
  }

  /**
   * KVM emulates a whole instruction, not one access: every iteration of a REP string instruction
   * (up to its re-entry point) runs in the emulator within the same exit, and the requests its
   * writes raise (zapped shadow pages, TLB flushes) are served at the next VM entry, after the
   * instruction. So the page's emulated entry stays usable until the instruction completes; the
   * run loop then calls endInstructionEmulation.
   */
  private emulateRestOfInstruction(slot: number): void {
    this.emulatedSlot = slot;
    this.cpu.emulationPending();
  }

  /** The emulated instruction completed (or faulted): drop its page and enter the guest. */
  endInstructionEmulation(): void {
    if (this.emulator !== null) {
      this.emulator = null;
      for (const s of this.emulatorSlots) this.tlb.invalidateSlot(s);
      this.emulatorSlots.length = 0;
    }
    const slot = this.emulatedSlot;
    if (slot < 0) return;
    this.emulatedSlot = -1;
    if ((this.tlb.perm[slot] & TlbPerm.MMIO) !== 0) this.tlb.invalidateSlot(slot);
    this.shadow!.hv.emulationDone();
  }

  /** Shadow mode: CR3 now holds `root` (a VM entry after KVM loaded it). */
  loadShadowRoot(root: Hpa | -1): void {
    this.shadow!.loadRoot(root);
  }

  /** Whether a cached translation permits the access (guest rules, and under TDP the root's). */
  private permitted(perm: number, access: number): boolean {
    const tdpNeeded = (access & Access.WRITE) !== 0 ? TlbPerm.TW : (access & Access.FETCH) !== 0 ? TlbPerm.TX : TlbPerm.TR;
    if ((perm & tdpNeeded) === 0) return false;
    return permissionFault(this.permCtx, access, (perm & TlbPerm.W) !== 0, (perm & TlbPerm.U) !== 0,
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
      const host = this.memslots.gpaToHpa(asGpa(gpaPage));
      if (host < 0) {
        this.tlb.fill(slot, vpn, gpaPage, perm | TDP_ALL | TlbPerm.MMIO, this.pcid);
        return;
      }
      this.tlb.fill(slot, vpn, host, perm | TDP_ALL, this.pcid);
      this.setFastTags(slot, vpn, perm | TDP_ALL);
      return;
    }
    const tdpAccess = (access & Access.WRITE) !== 0 ? TdpAccess.WRITE : (access & Access.FETCH) !== 0 ? TdpAccess.FETCH : TdpAccess.READ;
    const host = tdp.translate(asGpa(gpaPage), tdpAccess, false, lo, hi, this.allowed);
    // translate returns only once KVM has loaded a root (a fault without one loads it).
    const root = tdp.root as Hpa;
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
   * SMAP (EFLAGS.AC decides) and MMIO. Under protection keys (PKRU for user pages, PKRS for
   * supervisor pages with CR4.PKS) a page whose key the register leaves unrestricted gets both data
   * tags, one whose key has only WD set the read tag (WD alone never denies a read, whatever CR0.WP
   * says), one with AD neither; setKeyRights drops the tags when the register changes. The access
   * matrix runs half its cases under CR4.PKE with every page a user page: without this, each of
   * their stack and data accesses went through translate().
   */
  private setFastTags(slot: number, vpn: number, perm: number): void {
    if ((perm & TlbPerm.MMIO) !== 0) return;
    const tlb = this.tlb;
    const ctx = this.permCtx;
    const user = this.cpu.cpl === 3;
    const userPage = (perm & TlbPerm.U) !== 0;
    if (user && !userPage) return;
    const keys = userPage ? (ctx.pke ? ctx.pkru : 0) : (ctx.pks ? ctx.pkrs : 0);
    const rights = (keys >>> (2 * ((perm & TlbPerm.PK_MASK) >>> TlbPerm.PK_SHIFT))) & 3;
    const smapChecked = !user && ctx.smap && userPage;
    if ((rights & PK_AD) === 0 && !smapChecked) {
      if ((perm & TlbPerm.TR) !== 0) tlb.read[slot] = vpn;
      const writable = ((perm & TlbPerm.W) !== 0 || (!user && !ctx.wp)) && (perm & TlbPerm.TW) !== 0 && rights === 0;
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
    // An MMIO entry keeps the guest-physical page where others keep the host page.
    if ((this.tlb.perm[slot] & TlbPerm.MMIO) !== 0) return this.emulatedRead(asGpa(base), size);
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
      this.emulatedWrite(asGpa(base), size, v);
      return;
    }
    this.writeHost(base, size, v);
  }

  /**
   * A read the hardware did not complete on its own: MMIO goes to the device bus; in shadow mode a
   * guest-physical page of RAM can also come here (an access KVM emulates).
   */
  private emulatedRead(gpa: Gpa, size: number): number {
    if (this.shadow !== null || this.emulator !== null) {
      const host = this.memslots.gpaToHpa(gpa);
      if (host >= 0) {
        const view = this.arena.view;
        return size === 1 ? view.getUint8(host) : size === 2 ? view.getUint16(host, true) : view.getInt32(host, true);
      }
    }
    const v = this.bus.mmioRead(gpa, size);
    this.mmioTrace?.mmio(false, size, gpa, v);
    return v;
  }

  /** The same for writes: KVM writes guest RAM (not a read-only slot) and then follows up on shadowed tables. */
  private emulatedWrite(gpa: Gpa, size: number, v: number): void {
    if (this.shadow !== null || this.emulator !== null) {
      const slot = this.memslots.find(gpaToGfn(gpa));
      if (slot !== undefined && !slot.readOnly) {
        this.writeHost(this.memslots.gpaToHpa(gpa), size, v);
        this.shadow?.hv.emulatedWrite(gpa, size);
        return;
      }
    }
    this.mmioTrace?.mmio(true, size, gpa, v);
    this.bus.mmioWrite(gpa, size, v);
  }

  /**
   * Writes to host memory, invalidating decoded code on the page first unless the write leaves
   * its bytes as they are: the decoded code then still matches memory, and a write that changes
   * a byte is still seen by the next fetch (SDM Vol. 3 11.6). The access test stores its RET into
   * the page its fetch cases call before every case, most often over the RET already there.
   */
  private writeHost(base: number, size: number, v: number): void {
    const page = Math.floor(base / 4096);
    const view = this.arena.view;
    if (this.code!.isCodePage(page) && !holds(view, base, size, v)) this.code!.invalidateCodePage(page);
    switch (size) {
      case 1: view.setUint8(base, v); break;
      case 2: view.setUint16(base, v, true); break;
      default: view.setInt32(base, v, true); break;
    }
  }

  // Guest-physical access (page-table walks, the loader, devices that do DMA).

  /** Host address for the hardware's own guest-physical access (page walks), or -1 for MMIO. */
  private physHost(gpa: Gpa, write: boolean): number {
    const tdp = this.tdp;
    if (tdp === null) return this.memslots.gpaToHpa(gpa);
    return tdp.translate(gpa, write ? TdpAccess.WRITE : TdpAccess.READ, true, this.walkLo, this.walkHi, this.allowed);
  }

  readPhys32(gpa: number): number {
    const host = this.physHost(asGpa(gpa), false);
    if (host < 0) return this.bus.mmioRead(gpa, 4);
    return this.arena.view.getInt32(host, true);
  }

  writePhys32(gpa: number, value: number): void {
    const host = this.physHost(asGpa(gpa), true);
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
  loadTdpRoot(root: Hpa | -1): void {
    if (this.tdp === null) throw new Error('no TDP hardware in bare mode');
    this.tdp.root = root;
    this.tlb.clearAllFast();
  }

  flushNonGlobal(): void {
    this.tlb.flushNonGlobal();
  }

  // The TLB effects of the guest's own instructions (SDM Vol. 3 4.10.4.1). In shadow mode these
  // instructions are intercepted and KVM does the flushing, so the hardware does nothing here.

  /** MOV CR3 without NOFLUSH: non-global entries of `pcid` (of every PCID when pcid < 0). */
  archFlushNonGlobal(pcid = -1): void {
    if (this.shadow === null) this.tlb.flushNonGlobal(pcid);
  }

  /** CR0.PG or CR4.PGE/PCIDE changes, INVPCID type 2: everything. */
  archFlushAll(): void {
    if (this.shadow === null) this.tlb.flushAll();
  }

  /** INVLPG. */
  archInvlpg(lo: number, hi: number): void {
    if (this.shadow === null) this.tlb.flushPage((hi >>> 0) * 1048576 + (lo >>> 12));
  }

  /** INVPCID type 0 (one address of one PCID) and type 1 (one PCID). */
  archInvpcidAddress(lo: number, hi: number, pcid: number): void {
    if (this.shadow === null) this.tlb.flushPageOfPcid((hi >>> 0) * 1048576 + (lo >>> 12), pcid);
  }

  archInvpcidContext(pcid: number): void {
    if (this.shadow === null) this.tlb.flushPcid(pcid, true);
  }
}

/** Whether memory at `base` already holds the low `size` bytes of v. */
function holds(view: DataView, base: number, size: number, v: number): boolean {
  switch (size) {
    case 1: return view.getUint8(base) === (v & 0xff);
    case 2: return view.getUint16(base, true) === (v & 0xffff);
    default: return view.getInt32(base, true) === (v | 0);
  }
}

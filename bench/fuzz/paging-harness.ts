import { Machine, type MmuMode } from '../../vmm/machine.js';
import { CpuModel, DEFAULT_FEATURES } from '../../emulator/cpu/cpu-model.js';
import { SegAttr } from '../../emulator/cpu/segment-state.js';
import { updateMode } from '../../emulator/cpu/segmentation.js';
import { pagingChanged } from '../../emulator/cpu/control-regs.js';
import { Cr0, Cr4, Efer } from '../../emulator/arch/control.js';
import { Seg } from '../../emulator/arch/registers.js';
import { Flag } from '../../emulator/arch/eflags.js';
import { PAGE_SIZE, gpa } from '../../emulator/arch/address.js';
import { StopReason } from '../../emulator/cpu/run.js';
import type { Rng } from './rng.js';
import { leafOf } from './paging-leaf.js';
import { FreshState } from './fresh-state.js';

/**
 * Differential page-table fuzzing: guest accesses (loads, stores, fetches) through random tables
 * in 4-level paging (64-bit code), PAE and 32-bit paging (32-bit code), run in each MMU mode,
 * whose guest-visible results (vector, error code, CR2, the value loaded, and every byte of the
 * tables and data pages afterwards: A/D bits and the stores) must be the same in all of them,
 * with KVM's invariant checker clean. A case is one access, or a sequence in which the guest
 * rewrites a table entry and reloads CR3 before each access, so KVM's write tracking, unsync and
 * sync of shadowed tables are exercised too.
 *
 * The random tables hang off the root's entries but the first (PML4E, PDPTE or PDE 0 maps the
 * runner: code, GDT/TSS, IDT, stubs, stacks, identity 4 KiB pages in the first 64 KiB); their
 * entries point at the table pages themselves (loops, self-reference, the root), at data pages,
 * at RAM with PS set (2 MiB, 1 GiB, 4 MiB with PSE-36 bits), at unbacked guest-physical memory,
 * at the local APIC's and IOAPIC's MMIO pages, or past MAXPHYADDR, with random permission, PS,
 * NX, protection-key and reserved bits; CR0.WP, CR4.SMEP/SMAP/PKE/PSE, EFER.NXE, EFLAGS.AC,
 * PKRU and the CPL are random too.
 *
 * Each mode keeps one machine for the whole run; before a case the harness rewrites all of guest
 * memory (as QEMU would), puts the devices back in their power-up state, zaps KVM's MMU and resets
 * its context (KVM_SET_SREGS), and flushes the TLB and the decoded code, so cases do not see each
 * other: a case gives the same result alone as in a long run.
 */

const MEM = 4 << 20;
const CODE = 0x1000;
const GDT = 0x2000;
const TSS = 0x2800;
const IDT = 0x3000;
const STUBS = 0x4000;
const KSTACK_TOP = 0x6000;
const USTACK_TOP = 0x7000;
const FIXED_PDPT = 0x8000;
const FIXED_PD = 0x9000;
const FIXED_PT = 0xa000;
/** 32-bit paging: the IDT of 8-byte gates, the TSS, and the page table (4-byte entries) of the runner. */
const IDT32 = 0xb000;
const TSS32 = 0x2900;
const FIXED_PT32 = 0xc000;
/** Table pages T0 (the root, CR3) .. T7 and data pages D0 .. D7. */
const TABLES = 0x200000;
const NTABLES = 8;
const DATAP = 0x208000;
const NDATA = 8;
const UNBACKED = 0x40000000;
const MMIO = [0xfee00000, 0xfec00000];
/** Also ECX for whatever a fetch runs: small, so a REP there ends soon (see UNCONTROLLED). */
const STORE_VALUE = 0x5a5a;
/** Where the runner sees the table pages (a supervisor 2 MiB page in PML4 slot 0). */
const TABLES_VA = 0x200000;

/** The paging formats: 4-level (64-bit code), PAE and 32-bit paging (32-bit code). */
export type { Format } from './paging-leaf.js';
import type { Format } from './paging-leaf.js';
const FORMATS: readonly Format[] = ['4-level', '4-level', 'pae', '32-bit'];

/**
 * A sequence step's table write and TLB flush, then the access: 4-level `mov [rdi], rsi`, PAE
 * `mov [edi], esi; mov [edi+4], ebp`, 32-bit `mov [edi], esi`; then `mov edx, cr3; mov cr3, edx`.
 */
const WRITE_AND_FLUSH: Readonly<Record<Format, number[]>> = {
  '4-level': [0x48, 0x89, 0x37, 0x0f, 0x20, 0xda, 0x0f, 0x22, 0xda],
  'pae': [0x89, 0x37, 0x89, 0x6f, 0x04, 0x0f, 0x20, 0xda, 0x0f, 0x22, 0xda],
  '32-bit': [0x89, 0x37, 0x0f, 0x20, 0xda, 0x0f, 0x22, 0xda],
};
/** The runners' offsets in the code page (by format, then access); each is the write, the access, HLT. */
const FORMAT_BASE: Readonly<Record<Format, number>> = { '4-level': 0x000, 'pae': 0x100, '32-bit': 0x200 };
const RUNNER: Readonly<Record<Access, number>> = { load: 0x00, store: 0x20, fetch: 0x40 };
const ACCESS_BYTES: Readonly<Record<Access, number[]>> = { load: [0x8b, 0x03, 0xf4], store: [0x89, 0x0b, 0xf4], fetch: [0xff, 0xe3] };

const SEL_CODE0 = 0x08;
const SEL_DATA0 = 0x10;
const SEL_DATA3 = 0x18 | 3;
const SEL_CODE3 = 0x20 | 3;
const SEL_TSS = 0x28;
const SEL_CODE0_32 = 0x38;
const SEL_CODE3_32 = 0x40 | 3;
const SEL_TSS32 = 0x48;

export type Access = 'load' | 'store' | 'fetch';

/**
 * One access of a case. In a sequence the guest first writes `entry` (8 bytes at a byte offset in
 * the table pages, through a supervisor mapping of them) and reloads CR3, then makes the access.
 */
export interface PagingStep {
  readonly access: Access;
  readonly va: [number, number];
  readonly write?: { readonly offset: number; readonly lo: number; readonly hi: number };
}

/** One case: tables and control bits, the same for every mode. */
export interface PagingCase {
  readonly format: Format;
  readonly tables: Uint8Array;
  readonly data: Uint8Array;
  /** One access, or (CPL 0, no global pages) a sequence with table writes between them. */
  readonly steps: readonly PagingStep[];
  readonly cpl: 0 | 3;
  readonly cr0wp: boolean;
  readonly cr4: number;
  readonly nxe: boolean;
  readonly ac: boolean;
  readonly pkru: number;
}

/**
 * The outcome of a fetch that ran the bytes it reached (a table page or low memory through a
 * large page): random code, which may rewrite its own page tables without invalidating (the SDM
 * then allows the old or the new translation, so modes may differ). Only whether the fetch
 * itself succeeded is compared; the case ends there and its memory is not compared. It takes
 * precedence over REWROTE_RUNNER: seed 1207's case 181763 ran table bytes that rewrote the PTE
 * mapping their own page; shadow (which emulates writes to shadowed tables and zaps the SPTE)
 * then took a #PF, while bare and TDP went on through the old translation and rewrote the
 * runner's tables.
 */
export const UNCONTROLLED = 'fetched and ran the page';

/**
 * The outcome of an access that rewrote an entry of the runner's own translation (its code,
 * IDT, GDT, TSS, stubs and stacks: the root's entry 0 and the fixed tables below it) through a
 * random mapping of that table page, with no TLB invalidation after it. What the rest of the
 * step does (fetch the HLT after the store, deliver an exception) may then use the old or the
 * new translation (SDM Vol. 3 4.10.4.3): bare keeps the old one in its TLB, while KVM's shadow MMU
 * emulates the write to the shadowed table and zaps the SPTEs that shadowed the entry
 * (arch/x86/kvm/mmu/mmu.c, kvm_mmu_track_write, then kvm_mmu_remote_flush_or_zap), so the next
 * fetch walks the new entry. Seed 1's cases 4819, 5053 and 9501 do this: a store of 0x5a5a to
 * the root's entry 0 (it clears P), then bare halts while shadow triple-faults fetching the HLT.
 * Every mode must still agree that the store happened and rewrote the same entry; the case ends
 * there and its memory is not compared.
 */
export const REWROTE_RUNNER = "rewrote the runner's own mapping";

/** What the guest can see after one access. */
export interface StepResult {
  /** 'done' (the access completed and the runner halted), 'exception', or another run outcome. */
  readonly outcome: string;
  readonly vector: number;
  /** The word on top of the handler's stack: the error code for #PF/#GP. */
  readonly errorCode: number;
  readonly cr2: string;
  readonly rax: number;
}

/** What the guest can see after a case. */
export interface PagingResult {
  readonly steps: StepResult[];
  /** The runner's memory, the table and the data pages after the run (A/D bits, the stored value). */
  readonly memory: Uint8Array;
  /**
   * Offsets in `memory` of the leaf entries through which a store step reached guest-physical
   * memory with no memslot (MMIO or unbacked): the entries shadowMmioDirtyDeviation may excuse.
   */
  readonly noSlotLeaves: readonly number[];
}

/**
 * A random case. `globalInSequences` lets sequences set CR4.PGE: only for showing that the
 * comparison sees the global-page difference README lists (bare keeps a global translation
 * across the CR3 reload, the shadow MMU rebuilds it); the fuzzer leaves it off.
 */
export function randomCase(rng: Rng, maxPhyAddr: number, globalInSequences = false): PagingCase {
  const format = rng.pick(FORMATS);
  const size = format === '32-bit' ? 4 : 8;
  const tables = new Uint8Array(NTABLES * 4096);
  const tv = new DataView(tables.buffer);
  for (let t = 0; t < NTABLES; t++) {
    for (let e = 0; e < 4096 / size; e++) {
      if (t === 0 && e === 0) continue; // the runner's root entry, set by the harness
      // Sparse tables (most entries empty) keep the walks varied; otherwise a random entry.
      if (rng.oneIn(8)) continue;
      const [lo, hi] = t === 0 && e < 4 && format === 'pae' ? randomPdpte(rng) : randomEntry(rng, maxPhyAddr, format);
      tv.setUint32(t * 4096 + size * e, lo >>> 0, true);
      if (size === 8) tv.setUint32(t * 4096 + size * e + 4, hi >>> 0, true);
    }
  }
  const data = new Uint8Array(NDATA * 4096);
  const dv = new DataView(data.buffer);
  for (let k = 0; k < data.length; k += 4) dv.setUint32(k, rng.u32());
  // Each data page starts with "mov eax, id; hlt", so a fetch shows which page it reached.
  for (let p = 0; p < NDATA; p++) {
    data.set([0xb8, p + 1, 0xd0, 0xd0, 0xd0, 0xf4], p * 4096);
  }
  // Half the cases are sequences: CPL 0, and CR4.PGE clear, since a global translation may
  // survive the CR3 reload on hardware (bare keeps it) while KVM's shadow MMU rebuilds it (README's
  // first listed deviation): with PGE set the two would legitimately differ.
  const sequence = rng.oneIn(2);
  const steps: PagingStep[] = [];
  // The tables as they will be at each step, to aim writes at the entries a walk uses.
  const now = Uint8Array.from(tables);
  const nv = new DataView(now.buffer);
  for (let n = sequence ? 2 + rng.below(5) : 1; n > 0; n--) {
    const prev = steps[steps.length - 1];
    // Sequences revisit the previous address half the time (a stale translation would show).
    const step = prev !== undefined && rng.oneIn(2) ? { access: rng.pick<Access>(['load', 'store', 'fetch']), va: prev.va } : randomStep(rng, format);
    if (!sequence) { steps.push(step); continue; }
    // Mostly an entry on the walk of the previous or this address, else any entry but the
    // runner's own PML4E.
    const path = walkPath(nv, (prev !== undefined && rng.oneIn(2) ? prev : step).va, format);
    let offset = rng.oneIn(4) || path.length === 0 ? size * (1 + rng.below(NTABLES * 4096 / size - 1)) : rng.pick(path);
    if (offset === 0) offset = size;
    const [lo, hi] = rng.oneIn(4) ? [0, 0] : rng.oneIn(3) ? flipBit(rng, nv, offset, size) : randomEntry(rng, maxPhyAddr, format);
    nv.setUint32(offset, lo >>> 0, true);
    if (size === 8) nv.setUint32(offset + 4, hi >>> 0, true);
    steps.push({ ...step, write: { offset, lo, hi } });
  }
  // Protection keys apply to 4-level paging only; CR4.PSE matters to 32-bit paging only.
  const cr4 = (rng.oneIn(2) ? Cr4.SMEP : 0) | (rng.oneIn(2) ? Cr4.SMAP : 0) |
    (format === '4-level' && rng.oneIn(3) ? Cr4.PKE : 0) | (format === '32-bit' && !rng.oneIn(4) ? Cr4.PSE : 0) |
    ((!sequence || globalInSequences) && rng.oneIn(2) ? Cr4.PGE : 0);
  return {
    format, tables, data, steps, cpl: !sequence && rng.oneIn(2) ? 3 : 0, cr0wp: rng.oneIn(2), cr4,
    nxe: !rng.oneIn(4), ac: rng.oneIn(2), pkru: rng.oneIn(2) ? 0 : rng.u32() & 0xfffffffc,
  };
}

/** Byte offsets (in the table pages) of the entries a walk of `va` reads, while it stays in them. */
function walkPath(t: DataView, va: readonly [number, number], format: Format): number[] {
  const [lo, hi] = va;
  const size = format === '32-bit' ? 4 : 8;
  const indexes = format === '4-level' ? [(hi >>> 7) & 511, ((hi & 0x7f) << 2) | (lo >>> 30), (lo >>> 21) & 511, (lo >>> 12) & 511]
    : format === 'pae' ? [lo >>> 30, (lo >>> 21) & 511, (lo >>> 12) & 511]
      : [lo >>> 22, (lo >>> 12) & 1023];
  const out: number[] = [];
  let page = 0;
  for (let level = 0; level < indexes.length; level++) {
    const off = page * 4096 + size * indexes[level];
    out.push(off);
    const e = t.getUint32(off, true);
    const large = (e & 0x80) !== 0 && (format === '4-level' ? level > 0 : format === 'pae' ? level === 1 : level === 0);
    if ((e & 1) === 0 || large || (size === 8 && t.getUint32(off + 4, true) !== 0)) break;
    const next = (e & ~0xfff) - TABLES;
    if (next < 0 || next >= NTABLES * 4096) break;
    page = next >> 12;
  }
  return out;
}

/** The entry at `offset` with one of its low 12 bits or XD flipped (permission changes). */
function flipBit(rng: Rng, t: DataView, offset: number, size: number): [number, number] {
  const lo = t.getUint32(offset, true);
  const hi = size === 8 ? t.getUint32(offset + 4, true) : 0;
  return size === 8 && rng.oneIn(6) ? [lo, (hi ^ 0x80000000) | 0] : [(lo ^ (1 << rng.below(9))) | 0, hi];
}

function randomStep(rng: Rng, format: Format): PagingStep {
  const access = rng.pick<Access>(['load', 'store', 'fetch']);
  if (format !== '4-level') {
    // Outside the runner's first 4 MiB (32-bit) or 1 GiB (PAE) of linear addresses.
    const page = format === 'pae' ? (1 << 18) + rng.below(3 << 18) : (1 << 10) + rng.below((1 << 20) - (1 << 10));
    return { access, va: [((page << 12) | (access === 'fetch' ? 0 : rng.below(1024) * 4)) | 0, 0] };
  }
  // A canonical address outside PML4 slot 0: lower half slots 1-255, or the upper half.
  const slot = 1 + rng.below(511);
  const offset = access === 'fetch' ? 0 : rng.below(1024) * 4;
  const pdpt = rng.below(512);
  const lo = ((pdpt & 3) << 30 | (rng.below(1 << 18) << 12) | offset) >>> 0;
  let hi = (slot << 7) | (pdpt >> 2);
  if (slot >= 256) hi |= 0xffff0000;
  return { access, va: [lo | 0, hi | 0] };
}

/** A PDPTE that loads: not present, or present with an address and no reserved bit (else CR3 loads fail). */
function randomPdpte(rng: Rng): [number, number] {
  if (rng.oneIn(6)) return [0, 0];
  return [(TABLES + 4096 * rng.below(NTABLES)) | 1 | (rng.below(4) << 3), 0];
}

function randomEntry(rng: Rng, maxPhyAddr: number, format: Format = '4-level'): [number, number] {
  if (format === '32-bit') return [randomEntry32(rng), 0];
  // P RW US PWT PCD A D G and the ignored bits at random, mostly present, writable and user.
  let flags = rng.u32() & 0xf7f;
  if (!rng.oneIn(16)) flags |= 1;
  if (!rng.oneIn(4)) flags |= 2;
  if (!rng.oneIn(4)) flags |= 4;
  let addrLo: number;
  let addrHi = 0;
  const k = rng.below(16);
  if (k < 9) { addrLo = TABLES + 4096 * rng.below(NTABLES); flags &= ~0x80; }
  else if (k < 10) { addrLo = DATAP + 4096 * rng.below(NDATA); flags &= ~0x80; }
  else if (k < 11) { addrLo = rng.oneIn(2) ? 0 : 0x200000; flags |= 0x80; } // a 2 MiB or 1 GiB page over RAM
  else if (k < 12) addrLo = UNBACKED + 4096 * rng.below(4);
  else if (k < 13) addrLo = rng.pick(MMIO);
  else if (k < 14) addrLo = FIXED_PDPT + 4096 * rng.below(3); // the runner's own tables
  else if (k < 15 && rng.oneIn(2)) { addrLo = TABLES + 4096 * rng.below(NTABLES); addrHi = 1 << (maxPhyAddr - 32 + rng.below(52 - maxPhyAddr)); }
  else addrLo = (rng.u32() & 0x3ff000) >>> 0; // anywhere in RAM
  // Large-page reserved bits (bits 20:13 of a 2 MiB PDE) now and then.
  if (format === 'pae' && addrHi !== 0 && rng.oneIn(2)) addrHi = 0;
  if ((flags & 0x80) !== 0 && rng.oneIn(8)) addrLo |= 1 << (13 + rng.below(8));
  let hi = addrHi;
  if (rng.oneIn(5)) hi |= 0x80000000; // XD
  if (rng.oneIn(4)) hi |= rng.below(16) << 27; // protection key (bits 62:59)
  return [(addrLo & ~0xfff) | flags, hi];
}

/**
 * A 32-bit paging entry: a table or data page, a 4 MiB page (PS, with PSE-36 address bits 20:13
 * or the reserved bit 21 now and then), unbacked or MMIO memory, the runner's own page table.
 */
function randomEntry32(rng: Rng): number {
  let flags = rng.u32() & 0xf7f;
  if (!rng.oneIn(16)) flags |= 1;
  if (!rng.oneIn(4)) flags |= 2;
  if (!rng.oneIn(4)) flags |= 4;
  const k = rng.below(16);
  let addr: number;
  if (k < 9) addr = TABLES + 4096 * rng.below(NTABLES);
  else if (k < 10) addr = DATAP + 4096 * rng.below(NDATA);
  else if (k < 12) {
    flags |= 0x80;
    addr = 0;
    if (rng.oneIn(6)) addr |= 1 << (13 + rng.below(8)); // PSE-36: above 4 GiB
    if (rng.oneIn(8)) addr |= 1 << 21; // reserved
    return (addr | flags) | 0;
  } else if (k < 13) addr = UNBACKED + 4096 * rng.below(4);
  else if (k < 14) addr = rng.pick(MMIO);
  else if (k < 15) addr = FIXED_PT32;
  else addr = (rng.u32() & 0x3ff000) >>> 0;
  return ((addr & ~0xfff) | (flags & ~0x80)) | 0;
}

/** The unit in which RestoredRam compares guest RAM before going down to pages. */
const BLOCK = 0x10000;

/**
 * Guest RAM put back to what a new machine holds (ACPI and MP tables, zeros elsewhere) before
 * every case, copying only the 4 KiB pages that differ: a case writes a few entries' A/D bits, a
 * stored value and stack frames, so comparing (reads only) costs less than rewriting 4 MiB. The
 * runner's 64 KiB and the table and data pages are left out: run() rewrites them whole.
 */
class RestoredRam {
  private readonly ram: Buffer;
  private readonly fresh: Buffer;
  /** Pages copied back so far (the harness test checks it moves when a case stores outside). */
  pagesRestored = 0;

  constructor(m: Machine) {
    const host = m.memslots.gpaToHpa(gpa(0)) as number;
    if (host < 0 || (m.memslots.gpaToHpa(gpa(MEM - PAGE_SIZE)) as number) !== host + MEM - PAGE_SIZE) throw new Error('the paging harness needs its RAM in one host range');
    this.ram = Buffer.from(m.arena.buffer, m.arena.bytes.byteOffset + host, MEM);
    // The modes' new machines hold the same RAM: one copy serves them all (and stays in cache).
    const own = Buffer.from(this.ram);
    this.fresh = RestoredRam.shared !== undefined && RestoredRam.shared.equals(own) ? RestoredRam.shared : (RestoredRam.shared = own);
  }

  private static shared: Buffer | undefined;

  /** The guest's bytes at [gpa, gpa + length), not copied. */
  view(gpa: number, length: number): Uint8Array {
    return this.ram.subarray(gpa, gpa + length);
  }

  restore(): void {
    const { ram, fresh } = this;
    for (let block = 0; block < MEM; block += BLOCK) {
      if (block === 0 || block === TABLES) continue;
      if (ram.compare(fresh, block, block + BLOCK, block, block + BLOCK) === 0) continue;
      for (let page = block; page < block + BLOCK; page += 4096) {
        if (ram.compare(fresh, page, page + 4096, page, page + 4096) === 0) continue;
        fresh.copy(ram, page, page, page + 4096);
        this.pagesRestored++;
      }
    }
  }
}

export class PagingHarness {
  readonly machine: Machine;
  private readonly image: Uint8Array;
  private readonly fresh: FreshState;
  readonly ram: RestoredRam;

  constructor(readonly mode: MmuMode) {
    const model = new CpuModel({ features: [...DEFAULT_FEATURES, 'smep', 'smap', 'pku'] });
    this.machine = new Machine({ mmu: mode, audit: true, memBytes: MEM, model, serialOut: () => {}, mmuPoolBytes: 8 << 20 });
    this.image = runnerImage();
    this.fresh = new FreshState(this.machine, { rewindCpu: false });
    this.ram = new RestoredRam(this.machine);
  }

  /**
   * KVM's invariant violations so far. The list holds the first 100 and grows with the count
   * until then, so its length serves; past that the counters (Kvm.stats sums every vCPU's into a
   * new object: too slow to read twice per case) tell.
   */
  get violations(): number {
    const kvm = this.machine.kvm;
    if (kvm === undefined) return 0;
    return kvm.violations.length < 100 ? kvm.violations.length : kvm.stats.invariant_violations;
  }

  run(c: PagingCase): PagingResult {
    const m = this.machine;
    const cpu = m.cpu;
    // RAM, devices, timers and MSRs as on a new machine: what an earlier case stored outside the
    // compared pages (through an entry mapping "anywhere in RAM", or by random code a fetch ran,
    // which may differ between modes) or into a device must not show in this one. Seed 1207's
    // cases 61376 and 154112 loaded 0x5a5a, an earlier case's store, at 0x2f7000 and 0x25000.
    this.fresh.restore();
    this.ram.restore();
    m.guestMemory.write(0, this.image);
    m.guestMemory.write(TABLES, c.tables);
    m.guestMemory.write(DATAP, c.data);
    for (let page = 0; page < MEM / 4096; page++) m.code.invalidateCodePage(page);
    const user = c.cpl === 3;
    const long = c.format === '4-level';
    // The runner's root entry (user-accessible so CPL 3 can reach its code; the PT decides per
    // page), and its code page: user for CPL 3, supervisor for CPL 0 (SMEP refuses a user page).
    if (c.format === '32-bit') {
      m.guestMemory.write(TABLES, le32(FIXED_PT32 | 7));
      m.guestMemory.write(FIXED_PT32 + 4 * (CODE >> 12), le32(CODE | (user ? 7 : 3)));
    } else {
      m.guestMemory.write(TABLES, long ? le64(FIXED_PDPT | 7, 0) : le64(FIXED_PD | 1, 0));
      m.guestMemory.write(FIXED_PT + 8 * (CODE >> 12), le64(CODE | (user ? 7 : 3), 0));
    }

    cpu.cr0 = Cr0.PE | Cr0.ET | Cr0.PG | Cr0.MP | Cr0.NE | (c.cr0wp ? Cr0.WP : 0);
    cpu.cr4 = Cr4.OSFXSR | c.cr4 | (c.format === '32-bit' ? 0 : Cr4.PAE);
    cpu.efer = (long ? Efer.LME | Efer.LMA : 0) | (c.nxe ? Efer.NXE : 0);
    cpu.cr3Lo = TABLES; cpu.cr3Hi = 0;
    cpu.cr2Lo = 0; cpu.cr2Hi = 0;
    cpu.pkru = (c.cr4 & Cr4.PKE) !== 0 ? c.pkru : 0;
    cpu.gdtr.baseLo = GDT; cpu.gdtr.baseHi = 0; cpu.gdtr.limit = 0x4f;
    if (long) {
      cpu.idtr.baseLo = IDT; cpu.idtr.baseHi = 0; cpu.idtr.limit = 256 * 16 - 1;
      cpu.tr.selector = SEL_TSS; cpu.tr.baseLo = TSS; cpu.tr.baseHi = 0; cpu.tr.limit = 0x67; cpu.tr.attr = 0x8b;
    } else {
      cpu.idtr.baseLo = IDT32; cpu.idtr.baseHi = 0; cpu.idtr.limit = 256 * 8 - 1;
      cpu.tr.selector = SEL_TSS32; cpu.tr.baseLo = TSS32; cpu.tr.baseHi = 0; cpu.tr.limit = 0x67; cpu.tr.attr = 0x8b;
    }
    const code = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.G | (long ? SegAttr.L : SegAttr.DB);
    const data = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;
    const dpl = user ? 3 << SegAttr.DPL_SHIFT : 0;
    const cs = long ? (user ? SEL_CODE3 : SEL_CODE0) : (user ? SEL_CODE3_32 : SEL_CODE0_32);
    cpu.seg.set(Seg.CS, cs, 0, 0, 0xffffffff, code | dpl);
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) cpu.seg.set(s, long ? 0 : SEL_DATA0, 0, 0, 0xffffffff, data);
    cpu.seg.set(Seg.SS, user ? SEL_DATA3 : SEL_DATA0, 0, 0, 0xffffffff, data | dpl);
    cpu.cpl = c.cpl;
    updateMode(cpu);
    pagingChanged(cpu);
    // PAE: the PDPTE registers, read from guest memory as KVM_SET_SREGS does (load_pdptrs reads
    // the guest's memory in software; the hardware's own load at MOV CR3 would go through EPT,
    // before KVM has a root here). randomCase only makes PDPTEs that load.
    if (c.format === 'pae') {
      const t = new DataView(c.tables.buffer, c.tables.byteOffset, 32);
      for (let i = 0; i < 4; i++) {
        m.paging.ctx.pdpteLo[i] = i === 0 ? FIXED_PD | 1 : t.getInt32(8 * i, true);
        m.paging.ctx.pdpteHi[i] = i === 0 ? 0 : t.getInt32(8 * i + 4, true);
      }
    }
    m.paging.flushAll();
    // KVM_SET_SREGS after QEMU rewrote memory: a fresh MMU context, nothing shadowed kept.
    m.kvm?.mmu.zapAllFast();
    m.kvm?.registersSet();

    const steps: StepResult[] = [];
    const noSlotLeaves: number[] = [];
    for (const step of c.steps) {
      if (step.access === 'store') this.noteNoSlotLeaf(c, step, noSlotLeaves);
      const r = this.step(c, step);
      steps.push(r);
      // After a fetch that ran whatever the page held, or a store into the runner's own tables,
      // nothing more is compared (see UNCONTROLLED, REWROTE_RUNNER).
      if (r.outcome === UNCONTROLLED || r.outcome === REWROTE_RUNNER) return { steps, memory: new Uint8Array(0), noSlotLeaves: [] };
    }
    const memory = new Uint8Array(TABLES_IN_RESULT + (NTABLES + NDATA) * 4096);
    memory.set(this.ram.view(0, TABLES_IN_RESULT));
    memory.set(this.ram.view(TABLES, (NTABLES + NDATA) * 4096), TABLES_IN_RESULT);
    return { steps, memory, noSlotLeaves };
  }

  /**
   * Before a store step: if the tables, as they will be once the step's own entry write is done,
   * map the store's address to guest-physical memory outside RAM, the leaf entry's offset in the
   * compared memory (when it lies there) goes into `out`.
   */
  private noteNoSlotLeaf(c: PagingCase, s: PagingStep, out: number[]): void {
    const m = this.machine;
    const w = s.write;
    const read = (gpa: number, size: 4 | 8): [number, number] | undefined => {
      if (gpa + size > MEM) return undefined;
      if (w !== undefined && gpa === TABLES + w.offset) return [w.lo, size === 8 ? w.hi : 0];
      const v = new DataView(m.readPhysical(gpa, size).buffer);
      return [v.getUint32(0, true), size === 8 ? v.getUint32(4, true) : 0];
    };
    const leaf = leafOf(c.format, TABLES, s.va, (c.cr4 & Cr4.PSE) !== 0, read);
    if (leaf === undefined || leaf.gpa < MEM) return;
    const at = leaf.entry < 0x10000 ? leaf.entry
      : leaf.entry >= TABLES && leaf.entry < TABLES + (NTABLES + NDATA) * 4096 ? TABLES_IN_RESULT + leaf.entry - TABLES : -1;
    if (at >= 0) out.push(at);
  }

  /** The runner's own entries (RUNNER_ENTRIES) as hex, A/D bits left out: a step changed them if this changes. */
  private runnerMapping(format: Format): string {
    let out = '';
    const size = format === '32-bit' ? 4 : 8;
    for (const [at, bytes] of RUNNER_ENTRIES[format]) {
      const b = this.machine.readPhysical(at, bytes);
      for (let k = 0; k < bytes; k += size) b[k] &= ~AD_MASK;
      out += Buffer.from(b).toString('hex');
    }
    return out;
  }

  /** One access: registers set as KVM_SET_REGS would (the MMU keeps what it built), then the run. */
  private step(c: PagingCase, s: PagingStep): StepResult {
    const m = this.machine;
    const cpu = m.cpu;
    const user = c.cpl === 3;
    cpu.lo.fill(0); cpu.hi.fill(0);
    cpu.lo[3] = s.va[0]; cpu.hi[3] = s.va[1]; // RBX: the address
    cpu.lo[1] = STORE_VALUE; // RCX: the value stored
    cpu.lo[0] = 0x11111111; // RAX: replaced by a load or a fetched page's id
    cpu.lo[4] = user ? USTACK_TOP : KSTACK_TOP;
    if (s.write !== undefined) {
      // RDI, RSI: the entry and its new value (EBP: its high half, PAE).
      cpu.lo[7] = TABLES_VA + s.write.offset;
      if (c.format === '4-level') { cpu.lo[6] = s.write.lo; cpu.hi[6] = s.write.hi; } else { cpu.lo[6] = s.write.lo; cpu.lo[5] = s.write.hi; }
    }
    cpu.setFlags(Flag.FIXED1 | (c.ac ? Flag.AC : 0));
    const runner = CODE + FORMAT_BASE[c.format] + RUNNER[s.access];
    cpu.ripLo = runner + (s.write === undefined ? WRITE_AND_FLUSH[c.format].length : 0); cpu.ripHi = 0;
    cpu.halted = false; cpu.stop = 0; cpu.exc = -1; cpu.interruptShadow = false;
    cpu.unsupportedReason = undefined;
    m.state.stopReason = StopReason.NONE;
    m.state.detail = '';
    m.state.tripleFaultVectors = [];
    const mapping = this.runnerMapping(c.format);
    const r = m.run(cpu.instructions + 50);
    const rewrote = this.runnerMapping(c.format) !== mapping;
    const rewroteRunner: StepResult = { outcome: REWROTE_RUNNER, vector: -1, errorCode: 0, cr2: '', rax: 0 };
    // A fetch that ran the page is judged first: whether its random code then rewrote the
    // runner's mapping is that code's doing (see UNCONTROLLED).
    if (rewrote && s.access !== 'fetch') return rewroteRunner;

    let outcome: string = r.outcome;
    let vector = -1;
    let errorCode = 0;
    let savedRip = '';
    const rip = cpu.ripLo >>> 0;
    if (r.outcome === 'halted') {
      const sp = cpu.lo[4] >>> 0;
      if (cpu.ripHi === 0 && rip > STUBS && rip <= STUBS + 256 * 16 && (rip - STUBS - 1) % 16 === 0) {
        outcome = 'exception';
        vector = (rip - STUBS - 1) / 16;
        // The handler's stack: the error code, then RIP (8-byte slots in 64-bit mode, else 4).
        const slot = c.format === '4-level' ? 8 : 4;
        if (sp + 2 * slot <= MEM) {
          const frame = new DataView(m.readPhysical(sp, 2 * slot).buffer);
          errorCode = frame.getUint32(0, true);
          savedRip = `${slot === 8 ? (frame.getUint32(12, true) >>> 0).toString(16) : '0'}:${(frame.getUint32(slot, true) >>> 0).toString(16)}`;
        } else {
          errorCode = -1;
        }
      } else {
        outcome = 'done';
      }
    } else if (r.outcome === 'unsupported' || r.outcome === 'kvm-error' || r.outcome === 'triple-fault') {
      outcome = `${r.outcome}: ${r.detail}`;
    }
    const cr2 = `${(cpu.cr2Hi >>> 0).toString(16)}:${(cpu.cr2Lo >>> 0).toString(16)}`;
    if (s.access === 'fetch') {
      // Controlled ends of a fetch: it faulted on the target, or reached a data page's
      // "mov eax, id; hlt". Anything else means the bytes there ran.
      const target = `${(s.va[1] >>> 0).toString(16)}:${(s.va[0] >>> 0).toString(16)}`;
      // The fetch's own fault: at the target, on no write, with the saved RIP at the target (random
      // code the fetch reached may fault on a store to its own address: that is not the fetch's).
      const faulted = vector === 14 && cr2 === target && (errorCode & 2) === 0 && savedRip === target;
      const stub = outcome === 'done' && cpu.hi[0] === 0 && (cpu.lo[0] >>> 0) >= 0xd0d0d001 && (cpu.lo[0] >>> 0) <= 0xd0d0d000 + NDATA &&
        rip === ((s.va[0] + 6) >>> 0) && cpu.ripHi === s.va[1];
      if (!faulted && !stub) return { outcome: UNCONTROLLED, vector: -1, errorCode: 0, cr2: '', rax: 0 };
    }
    if (rewrote) return rewroteRunner;
    return { outcome, vector, errorCode, cr2, rax: cpu.lo[0] >>> 0 };
  }
}

/** Where the table pages start in a PagingResult's memory (after the runner's 64 KiB). */
const TABLES_IN_RESULT = 0x10000;

/**
 * KVM's one guest-visible deviation the comparison accepts, for shadow paging only: byte `k` of
 * the compared memory is the low byte of the leaf entry through which a store reached a frame with
 * no memslot (an MMIO page, or unbacked guest-physical memory: bare's noSlotLeaves), with the
 * dirty bit set by bare and clear under shadow, in a case with CR0.WP=0 at CPL 0. The entry may
 * be a PTE or a large-page PDE or PDPTE, in a table page or in a data page used as a table; a
 * large page whose base is RAM can still reach beyond it.
 *
 * Why KVM does this: an earlier read of the page made KVM install an MMIO SPTE whose cached
 * access lacks W (FNAME(protect_clean_gpte): a clean PTE is mapped read-only). The store then
 * faults on the MMIO SPTE; handle_mmio_page_fault (mmu.c) caches the SPTE's gfn and access without
 * walking, and the emulator's vcpu_mmio_gva_to_gpa (x86.c) checks the access against the cached
 * rights with permission_fault, which with CR0.WP=0 lets a supervisor write through a read-only
 * mapping. So the cached translation is used, FNAME(walk_addr_generic) never runs for the write,
 * and FNAME(update_accessed_dirty_bits) never sets D. With CR0.WP=1, or at CPL 3, the check fails
 * and KVM walks the guest tables, setting D as the hardware does. The shadow MMU models exactly
 * that (ShadowExits.mmioFastPath). Seed 1's cases 3574 (4-level) and 11334 (32-bit) show it;
 * seed 1207's 26567 (a PTE in a data page), 28720 (a 1 GiB page at 0 reaching 0x0e240a44) and
 * 135436 (a PSE-36 4 MiB page above 4 GiB) show the same through other leaves.
 */
export function shadowMmioDirtyDeviation(c: PagingCase, bare: PagingResult, shadow: Uint8Array, k: number): boolean {
  if (c.cr0wp || c.cpl !== 0) return false;
  const b = bare.memory;
  if ((b[k] ^ shadow[k]) !== 0x40 || (b[k] & 0x40) === 0) return false;
  // No memslot behind the address the store reached (MMIO or unbacked guest-physical memory:
  // both get an MMIO SPTE in KVM, kvm_handle_noslot_fault).
  return bare.noSlotLeaves.includes(k);
}

/**
 * The entries of the runner's own translation by format (address, bytes): the root's entry 0
 * (the PDPTE registers stand for it under PAE) and the fixed tables' entries for the first 16
 * pages. The sequences' deliberate writes never touch them (randomCase skips offset 0).
 */
const RUNNER_ENTRIES: Readonly<Record<Format, ReadonlyArray<readonly [number, number]>>> = {
  '4-level': [[TABLES, 8], [FIXED_PDPT, 8], [FIXED_PD, 8], [FIXED_PT, 16 * 8]],
  'pae': [[FIXED_PD, 8], [FIXED_PT, 16 * 8]],
  '32-bit': [[TABLES, 4], [FIXED_PT32, 16 * 4]],
};

/** A/D bits (5 and 6) of an entry's low byte: set by every walk, so left out of the comparison. */
const AD_MASK = 0x60;

function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

function le64(lo: number, hi: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, lo >>> 0, true);
  v.setUint32(4, hi >>> 0, true);
  return b;
}

/** The runner's memory below 64 KiB: GDT, TSS, IDT, stubs and the fixed tables mapping it. */
function runnerImage(): Uint8Array {
  const img = new Uint8Array(0x10000);
  const v = new DataView(img.buffer);
  const w64 = (at: number, lo: number, hi: number): void => { v.setUint32(at, lo >>> 0, true); v.setUint32(at + 4, hi >>> 0, true); };
  w64(GDT + 0x08, 0x0000ffff, 0x00af9b00); // 64-bit code, DPL 0
  w64(GDT + 0x10, 0x0000ffff, 0x00cf9300); // data, DPL 0
  w64(GDT + 0x18, 0x0000ffff, 0x00cff300); // data, DPL 3
  w64(GDT + 0x20, 0x0000ffff, 0x00affb00); // 64-bit code, DPL 3
  w64(GDT + 0x28, 0x00000067 | (TSS << 16), 0x00008b00); // 64-bit TSS (busy), 16 bytes
  w64(GDT + 0x38, 0x0000ffff, 0x00cf9b00); // 32-bit code, DPL 0
  w64(GDT + 0x40, 0x0000ffff, 0x00cffb00); // 32-bit code, DPL 3
  w64(GDT + 0x48, 0x00000067 | (TSS32 << 16), 0x00008b00); // 32-bit TSS (busy)
  v.setUint32(TSS + 4, KSTACK_TOP, true); // RSP0
  v.setUint32(TSS32 + 4, KSTACK_TOP, true); // ESP0
  v.setUint32(TSS32 + 8, SEL_DATA0, true); // SS0
  for (let vec = 0; vec < 256; vec++) {
    const stub = STUBS + 16 * vec;
    img[stub] = 0xf4;
    w64(IDT + 16 * vec, (SEL_CODE0 << 16) | (stub & 0xffff), (stub & 0xffff0000) | 0x8e00);
    w64(IDT32 + 8 * vec, (SEL_CODE0_32 << 16) | (stub & 0xffff), (stub & 0xffff0000) | 0x8e00);
  }
  // PML4[0] -> FIXED_PDPT -> FIXED_PD -> FIXED_PT: the first 16 pages, supervisor but the user stack.
  w64(FIXED_PDPT, FIXED_PD | 7, 0);
  w64(FIXED_PD, FIXED_PT | 7, 0);
  w64(FIXED_PD + 8, TABLES_VA | 0x83, 0); // the table and data pages, supervisor, writable
  for (const f of ['4-level', 'pae', '32-bit'] as const) {
    for (const a of ['load', 'store', 'fetch'] as const) img.set([...WRITE_AND_FLUSH[f], ...ACCESS_BYTES[a]], CODE + FORMAT_BASE[f] + RUNNER[a]);
  }
  // 32-bit paging: the same first 16 pages, and the table and data pages for the runner's writes.
  for (let p = 0; p < 16; p++) v.setUint32(FIXED_PT32 + 4 * p, (p << 12) | (p === (USTACK_TOP >> 12) - 1 ? 7 : 3), true);
  for (let p = 0; p < NTABLES + NDATA; p++) v.setUint32(FIXED_PT32 + 4 * ((TABLES_VA >> 12) + p), (TABLES + 4096 * p) | 3, true);
  for (let p = 0; p < 16; p++) w64(FIXED_PT + 8 * p, (p << 12) | (p === (USTACK_TOP >> 12) - 1 ? 7 : 3), 0);
  return img;
}

import { Pfec } from '../arch/vectors.js';
import { TlbPerm } from '../hw/tlb.js';
import { FORMATS, PagingMode, type PagingFormat, Pte, PTE_HI_XD } from './format.js';
import { pageIndex } from '../arch/address.js';

/**
 * The guest page-table walk, one implementation for every paging format (SDM Vol. 3 4.3-4.6),
 * parameterised by a PagingFormat and by how tables are read. The emulated hardware uses it in bare
 * mode; KVM's software walker (shadow paging) will reuse it with its own table reader.
 *
 * Rules kept exactly: reserved bits per level and per MAXPHYADDR (P=1, RSVD=1 fault), accumulated
 * R/W and U/S (AND over levels) and XD (OR over levels), CR0.WP, SMEP, SMAP with EFLAGS.AC,
 * protection keys, and A/D bits set only when the access succeeds.
 */

/** How the walker reads and updates guest page tables (guest-physical addresses, as doubles). */
export interface TableMemory {
  readPhys32(gpa: number): number;
  writePhys32(gpa: number, value: number): void;
}

/** Access kinds, in the bit positions of the page-fault error code where one exists. */
export const enum Access {
  READ = 0,
  WRITE = Pfec.W,
  USER = Pfec.U,
  FETCH = Pfec.I,
  /** A supervisor access the CPU makes on its own behalf (descriptor tables): SMAP ignores AC. */
  IMPLICIT = 1 << 8,
  /** EFLAGS.AC=1 on an explicit access at CPL < 3: SMAP does not apply. */
  AC = 1 << 9,
  /** A debugger's look: translate without setting accessed/dirty bits. */
  PROBE = 1 << 10,
}

/** The part of CPU state a walk depends on. Refreshed by the paging unit when CR0/CR3/CR4/EFER change. */
export class WalkContext {
  format: PagingFormat = FORMATS[PagingMode.NONE];
  /** Guest-physical address of the top-level table (CR3 with flags and PCID masked off). */
  root = 0;
  /** PAE's four PDPTE registers, loaded at MOV CR3/CR0/CR4 time. */
  readonly pdpteLo = new Int32Array(4);
  readonly pdpteHi = new Int32Array(4);
  wp = false;
  nxe = false;
  pse = false;
  pge = false;
  smep = false;
  smap = false;
  /** Set only in IA-32e mode with CR4.PKE=1: protection keys exist only in 4- and 5-level paging. */
  pke = false;
  pkru = 0;
  /** CR4.PKS, also only in IA-32e mode: PKRS governs data accesses to supervisor pages. */
  pks = false;
  pkrs = 0;
  gbPages = true;
  maxPhyAddr = 40;

  /**
   * Reserved bits of every 8-byte entry's high half: bits 51:MAXPHYADDR in 4- and 5-level paging,
   * where 62:52 are ignored (or protection keys); bits 62:MAXPHYADDR in PAE paging; and XD when
   * NXE=0 (SDM Vol. 3 4.4.2, 4.5.4).
   */
  get reservedHigh(): number {
    // Every walk asks; the mask changes only with the three inputs, which callers set directly.
    const pae = this.format.mode === PagingMode.PAE;
    const key = this.maxPhyAddr * 4 + (pae ? 2 : 0) + (this.nxe ? 1 : 0);
    if (key === this.reservedKey) return this.reservedMask;
    let mask = 0;
    const top = pae ? 63 : 52;
    for (let bit = this.maxPhyAddr; bit < top; bit++) mask |= 1 << (bit - 32);
    if (!this.nxe) mask |= PTE_HI_XD;
    this.reservedKey = key;
    this.reservedMask = mask;
    return mask;
  }

  /** reservedHigh's last inputs (maxPhyAddr, PAE, NXE packed; -1: none) and result. */
  private reservedKey = -1;
  private reservedMask = 0;
}

/** Output of a walk. Reused between walks so nothing is allocated. */
export class WalkResult {
  /** Guest-physical address of the 4 KiB page holding the linear address. */
  gpa = 0;
  /** log2 of the page size: 12, 21, 22 or 30. */
  shift = 12;
  /** TlbPerm bits for the translation. */
  perm = 0;
  /** Page-fault error code when the walk fails. */
  errorCode = 0;
  /** Level at which the walk stopped (1 = PTE). */
  level = 0;
  /**
   * The entries the walk read, by level (1 = PTE; PAE's PDPTE register at 3): the guest-physical
   * address of each entry and its value. KVM's software walker builds shadow pages from these.
   * Valid for levels from the top down to `level`, also after a fault.
   */
  readonly pteAddr = new Float64Array(6);
  readonly pteLo = new Int32Array(6);
  readonly pteHi = new Int32Array(6);
}

const LARGE_2M_RESERVED = 0x001fe000; // bits 20:13 of a 2 MiB leaf
const LARGE_1G_RESERVED = 0x3fffe000; // bits 29:13 of a 1 GiB leaf
const PDPTE_REG_RESERVED = 0x000001e6; // PAE PDPTE bits 8:5 and 2:1

/** Index into the table at `level` (1 = page table) for a 64-bit linear address. */
function tableIndex(format: PagingFormat, level: number, lo: number, hi: number): number {
  if (format.entryBytes === 4) return (lo >>> (12 + 10 * (level - 1))) & 0x3ff;
  return pageIndex(level, lo, hi);
}

// Per-walk scratch: the address and low dword of each entry used, for the A/D update.
const entryAddr = new Float64Array(6);
const entryLo = new Int32Array(6);

/**
 * Translates a linear address. Returns true and fills `out` on success (after setting A/D bits);
 * returns false with `out.errorCode` set on a page fault.
 */
export function walk(ctx: WalkContext, mem: TableMemory, lo: number, hi: number, access: number, out: WalkResult): boolean {
  const format = ctx.format;
  const wide = format.wide;
  const rsvdHigh = wide ? ctx.reservedHigh : 0;
  const physHigh = wide ? ~rsvdHigh & ~PTE_HI_XD & 0x000fffff : 0;
  let table = ctx.root;
  let level = format.levels;
  let writable = true;
  let user = true;
  let nx = false;
  let used = 0;
  let entry = 0;
  let entryHi = 0;

  if (format.mode === PagingMode.PAE) {
    const i = lo >>> 30;
    entry = ctx.pdpteLo[i];
    entryHi = ctx.pdpteHi[i];
    out.pteAddr[3] = -1;
    out.pteLo[3] = entry;
    out.pteHi[3] = entryHi;
    if ((entry & Pte.P) === 0) return fail(ctx, out, access, 0, 3);
    if ((entry & PDPTE_REG_RESERVED) !== 0 || (entryHi & (rsvdHigh | PTE_HI_XD)) !== 0) {
      return fail(ctx, out, access, Pfec.P | Pfec.RSVD, 3);
    }
    table = (entryHi & physHigh) * 4294967296 + ((entry & 0xfffff000) >>> 0);
  }

  for (;;) {
    const index = tableIndex(format, level, lo, hi);
    const addr = table + index * format.entryBytes;
    entry = mem.readPhys32(addr);
    entryHi = wide ? mem.readPhys32(addr + 4) : 0;
    out.pteAddr[level] = addr;
    out.pteLo[level] = entry;
    out.pteHi[level] = entryHi;
    if ((entry & Pte.P) === 0) return fail(ctx, out, access, 0, level);
    entryAddr[used] = addr;
    entryLo[used] = entry;
    used++;

    const large = (entry & Pte.PS) !== 0 && level > 1;
    if (wide) {
      if ((entryHi & rsvdHigh) !== 0) return fail(ctx, out, access, Pfec.P | Pfec.RSVD, level);
      if (large && (level > 3 || (level === 3 && !ctx.gbPages))) {
        return fail(ctx, out, access, Pfec.P | Pfec.RSVD, level);
      }
      if (large && (entry & (level === 3 ? LARGE_1G_RESERVED : LARGE_2M_RESERVED)) !== 0) {
        return fail(ctx, out, access, Pfec.P | Pfec.RSVD, level);
      }
      nx = nx || (entryHi & PTE_HI_XD) !== 0;
    } else if (large && ctx.pse && (entry & pse36Reserved(ctx.maxPhyAddr)) !== 0) {
      return fail(ctx, out, access, Pfec.P | Pfec.RSVD, level);
    }
    writable = writable && (entry & Pte.RW) !== 0;
    user = user && (entry & Pte.US) !== 0;

    const leaf = level === 1 || (large && (wide || ctx.pse));
    if (!leaf) {
      table = wide ? (entryHi & physHigh) * 4294967296 + ((entry & 0xfffff000) >>> 0) : (entry & 0xfffff000) >>> 0;
      level--;
      continue;
    }

    const shift = level === 1 ? 12 : wide ? 12 + 9 * (level - 1) : 22;
    const pkey = wide && (ctx.pke || ctx.pks) && format.vaBits !== 0 ? (entryHi >>> 27) & 0xf : 0;
    const errorCode = permissionFault(ctx, access, writable, user, nx, pkey);
    if (errorCode !== 0) return fail(ctx, out, access, errorCode, level);

    // The access succeeds: set A on every entry used, and D on the leaf for a write.
    const write = (access & Access.WRITE) !== 0;
    for (let k = 0; k < used && (access & Access.PROBE) === 0; k++) {
      const want = k === used - 1 && write ? Pte.A | Pte.D : Pte.A;
      if ((entryLo[k] & want) !== want) {
        entryLo[k] |= want;
        mem.writePhys32(entryAddr[k], entryLo[k]);
        out.pteLo[format.levels - k] = entryLo[k];
      }
    }
    entry = entryLo[used - 1];

    out.gpa = leafPageAddress(format, shift, entry, entryHi, physHigh, lo);
    out.shift = shift;
    out.level = level;
    out.perm = (writable ? TlbPerm.W : 0) | (user ? TlbPerm.U : 0) | (nx && ctx.nxe ? 0 : TlbPerm.X) |
      ((entry & Pte.D) !== 0 ? TlbPerm.D : 0) | (ctx.pge && (entry & Pte.G) !== 0 ? TlbPerm.G : 0) |
      (pkey << TlbPerm.PK_SHIFT) | (shift << TlbPerm.SIZE_SHIFT);
    return true;
  }
}

/** Reserved bits of a 32-bit-paging 4 MiB PDE: bit 21, and PSE-36 address bits above MAXPHYADDR. */
function pse36Reserved(maxPhyAddr: number): number {
  let mask = 1 << 21;
  for (let bit = Math.max(maxPhyAddr, 32); bit < 40; bit++) mask |= 1 << (13 + bit - 32);
  return mask;
}

function leafPageAddress(format: PagingFormat, shift: number, entry: number, entryHi: number, physHigh: number, lo: number): number {
  if (!format.wide) {
    if (shift === 12) return (entry & 0xfffff000) >>> 0;
    // PSE-36: PDE bits 20:13 are physical-address bits 39:32.
    const high = (entry >>> 13) & 0xff;
    return high * 4294967296 + ((entry & 0xffc00000) >>> 0) + (lo & 0x003ff000);
  }
  const frameLo = (entry & 0xfffff000) >>> 0;
  const base = (entryHi & physHigh) * 4294967296;
  if (shift === 12) return base + frameLo;
  const sizeMask = (1 << shift) - 1; // shift <= 30
  return base + ((frameLo & ~sizeMask) >>> 0) + ((lo & sizeMask & ~0xfff) >>> 0);
}

/**
 * Permission check on the accumulated rights (SDM Vol. 3 4.6). Returns 0 if the access is allowed,
 * else the page-fault error code. The PK bit is reported whenever PKRU denies the access, also when
 * another rule denies it too (KVM's permission_fault does the same).
 */
export function permissionFault(ctx: WalkContext, access: number, writable: boolean, user: boolean, nx: boolean, pkey: number): number {
  const isUser = (access & Access.USER) !== 0;
  const isWrite = (access & Access.WRITE) !== 0;
  const isFetch = (access & Access.FETCH) !== 0;
  let fault = false;
  if (isUser && !user) fault = true;
  if (isWrite && !writable && (isUser || ctx.wp)) fault = true;
  if (isFetch && nx && ctx.nxe) fault = true;
  if (!isUser && user) {
    if (isFetch && ctx.smep) fault = true;
    if (!isFetch && ctx.smap && ((access & Access.IMPLICIT) !== 0 || (access & Access.AC) === 0)) fault = true;
  }
  // Protection keys apply to data accesses: PKRU's to user pages, PKRS's to supervisor pages
  // (SDM Vol. 3 4.6.2; ctx.pke and ctx.pks are only set in IA-32e mode). AD denies every data
  // access, WD a write by user mode or, with CR0.WP=1, by supervisor mode.
  let pk = false;
  const keys = user ? (ctx.pke ? ctx.pkru : 0) : (ctx.pks ? ctx.pkrs : 0);
  if (keys !== 0 && !isFetch) {
    const ad = (keys >>> (2 * pkey)) & 1;
    const wd = (keys >>> (2 * pkey + 1)) & 1;
    if (ad !== 0 || (isWrite && wd !== 0 && (isUser || ctx.wp))) pk = true;
  }
  if (!fault && !pk) return 0;
  return errorCodeFor(ctx, access, Pfec.P | (pk ? Pfec.PK : 0));
}

function errorCodeFor(ctx: WalkContext, access: number, bits: number): number {
  let code = bits | (access & (Access.WRITE | Access.USER));
  if ((access & Access.FETCH) !== 0 && (ctx.nxe || ctx.smep)) code |= Pfec.I;
  return code;
}

function fail(ctx: WalkContext, out: WalkResult, access: number, bits: number, level: number): false {
  out.errorCode = errorCodeFor(ctx, access, bits);
  out.level = level;
  return false;
}

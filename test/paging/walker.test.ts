import { beforeEach, describe, expect, test } from 'vitest';
import { Access, type TableMemory, WalkContext, WalkResult, walk } from '../../emulator/paging/walker.js';
import { FORMATS, PagingMode } from '../../emulator/paging/format.js';
import { TlbPerm } from '../../emulator/hw/tlb.js';

/** Guest-physical memory for page tables: 64 MiB, little-endian. */
class Phys implements TableMemory {
  readonly view = new DataView(new ArrayBuffer(64 << 20));
  readPhys32(gpa: number): number { return this.view.getInt32(gpa, true); }
  writePhys32(gpa: number, v: number): void { this.view.setInt32(gpa, v, true); }
  set64(gpa: number, v: bigint): void { this.view.setBigUint64(gpa, v, true); }
  get64(gpa: number): bigint { return this.view.getBigUint64(gpa, true); }
}

const P = 1n, RW = 2n, US = 4n, A = 0x20n, D = 0x40n, PS = 0x80n, G = 0x100n, XD = 1n << 63n;
const PML4 = 0x100000, PDPT = 0x101000, PD = 0x102000, PT = 0x103000;
/** Linear address 0x40201000: PML4[0], PDPT[1], PD[1], PT[1]. */
const VA = 0x40201000;

let mem: Phys;
let ctx: WalkContext;
const out = new WalkResult();

function level4(): void {
  ctx.format = FORMATS[PagingMode.LEVEL4];
  ctx.root = PML4;
  ctx.nxe = true;
  ctx.maxPhyAddr = 40;
}

/** A 4 KiB mapping VA -> 0x5000 with the given leaf bits; upper levels P|RW|US. */
function map4k(leaf: bigint, upper = P | RW | US): void {
  mem.set64(PML4, BigInt(PDPT) | upper);
  mem.set64(PDPT + 8, BigInt(PD) | upper);
  mem.set64(PD + 8, BigInt(PT) | upper);
  mem.set64(PT + 8, 0x5000n | leaf);
}

function go(access: number, lo = VA, hi = 0): boolean {
  return walk(ctx, mem, lo, hi, access, out);
}

beforeEach(() => {
  mem = new Phys();
  ctx = new WalkContext();
  level4();
});

describe('4-level walk', () => {
  test('translates a 4 KiB page and accumulates permissions', () => {
    map4k(P | RW | US);
    expect(go(Access.READ)).toBe(true);
    expect(out.gpa).toBe(0x5000);
    expect(out.shift).toBe(12);
    expect(out.perm & (TlbPerm.W | TlbPerm.U | TlbPerm.X)).toBe(TlbPerm.W | TlbPerm.U | TlbPerm.X);
  });

  test('sets A on every level used, and D on the leaf only for a write', () => {
    map4k(P | RW | US);
    go(Access.READ);
    for (const e of [PML4, PDPT + 8, PD + 8, PT + 8]) expect(mem.get64(e) & A).toBe(A);
    expect(mem.get64(PT + 8) & D).toBe(0n);
    go(Access.WRITE);
    expect(mem.get64(PT + 8) & D).toBe(D);
    expect(mem.get64(PD + 8) & D).toBe(0n);
  });

  test('sets no A/D bit when the access faults', () => {
    map4k(P | US); // read-only
    ctx.wp = true;
    expect(go(Access.WRITE)).toBe(false);
    for (const e of [PML4, PDPT + 8, PD + 8, PT + 8]) expect(mem.get64(e) & (A | D)).toBe(0n);
  });

  test.each([
    ['PML4E', PML4], ['PDPTE', PDPT + 8], ['PDE', PD + 8], ['PTE', PT + 8],
  ])('a not-present %s gives P=0 with the access bits', (_name, entry) => {
    map4k(P | RW | US);
    mem.set64(entry, mem.get64(entry) & ~P);
    expect(go(Access.WRITE | Access.USER)).toBe(false);
    expect(out.errorCode).toBe(0b110);
  });

  test('user access to a supervisor page faults with P|U; supervisor access succeeds', () => {
    map4k(P | RW | US, P | RW); // U/S clear above the leaf
    expect(go(Access.USER)).toBe(false);
    expect(out.errorCode).toBe(0b101);
    expect(go(Access.READ)).toBe(true);
  });

  test('R/W is the AND over levels; supervisor writes to read-only pages depend on CR0.WP', () => {
    map4k(P | RW | US, P | US);
    expect(go(Access.WRITE | Access.USER)).toBe(false);
    expect(out.errorCode).toBe(0b111);
    ctx.wp = false;
    expect(go(Access.WRITE)).toBe(true);
    ctx.wp = true;
    expect(go(Access.WRITE)).toBe(false);
    expect(out.errorCode).toBe(0b011);
  });

  test('XD forbids fetches when EFER.NXE=1 and the error code has I set', () => {
    map4k(P | RW | US | XD);
    expect(go(Access.READ)).toBe(true);
    expect(go(Access.FETCH)).toBe(false);
    expect(out.errorCode).toBe(0b10001);
  });

  test('XD is a reserved bit when EFER.NXE=0', () => {
    map4k(P | RW | US | XD);
    ctx.nxe = false;
    expect(go(Access.READ)).toBe(false);
    expect(out.errorCode).toBe(0b01001);
  });

  test.each([[51], [40]])('physical-address bit %i above MAXPHYADDR 40 is reserved', (bit) => {
    map4k(P | RW | US | (1n << BigInt(bit)));
    expect(go(Access.READ)).toBe(false);
    expect(out.errorCode).toBe(0b1001);
  });

  test('bit 39 is an address bit with MAXPHYADDR 40', () => {
    map4k(P | RW | US | (1n << 39n));
    expect(go(Access.READ)).toBe(true);
    expect(out.gpa).toBe(2 ** 39 + 0x5000);
  });

  test('PS in a PML4E is reserved', () => {
    map4k(P | RW | US);
    mem.set64(PML4, mem.get64(PML4) | PS);
    expect(go(Access.READ)).toBe(false);
    expect(out.errorCode & 8).toBe(8);
  });

  test('a 2 MiB page maps the offset within it; bits 20:13 of the PDE are reserved', () => {
    map4k(P | RW | US);
    mem.set64(PD + 8, 0x40_0000n | P | RW | US | PS);
    expect(go(Access.READ, VA + 0x3000)).toBe(true);
    expect(out.gpa).toBe(0x40_0000 + 0x4000);
    expect(out.shift).toBe(21);
    mem.set64(PD + 8, 0x40_0000n | P | RW | US | PS | (1n << 13n));
    expect(go(Access.READ)).toBe(false);
    expect(out.errorCode).toBe(0b1001);
  });

  test('a 1 GiB page is allowed only with 1 GiB page support', () => {
    map4k(P | RW | US);
    mem.set64(PDPT + 8, 0x8000_0000n | P | RW | US | PS);
    expect(go(Access.READ)).toBe(true);
    expect(out.gpa).toBe(0x8000_0000 + 0x201000);
    expect(out.shift).toBe(30);
    ctx.gbPages = false;
    expect(go(Access.READ)).toBe(false);
    expect(out.errorCode & 8).toBe(8);
  });

  test('global pages are marked only with CR4.PGE', () => {
    map4k(P | RW | US | G);
    go(Access.READ);
    expect(out.perm & TlbPerm.G).toBe(0);
    ctx.pge = true;
    go(Access.READ);
    expect(out.perm & TlbPerm.G).toBe(TlbPerm.G);
  });

  test('SMEP forbids supervisor fetches from user pages', () => {
    map4k(P | RW | US);
    ctx.smep = true;
    expect(go(Access.FETCH)).toBe(false);
    expect(out.errorCode).toBe(0b10001);
    expect(go(Access.FETCH | Access.USER)).toBe(true);
  });

  test('SMAP forbids supervisor data access to user pages unless EFLAGS.AC allows an explicit one', () => {
    map4k(P | RW | US);
    ctx.smap = true;
    expect(go(Access.READ)).toBe(false);
    expect(out.errorCode).toBe(0b1);
    expect(go(Access.READ | Access.AC)).toBe(true);
    expect(go(Access.IMPLICIT | Access.AC)).toBe(false);
  });

  test('protection keys: AD blocks data access to user pages, WD blocks writes (supervisor only with WP)', () => {
    map4k(P | RW | US | (1n << 59n)); // key 1
    ctx.pke = true;
    ctx.pkru = 0b0100; // AD1
    expect(go(Access.READ | Access.USER)).toBe(false);
    expect(out.errorCode).toBe(0b100101);
    expect(go(Access.FETCH | Access.USER)).toBe(true);
    ctx.pkru = 0b1000; // WD1
    expect(go(Access.READ | Access.USER)).toBe(true);
    expect(go(Access.WRITE | Access.USER)).toBe(false);
    expect(out.errorCode).toBe(0b100111);
    ctx.wp = false;
    expect(go(Access.WRITE)).toBe(true);
    ctx.wp = true;
    expect(go(Access.WRITE)).toBe(false);
  });
});

describe('5-level walk', () => {
  test('uses bits 56:48 to index the PML5', () => {
    ctx.format = FORMATS[PagingMode.LEVEL5];
    ctx.root = 0x200000;
    mem.set64(0x200000 + 8 * 3, BigInt(PML4) | P | RW | US);
    map4k(P | RW | US);
    expect(go(Access.READ, VA, 0x00030000)).toBe(true); // linear 0x0003_0000_4020_1000
    expect(out.gpa).toBe(0x5000);
  });
});

describe('32-bit and PAE walks', () => {
  test('32-bit paging: 4 MiB pages with CR4.PSE, PSE-36 high address bits', () => {
    ctx.format = FORMATS[PagingMode.BITS32];
    ctx.root = 0x10000;
    ctx.pse = true;
    // PDE 1 maps 4 MiB at physical 0x1_0040_0000 (PDE bits 20:13 = 1).
    mem.writePhys32(0x10000 + 4, 0x00400000 | (1 << 13) | 0x87);
    expect(go(Access.READ, 0x00412345)).toBe(true);
    expect(out.gpa).toBe(0x1_0041_2000);
    ctx.pse = false; // PS is then ignored: the PDE points at a page table (at 0x402000, all zero)
    expect(go(Access.READ, 0x00412345)).toBe(false);
    expect(out.errorCode & 1).toBe(0);
  });

  test('PAE: the walk starts from the PDPTE registers, whose reserved bits fault', () => {
    ctx.format = FORMATS[PagingMode.PAE];
    ctx.pdpteLo[1] = (PD | 1) | 0;
    ctx.pdpteHi[1] = 0;
    mem.set64(PD + 8 * 2, BigInt(PT) | P | RW | US);
    mem.set64(PT + 8 * 3, 0x7000n | P | RW | US);
    expect(go(Access.READ, 0x40403000)).toBe(true);
    expect(out.gpa).toBe(0x7000);
    ctx.pdpteLo[1] = (PD | 1 | 2) | 0; // bit 1 is reserved in a PAE PDPTE
    expect(go(Access.READ, 0x40403000)).toBe(false);
    expect(out.errorCode & 8).toBe(8);
  });
});

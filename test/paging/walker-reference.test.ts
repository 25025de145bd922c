import { describe, expect, test } from 'vitest';
import { Access, type TableMemory, WalkContext, WalkResult, walk } from '../../emulator/paging/walker.js';
import { FORMATS, PagingMode } from '../../emulator/paging/format.js';

/**
 * The paging unit against an independent reference model on random page-table trees, in every
 * paging mode. The reference is written straight from SDM Vol. 3 4.3-4.6 with BigInt entries and
 * no shared code: it collects the entries on the path first, then decides fault, error code,
 * address and A/D updates.
 */

class Phys implements TableMemory {
  readonly bytes = new Uint8Array(8 << 20);
  readonly view = new DataView(this.bytes.buffer);
  readPhys32(gpa: number): number { return gpa + 4 <= this.bytes.length ? this.view.getInt32(gpa, true) : -1; }
  writePhys32(gpa: number, v: number): void { this.view.setInt32(gpa, v, true); }
  read(gpa: number, bytes: 4 | 8): bigint {
    if (gpa + bytes > this.bytes.length) return bytes === 8 ? (1n << 64n) - 1n : 0xffffffffn;
    return bytes === 8 ? this.view.getBigUint64(gpa, true) : BigInt(this.view.getUint32(gpa, true));
  }
  write(gpa: number, bytes: 4 | 8, v: bigint): void {
    if (bytes === 8) this.view.setBigUint64(gpa, v, true); else this.view.setUint32(gpa, Number(v), true);
  }
}

/** Deterministic xorshift. */
class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed || 1; }
  next(): number { let x = this.s; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.s = x >>> 0; return this.s; }
  below(n: number): number { return this.next() % n; }
  chance(p: number): boolean { return this.next() / 4294967296 < p; }
  pick<T>(a: readonly T[]): T { return a[this.below(a.length)]; }
}

interface Cpu {
  mode: PagingMode; wp: boolean; nxe: boolean; pse: boolean; pge: boolean; smep: boolean; smap: boolean;
  pke: boolean; pkru: number; pks: boolean; pkrs: number; gbPages: boolean; maxPhyAddr: number; root: number; pdptes: bigint[];
}

interface Expect {
  fault: boolean; errorCode: number; gpa: number; shift: number; adWrites: Array<[number, bigint]>;
  /** Every entry read, with its value: a faulting walk must leave all of them unchanged. */
  read: Array<[number, bigint]>;
}

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;

/** The reference walk. */
function reference(cpu: Cpu, mem: Phys, va: bigint, access: number): Expect {
  const user = (access & Access.USER) !== 0;
  const write = (access & Access.WRITE) !== 0;
  const fetch = (access & Access.FETCH) !== 0;
  const ec = (p: boolean, rsvd: boolean, pk: boolean): number =>
    (p ? 1 : 0) | (write ? 2 : 0) | (user ? 4 : 0) | (rsvd ? 8 : 0) | (fetch && (cpu.nxe || cpu.smep) ? 16 : 0) | (pk ? 32 : 0);
  const read: Array<[number, bigint]> = [];
  const fault = (p: boolean, rsvd: boolean, pk = false): Expect => ({ fault: true, errorCode: ec(p, rsvd, pk), gpa: 0, shift: 0, adWrites: [], read });
  const wide = cpu.mode !== PagingMode.BITS32;
  const bytes: 4 | 8 = wide ? 8 : 4;
  const physMask = (1n << BigInt(cpu.maxPhyAddr)) - 1n;
  // Reserved in every 8-byte entry: bits 51:MAXPHYADDR (62:MAXPHYADDR in PAE paging, where bits
  // 62:52 are not ignored), and bit 63 without NXE.
  const top = cpu.mode === PagingMode.PAE ? 63n : 52n;
  const rsvdHigh = ((1n << top) - 1n) & ~physMask | (cpu.nxe ? 0n : 1n << 63n);
  const levels = cpu.mode === PagingMode.BITS32 ? 2 : cpu.mode === PagingMode.PAE ? 2 : cpu.mode === PagingMode.LEVEL4 ? 4 : 5;
  const path: Array<{ addr: number; e: bigint; level: number }> = [];
  let table = BigInt(cpu.root);
  if (cpu.mode === PagingMode.PAE) {
    const pdpte = cpu.pdptes[Number((va >> 30n) & 3n)];
    if (!bit(pdpte, 0)) return fault(false, false);
    if ((pdpte & 0x1e6n) !== 0n || (pdpte & ((((1n << 64n) - 1n) ^ physMask) & ~0xfffn)) !== 0n) return fault(true, true);
    table = pdpte & physMask & ~0xfffn;
  }
  let leaf: { e: bigint; level: number } | undefined;
  for (let level = levels; level >= 1; level--) {
    const idxBits = wide ? 9 : 10;
    const shift = 12 + idxBits * (level - 1);
    const index = (va >> BigInt(shift)) & ((1n << BigInt(idxBits)) - 1n);
    const addr = Number(table + index * BigInt(bytes));
    const e = mem.read(addr, bytes);
    read.push([addr, e]);
    if (!bit(e, 0)) return fault(false, false);
    path.push({ addr, e, level });
    const ps = bit(e, 7) && level > 1;
    if (wide) {
      if ((e & rsvdHigh) !== 0n) return fault(true, true);
      if (ps && (level >= 4 || (level === 3 && (!cpu.gbPages || cpu.mode === PagingMode.PAE)))) return fault(true, true);
      if (ps && level === 3 && (e & 0x3fffe000n) !== 0n) return fault(true, true);
      if (ps && level === 2 && (e & 0x1fe000n) !== 0n) return fault(true, true);
    } else if (ps && cpu.pse) {
      let r = 1n << 21n;
      for (let b = Math.max(cpu.maxPhyAddr, 32); b < 40; b++) r |= 1n << BigInt(13 + b - 32);
      if ((e & r) !== 0n) return fault(true, true);
    }
    if (level === 1 || (ps && (wide || cpu.pse))) { leaf = { e, level }; break; }
    table = wide ? e & physMask & ~0xfffn : e & 0xfffff000n;
  }
  const l = leaf!;
  const writable = path.every((p) => bit(p.e, 1));
  const userOk = path.every((p) => bit(p.e, 2));
  const nx = wide && path.some((p) => bit(p.e, 63));
  let bad = false;
  if (user && !userOk) bad = true;
  if (write && !writable && (user || cpu.wp)) bad = true;
  if (fetch && nx && cpu.nxe) bad = true;
  if (!user && userOk && fetch && cpu.smep) bad = true;
  if (!user && userOk && !fetch && cpu.smap && ((access & Access.IMPLICIT) !== 0 || (access & Access.AC) === 0)) bad = true;
  let pk = false;
  const longMode = cpu.mode === PagingMode.LEVEL4 || cpu.mode === PagingMode.LEVEL5;
  // SDM 4.6.2: PKRU for user-mode addresses under CR4.PKE, PKRS for supervisor-mode addresses
  // under CR4.PKS, data accesses only, in IA-32e mode.
  const rights = userOk ? (cpu.pke ? cpu.pkru : undefined) : (cpu.pks ? cpu.pkrs : undefined);
  if (rights !== undefined && longMode && !fetch) {
    const key = Number((l.e >> 59n) & 0xfn);
    const ad = (rights >>> (2 * key)) & 1;
    const wd = (rights >>> (2 * key + 1)) & 1;
    if (ad || (write && wd && (user || cpu.wp))) pk = true;
  }
  if (bad || pk) return fault(true, false, pk);
  const shift = l.level === 1 ? 12 : wide ? 12 + 9 * (l.level - 1) : 22;
  let base: bigint;
  if (!wide && shift === 22) base = (l.e & 0xffc00000n) | (((l.e >> 13n) & 0xffn) << 32n);
  else base = l.e & physMask & ~((1n << BigInt(shift)) - 1n);
  const gpa = Number(base | (va & ((1n << BigInt(shift)) - 1n) & ~0xfffn));
  const adWrites: Array<[number, bigint]> = [];
  for (const p of path) {
    const want = p === path[path.length - 1] && write ? 0x60n : 0x20n;
    if ((p.e & want) !== want) adWrites.push([p.addr, p.e | want]);
  }
  return { fault: false, errorCode: 0, gpa, shift, adWrites, read };
}

/** Builds a random tree: tables at random pages, entries with random bits, pointing down. */
function randomTree(rng: Rng, mem: Phys, cpu: Cpu): bigint[] {
  const wide = cpu.mode !== PagingMode.BITS32;
  const bytes: 4 | 8 = wide ? 8 : 4;
  let nextPage = 0x100;
  const alloc = (): number => (nextPage++) * 4096;
  const levels = cpu.mode === PagingMode.BITS32 || cpu.mode === PagingMode.PAE ? 2 : cpu.mode === PagingMode.LEVEL4 ? 4 : 5;
  // Fault-causing bits are rare at each level, since a walk crosses up to five of them.
  const randomEntry = (level: number, child: number): bigint => {
    let e = BigInt(child);
    if (!rng.chance(0.04)) e |= 1n; // present
    if (rng.chance(0.85)) e |= 2n;
    if (rng.chance(0.8)) e |= 4n;
    if (rng.chance(0.3)) e |= 0x20n;
    if (rng.chance(0.3)) e |= 0x40n;
    if (rng.chance(0.2)) e |= 0x100n;
    if (level > 1 && rng.chance(level === 2 ? 0.35 : level === 3 ? 0.15 : 0.02)) e |= 0x80n;
    if (wide) {
      if (rng.chance(0.08)) e |= 1n << 63n;
      if (rng.chance(0.02)) e |= 1n << BigInt(rng.pick([36, 40, 45, 51]));
      if (rng.chance(0.3)) e |= BigInt(rng.below(16)) << 59n;
      if (rng.chance(0.02)) e |= 1n << BigInt(rng.pick([13, 20, 29]));
    } else if (rng.chance(0.1)) {
      e |= BigInt(rng.below(4)) << 13n; // PSE-36 high bits or reserved
    }
    return e;
  };
  // A few random entries per table keep the trees small but branchy.
  const fanOut = levels > 2 ? 4 : 8;
  const fill = (table: number, level: number): void => {
    for (let k = 0; k < fanOut; k++) {
      const index = rng.below(wide ? 512 : 1024);
      const child = level > 1 ? alloc() : rng.below(0x4000) * 4096;
      mem.write(table + index * bytes, bytes, randomEntry(level, child));
      if (level > 1) fill(child, level - 1);
    }
  };
  cpu.root = alloc();
  const pdptes: bigint[] = [];
  if (cpu.mode === PagingMode.PAE) {
    for (let i = 0; i < 4; i++) {
      const pd = alloc();
      fill(pd, 2);
      let e = BigInt(pd) | (rng.chance(0.9) ? 1n : 0n);
      if (rng.chance(0.05)) e |= 2n; // reserved in a PAE PDPTE
      pdptes.push(e);
    }
  } else {
    fill(cpu.root, levels);
  }
  return pdptes;
}

/** A linear address that follows existing entries most of the time. */
function randomAddress(rng: Rng, mem: Phys, cpu: Cpu): bigint {
  const wide = cpu.mode !== PagingMode.BITS32;
  const bytes: 4 | 8 = wide ? 8 : 4;
  const idxBits = wide ? 9 : 10;
  const levels = cpu.mode === PagingMode.BITS32 || cpu.mode === PagingMode.PAE ? 2 : cpu.mode === PagingMode.LEVEL4 ? 4 : 5;
  let va = BigInt(rng.below(4096));
  let table = cpu.root;
  if (cpu.mode === PagingMode.PAE) {
    const i = rng.below(4);
    va |= BigInt(i) << 30n;
    table = Number(cpu.pdptes[i] & 0xffffff000n);
  }
  for (let level = levels; level >= 1; level--) {
    // Follow an existing entry nine times out of ten, else any slot (mostly not present).
    const used: number[] = [];
    for (let k = 0; k < 1 << idxBits && table + (k + 1) * bytes <= mem.bytes.length; k++) {
      if (mem.read(table + k * bytes, bytes) !== 0n) used.push(k);
    }
    const index = used.length > 0 && rng.chance(0.9) ? rng.pick(used) : rng.below(1 << idxBits);
    va |= BigInt(index) << BigInt(12 + idxBits * (level - 1));
    const e = mem.read(table + index * bytes, bytes);
    table = Number(wide ? e & 0xffffff000n : e & 0xfffff000n);
    if (table + 4096 > mem.bytes.length) table = 0;
  }
  const vaBits = cpu.mode === PagingMode.LEVEL5 ? 57 : cpu.mode === PagingMode.LEVEL4 ? 48 : 32;
  if (vaBits < 64 && bit(va, vaBits - 1)) va |= ((1n << 64n) - 1n) ^ ((1n << BigInt(vaBits)) - 1n);
  return va;
}

const MODES: Array<[string, PagingMode]> = [
  ['32-bit', PagingMode.BITS32], ['PAE', PagingMode.PAE], ['4-level', PagingMode.LEVEL4], ['5-level', PagingMode.LEVEL5],
];

describe('walker against the reference model', () => {
  test.each(MODES)('%s paging: 40 random trees x 100 random accesses', (_name, mode) => {
    const rng = new Rng(0x9e3779b9 ^ mode);
    // PKS's draws come from their own stream, so the trees and accesses stay those of the PKU-only test.
    const pksRng = new Rng(0x7f4a7c15 ^ mode);
    let faults = 0;
    let translations = 0;
    for (let t = 0; t < 40; t++) {
      const mem = new Phys();
      const longMode = mode === PagingMode.LEVEL4 || mode === PagingMode.LEVEL5;
      const cpu: Cpu = {
        mode, wp: rng.chance(0.5), nxe: mode !== PagingMode.BITS32 && rng.chance(0.7), pse: rng.chance(0.7),
        pge: rng.chance(0.5), smep: rng.chance(0.3), smap: rng.chance(0.3), pke: longMode && rng.chance(0.4),
        pkru: rng.next(), pks: longMode && pksRng.chance(0.4), pkrs: pksRng.next(), gbPages: rng.chance(0.7), maxPhyAddr: rng.pick([36, 40, 46, 52]), root: 0, pdptes: [],
      };
      cpu.pdptes = randomTree(rng, mem, cpu);
      const ctx = new WalkContext();
      ctx.format = FORMATS[mode];
      ctx.root = cpu.root;
      Object.assign(ctx, { wp: cpu.wp, nxe: cpu.nxe, pse: cpu.pse, pge: cpu.pge, smep: cpu.smep, smap: cpu.smap, pke: cpu.pke,
        pkru: cpu.pkru, pks: cpu.pks, pkrs: cpu.pkrs, gbPages: cpu.gbPages, maxPhyAddr: cpu.maxPhyAddr });
      cpu.pdptes.forEach((e, i) => { ctx.pdpteLo[i] = Number(e & 0xffffffffn) | 0; ctx.pdpteHi[i] = Number(e >> 32n) | 0; });
      const out = new WalkResult();
      for (let a = 0; a < 100; a++) {
        const va = randomAddress(rng, mem, cpu);
        const access = rng.pick([Access.READ, Access.WRITE, Access.FETCH]) | (rng.chance(0.4) ? Access.USER : 0) |
          (rng.chance(0.3) ? Access.AC : 0) | (rng.chance(0.1) ? Access.IMPLICIT : 0);
        const want = reference(cpu, mem, va, access);
        const ok = walk(ctx, mem, Number(va & 0xffffffffn) | 0, Number(va >> 32n) | 0, access, out);
        const label = `va=0x${va.toString(16)} access=0x${access.toString(16)}`;
        expect(ok, label).toBe(!want.fault);
        if (want.fault) {
          faults++;
          expect(out.errorCode, label).toBe(want.errorCode);
          const wideEntries = mode !== PagingMode.BITS32;
          for (const [addr, e] of want.read) {
            expect(mem.read(addr, wideEntries ? 8 : 4), `${label}: a faulting walk changed the entry at 0x${addr.toString(16)}`).toBe(e);
          }
        } else {
          translations++;
          expect(out.gpa, label).toBe(want.gpa);
          expect(out.shift, label).toBe(want.shift);
          const wide = mode !== PagingMode.BITS32;
          for (const [addr, e] of want.adWrites) expect(mem.read(addr, wide ? 8 : 4), `${label}: A/D at 0x${addr.toString(16)}`).toBe(e);
        }
      }
    }
    // The random trees must exercise both outcomes substantially.
    expect(faults).toBeGreaterThan(400);
    expect(translations).toBeGreaterThan(400);
  });
});

/**
 * The branded address types (emulator/arch/address.ts) are enforced: a guest frame is not a
 * guest-physical address, a table's host address is not one of its SPTEs' addresses, and a plain
 * number is none of them. The @ts-expect-error lines below are the proof: `npm run typecheck`
 * reports an unused directive when a brand stops being checked, and the first test compiles this
 * file with the TypeScript compiler to the same effect inside vitest. The helpers that convert
 * between the types are checked against BigInt arithmetic.
 */
import { describe, expect, test } from 'vitest';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import {
  type Gfn, type Gpa, type Hfn, type Hpa, type Sptep, PAGE_SIZE, PT_ENTRIES, gfn, gfnIndex, gfnRoundForLevel, gfnToGpa, gpa,
  gpaToGfn, hfn, hfnToHpa, hpa, hpaToHfn, levelPages, levelShift, levelSize, pageIndex, sptepAt, sptepIndex, sptepPage,
} from '../../emulator/arch/address.js';
import { type Memslot, Memslots } from '../../emulator/machine/memslots.js';
import { SpteCodec } from '../../mmu/spte.js';

/** Misuses the compiler must refuse; never called, only compiled. */
export function misuses(slots: Memslots, codec: SpteCodec, f: Gfn, a: Gpa, h: Hpa, n: Hfn, s: Sptep): unknown[] {
  return [
    // @ts-expect-error a Gfn where a Gpa is expected
    slots.gpaToHpa(f),
    // @ts-expect-error a Gpa where a Gfn is expected
    slots.find(a),
    // @ts-expect-error a plain number where a Gfn is expected (memslots take no `| number`)
    slots.find(5),
    // @ts-expect-error a plain number where a Gpa is expected
    slots.gpaToHpa(0x1000),
    // @ts-expect-error an Hpa where an Hfn is expected
    codec.makeNonLeafSpte(h),
    // @ts-expect-error a Gfn where an Hfn is expected (a guest frame is not the host page backing it)
    codec.makeSpte(f, 1, 7, true, true, false),
    // @ts-expect-error an Hfn where a Gfn is expected
    codec.makeMmioSpte(n, 0, 0),
    // @ts-expect-error a table's Hpa where an Sptep is expected: the index step (sptepAt) is missing
    sptepIndex(h),
    // @ts-expect-error an Sptep where a table's Hpa is expected
    sptepAt(s, 0),
    // @ts-expect-error an Hfn where an Hpa is expected
    hpaToHfn(n),
    // @ts-expect-error arithmetic on a brand gives a plain number, which is no longer a Gfn
    gfnToGpa(f + 1),
  ];
}

describe('address brands', () => {
  test('every @ts-expect-error above is an error the compiler reports (the brands are enforced)', () => {
    const file = fileURLToPath(import.meta.url);
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true, noEmit: true, skipLibCheck: true, types: [],
    };
    const program = ts.createProgram([file], options);
    const own = program.getSourceFile(file)!;
    // An unused directive (TS2578) means a misuse compiled: a brand got lost.
    const diagnostics = ts.getPreEmitDiagnostics(program, own).filter((d) => d.code !== 2307 && d.code !== 7016);
    expect(diagnostics.map((d) => `${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)).toEqual([]);
    // The directives are really there (a file with none would pass the line above too).
    expect(own.text.split('@ts-expect-error').length - 1).toBeGreaterThanOrEqual(11);
  }, 60_000);

  test('conversions agree with BigInt arithmetic', () => {
    for (const addr of [0, 0xfff, 0x1000, 0x12345678, 0xfffff000, 0x1_0000_0000, 0xf_ffff_ffff_f123]) {
      const frame = gpaToGfn(gpa(addr));
      expect(BigInt(frame)).toBe(BigInt(addr) >> 12n);
      expect(BigInt(gfnToGpa(frame))).toBe((BigInt(addr) >> 12n) << 12n);
      expect(hpaToHfn(hpa(addr))).toBe(frame);
      expect(hfnToHpa(hfn(frame))).toBe(gfnToGpa(frame));
    }
  });

  test('pageIndex takes the 9 index bits of each level from a 64-bit address in two halves', () => {
    const addrs = [0n, 0xfffn, 0x1234_5678_9abc_def0n, 0xffff_ffff_ffff_ffffn, 0x0000_7fff_ffff_f000n, 0x00ff_8040_2010_0800n];
    for (const a of addrs) {
      const lo = Number(a & 0xffff_ffffn) | 0;
      const hi = Number(a >> 32n) | 0;
      for (let level = 1; level <= 5; level++) {
        expect(pageIndex(level, lo, hi)).toBe(Number((a >> BigInt(levelShift(level))) & 0x1ffn));
        if (a < 1n << 52n) expect(gfnIndex(level, gfn(Number(a >> 12n)))).toBe(pageIndex(level, lo, hi));
      }
    }
  });

  test('level sizes, rounding and SPTE addresses', () => {
    expect([1, 2, 3, 4].map(levelPages)).toEqual([1, 512, 512 ** 2, 512 ** 3]);
    expect([1, 2, 3].map(levelSize)).toEqual([PAGE_SIZE, 2 * 1024 * 1024, 1024 * 1024 * 1024]);
    expect(gfnRoundForLevel(gfn(0x12345), 2)).toBe(0x12200);
    expect(gfnRoundForLevel(gfn(0x12345), 1)).toBe(0x12345);
    const table = hpa(0x7000);
    const s = sptepAt(table, PT_ENTRIES - 1);
    expect(s).toBe(0x7ff8);
    expect(sptepIndex(s)).toBe(PT_ENTRIES - 1);
    expect(sptepPage(s)).toBe(table);
  });

  test('a memslot maps a Gfn to its Hfn and a Gpa to its Hpa', () => {
    const slots = new Memslots();
    const slot: Memslot = { id: 0, baseGfn: gfn(0x100), npages: 16, hostHfn: hfn(0x20), readOnly: false };
    slots.add(slot);
    expect(slots.find(gfn(0x10f))).toBe(slot);
    expect(slots.find(gfn(0x110))).toBeUndefined();
    expect(slots.gpaToHpa(gpa(0x105abc))).toBe(0x25abc);
  });
});

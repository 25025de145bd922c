import { describe, expect, test } from 'vitest';
import { u64 } from '../../emulator/arch/u64.js';
import { hfn } from '../../emulator/arch/address.js';
import {
  ACC_ALL, ACC_EXEC_MASK, ACC_USER_MASK, ACC_WRITE_MASK, SpteCodec, type SpteConfig,
} from '../../mmu/spte.js';
import type { SpteLayoutName } from '../../mmu/spte-layouts.js';

const base = { eptAdBits: false, mmioCaching: true, layout: 'current' } as const;
const x86 = (hostPhysBits: number, extra: Partial<SpteConfig> = {}): SpteCodec =>
  new SpteCodec({ ...base, format: 'x86', hostPhysBits, ...extra });
const ept = (eptAdBits: boolean, extra: Partial<SpteConfig> = {}): SpteCodec =>
  new SpteCodec({ ...base, format: 'ept', hostPhysBits: 46, eptAdBits, ...extra });
const amdSme = (layout: SpteLayoutName = 'current'): SpteCodec => x86(48, { smeCbit: 47, layout });

const B = (n: number): bigint => 1n << BigInt(n);
const GEN = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
const PFN = 0x12345;
const RW_U = ACC_WRITE_MASK | ACC_USER_MASK;

/** The masks each configuration must derive (kvm_mmu_reset_all_pte_masks / kvm_mmu_set_ept_masks / svm_adjust_mmio_mask). */
interface Expected {
  name: string;
  codec: () => SpteCodec;
  present: bigint; hostW: bigint; mmuW: bigint; a: bigint; d: bigint; nx: bigint; x: bigint; u: bigint;
  pfn: bigint; gfn: bigint; mmioValue: bigint; mmioMask: bigint; access: bigint; caching: boolean;
}

const x86Common = { present: 1n, hostW: 0x200n, mmuW: 0x400n, a: 0x20n, d: 0x40n, nx: B(63), x: 0n, u: 4n, access: 6n };
const eptCommon = {
  present: 1n | B(63), hostW: B(57), mmuW: B(58), a: 0x100n, d: 0x200n, nx: 0n, x: 4n, u: 1n,
  pfn: GEN(51, 12), gfn: GEN(45, 12), mmioValue: 6n, mmioMask: 7n | B(63), access: 0n, caching: true,
};

const CONFIGS: Expected[] = [
  { name: 'x86 physBits 46', codec: () => x86(46), ...x86Common, pfn: GEN(51, 12), gfn: GEN(45, 12), mmioValue: B(51) | 1n, mmioMask: B(51) | 1n, caching: true },
  { name: 'x86 physBits 48', codec: () => x86(48), ...x86Common, pfn: GEN(51, 12), gfn: GEN(47, 12), mmioValue: B(51) | 1n, mmioMask: B(51) | 1n, caching: true },
  { name: 'x86 physBits 52', codec: () => x86(52), ...x86Common, pfn: GEN(51, 12), gfn: GEN(51, 12), mmioValue: 0n, mmioMask: 0n, caching: false },
  {
    name: 'x86 AMD SME C-bit 47, physBits 48', codec: () => amdSme(), ...x86Common,
    pfn: GEN(51, 12) & ~B(47), gfn: GEN(42, 12), mmioValue: GEN(51, 43) | 1n, mmioMask: GEN(51, 43) | 1n, caching: true,
  },
  { name: 'EPT with A/D', codec: () => ept(true), ...eptCommon },
  { name: 'EPT without A/D', codec: () => ept(false), ...eptCommon },
];

describe.each(CONFIGS)('$name', (e) => {
  const c = e.codec();
  const isEpt = c.config.format === 'ept';

  test('derives the masks from the configuration', () => {
    const m = c.masks;
    expect(m.shadowPresent).toBe(e.present);
    expect(m.mmuPresent).toBe(0x800n);
    expect(m.hostWritable).toBe(e.hostW);
    expect(m.mmuWritable).toBe(e.mmuW);
    expect([m.accessed, m.dirty, m.nx, m.x, m.user]).toEqual([e.a, e.d, e.nx, e.x, e.u]);
    expect(m.writable).toBe(2n);
    expect(m.pageSize).toBe(0x80n);
    expect(m.pfn).toBe(e.pfn);
    expect(m.mmioGfn).toBe(e.gfn);
    expect(m.mmioValue).toBe(e.mmioValue);
    expect(m.mmioMask).toBe(e.mmioMask);
    expect(m.mmioAccess).toBe(e.access);
    expect(m.mmioGeneration).toBe(GEN(10, 3) | GEN(62, 52));
    expect(m.frozen).toBe(0x5a0n);
    expect(m.nonpresent).toBe(0n);
    expect(m.memtype).toBe(isEpt ? 0x70n : 0n); // WB (6) in bits 5:3 plus IPAT
    expect(c.mmioCachingEnabled).toBe(e.caching);
    expect(c.checkDisjointness()).toEqual([]);
  });

  test('leaf SPTE round trip: every access combination, level and writable state', () => {
    for (let access = 0; access <= ACC_ALL; access++) {
      for (const level of [1, 2, 3]) {
        for (const [hostW, mmuW] of [[true, true], [true, false], [false, false]] as const) {
          const s = c.big.makeSpte(PFN, level, access, hostW, mmuW, false);
          const writable = (access & ACC_WRITE_MASK) !== 0 && hostW && mmuW;
          expect(c.big.isShadowPresent(s)).toBe(true);
          expect(c.big.isMmio(s)).toBe(false);
          expect(c.big.isFrozen(s)).toBe(false);
          expect(c.big.pfn(s)).toBe(PFN);
          expect(c.big.isLeaf(s, level)).toBe(true);
          expect(c.big.isLarge(s)).toBe(level > 1);
          expect(c.big.isWritable(s)).toBe(writable);
          expect(c.big.isHostWritable(s)).toBe(hostW);
          expect(c.big.isMmuWritable(s)).toBe(writable);
          expect(c.big.isAccessed(s)).toBe(true);
          expect(c.big.isDirty(s)).toBe(writable); // make_spte sets D with W
          expect(c.big.isExecutable(s)).toBe((access & ACC_EXEC_MASK) !== 0);
          expect(c.big.trapsInHardware(s)).toBe(false);
          expect(c.big.violations(s, level)).toEqual([]);
          expect(s & 1n).toBe(1n); // P (x86) or R (EPT shadow_present_mask) is always set
          if (!isEpt) expect((s & 4n) !== 0n).toBe((access & ACC_USER_MASK) !== 0);
        }
      }
    }
  });

  test('exact leaf encodings', () => {
    if (!isEpt) {
      const me = c.config.smeCbit ? B(47) : 0n;
      // MMU-present|H|M|D|A|U|W|P, executable so no NX.
      expect(c.big.makeSpte(PFN, 1, ACC_ALL, true, true, false)).toBe(0x12345e67n | me);
      // read-only user, not executable: NX, no W/M/D.
      expect(c.big.makeSpte(PFN, 1, ACC_USER_MASK, true, true, false)).toBe(B(63) | 0x12345a25n | me);
      expect(c.big.makeSpte(PFN, 2, ACC_ALL, true, true, false)).toBe(0x12345ee7n | me);
    } else {
      const ad = c.adDisabled ? B(52) : 0n;
      // SVE|M(58)|H(57) ; MMU-present|D|A|memtype WB+IPAT|RWX
      expect(c.big.makeSpte(PFN, 1, ACC_ALL, true, true, false)).toBe(0x8600000012345b77n | ad);
    }
  });

  test('prefetch leaves the accessed bit clear', () => {
    const s = c.big.makeSpte(PFN, 1, ACC_ALL, true, true, true);
    expect(s & c.masks.accessed).toBe(0n);
    expect(c.big.isShadowPresent(s)).toBe(true);
    expect(c.big.isAccessed(s)).toBe(false);
    expect(c.big.violations(s, 1)).toEqual([]);
    if (c.adDisabled) {
      // mark_spte_for_access_track: RWX cleared, R and X saved in bits 54 and 56.
      expect(s & 7n).toBe(0n);
      expect(s & (B(54) | B(56))).toBe(B(54) | B(56));
      expect(c.big.isAccessTrack(s)).toBe(true);
      expect(c.big.restoreAccTrackSpte(s) & 7n).toBe(5n); // W comes back only on a write fault
    } else {
      expect(c.big.isAccessTrack(s)).toBe(false);
    }
  });

  test('non-leaf SPTE', () => {
    const s = c.big.makeNonLeafSpte(PFN);
    expect(c.big.isShadowPresent(s)).toBe(true);
    expect(c.big.isLeaf(s, 2)).toBe(false);
    expect(c.big.isLeaf(s, 1)).toBe(true);
    expect(c.big.pfn(s)).toBe(PFN);
    expect(c.big.isWritable(s)).toBe(true);
    expect(c.big.isExecutable(s)).toBe(true);
    expect(c.big.violations(s, 2)).toEqual([]); // W without MMU-writable is fine on a non-leaf
    expect((s & B(52)) !== 0n).toBe(c.adDisabled);
    expect((s & c.masks.accessed) !== 0n).toBe(!c.adDisabled);
  });

  test('MMIO SPTE round trip', () => {
    const s = c.big.makeMmioSpte(0xfee00, ACC_ALL, 0x5a5a5);
    if (!e.caching) {
      expect(c.big.isMmio(s)).toBe(false);
      expect(c.mmioCachingOffReason).toMatch(/52/);
      return;
    }
    expect(c.big.isMmio(s)).toBe(true);
    expect(c.big.isShadowPresent(s)).toBe(false);
    expect(c.big.isFrozen(s)).toBe(false);
    expect(c.big.mmioGfn(s)).toBe(0xfee00);
    expect(c.big.mmioAccess(s)).toBe(isEpt ? 0 : RW_U); // exec is never stored
    expect(c.big.mmioGeneration(s)).toBe(0x5a5a5);
    expect(c.big.trapsInHardware(s)).toBe(true);
    expect(c.big.violations(s, 1)).toEqual([]);
  });

  test('MMIO generation at the boundaries', () => {
    if (!e.caching) return;
    const max = 2 ** 19 - 1;
    const cases: [number, number, bigint][] = [
      [0, 0, 0n], [255, 255, GEN(10, 3)], [256, 256, B(52)], [max, max, GEN(10, 3) | GEN(62, 52)],
      [max + 1, 0, 0n], [max + 1 + 258, 258, (2n << 3n) | B(52)],
    ];
    for (const [gen, decoded, bits] of cases) {
      const s = c.big.makeMmioSpte(0x1234, 0, gen);
      expect(s & c.masks.mmioGeneration).toBe(bits);
      expect(c.big.mmioGeneration(s)).toBe(decoded);
      expect(c.big.isMmio(s)).toBe(true);
      expect(c.big.isShadowPresent(s)).toBe(false);
      expect(c.big.mmioGfn(s)).toBe(0x1234);
    }
  });

  test('nonpresent and FROZEN SPTEs', () => {
    for (const s of [0n, c.masks.frozen]) {
      expect(c.big.isShadowPresent(s)).toBe(false);
      expect(c.big.isMmio(s)).toBe(false);
      expect(c.big.trapsInHardware(s)).toBe(false);
      expect(c.big.violations(s, 1)).toEqual([]);
    }
    expect(c.big.isFrozen(c.masks.frozen)).toBe(true);
    expect(c.big.isFrozen(0n)).toBe(false);
  });
});

describe('(lo, hi) halves and the bigint wrappers agree', () => {
  // Deterministic 64-bit values: a few thousand from an LCG, mixed with known SPTEs.
  let seed = 0x12345678n;
  const next = (): bigint => (seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n));
  const codecs = [x86(46), amdSme(), ept(false), amdSme('b14e28f37e9b'), x86(46, { layout: 'pre-5.12' })];
  test.each(codecs.map((c) => [`${c.config.format} ${c.config.layout}`, c] as const))('%s', (_name, c) => {
    const m = c.masks;
    for (let i = 0; i < 3000; i++) {
      const s = i % 3 === 0 ? c.big.makeMmioSpte(Number(next() >> 40n), Number(next() & 7n), Number(next() >> 44n)) : next();
      const lo = Number(BigInt.asIntN(32, s)), hi = Number(BigInt.asIntN(32, s >> 32n));
      expect(c.isMmio(lo, hi)).toBe(c.mmioCachingEnabled && (s & m.mmioMask) === m.mmioValue);
      expect(c.pfn(lo, hi)).toBe(Number((s & m.pfn) >> 12n));
      expect(c.mmioGfn(lo, hi)).toBe(Number((s & m.mmioGfn) >> 12n));
      expect(c.isHostWritable(lo, hi)).toBe((s & m.hostWritable) !== 0n);
      expect(c.isMmuWritable(lo, hi)).toBe((s & m.mmuWritable) !== 0n);
    }
  });

  test('constructors leave the high half in u64.hi', () => {
    const c = ept(true);
    const lo = c.makeSpte(hfn(PFN), 1, ACC_ALL, true, true, false);
    expect(u64.hi).toBe(0x86000000 | 0);
    expect(lo).toBe(0x12345b77);
    const big = c.big.makeSpte(0xfffffffff, 1, ACC_ALL, true, true, false); // pfn needing 36 bits
    expect(c.big.pfn(big)).toBe(0xfffffffff);
  });
});

describe('MMIO caching availability', () => {
  test('52-bit hosts have no reserved PA bit: caching forced off with the reason', () => {
    const c = x86(52);
    expect(c.mmioCachingEnabled).toBe(false);
    expect(c.mmioCachingOffReason).toMatch(/MAXPHYADDR is 52/);
    expect(c.masks.mmioValue).toBe(0n);
  });

  test('the C-bit leaves reserved bits even on a 52-bit host; a mask bit at 52 turns caching off', () => {
    expect(x86(52, { smeCbit: 51 }).masks.mmioValue).toBe(GEN(51, 47) | 1n);
    const off = x86(52, { smeCbit: 51, smePhysBitsReduction: 0 });
    expect(off.mmioCachingEnabled).toBe(false);
    expect(off.mmioCachingOffReason).toMatch(/svm_adjust_mmio_mask/);
  });

  test('a C-bit at the reduced width moves the mask up one bit', () => {
    // x86_phys_bits = 48 - 5 = 43 == C-bit: mask_bit++ (svm_adjust_mmio_mask).
    expect(x86(48, { smeCbit: 43 }).masks.mmioValue).toBe(GEN(51, 44) | 1n);
  });

  test('the module parameter turns it off; EPT never needs a reserved bit', () => {
    const c = x86(46, { mmioCaching: false });
    expect(c.mmioCachingOffReason).toMatch(/configuration/);
    expect(c.big.isMmio(B(51) | 1n)).toBe(false);
    expect(ept(true, { hostPhysBits: 52 }).mmioCachingEnabled).toBe(true);
  });

  test('SHADOW_NONPRESENT_VALUE = bit 63 moves FROZEN with it', () => {
    const c = ept(true, { nonpresentSuppressVe: true });
    expect(c.masks.nonpresent).toBe(B(63));
    expect(c.masks.frozen).toBe(B(63) | 0x5a0n);
    expect(c.big.isShadowPresent(B(63))).toBe(false);
    expect(c.big.isMmio(c.masks.frozen)).toBe(false);
    expect(c.checkDisjointness()).toEqual([]);
  });

  test('bad configurations are refused', () => {
    expect(() => x86(53)).toThrow(RangeError);
    expect(() => ept(true, { smeCbit: 47 })).toThrow(RangeError);
    expect(() => x86(46, { mmioGenBits: 20 })).toThrow(RangeError);
  });
});

describe('layouts', () => {
  test('disjointness at init: current and pre-5.12 are clean, b14e28f37e9b overlaps MMU-present', () => {
    for (const layout of ['current', 'pre-5.12'] as const) {
      for (const c of [x86(46, { layout }), amdSme(layout), ept(true, { layout }), ept(false, { layout })]) {
        expect(c.checkDisjointness()).toEqual([]);
      }
    }
    for (const c of [x86(46, { layout: 'b14e28f37e9b' }), amdSme('b14e28f37e9b'), ept(true, { layout: 'b14e28f37e9b' })]) {
      expect(c.checkDisjointness()).toEqual(['MMIO generation overlaps the MMU-present bit: 0x800']);
    }
  });

  test('generation positions per layout', () => {
    expect(amdSme('b14e28f37e9b').masks.mmioGeneration).toBe(GEN(11, 3) | GEN(62, 52)); // 20 bits
    expect(amdSme('b14e28f37e9b').genBits).toBe(20);
    const pre = x86(46, { layout: 'pre-5.12' });
    expect(pre.masks.mmioGeneration).toBe(GEN(11, 3) | GEN(62, 54)); // 18 bits
    expect(pre.genBits).toBe(18);
    expect(pre.big.makeMmioSpte(0, 0, 511) & pre.masks.mmioGeneration).toBe(GEN(11, 3));
    expect(pre.big.makeMmioSpte(0, 0, 512) & pre.masks.mmioGeneration).toBe(B(54));
    expect(pre.big.mmioGeneration(pre.big.makeMmioSpte(0, 0, 2 ** 18 - 1))).toBe(2 ** 18 - 1);
    expect(pre.big.mmioGeneration(pre.big.makeMmioSpte(0, 0, 2 ** 18))).toBe(0);
  });

  test('b14e28f37e9b: generation 256 lands in bit 11 and the MMIO SPTE turns MMU-present', () => {
    const c = x86(46, { layout: 'b14e28f37e9b' });
    const ok = c.big.makeMmioSpte(0x1234, 0, 255);
    expect(c.big.isShadowPresent(ok)).toBe(false);
    const bad = c.big.makeMmioSpte(0x1234, 0, 256);
    expect(bad & 0x800n).toBe(0x800n);
    expect(c.big.isMmio(bad)).toBe(true);
    expect(c.big.isShadowPresent(bad)).toBe(true);
    expect(c.big.violations(bad, 1)).toContain('inv1: MMIO SPTE is also MMU-present');
  });

  test('pre-5.12: bits 53:52 identify MMIO, presence is "non-zero and not MMIO", H/M are bits 10/11', () => {
    const c = x86(46, { layout: 'pre-5.12' });
    expect(c.masks.mmioMask).toBe(3n << 52n);
    expect(c.masks.mmioTrapValue).toBe((3n << 52n) | B(51) | 1n);
    expect([c.masks.mmuPresent, c.masks.hostWritable, c.masks.mmuWritable]).toEqual([0n, B(10), B(11)]);
    expect(c.masks.frozen).toBe(B(59));
    const leaf = c.big.makeSpte(PFN, 1, ACC_ALL, true, true, false);
    expect(leaf).toBe(0x12345c67n); // no MMU-present bit in this layout
    expect(c.big.isShadowPresent(leaf)).toBe(true);
    const mmio = c.big.makeMmioSpte(0xfee00, RW_U, 300);
    expect(c.big.isMmio(mmio)).toBe(true);
    expect(c.big.isShadowPresent(mmio)).toBe(false);
    expect(c.big.mmioGeneration(mmio)).toBe(300);
    expect(c.big.isShadowPresent(c.masks.frozen)).toBe(false);
    // Bits 53:52 alone classify as MMIO, but without P and a reserved bit the hardware never traps.
    expect(c.big.violations(3n << 52n, 1)).toEqual(['inv5: MMIO SPTE would not fault in hardware']);
    const e = ept(false, { layout: 'pre-5.12' });
    expect([e.masks.accessed, e.masks.dirty, e.masks.hostWritable]).toEqual([0n, 0n, B(10)]);
    expect(e.masks.mmioTrapValue).toBe((3n << 52n) | 6n);
  });

  test('EPT before the suppress-#VE change: no bit 63 in present SPTEs or in the MMIO mask', () => {
    const c = ept(true, { layout: 'b14e28f37e9b' });
    expect(c.masks.shadowPresent).toBe(1n);
    expect(c.masks.mmioMask).toBe(7n);
    expect(c.masks.frozen).toBe(B(59));
  });

  test('mmioGenBits narrows the generation to force wraps', () => {
    const c = x86(46, { mmioGenBits: 3 });
    expect(c.masks.mmioGeneration).toBe(0x38n);
    expect(c.genModulus).toBe(8);
    expect(c.big.mmioGeneration(c.big.makeMmioSpte(1, 0, 7))).toBe(7);
    expect(c.big.mmioGeneration(c.big.makeMmioSpte(1, 0, 8))).toBe(0);
    expect(c.big.mmioGeneration(c.big.makeMmioSpte(1, 0, 13))).toBe(5);
    expect(x86(46, { mmioGenBits: 10 }).masks.mmioGeneration).toBe(GEN(10, 3) | GEN(53, 52));
  });
});

describe('checker (kvm-mmu.md 2.7)', () => {
  const c = x86(46);
  const leaf = c.big.makeSpte(PFN, 1, ACC_ALL, true, true, false);

  test('W without MMU-writable, MMU-writable without host-writable', () => {
    expect(c.big.violations(leaf & ~0x400n, 1)).toEqual(['inv6: writable SPTE is not MMU-writable']);
    expect(c.big.violations(leaf & ~0x200n, 1)).toEqual(['inv6: MMU-writable SPTE is not host-writable']);
    expect(c.big.violations(leaf & ~0x402n, 1)).toEqual([]); // H only: write-protected for shadowing
  });

  test('FROZEN is neither present (MMU or hardware) nor MMIO in any layout or format', () => {
    // Per-SPTE inv3 can only fire under a bad configuration; checkDisjointness guards that at init.
    for (const layout of ['current', 'b14e28f37e9b', 'pre-5.12'] as const) {
      for (const k of [x86(46, { layout }), amdSme(layout), ept(false, { layout, nonpresentSuppressVe: true })]) {
        const f = k.masks.frozen;
        expect([k.big.isShadowPresent(f), k.big.isMmio(f), k.big.violations(f, 1)]).toEqual([false, false, []]);
      }
    }
  });

  test('MMIO and MMU-present at once', () => {
    const mmio = c.big.makeMmioSpte(0x1234, RW_U, 7);
    expect(c.big.violations(mmio | 0x800n, 1)).toContain('inv1: MMIO SPTE is also MMU-present');
  });

  test('describe() for reports', () => {
    expect(c.describe(leaf)).toBe('0x0000000012345e67 present pfn=0x12345 W H M A D X');
    expect(c.describe(c.big.makeMmioSpte(0xfee00, RW_U, 3))).toBe('0x00080000fee0001f mmio gfn=0xfee00 access=6 gen=3');
    expect(c.describe(0n)).toBe('0x0000000000000000 nonpresent');
  });
});

describe('lkml thread (e): 0x000ff800ffc12817 under AMD SME (C-bit 47, physBits 48)', () => {
  const SPTE = 0x000ff800ffc12817n;
  const fixed = amdSme('current');
  const broken = amdSme('b14e28f37e9b');

  test('the SME MMIO mask is bits 43-51 plus P', () => {
    for (const c of [fixed, broken]) {
      expect(c.masks.mmioMask).toBe(0x000ff80000000001n);
      expect(c.masks.mmioValue).toBe(0x000ff80000000001n);
    }
  });

  test('fields: P W U, generation 258 in bits 3-11 under the broken layout, GPA 0xffc12000', () => {
    expect(SPTE & 7n).toBe(7n);
    expect(broken.big.mmioAccess(SPTE)).toBe(RW_U);
    expect(broken.big.mmioGeneration(SPTE)).toBe(258);
    expect((SPTE >> 3n) & 0x1ffn).toBe(0x102n);
    expect(broken.big.mmioGfn(SPTE) * 4096).toBe(0xffc12000);
    expect(SPTE & 0x000ff80000000000n).toBe(0x000ff80000000000n);
  });

  test('the broken layout builds exactly this SPTE and calls it MMIO and MMU-present; the checker flags it', () => {
    expect(broken.big.makeMmioSpte(0xffc12, RW_U, 258)).toBe(SPTE);
    expect(broken.big.isMmio(SPTE)).toBe(true);
    expect(broken.big.isShadowPresent(SPTE)).toBe(true);
    // KVM then treats it as a present leaf: check_spte_writable_invariants would fire as well.
    expect(broken.big.violations(SPTE, 1)).toEqual([
      'inv1: MMIO SPTE is also MMU-present', 'inv6: writable SPTE is not MMU-writable',
    ]);
  });

  test('the current layout builds the same MMIO SPTE without bit 11: MMIO and not MMU-present', () => {
    const s = fixed.big.makeMmioSpte(0xffc12, RW_U, 258);
    expect(s).toBe(0x001ff800ffc12017n); // generation bit 8 moved to SPTE bit 52
    expect(fixed.big.isMmio(s)).toBe(true);
    expect(fixed.big.isShadowPresent(s)).toBe(false);
    expect(fixed.big.mmioGeneration(s)).toBe(258);
    expect(fixed.big.mmioGfn(s) * 4096).toBe(0xffc12000);
    expect(fixed.big.violations(s, 1)).toEqual([]);
    // The raw word of the thread still has bit 11 set, so even the current layout reads it as
    // MMU-present (and would decode generation 2): a value it can never produce, which the checker flags.
    expect(fixed.big.isShadowPresent(SPTE)).toBe(true);
    expect(fixed.big.violations(SPTE, 1)).toContain('inv1: MMIO SPTE is also MMU-present');
  });

  test('the hardware traps on both: P plus reserved PA bits (the C-bit itself is not reserved)', () => {
    expect(fixed.masks.hwReservedPa).toBe(GEN(51, 43) & ~B(47));
    expect(broken.big.trapsInHardware(SPTE)).toBe(true);
  });
});

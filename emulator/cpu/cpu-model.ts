/**
 * The CPU model a guest sees: vendor, CPUID feature bits and MAXPHYADDR. Features are named as in
 * QEMU's -cpu option so that `--cpu max,+la57,-pku` reads the same in both.
 */

export const enum CpuidReg { EAX = 0, EBX = 1, ECX = 2, EDX = 3 }

export interface FeatureBit {
  readonly leaf: number;
  readonly subleaf: number;
  readonly reg: CpuidReg;
  readonly bit: number;
}

/** Every feature flag the model knows, with where CPUID reports it (SDM Vol. 2A CPUID). */
export const FEATURES = {
  fpu: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 0 },
  vme: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 1 },
  de: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 2 },
  pse: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 3 },
  tsc: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 4 },
  msr: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 5 },
  pae: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 6 },
  mce: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 7 },
  cx8: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 8 },
  apic: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 9 },
  sep: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 11 },
  pge: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 13 },
  cmov: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 15 },
  pat: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 16 },
  pse36: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 17 },
  clflush: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 19 },
  mmx: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 23 },
  fxsr: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 24 },
  sse: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 25 },
  sse2: { leaf: 1, subleaf: 0, reg: CpuidReg.EDX, bit: 26 },
  cx16: { leaf: 1, subleaf: 0, reg: CpuidReg.ECX, bit: 13 },
  pcid: { leaf: 1, subleaf: 0, reg: CpuidReg.ECX, bit: 17 },
  x2apic: { leaf: 1, subleaf: 0, reg: CpuidReg.ECX, bit: 21 },
  movbe: { leaf: 1, subleaf: 0, reg: CpuidReg.ECX, bit: 22 },
  popcnt: { leaf: 1, subleaf: 0, reg: CpuidReg.ECX, bit: 23 },
  'tsc-deadline': { leaf: 1, subleaf: 0, reg: CpuidReg.ECX, bit: 24 },
  xsave: { leaf: 1, subleaf: 0, reg: CpuidReg.ECX, bit: 26 },
  hypervisor: { leaf: 1, subleaf: 0, reg: CpuidReg.ECX, bit: 31 },
  fsgsbase: { leaf: 7, subleaf: 0, reg: CpuidReg.EBX, bit: 0 },
  bmi1: { leaf: 7, subleaf: 0, reg: CpuidReg.EBX, bit: 3 },
  smep: { leaf: 7, subleaf: 0, reg: CpuidReg.EBX, bit: 7 },
  erms: { leaf: 7, subleaf: 0, reg: CpuidReg.EBX, bit: 9 },
  invpcid: { leaf: 7, subleaf: 0, reg: CpuidReg.EBX, bit: 10 },
  smap: { leaf: 7, subleaf: 0, reg: CpuidReg.EBX, bit: 20 },
  umip: { leaf: 7, subleaf: 0, reg: CpuidReg.ECX, bit: 2 },
  pku: { leaf: 7, subleaf: 0, reg: CpuidReg.ECX, bit: 3 },
  ospke: { leaf: 7, subleaf: 0, reg: CpuidReg.ECX, bit: 4 },
  la57: { leaf: 7, subleaf: 0, reg: CpuidReg.ECX, bit: 16 },
  rdpid: { leaf: 7, subleaf: 0, reg: CpuidReg.ECX, bit: 22 },
  pks: { leaf: 7, subleaf: 0, reg: CpuidReg.ECX, bit: 31 },
  'spec-ctrl': { leaf: 7, subleaf: 0, reg: CpuidReg.EDX, bit: 26 },
  'arch-capabilities': { leaf: 7, subleaf: 0, reg: CpuidReg.EDX, bit: 29 },
  lahf_lm: { leaf: 0x80000001, subleaf: 0, reg: CpuidReg.ECX, bit: 0 },
  abm: { leaf: 0x80000001, subleaf: 0, reg: CpuidReg.ECX, bit: 5 },
  syscall: { leaf: 0x80000001, subleaf: 0, reg: CpuidReg.EDX, bit: 11 },
  nx: { leaf: 0x80000001, subleaf: 0, reg: CpuidReg.EDX, bit: 20 },
  pdpe1gb: { leaf: 0x80000001, subleaf: 0, reg: CpuidReg.EDX, bit: 26 },
  rdtscp: { leaf: 0x80000001, subleaf: 0, reg: CpuidReg.EDX, bit: 27 },
  lm: { leaf: 0x80000001, subleaf: 0, reg: CpuidReg.EDX, bit: 29 },
  // AMD's RDPRU. Not implemented: its row decodes to #UD while this bit is clear, as on a CPU without it.
  rdpru: { leaf: 0x80000008, subleaf: 0, reg: CpuidReg.EBX, bit: 4 },
} as const satisfies Record<string, FeatureBit>;

export type FeatureName = keyof typeof FEATURES;

export type Vendor = 'GenuineIntel' | 'AuthenticAMD';

/** Features of the default model: what the interpreter implements. */
export const DEFAULT_FEATURES: readonly FeatureName[] = [
  'fpu', 'de', 'pse', 'tsc', 'msr', 'pae', 'cx8', 'apic', 'sep', 'pge', 'cmov', 'pat', 'pse36', 'clflush', 'fxsr', 'sse', 'sse2',
  'cx16', 'movbe', 'popcnt', 'bmi1', 'erms', 'lahf_lm', 'abm', 'syscall', 'nx', 'pdpe1gb', 'rdtscp', 'lm',
];

/**
 * Cycles a PAUSE takes on the modeled microarchitecture. CPUID leaf 1 reports family 6 model 0x55
 * (Skylake-SP) for either vendor, and Intel's optimization manual gives PAUSE on Skylake "as many
 * as 140 cycles" (about 10 before). The cost matters to guests that time spin-waits with the TSC:
 * upstream's xapic test waits 10^6 TSC cycles in PAUSE loops before each of its 10,100 IPIs.
 */
export const SKYLAKE_PAUSE_CYCLES = 140;

export class CpuModel {
  readonly vendor: Vendor;
  readonly maxPhyAddr: number;
  /** Modeled cycles of one PAUSE (the TSC advances by this much more than one instruction). */
  readonly pauseCycles = SKYLAKE_PAUSE_CYCLES;
  private readonly enabled = new Set<FeatureName>();
  private readonly vendorWords: [number, number, number];
  private readonly words: Int32Array;

  constructor(opts: { vendor?: Vendor; features?: readonly FeatureName[]; maxPhyAddr?: number } = {}) {
    this.vendor = opts.vendor ?? 'GenuineIntel';
    this.maxPhyAddr = opts.maxPhyAddr ?? 40;
    for (const f of opts.features ?? DEFAULT_FEATURES) this.enabled.add(f);
    this.vendorWords = vendorRegisters(this.vendor);
    this.words = Int32Array.from(WORDS, ([leaf, reg]) => this.bits(leaf, 0, reg));
  }

  has(feature: FeatureName): boolean {
    return this.enabled.has(feature);
  }

  /**
   * The widest linear address the CPU supports: 57 with LA57, else 48. Addresses that are loaded
   * into system registers (GDTR/IDTR/LDTR/TR bases, FS/GS bases, SYSCALL targets, INVPCID) are
   * checked for canonicality against this, whatever CR4.LA57 says (SDM Vol. 3 4.1.1; KVM's
   * is_noncanonical_base_address).
   */
  get maxLinearBits(): number {
    return this.has('la57') ? 57 : 48;
  }

  /** The same model with some features removed (what a hypervisor does not offer its guests). */
  without(features: readonly FeatureName[]): CpuModel {
    const kept = [...this.enabled].filter((f) => !features.includes(f));
    return new CpuModel({ vendor: this.vendor, features: kept, maxPhyAddr: this.maxPhyAddr });
  }

  /** Feature bits of one CPUID register, from the table. */
  private bits(leaf: number, subleaf: number, reg: CpuidReg): number {
    let v = 0;
    for (const name of this.enabled) {
      const f: FeatureBit = FEATURES[name];
      if (f.leaf === leaf && f.subleaf === subleaf && f.reg === reg) v |= 1 << f.bit;
    }
    return v;
  }

  /** CPUID results for (leaf, subleaf) as [eax, ebx, ecx, edx] (allocates: for setup code and tests). */
  cpuid(leaf: number, subleaf: number, apicId: number): [number, number, number, number] {
    const out = new Int32Array(4);
    this.cpuidInto(leaf, subleaf, apicId, out);
    return [out[0], out[1], out[2], out[3]];
  }

  /**
   * CPUID results for (leaf, subleaf) into out[0..3] (EAX, EBX, ECX, EDX). The feature words are
   * computed once per model, so executing CPUID allocates nothing.
   */
  cpuidInto(leaf: number, subleaf: number, apicId: number, out: Int32Array): void {
    const maxBasic = 0xd;
    const maxExt = 0x80000008;
    leaf >>>= 0;
    const v = this.vendorWords;
    if (leaf > maxBasic && leaf < 0x80000000) leaf = maxBasic; // Intel returns the highest basic leaf's data
    let a = 0, b = 0, c = 0, d = 0;
    switch (leaf) {
      case 0:
        a = maxBasic; b = v[0]; c = v[2]; d = v[1];
        break;
      case 1:
        // Family 6, model 0x55 (a Skylake-era signature); one logical processor; CLFLUSH line 64 bytes.
        a = 0x00050654;
        b = (apicId << 24) | (1 << 16) | (8 << 8);
        c = this.words[Word.LEAF1_ECX]; d = this.words[Word.LEAF1_EDX];
        break;
      case 0xb:
        // Extended topology as QEMU gives it for -smp N (N sockets of one core of one thread):
        // the SMT level (type 1) and the core level (type 2) each hold one logical processor and
        // shift the APIC ID by 0; EDX is the x2APIC ID at every subleaf (SDM Vol. 2A, CPUID 0BH).
        if (subleaf <= 1) { a = 0; b = 1; c = (subleaf & 0xff) | ((subleaf + 1) << 8); } else c = subleaf & 0xff;
        d = apicId;
        break;
      case 0xd:
        if (this.has('xsave')) { xsaveLeaf(subleaf, out); return; }
        break;
      case 7:
        if (subleaf === 0) { b = this.words[Word.LEAF7_EBX]; c = this.words[Word.LEAF7_ECX]; d = this.words[Word.LEAF7_EDX]; }
        break;
      case 0x80000000:
        a = maxExt; b = v[0]; c = v[2]; d = v[1];
        break;
      case 0x80000001:
        c = this.words[Word.EXT1_ECX]; d = this.words[Word.EXT1_EDX];
        break;
      case 0x80000002: case 0x80000003: case 0x80000004: {
        const o = (leaf - 0x80000002) * 16;
        a = BRAND.readInt32LE(o); b = BRAND.readInt32LE(o + 4); c = BRAND.readInt32LE(o + 8); d = BRAND.readInt32LE(o + 12);
        break;
      }
      case 0x80000008:
        a = (this.maxLinearBits << 8) | this.maxPhyAddr;
        break;
      default:
        break;
    }
    out[0] = a; out[1] = b; out[2] = c; out[3] = d;
  }
}

/**
 * XCR0 bits the model supports: x87 (bit 0) and SSE (bit 1), the state mmulab has. AVX and later
 * components are not modeled, so XSETBV refuses them and CPUID leaf 0xD does not list them.
 */
export const XCR0_SUPPORTED = 3;
/** The standard-form XSAVE area for x87 and SSE: the 512-byte legacy region and the 64-byte header. */
export const XSAVE_AREA_BYTES = 576;

/**
 * CPUID leaf 0xD (SDM Vol. 1 13.2): subleaf 0 gives the supported XCR0 bits (EDX:EAX) and the
 * area sizes (EBX for the components enabled in XCR0, ECX for all supported; both 576, since the
 * legacy region is always laid out); subleaf 1 reports XSAVEOPT (EAX bit 0) and no XSAVEC,
 * XGETBV(1) or XSAVES; subleaves 2 and up describe components the model lacks: all zero.
 */
function xsaveLeaf(subleaf: number, out: Int32Array): void {
  out[0] = 0; out[1] = 0; out[2] = 0; out[3] = 0;
  if (subleaf === 0) { out[0] = XCR0_SUPPORTED; out[1] = XSAVE_AREA_BYTES; out[2] = XSAVE_AREA_BYTES; }
  else if (subleaf === 1) out[0] = 1;
}

/** The feature words of CPUID, computed once per model (CpuModel.words). */
const enum Word { LEAF1_ECX, LEAF1_EDX, LEAF7_EBX, LEAF7_ECX, LEAF7_EDX, EXT1_ECX, EXT1_EDX }
const WORDS: readonly [number, CpuidReg][] = [[1, CpuidReg.ECX], [1, CpuidReg.EDX], [7, CpuidReg.EBX], [7, CpuidReg.ECX],
  [7, CpuidReg.EDX], [0x80000001, CpuidReg.ECX], [0x80000001, CpuidReg.EDX]];

function vendorRegisters(vendor: Vendor): [number, number, number] {
  const b = Buffer.from(vendor, 'latin1');
  return [b.readInt32LE(0), b.readInt32LE(4), b.readInt32LE(8)];
}

const BRAND = Buffer.from('mmulab virtual CPU'.padEnd(48, '\0'), 'latin1');


import type { Vcpu } from '../cpu/vcpu.js';
import { Stop } from '../cpu/vcpu.js';
import { Reg, Seg } from '../arch/registers.js';
import { Msr } from '../arch/control.js';
import { doubleToF80, f80Out, f80ToDouble } from '../exec/fpu-state.js';

/**
 * The registers gdb sees, as one table per architecture: the order of a `g` packet, the register
 * numbers of `p`/`P`, and the target description (target.xml) are all derived from it. Names and
 * features follow gdb's i386 descriptions (gdb/features/i386/64bit-*.xml and 32bit-*.xml): gdb
 * requires org.gnu.gdb.i386.core with the x87 registers and checks the names in .sse and
 * .segments; the control registers and EFER go in a feature gdb does not interpret, which it
 * accepts and shows as ordinary registers ($cr3, `info registers cr3`).
 *
 * Writable: general registers, RIP, RFLAGS, FS/GS bases, the x87 and SSE registers. Selectors,
 * control registers and EFER are read-only here: changing them needs the architectural checks and
 * an MMU context reset that a debugger write would bypass (a write leaves them as they were).
 */

export type GdbArch = 'x86-64' | 'i386';

interface RegDef {
  readonly name: string;
  readonly bits: number;
  readonly type: string;
  readonly feature: string;
  readonly group?: string;
  /** Writes the register's bytes, little-endian, at `at`. */
  read(cpu: Vcpu, v: DataView, at: number): void;
  /** Takes the register from the bytes at `at` (absent: read-only). */
  write?(cpu: Vcpu, v: DataView, at: number): void;
}

const CORE = 'org.gnu.gdb.i386.core';
const SSE = 'org.gnu.gdb.i386.sse';
const SEGMENTS = 'org.gnu.gdb.i386.segments';
const SYSTEM = 'org.gnu.gdb.i386.sys';

function gpr64(name: string, r: Reg, type = 'int64'): RegDef {
  return {
    name, bits: 64, type, feature: CORE,
    read: (c, v, at) => { v.setInt32(at, c.lo[r], true); v.setInt32(at + 4, c.hi[r], true); },
    write: (c, v, at) => { c.lo[r] = v.getInt32(at, true); c.hi[r] = v.getInt32(at + 4, true); },
  };
}

function gpr32(name: string, r: Reg, type = 'int32'): RegDef {
  return {
    name, bits: 32, type, feature: CORE,
    read: (c, v, at) => v.setInt32(at, c.lo[r], true),
    write: (c, v, at) => { c.lo[r] = v.getInt32(at, true); },
  };
}

/** A 64- or 32-bit value kept as (lo, hi) halves in two fields, read-only. */
function pair(name: string, bits: number, feature: string, get: (c: Vcpu) => [number, number], type = bits === 64 ? 'int64' : 'int32', group?: string): RegDef {
  return {
    name, bits, type, feature, group,
    read: (c, v, at) => {
      const [lo, hi] = get(c);
      v.setInt32(at, lo, true);
      if (bits === 64) v.setInt32(at + 4, hi, true);
    },
  };
}

function pc(bits: number): RegDef {
  return {
    name: bits === 64 ? 'rip' : 'eip', bits, type: 'code_ptr', feature: CORE,
    read: (c, v, at) => { v.setInt32(at, c.ripLo, true); if (bits === 64) v.setInt32(at + 4, c.ripHi, true); },
    write: (c, v, at) => {
      c.ripLo = v.getInt32(at, true);
      c.ripHi = bits === 64 ? v.getInt32(at + 4, true) : 0;
      c.stop |= Stop.CONTEXT;
    },
  };
}

const EFLAGS: RegDef = {
  name: 'eflags', bits: 32, type: 'i386_eflags', feature: CORE,
  read: (c, v, at) => v.setInt32(at, c.getFlags(), true),
  write: (c, v, at) => c.setFlags(v.getInt32(at, true)),
};

function selector(name: string, s: Seg): RegDef {
  return pair(name, 32, CORE, (c) => [c.seg.selector[s], 0]);
}

function segBase(name: string, s: Seg, bits: number, feature = SEGMENTS): RegDef {
  return {
    name, bits, type: bits === 64 ? 'int64' : 'int32', feature,
    read: (c, v, at) => { v.setInt32(at, c.seg.baseLo[s], true); if (bits === 64) v.setInt32(at + 4, c.seg.baseHi[s], true); },
    write: (c, v, at) => { c.seg.baseLo[s] = v.getInt32(at, true); c.seg.baseHi[s] = bits === 64 ? v.getInt32(at + 4, true) : 0; },
  };
}

/** ST(i), 80 bits: the exact image when the register was loaded from one, else from its double. */
function st(i: number): RegDef {
  return {
    name: `st${i}`, bits: 80, type: 'i387_ext', feature: CORE,
    read: (c, v, at) => {
      const f = c.fpu;
      const p = f.phys(i);
      let lo: number; let hi: number; let se: number;
      if ((f.raw80Valid & (1 << p)) !== 0) { lo = f.raw80Lo[p]; hi = f.raw80Hi[p]; se = f.raw80Exp[p]; }
      else { doubleToF80(f.st[p]); lo = f80Out.lo; hi = f80Out.hi; se = f80Out.se; }
      v.setInt32(at, lo, true); v.setInt32(at + 4, hi, true); v.setUint16(at + 8, se, true);
    },
    write: (c, v, at) => {
      const f = c.fpu;
      const p = f.phys(i);
      f.raw80Lo[p] = v.getInt32(at, true); f.raw80Hi[p] = v.getInt32(at + 4, true); f.raw80Exp[p] = v.getUint16(at + 8, true);
      f.st[p] = f80ToDouble(f.raw80Lo[p], f.raw80Hi[p], f.raw80Exp[p]);
      f.raw80Valid |= 1 << p;
    },
  };
}

/** A 32-bit x87 control value with a getter and a setter. */
function fpuWord(name: string, get: (c: Vcpu) => number, set?: (c: Vcpu, x: number) => void): RegDef {
  return {
    name, bits: 32, type: 'int', feature: CORE,
    read: (c, v, at) => v.setInt32(at, get(c), true),
    write: set === undefined ? undefined : (c, v, at) => set(c, v.getInt32(at, true)),
  };
}

/** The full tag word from the abridged one: 00 valid (the model does not track zero/special), 11 empty. */
function fullTags(c: Vcpu): number {
  let t = 0;
  for (let p = 0; p < 8; p++) if ((c.fpu.tags & (1 << p)) === 0) t |= 3 << (2 * p);
  return t;
}

const X87: readonly RegDef[] = [
  ...[0, 1, 2, 3, 4, 5, 6, 7].map(st),
  fpuWord('fctrl', (c) => c.fpu.fcw, (c, x) => { c.fpu.fcw = x & 0xffff; }),
  fpuWord('fstat', (c) => c.fpu.statusWord(), (c, x) => { c.fpu.fsw = x & 0xc7ff; c.fpu.top = (x >>> 11) & 7; }),
  fpuWord('ftag', fullTags, (c, x) => {
    let t = 0;
    for (let p = 0; p < 8; p++) if (((x >>> (2 * p)) & 3) !== 3) t |= 1 << p;
    c.fpu.tags = t;
  }),
  fpuWord('fiseg', () => 0),
  fpuWord('fioff', (c) => c.fpu.fipLo, (c, x) => { c.fpu.fipLo = x; }),
  fpuWord('foseg', () => 0),
  fpuWord('fooff', (c) => c.fpu.fdpLo, (c, x) => { c.fpu.fdpLo = x; }),
  fpuWord('fop', (c) => c.fpu.fop, (c, x) => { c.fpu.fop = x & 0x7ff; }),
];

function xmm(i: number): RegDef {
  return {
    name: `xmm${i}`, bits: 128, type: 'vec128', feature: SSE,
    read: (c, v, at) => { for (let k = 0; k < 16; k++) v.setUint8(at + k, c.fpu.xmmBytes[16 * i + k]); },
    write: (c, v, at) => { for (let k = 0; k < 16; k++) c.fpu.xmmBytes[16 * i + k] = v.getUint8(at + k); },
  };
}

const MXCSR: RegDef = {
  name: 'mxcsr', bits: 32, type: 'i386_mxcsr', feature: SSE,
  read: (c, v, at) => v.setInt32(at, c.fpu.mxcsr, true),
  write: (c, v, at) => { c.fpu.mxcsr = v.getInt32(at, true) & 0xffff; },
};

function control(bits: number): RegDef[] {
  const sys = (name: string, get: (c: Vcpu) => [number, number]): RegDef => pair(name, bits, SYSTEM, get, 'int', 'system');
  return [
    sys('cr0', (c) => [c.cr0, 0]),
    sys('cr2', (c) => [c.cr2Lo, c.cr2Hi]),
    sys('cr3', (c) => [c.cr3Lo, c.cr3Hi]),
    sys('cr4', (c) => [c.cr4, 0]),
    sys('cr8', (c) => [c.cr8, 0]),
    sys('efer', (c) => [c.efer, 0]),
  ];
}

const SEG_ORDER: readonly [string, Seg][] = [['cs', Seg.CS], ['ss', Seg.SS], ['ds', Seg.DS], ['es', Seg.ES], ['fs', Seg.FS], ['gs', Seg.GS]];

const X86_64: readonly RegDef[] = [
  gpr64('rax', Reg.RAX), gpr64('rbx', Reg.RBX), gpr64('rcx', Reg.RCX), gpr64('rdx', Reg.RDX),
  gpr64('rsi', Reg.RSI), gpr64('rdi', Reg.RDI), gpr64('rbp', Reg.RBP, 'data_ptr'), gpr64('rsp', Reg.RSP, 'data_ptr'),
  gpr64('r8', Reg.R8), gpr64('r9', Reg.R9), gpr64('r10', Reg.R10), gpr64('r11', Reg.R11),
  gpr64('r12', Reg.R12), gpr64('r13', Reg.R13), gpr64('r14', Reg.R14), gpr64('r15', Reg.R15),
  pc(64), EFLAGS, ...SEG_ORDER.map(([n, s]) => selector(n, s)),
  ...X87,
  ...Array.from({ length: 16 }, (_, i) => xmm(i)), MXCSR,
  segBase('fs_base', Seg.FS, 64), segBase('gs_base', Seg.GS, 64),
  pair('k_gs_base', 64, SEGMENTS, (c) => c.msrs.get(Msr.KERNEL_GS_BASE) ?? [0, 0]),
  ...control(64),
];

const I386: readonly RegDef[] = [
  gpr32('eax', Reg.RAX), gpr32('ecx', Reg.RCX), gpr32('edx', Reg.RDX), gpr32('ebx', Reg.RBX),
  gpr32('esp', Reg.RSP, 'data_ptr'), gpr32('ebp', Reg.RBP, 'data_ptr'), gpr32('esi', Reg.RSI), gpr32('edi', Reg.RDI),
  pc(32), EFLAGS, ...SEG_ORDER.map(([n, s]) => selector(n, s)),
  ...X87,
  ...Array.from({ length: 8 }, (_, i) => xmm(i)), MXCSR,
  // gdb 13's i386 (32-bit) architecture numbers fs_base/gs_base of a .segments feature past its
  // register count and stops on an internal error; in the system feature gdb takes them as plain
  // registers ($fs_base, `info registers fs_base`).
  segBase('fs_base', Seg.FS, 32, SYSTEM), segBase('gs_base', Seg.GS, 32, SYSTEM),
  ...control(32),
];

/** One architecture's registers: their layout in `g`, and the description gdb asks for. */
export class RegisterFile {
  readonly arch: GdbArch;
  private readonly defs: readonly RegDef[];
  private readonly offsets: number[] = [];
  readonly size: number;

  constructor(arch: GdbArch) {
    this.arch = arch;
    this.defs = arch === 'x86-64' ? X86_64 : I386;
    let at = 0;
    for (const d of this.defs) { this.offsets.push(at); at += d.bits / 8; }
    this.size = at;
  }

  get count(): number {
    return this.defs.length;
  }

  /** Every register, in order: the payload of a `g` reply. */
  readAll(cpu: Vcpu): Uint8Array {
    const bytes = new Uint8Array(this.size);
    const v = new DataView(bytes.buffer);
    this.defs.forEach((d, i) => d.read(cpu, v, this.offsets[i]));
    return bytes;
  }

  /** A `G` packet: each writable register takes its bytes. False if the length is wrong. */
  writeAll(cpu: Vcpu, bytes: Uint8Array): boolean {
    if (bytes.length !== this.size) return false;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.defs.forEach((d, i) => d.write?.(cpu, v, this.offsets[i]));
    return true;
  }

  /** Register `n` (`p`), or undefined past the end. */
  read(cpu: Vcpu, n: number): Uint8Array | undefined {
    const d = this.defs[n];
    if (d === undefined) return undefined;
    const bytes = new Uint8Array(d.bits / 8);
    d.read(cpu, new DataView(bytes.buffer), 0);
    return bytes;
  }

  /** `P`: false if `n` does not exist, is read-only, or the value has the wrong length. */
  write(cpu: Vcpu, n: number, bytes: Uint8Array): boolean {
    const d = this.defs[n];
    if (d?.write === undefined || bytes.length !== d.bits / 8) return false;
    d.write(cpu, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
    return true;
  }

  /** The register number of `name` (tests, and the stop reply's pc). */
  indexOf(name: string): number {
    return this.defs.findIndex((d) => d.name === name);
  }

  /** target.xml: the architecture and one feature per group of registers, in table order. */
  targetXml(): string {
    const features: string[] = [];
    let current = '';
    let body: string[] = [];
    const flush = (): void => { if (current !== '') features.push(`<feature name="${current}">${typesOf(current)}${body.join('')}</feature>`); };
    for (const d of this.defs) {
      if (d.feature !== current) { flush(); current = d.feature; body = []; }
      body.push(`<reg name="${d.name}" bitsize="${d.bits}" type="${d.type}"${d.group === undefined ? '' : ` group="${d.group}"`}/>`);
    }
    flush();
    const arch = this.arch === 'x86-64' ? 'i386:x86-64' : 'i386';
    return `<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>${arch}</architecture>${features.join('')}</target>`;
  }
}

/** The types a feature's registers use that gdb does not predefine. */
function typesOf(feature: string): string {
  if (feature === CORE) {
    const bits: [string, number][] = [['CF', 0], ['', 1], ['PF', 2], ['AF', 4], ['ZF', 6], ['SF', 7], ['TF', 8], ['IF', 9], ['DF', 10], ['OF', 11], ['NT', 14], ['RF', 16], ['VM', 17], ['AC', 18], ['VIF', 19], ['VIP', 20], ['ID', 21]];
    return `<flags id="i386_eflags" size="4">${bits.map(([n, b]) => `<field name="${n}" start="${b}" end="${b}"/>`).join('')}</flags>`;
  }
  if (feature === SSE) {
    return '<vector id="v4f" type="ieee_single" count="4"/><vector id="v2d" type="ieee_double" count="2"/>' +
      '<vector id="v16i8" type="int8" count="16"/><vector id="v8i16" type="int16" count="8"/>' +
      '<vector id="v4i32" type="int32" count="4"/><vector id="v2i64" type="int64" count="2"/>' +
      '<union id="vec128"><field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>' +
      '<field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>' +
      '<field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>' +
      '<flags id="i386_mxcsr" size="4"><field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/>' +
      '<field name="ZE" start="2" end="2"/><field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/>' +
      '<field name="PE" start="5" end="5"/><field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/>' +
      '<field name="DM" start="8" end="8"/><field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/>' +
      '<field name="UM" start="11" end="11"/><field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/></flags>';
  }
  return '';
}

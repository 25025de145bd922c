import type { Vcpu } from '../cpu/vcpu.js';
import { CpuMode, Stop } from '../cpu/vcpu.js';
import { checkedFamily, family, privilegedFamily, type Handler } from './registry.js';
import { Check, syncTime } from './checks.js';
import { ea, writeReg } from './operands.js';
import { wordFromE } from './operand-flow.js';
import { Reg, Seg } from '../arch/registers.js';
import { Cr0, Cr4, Msr } from '../arch/control.js';
import { Flag } from '../arch/eflags.js';
import { Vector } from '../arch/vectors.js';
import { isCanonical } from '../arch/u64.js';
import { CrWrite, writeCr0, writeCr3, writeCr4, writeCr8 } from '../cpu/control-regs.js';
import { SERIALIZING_COST, chargeSerializing } from '../cpu/serializing-cost.js';
import { readMsr, writeMsr } from '../cpu/msr.js';
import { readAmdCounter } from '../cpu/msr-amd-pmu.js';
import { ExitReason, InvpcidType, MsrValue } from '../cpu/platform.js';
import { Descriptor, loadDataSegment, readDescriptor, readDescriptorUpper, setCpl, updateMode } from '../cpu/segmentation.js';
import { SegAttr } from '../cpu/segment-state.js';
import { generalDetect, trapIfTfAfter } from '../cpu/debug-exceptions.js';

/**
 * System instructions: descriptor tables, control and debug registers, MSRs, CPUID, the TSC, HLT,
 * interrupt flag, TLB and cache maintenance, SWAPGS, hypercalls, and the deliberate #UD opcodes
 * (SDM Vol. 2 and Vol. 3). The checks a family makes before anything else (real mode #UD, CPL 0,
 * UMIP, CR4.TSD/PCE, IOPL) and its VM exit are declared with the family (privilegedFamily,
 * checkedFamily; exec/checks.ts) and added when its handlers are built, the #UD ones first
 * (outside 64-bit mode, EFER.SCE, CR4.OSXSAVE, CR4.PKE, STAC/CLAC above CPL 0). MOV CR and MOV DR keep
 * their #UD by hand: it depends on ModRM.reg (which register), a value of the instruction, not
 * of its form; so does MOV from CR3's exit.
 */

/** Raises #UD: UD0/UD1/UD2 and opcodes the table knows are invalid here. */
export const UD = family('ud', () => (cpu) => { cpu.raiseUd(); });

/** LGDT/LIDT (variant 0/1): a 16-bit limit and a 24/32/64-bit base. */
export const LOAD_DT = privilegedFamily('load-dt', (form) => {
  const idt = form.variant === 1;
  const size = form.size;
  return (cpu, i) => {
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    const limit = cpu.mem.read16(lo, hi);
    const next = (lo + 2) | 0;
    let baseLo: number, baseHi = 0;
    if (cpu.mode === CpuMode.LONG64) {
      baseLo = cpu.mem.read64(next, hi);
      baseHi = cpu.mem.hi;
    } else {
      baseLo = cpu.mem.read32(next, hi);
      if (size === 2) baseLo &= 0xffffff;
    }
    // Kept: limit and base (6 or 10 bytes, two reads) are both read before either register changes.
    if (cpu.exc >= 0) return;
    // The base is checked against the CPU's linear-address width (57 with LA57 support), not CR4.LA57's.
    if (cpu.mode === CpuMode.LONG64 && !isCanonical(baseLo, baseHi, cpu.model.maxLinearBits)) { cpu.raiseGp(0); return; }
    const reg = idt ? cpu.idtr : cpu.gdtr;
    reg.limit = limit;
    reg.baseLo = baseLo;
    reg.baseHi = baseHi;
  };
});

/** SGDT/SIDT (variant 0/1). */
export const STORE_DT = checkedFamily('store-dt', Check.UMIP, (form) => {
  const idt = form.variant === 1;
  return (cpu, i) => {
    const reg = idt ? cpu.idtr : cpu.gdtr;
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    const bytes = cpu.mode === CpuMode.LONG64 ? 10 : 6;
    if (!cpu.mem.probeWrite(lo, hi, bytes)) return;
    cpu.mem.write16(lo, hi, reg.limit);
    if (cpu.mode === CpuMode.LONG64) cpu.mem.write64((lo + 2) | 0, hi, reg.baseLo, reg.baseHi);
    else cpu.mem.write32((lo + 2) | 0, hi, reg.baseLo);
  };
});

const sysDesc = new Descriptor();

/** LLDT (variant 0) and LTR (variant 1) from a 16-bit selector. */
export const LOAD_SYSSEG = checkedFamily('load-sysseg', Check.PROT | Check.CPL0, (form) => {
  const isTr = form.variant === 1;
  return wordFromE(form, (cpu, _i, sel) => {
    const reg = isTr ? cpu.tr : cpu.ldtr;
    if ((sel & 0xfffc) === 0) {
      if (isTr) { cpu.raiseGp(0); return; }
      reg.selector = sel; reg.baseLo = 0; reg.baseHi = 0; reg.limit = 0; reg.attr = 0;
      return;
    }
    if ((sel & 4) !== 0) { cpu.raiseGp(sel & 0xfffc); return; }
    if (!readDescriptor(cpu, sel, sysDesc)) return;
    const type = sysDesc.type;
    const ok = isTr ? !sysDesc.isCodeOrData && (type === 1 || type === 9) : !sysDesc.isCodeOrData && type === 2;
    if (!ok) { cpu.raiseGp(sel & 0xfffc); return; }
    if (!sysDesc.present) { cpu.raise(Vector.NP, sel & 0xfffc); return; }
    let baseHi = 0;
    if (cpu.longMode) {
      if (!readDescriptorUpper(cpu, sel, sysDesc)) return;
      baseHi = sysDesc.upper;
      if (!isCanonical(sysDesc.baseLo, baseHi, cpu.model.maxLinearBits)) { cpu.raiseGp(sel & 0xfffc); return; }
    }
    reg.selector = sel;
    reg.baseLo = sysDesc.baseLo;
    reg.baseHi = baseHi;
    reg.limit = sysDesc.limit;
    reg.attr = sysDesc.attr;
    if (isTr) {
      // LTR marks the TSS busy in its descriptor.
      sysDesc.hi |= 2 << 8;
      cpu.mem.writeImplicit32((cpu.gdtr.baseLo + (sel & 0xfff8) + 4) | 0, cpu.gdtr.baseHi, sysDesc.hi);
      reg.attr |= 2;
    }
  });
});

/** SLDT (variant 0) and STR (variant 1). A register destination gets the selector zero-extended. */
export const STORE_SYSSEG = checkedFamily('store-sysseg', Check.PROT | Check.UMIP, (form) => {
  const isTr = form.variant === 1;
  const size = form.size;
  return (cpu, i) => {
    const sel = (isTr ? cpu.tr : cpu.ldtr).selector;
    if (form.mem) cpu.mem.write16(ea(cpu, i), cpu.eaHi, sel);
    else writeReg(cpu, cpu.dec.rm[i], size, sel, 0);
  };
});

/** MOV Sreg, E (variant unused): CS cannot be loaded; MOV SS inhibits interrupts for one instruction. */
export const MOV_TO_SEG = family('mov-to-seg', (form) => {
  const load = wordFromE(form, (cpu, i, sel) => {
    const seg = cpu.dec.reg[i];
    if (!loadDataSegment(cpu, seg, sel)) return;
    if (seg === Seg.SS) { cpu.interruptShadow = true; cpu.debugBlocked = true; }
  });
  // The register comes from ModRM.reg, so its #UD (before the load) is this instruction's, not the form's.
  return (cpu, i) => {
    const seg = cpu.dec.reg[i];
    if (seg === Seg.CS || seg > Seg.GS) { cpu.raiseUd(); return; }
    load(cpu, i);
  };
});

/** MOV E, Sreg: a register destination of 32/64 bits gets the selector zero-extended. */
export const MOV_FROM_SEG = family('mov-from-seg', (form) => {
  const size = form.size;
  return (cpu, i) => {
    const d = cpu.dec;
    const seg = d.reg[i];
    if (seg > Seg.GS) { cpu.raiseUd(); return; }
    const sel = cpu.seg.selector[seg];
    if (form.mem) cpu.mem.write16(ea(cpu, i), cpu.eaHi, sel);
    else writeReg(cpu, d.rm[i], size, sel, 0);
  };
});

/** MOV r, CRn (variant 0) and MOV CRn, r (variant 1). The operand is 64-bit in 64-bit mode, else 32-bit. */
export const MOV_CR = privilegedFamily('mov-cr', (form) => {
  const toCr = form.variant === 1;
  return (cpu, i) => {
    const d = cpu.dec;
    const cr = d.reg[i];
    const r = d.rm[i];
    const wide = cpu.mode === CpuMode.LONG64;
    if (cr !== 0 && cr !== 2 && cr !== 3 && cr !== 4 && cr !== 8) { cpu.raiseUd(); return; }
    if (cr === 8 && !wide) { cpu.raiseUd(); return; }
    if (!toCr) {
      let lo: number, hi = 0;
      switch (cr) {
        case 0: lo = cpu.cr0; break;
        case 2: lo = cpu.cr2Lo; hi = cpu.cr2Hi; break;
        case 3: lo = cpu.cr3Lo; hi = cpu.cr3Hi; cpu.platform.instructionExit(cpu, ExitReason.CR3_READ, 0); break;
        case 4: lo = cpu.cr4; break;
        default: lo = cpu.cr8; break;
      }
      if (wide) { cpu.lo[r] = lo; cpu.hi[r] = hi; } else cpu.set32(r, lo);
      return;
    }
    const lo = cpu.lo[r];
    const hi = wide ? cpu.hi[r] : 0;
    // A write to CR0, CR3 or CR4 the hardware completed serializes: its modeled cost
    // (serializing-cost.ts). An intercepted one ran no native instruction: its exit paid instead.
    switch (cr) {
      case 0: if (writeCr0(cpu, lo, hi) === CrWrite.NATIVE) chargeSerializing(cpu, SERIALIZING_COST.movCr0); break;
      case 2: cpu.cr2Lo = lo; cpu.cr2Hi = hi; break;
      case 3: if (writeCr3(cpu, lo, hi) === CrWrite.NATIVE) chargeSerializing(cpu, SERIALIZING_COST.movCr3); break;
      case 4: if (writeCr4(cpu, lo, hi) === CrWrite.NATIVE) chargeSerializing(cpu, SERIALIZING_COST.movCr4); break;
      default: writeCr8(cpu, lo, hi); break;
    }
  };
});

/** MOV r, DRn (variant 0) and MOV DRn, r (variant 1). DR4/DR5 alias DR6/DR7 unless CR4.DE=1 (#UD). */
export const MOV_DR = privilegedFamily('mov-dr', (form) => {
  const toDr = form.variant === 1;
  return (cpu, i) => {
    const d = cpu.dec;
    let dr = d.reg[i];
    const r = d.rm[i];
    if (dr > 7) { cpu.raiseUd(); return; }
    if (dr === 4 || dr === 5) {
      if ((cpu.cr4 & Cr4.DE) !== 0) { cpu.raiseUd(); return; }
      dr += 2;
    }
    if (generalDetect(cpu)) return;
    const wide = cpu.mode === CpuMode.LONG64;
    if (!toDr) {
      let lo = cpu.drLo[dr];
      if (dr === 6) lo = (lo & 0x0001e00f) | 0xffff0ff0;
      if (dr === 7) lo = (lo & 0xffff2bff) | 0x400;
      if (wide) { cpu.lo[r] = lo; cpu.hi[r] = dr >= 6 ? 0 : cpu.drHi[dr]; } else cpu.set32(r, lo);
      return;
    }
    const lo = cpu.lo[r];
    const hi = wide ? cpu.hi[r] : 0;
    if (dr >= 6 && hi !== 0) { cpu.raiseGp(0); return; }
    cpu.drLo[dr] = lo;
    cpu.drHi[dr] = hi;
    // A breakpoint may now be armed or disarmed: the run loop looks again at the next block.
    cpu.stop |= Stop.CONTEXT;
  };
});

export const RDMSR = privilegedFamily('rdmsr', () => (cpu) => {
  const v = readMsr(cpu, cpu.lo[Reg.RCX]);
  if (v === undefined) { cpu.raiseGp(0); return; }
  cpu.set32(Reg.RAX, v.lo);
  cpu.set32(Reg.RDX, v.hi);
}, { reason: ExitReason.RDMSR, detail: Reg.RCX });

export const WRMSR = privilegedFamily('wrmsr', () => (cpu) => {
  if (!writeMsr(cpu, cpu.lo[Reg.RCX], cpu.lo[Reg.RAX], cpu.lo[Reg.RDX])) { cpu.raiseGp(0); return; }
  cpu.stop |= Stop.CONTEXT;
}, { reason: ExitReason.WRMSR, detail: Reg.RCX });

/** CPUID's results, written by CpuModel.cpuidInto: one array for every execution. */
const cpuidOut = new Int32Array(4);

export const CPUID = checkedFamily('cpuid', Check.NONE, () => (cpu) => {
  cpu.model.cpuidInto(cpu.lo[Reg.RAX], cpu.lo[Reg.RCX], cpu.index, cpuidOut);
  const a = cpuidOut[0], b = cpuidOut[1], c = cpuidOut[2], d = cpuidOut[3];
  let ecx = c;
  // Leaf 1 ECX.OSXSAVE and leaf 7 ECX.OSPKE mirror CR4; leaf 1 EDX.APIC mirrors APIC_BASE.EN.
  if ((cpu.lo[Reg.RAX] >>> 0) === 7 && cpu.lo[Reg.RCX] === 0) ecx = (ecx & ~(1 << 4)) | ((cpu.cr4 & Cr4.PKE) !== 0 ? 1 << 4 : 0);
  let edx = d;
  if ((cpu.lo[Reg.RAX] >>> 0) === 1) {
    ecx = (ecx & ~(1 << 27)) | ((cpu.cr4 & Cr4.OSXSAVE) !== 0 ? 1 << 27 : 0);
    // CPUID.1:EDX.APIC reads 0 while the local APIC is globally disabled (SDM 11.4.3).
    if (!cpu.apicEnabled) edx &= ~(1 << 9);
  }
  cpu.set32(Reg.RAX, a);
  cpu.set32(Reg.RBX, b);
  cpu.set32(Reg.RCX, ecx);
  cpu.set32(Reg.RDX, edx);
}, { reason: ExitReason.CPUID, detail: Reg.RAX });

export { syncTime };

/** RDTSC (variant 0) and RDTSCP (variant 1, also loads TSC_AUX into ECX). */
export const RDTSC = checkedFamily('rdtsc', Check.TSD, (form) => {
  const withAux = form.variant === 1;
  return (cpu, i) => {
    syncTime(cpu, i);
    const t = cpu.readTsc();
    cpu.set32(Reg.RAX, t | 0);
    cpu.set32(Reg.RDX, Math.floor(t / 4294967296) | 0);
    if (withAux) cpu.set32(Reg.RCX, (cpu.msrs.get(Msr.TSC_AUX) ?? [0, 0])[0]);
  };
});

/** RDPMC's counter value, read into one object for every execution. */
const pmcOut = new MsrValue();

/**
 * RDPMC (SDM Vol. 2; APM vol. 3): #GP(0) above CPL 0 unless CR4.PCE is set (outside real mode).
 * That check comes before the VM exit (a fault based on privilege level: SDM Vol. 3C, "Relative
 * Priority of Faults and VM Exits"); the counter number is checked after it, by KVM
 * (kvm_emulate_rdpmc: an ECX naming no counter of the vPMU injects #GP). The Intel models report
 * no architectural PMU (CPUID leaf 0AH is zero), so every ECX is #GP there; AMD's four legacy
 * counters read PerfCtr0-3 (48 bits).
 */
export const RDPMC = checkedFamily('rdpmc', Check.PCE, () => (cpu) => {
  if (!readAmdCounter(cpu, cpu.lo[Reg.RCX], pmcOut)) { cpu.raiseGp(0); return; }
  cpu.set32(Reg.RAX, pmcOut.lo);
  cpu.set32(Reg.RDX, pmcOut.hi);
}, { reason: ExitReason.RDPMC, detail: Reg.RCX });

export const HLT = privilegedFamily('hlt', () => (cpu) => {
  cpu.halted = true;
  cpu.stop |= Stop.HLT;
}, { reason: ExitReason.HLT, detail: -1 });

/** CLI (variant 0) and STI (variant 1); STI delays interrupt recognition by one instruction. */
export const CLI_STI = checkedFamily('cli-sti', Check.IOPL, (form) => {
  const set = form.variant === 1;
  return (cpu) => {
    if (set) {
      if ((cpu.flags & Flag.IF) === 0) cpu.interruptShadow = true;
      cpu.flags |= Flag.IF;
      cpu.stop |= Stop.EVENT;
    } else {
      cpu.flags &= ~Flag.IF;
    }
  };
});

export const INVLPG = privilegedFamily('invlpg', () => (cpu, i) => {
  const lo = ea(cpu, i);
  const hi = cpu.eaHi;
  cpu.paging.archInvlpg(lo, hi);
  cpu.platform.invlpg(cpu, lo, hi);
  cpu.stop |= Stop.CONTEXT;
});

/** WBINVD/INVD: privileged; caches are not modelled. */
export const CACHE_FLUSH = privilegedFamily('cache-flush', () => () => {});

/** CLFLUSH/CLFLUSHOPT m8: translated like a byte load (page faults apply), otherwise no effect. */
export const CLFLUSH = family('clflush', () => (cpu, i) => { cpu.mem.read8(ea(cpu, i), cpu.eaHi); });

export const SWAPGS = checkedFamily('swapgs', Check.LONG64 | Check.CPL0, () => (cpu) => {
  const k = cpu.msrs.get(Msr.KERNEL_GS_BASE) ?? [0, 0];
  cpu.msrs.set(Msr.KERNEL_GS_BASE, [cpu.seg.baseLo[Seg.GS], cpu.seg.baseHi[Seg.GS]]);
  cpu.seg.baseLo[Seg.GS] = k[0];
  cpu.seg.baseHi[Seg.GS] = k[1];
});

/** VMCALL/VMMCALL: a hypercall when a hypervisor is present, #UD on bare hardware. */
export const HYPERCALL = family('hypercall', () => (cpu) => {
  if (!cpu.platform.hypercall(cpu)) cpu.raiseUd();
});

/** LMSW: loads PE, MP, EM, TS; cannot clear PE. */
export const LMSW = privilegedFamily('lmsw', (form) => wordFromE(form, (cpu, _i, v) => {
  const bits = Cr0.PE | Cr0.MP | Cr0.EM | Cr0.TS;
  const next = (cpu.cr0 & ~(Cr0.MP | Cr0.EM | Cr0.TS)) | (v & bits);
  writeCr0(cpu, next, 0);
}));

/** SMSW: the low 16 bits of CR0 (a register destination gets the whole of CR0 at 32/64 bits). */
export const SMSW = checkedFamily('smsw', Check.UMIP, (form) => {
  const size = form.size;
  return (cpu, i) => {
    if (form.mem) cpu.mem.write16(ea(cpu, i), cpu.eaHi, cpu.cr0);
    else writeReg(cpu, cpu.dec.rm[i], size, cpu.cr0, 0);
  };
});

export const CLTS = privilegedFamily('clts', () => (cpu) => {
  cpu.cr0 &= ~Cr0.TS;
});

/** RDPKRU (variant 0) / WRPKRU (variant 1): need CR4.PKE; ECX (and EDX for WRPKRU) must be 0. */
export const PKRU = checkedFamily('pkru', Check.PKE, (form) => {
  const write = form.variant === 1;
  return (cpu) => {
    if (cpu.lo[Reg.RCX] !== 0 || (write && cpu.lo[Reg.RDX] !== 0)) { cpu.raiseGp(0); return; }
    if (!write) {
      cpu.set32(Reg.RAX, cpu.pkru);
      cpu.set32(Reg.RDX, 0);
      return;
    }
    cpu.pkru = cpu.lo[Reg.RAX];
    cpu.paging.setKeyRights(cpu.pkru, cpu.pkrs);
  };
});

/**
 * SYSCALL (EFER.SCE): RCX = RIP, R11 = RFLAGS, CS/SS from STAR[47:32], RIP = LSTAR (CSTAR from
 * compatibility mode), RFLAGS &= ~FMASK. Intel has it in 64-bit mode only; AMD also in
 * compatibility mode and in legacy protected mode (ECX = EIP, EIP = STAR[31:0], VM/IF/RF cleared).
 * SYSRET: back to CPL 3 with CS/SS from STAR[63:48]. Single-step looks at TF after both.
 */
export const SYSCALL = family('syscall', (): Handler => (cpu) => {
  const amd = cpu.model.vendor === 'AuthenticAMD';
  if ((cpu.efer & 1) === 0 || cpu.mode === CpuMode.REAL || (!amd && cpu.mode !== CpuMode.LONG64)) { cpu.raiseUd(); return; }
  const star = cpu.msrs.get(Msr.STAR) ?? [0, 0];
  const sel = star[1] & 0xffff;
  const rflags = cpu.getFlags() & ~Flag.RF;
  const ssAttr = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;
  if (cpu.longMode) {
    const target = cpu.msrs.get(cpu.mode === CpuMode.LONG64 ? Msr.LSTAR : Msr.CSTAR) ?? [0, 0];
    const fmask = (cpu.msrs.get(Msr.FMASK) ?? [0, 0])[0];
    cpu.lo[Reg.RCX] = cpu.ripLo; cpu.hi[Reg.RCX] = cpu.ripHi;
    cpu.set32(Reg.R11, rflags);
    cpu.seg.set(Seg.CS, sel & 0xfffc, 0, 0, 0xffffffff,
      SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.L | SegAttr.G);
    cpu.seg.set(Seg.SS, (sel + 8) & 0xfffc, 0, 0, 0xffffffff, ssAttr);
    cpu.setFlags(rflags & ~fmask & ~Flag.RF);
    cpu.ripLo = target[0];
    cpu.ripHi = target[1];
  } else {
    cpu.set32(Reg.RCX, cpu.ripLo);
    cpu.seg.set(Seg.CS, sel & 0xfffc, 0, 0, 0xffffffff,
      SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G);
    cpu.seg.set(Seg.SS, (sel + 8) & 0xfffc, 0, 0, 0xffffffff, ssAttr);
    cpu.setFlags(rflags & ~(Flag.VM | Flag.IF | Flag.RF));
    cpu.ripLo = star[0];
    cpu.ripHi = 0;
  }
  setPrivilege(cpu, 0);
  trapIfTfAfter(cpu);
});

export const SYSRET = checkedFamily('sysret', Check.LONG64 | Check.SCE | Check.CPL0, (form): Handler => {
  const size = form.size;
  return (cpu) => {
    const to64 = size === 8;
    if (to64 && !isCanonical(cpu.lo[Reg.RCX], cpu.hi[Reg.RCX], cpu.paging.ctx.format.vaBits || 48)) { cpu.raiseGp(0); return; }
    const star = cpu.msrs.get(Msr.STAR) ?? [0, 0];
    const base = (star[1] >>> 16) & 0xffff;
    const csSel = ((to64 ? base + 16 : base) & 0xfffc) | 3;
    const attrCs = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.G | (3 << SegAttr.DPL_SHIFT) |
      (to64 ? SegAttr.L : SegAttr.DB);
    cpu.seg.set(Seg.CS, csSel, 0, 0, 0xffffffff, attrCs);
    cpu.seg.set(Seg.SS, ((base + 8) & 0xfffc) | 3, 0, 0, 0xffffffff,
      SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G | (3 << SegAttr.DPL_SHIFT));
    cpu.setFlags((cpu.lo[Reg.R11] & ~(Flag.RF | Flag.VM)) | Flag.FIXED1);
    cpu.ripLo = cpu.lo[Reg.RCX];
    cpu.ripHi = to64 ? cpu.hi[Reg.RCX] : 0;
    setPrivilege(cpu, 3);
    trapIfTfAfter(cpu);
  };
});

function setPrivilege(cpu: Vcpu, cpl: number): void {
  setCpl(cpu, cpl);
  updateMode(cpu);
}

/**
 * INVPCID r, m128 (SDM Vol. 2): type 0 one linear address in one PCID, 1 one PCID, 2 everything,
 * 3 everything but global translations. Types 0 and 1 leave global translations alone. #GP(0)
 * for an unknown type, reserved descriptor bits, a non-canonical address (type 0), or a nonzero
 * PCID with CR4.PCIDE=0 (types 0 and 1).
 */
export const INVPCID = privilegedFamily('invpcid', (form) => {
  const size = form.size;
  return (cpu, i) => {
    const d = cpu.dec;
    const type = cpu.lo[d.reg[i]];
    const typeHi = size === 8 ? cpu.hi[d.reg[i]] : 0;
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    const pcidWord = cpu.mem.read64(lo, hi);
    const pcidHi = cpu.mem.hi;
    const addrLo = cpu.mem.read64((lo + 8) | 0, (lo >>> 0) + 8 > 0xffffffff ? hi + 1 : hi);
    const addrHi = cpu.mem.hi;
    // Kept: the 16-byte descriptor is two reads, both before any of it is checked or used.
    if (cpu.exc >= 0) return;
    if (typeHi !== 0 || (type >>> 0) > 3 || (pcidWord & ~0xfff) !== 0 || pcidHi !== 0) { cpu.raiseGp(0); return; }
    const pcid = pcidWord & 0xfff;
    const pcide = (cpu.cr4 & Cr4.PCIDE) !== 0;
    const paging = cpu.paging;
    switch (type) {
      case InvpcidType.ADDRESS:
        if (!isCanonical(addrLo, addrHi, cpu.model.maxLinearBits) || (!pcide && pcid !== 0)) { cpu.raiseGp(0); return; }
        paging.archInvpcidAddress(addrLo, addrHi, pcid);
        break;
      case InvpcidType.CONTEXT:
        if (!pcide && pcid !== 0) { cpu.raiseGp(0); return; }
        paging.archInvpcidContext(pcid);
        break;
      case InvpcidType.ALL_INCL_GLOBAL: paging.archFlushAll(); break;
      default: paging.archFlushNonGlobal(); break;
    }
    // Type 2 run natively costs its modeled cycles; an intercepted one, its exit's instead.
    const exited = cpu.platform.invpcid(cpu, type, pcid, addrLo, addrHi);
    if (type === InvpcidType.ALL_INCL_GLOBAL && !exited) chargeSerializing(cpu, SERIALIZING_COST.invpcidAll);
    cpu.stop |= Stop.CONTEXT;
  };
});

/** CLAC (variant 0) / STAC (variant 1): #UD above CPL 0; without SMAP the rows decode to #UD (their `smap` feature). */
export const STAC_CLAC = checkedFamily('stac-clac', Check.UD_CPL0, (form) => {
  const set = form.variant === 1;
  return (cpu) => {
    if (set) cpu.flags |= Flag.AC; else cpu.flags &= ~Flag.AC;
  };
});

/** RDPID: TSC_AUX into a 64-bit register (32-bit outside 64-bit mode). */
export const RDPID = family('rdpid', () => (cpu, i) => {
  const aux = (cpu.msrs.get(Msr.TSC_AUX) ?? [0, 0])[0];
  writeReg(cpu, cpu.dec.rm[i], cpu.mode === CpuMode.LONG64 ? 8 : 4, aux, 0);
});


import type { Vcpu } from '../cpu/vcpu.js';
import { CpuMode } from '../cpu/vcpu.js';
import { checkedFamily } from './registry.js';
import { Check } from './checks.js';
import { writeReg } from './operands.js';
import { wordFromE } from './operand-flow.js';
import { updateFlags } from './flags.js';
import { Flag } from '../arch/eflags.js';
import { Descriptor, readDescriptor } from '../cpu/segmentation.js';

/**
 * LAR, LSL, VERR and VERW (SDM Vol. 2 "LAR", "LSL", "VERR/VERW"): questions about a selector that
 * answer in ZF instead of faulting. Each reads the descriptor the selector names and sets ZF=1 if
 * the descriptor passes the instruction's type and privilege checks, else ZF=0; a null selector or
 * one beyond its table's limit is a plain ZF=0. Only the memory operand and the descriptor read can
 * fault (#PF, #GP for a bad operand address). All four are #UD in real and virtual-8086 mode
 * (Check.PROT); the selector is read on the shared flow (operand-flow.ts wordFromE).
 * Linux runs VERW on every return to user space as its MDS mitigation ("clear CPU buffers").
 *
 * Variants: 0 LAR, 1 LSL, 2 VERR, 3 VERW.
 */

const enum Query { LAR = 0, LSL = 1, VERR = 2, VERW = 3 }

/**
 * System descriptor types each instruction accepts (a bit per type), outside and inside IA-32e
 * mode, where the 16-bit TSS and gate types and the task gate are gone. LAR also takes call gates;
 * LSL only types that have a limit.
 */
const LAR_LEGACY = bits(1, 2, 3, 4, 5, 9, 0xb, 0xc);
const LAR_LONG = bits(2, 9, 0xb, 0xc);
const LSL_LEGACY = bits(1, 2, 3, 9, 0xb);
const LSL_LONG = bits(2, 9, 0xb);

function bits(...types: number[]): number {
  return types.reduce((m, t) => m | (1 << t), 0);
}

/** Code-or-data type bits: bit 3 code, for code bit 2 conforming and bit 1 readable, for data bit 1 writable. */
const CODE = 8;
const CONFORMING = 4;
const READ_WRITE = 2;

const desc = new Descriptor();

/**
 * Reads the descriptor of `sel` into `desc`, where readDescriptor would fault on the selector:
 * false for a null selector, an LDT selector with no LDT, or an offset past the table's limit
 * (ZF=0). A fault on the read itself (#PF) is raised and also gives false; the caller checks cpu.exc.
 */
function lookUp(cpu: Vcpu, sel: number): boolean {
  if ((sel & 0xfffc) === 0) return false;
  const ldt = (sel & 4) !== 0;
  if (ldt && (cpu.ldtr.selector & 0xfffc) === 0) return false;
  if ((sel & 0xfff8) + 7 > (ldt ? cpu.ldtr : cpu.gdtr).limit) return false;
  return readDescriptor(cpu, sel, desc);
}

/** DPL >= CPL and DPL >= RPL: what every check but conforming code asks. */
function privilegeOk(cpu: Vcpu, sel: number): boolean {
  const dpl = desc.dpl;
  return dpl >= cpu.cpl && dpl >= (sel & 3);
}

/** Whether the looked-up descriptor passes `q`'s checks. */
function passes(cpu: Vcpu, q: Query, sel: number): boolean {
  const type = desc.type;
  if (!desc.isCodeOrData) {
    if (q === Query.VERR || q === Query.VERW) return false;
    const longMode = cpu.mode === CpuMode.LONG64 || cpu.mode === CpuMode.COMPAT;
    const valid = q === Query.LAR ? (longMode ? LAR_LONG : LAR_LEGACY) : (longMode ? LSL_LONG : LSL_LEGACY);
    return (valid & (1 << type)) !== 0 && privilegeOk(cpu, sel);
  }
  const code = (type & CODE) !== 0;
  if (q === Query.VERW) return !code && (type & READ_WRITE) !== 0 && privilegeOk(cpu, sel);
  if (q === Query.VERR && code && (type & READ_WRITE) === 0) return false;
  // Conforming code segments are accessible from any privilege level.
  return (code && (type & CONFORMING) !== 0) || privilegeOk(cpu, sel);
}

export const SEGMENT_QUERY = checkedFamily('segment-query', Check.PROT, (form) => {
  const q = form.variant as Query;
  const size = form.size;
  return wordFromE(form, (cpu, i, sel) => {
    const d = cpu.dec;
    const found = lookUp(cpu, sel);
    // Kept: reading the descriptor (in the GDT or LDT) can fault after the selector's load.
    if (cpu.exc >= 0) return;
    const ok = found && passes(cpu, q, sel);
    updateFlags(cpu, Flag.ZF, ok ? Flag.ZF : 0);
    // On ZF=0 LAR and LSL leave the destination as it was (no zero-extension either).
    if (!ok || q >= Query.VERR) return;
    if (q === Query.LAR) {
      // Bits 23:8 of the descriptor's high dword: access byte, limit 19:16 and the G, D/B, L,
      // AVL flags. The SDM calls the limit bits undefined; the host CPU (test/exec) returns them.
      writeReg(cpu, d.reg[i], size, size === 2 ? desc.hi & 0xff00 : desc.hi & 0x00ffff00, 0);
    } else {
      writeReg(cpu, d.reg[i], size, desc.limit, 0);
    }
  });
});

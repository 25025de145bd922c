import { LfOp } from '../exec/flags.js';
import { type Form, Operand } from '../exec/registry.js';
import { Reg, Seg } from '../arch/registers.js';
import { Stop } from '../cpu/vcpu.js';
import type { Emitter, InsnContext } from './context.js';
import { HOST, emitLinear, emitOffset, loadAt, storeAt, tlbHit } from './memory.js';
import { inlineCondition, recordFlags, resyncFlags } from './flags.js';

/**
 * Instruction emitters by handler family (the name each emulator/exec family registers under).
 * Each reproduces its family's handler for one decoded form, specialised: operand registers,
 * sizes, immediates and the address arithmetic are constants of the generated code. A form an
 * emitter does not cover returns undefined and runs through its handler.
 */

/** ALU operations in exec/alu.ts order, and the lazy-flag operation each records. */
const ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7;
const ALU_LF: readonly LfOp[] = [LfOp.ADD, LfOp.LOGIC, LfOp.ADC, LfOp.SBB, LfOp.LOGIC, LfOp.SUB, LfOp.LOGIC, LfOp.SUB];

/** fr (and frh for 8 bytes) from fd, fs and ci, as exec/alu.ts compute/compute64 do. */
function aluCompute(op: number, size: number): string {
  if (size === 8) {
    switch (op) {
      case ADD: case ADC:
        return `s = (fd >>> 0) + (fs >>> 0) + ci; frh = (fdh + fsh + (s > 4294967295 ? 1 : 0)) | 0; fr = s | 0;`;
      case OR: return 'frh = fdh | fsh; fr = fd | fs;';
      case AND: return 'frh = fdh & fsh; fr = fd & fs;';
      case XOR: return 'frh = fdh ^ fsh; fr = fd ^ fs;';
      default: return `s = (fd >>> 0) - (fs >>> 0) - ci; frh = (fdh - fsh - (s < 0 ? 1 : 0)) | 0; fr = s | 0;`;
    }
  }
  switch (op) {
    case ADD: return 'fr = (fd + fs) | 0;';
    case OR: return 'fr = fd | fs;';
    case ADC: return 'fr = (fd + fs + ci) | 0;';
    case SBB: return 'fr = (fd - fs - ci) | 0;';
    case AND: return 'fr = fd & fs;';
    case XOR: return 'fr = fd ^ fs;';
    default: return 'fr = (fd - fs) | 0;';
  }
}

/** Statements loading `size` bytes at al/ah (a TLB hit) into `lo` (and `hi` for 8). */
function load(size: number, lo: string, hi: string): string {
  if (size === 8) return `${HOST} ${lo} = view.getInt32(hp, true); ${hi} = view.getInt32(hp + 4, true);`;
  return `${HOST} ${lo} = ${loadAt(size)};`;
}

/** An immediate operand: low half (already sign-extended by the decoder) and high half. */
function imm(c: InsnContext): [string, string] {
  return [String(c.d.imm[c.i]), String(c.d.immHi[c.i])];
}

// What the emitters ask of a form's operands, from its typed descriptor (Form.ops), never from
// the table text. Exported so test/jit/emitter-operands.test.ts can hold each one against the
// text test it replaced, for every form.
/** The source is an immediate ("E,I", "G,I": ALU, TEST and MOV). */
export const immSource = (form: Form): boolean => form.ops.second === Operand.IMM;
/** The destination is the reg slot ("G,E": ALU and MOV). */
export const toReg = (form: Form): boolean => form.ops.first === Operand.G;
/** The shift count is CL, or the constant 1 of "shl Ev,1". */
export const clCount = (form: Form): boolean => form.ops.second === Operand.CL;
export const countOne = (form: Form): boolean => form.ops.second === Operand.ONE;
/** The only operand is an immediate (PUSH Ib/Iz, RET Iw). */
export const immFirst = (form: Form): boolean => form.ops.first === Operand.IMM;
/** IMUL G,E,I. */
export const threeOperands = (form: Form): boolean => form.ops.count === 3;
/** MOVZX/MOVSX/MOVSXD: the bytes the source has (Eb 1, Ew 2, else 4). */
export const sourceBytes = (form: Form): number => (form.ops.lastSize === 1 || form.ops.lastSize === 2 ? form.ops.lastSize : 4);

/** Marks the flag locals as describing the record of `op` just made (conditions may use them). */
function known(c: InsnContext, op: LfOp, size: number): void {
  c.flagsKnown = { op, size };
}

const alu: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const op = form.variant;
  const size = form.size;
  const srcImm = immSource(form);
  const dstIsG = toReg(form);
  const writes = op !== CMP;
  const wide = size === 8;
  const cin = op === ADC || op === SBB ? 'ci = getCF(cpu);' : 'ci = 0;';
  // CMP byte [mem], imm8 has its own handler, which leaves lfAux alone.
  const aux = !writes && srcImm && size === 1 && form.mem ? null : 'ci';
  const flags = recordFlags(ALU_LF[op], size, aux);
  const [il, ih] = imm(c);
  const g = d.reg[i];
  const readG = (lo: string, hi: string): string => `${lo} = ${regs.read(g, size)};${wide ? ` ${hi} = ${regs.hi(g)};` : ''}`;
  if (!form.mem) {
    const dst = dstIsG ? g : d.rm[i];
    const src = dstIsG ? d.rm[i] : g;
    let s = `fd = ${regs.read(dst, size)};${wide ? ` fdh = ${regs.hi(dst)};` : ''}`;
    s += srcImm ? ` fs = ${il};${wide ? ` fsh = ${ih};` : ''}` : ` fs = ${regs.read(src, size)};${wide ? ` fsh = ${regs.hi(src)};` : ''}`;
    s += ` ${cin} ${aluCompute(op, size)}`;
    if (writes) s += ` ${regs.write(dst, size, 'fr', 'frh')}`;
    s += ` ${flags}`;
    known(c, ALU_LF[op], size);
    return s;
  }
  const { code, cond } = emitLinear(c);
  let body: string;
  let hit: string;
  if (dstIsG) {
    hit = tlbHit('tR', size);
    body = `${readG('fd', 'fdh')} ${load(size, 'fs', 'fsh')} ${cin} ${aluCompute(op, size)}`;
    if (writes) body += ` ${regs.write(g, size, 'fr', 'frh')}`;
  } else {
    hit = writes ? `${tlbHit('tR', size)} && ${tlbHit('tW', size)}` : tlbHit('tR', size);
    body = `${load(size, 'fd', 'fdh')} ${srcImm ? `fs = ${il};${wide ? ` fsh = ${ih};` : ''}` : readG('fs', 'fsh')} ${cin} ${aluCompute(op, size)}`;
    if (writes) body += ` ${storeAt(size, 'fr', 'frh')}`;
  }
  body += ` ${flags}`;
  const out = c.guarded(code, `${cond} && ${hit}`, body, resyncFlags(size));
  known(c, ALU_LF[op], size);
  return out;
};

const test: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const size = form.size;
  const wide = size === 8;
  const [il, ih] = imm(c);
  const src = immSource(form)
    ? `fs = ${il};${wide ? ` fsh = ${ih};` : ''}`
    : `fs = ${regs.read(d.reg[i], size)};${wide ? ` fsh = ${regs.hi(d.reg[i])};` : ''}`;
  const tail = `${src} fr = fd & fs;${wide ? ' frh = fdh & fsh;' : ''} ${recordFlags(LfOp.LOGIC, size, null)}`;
  let out: string;
  if (!form.mem) {
    out = `fd = ${regs.read(d.rm[i], size)};${wide ? ` fdh = ${regs.hi(d.rm[i])};` : ''} ${tail}`;
  } else {
    const { code, cond } = emitLinear(c);
    out = c.guarded(code, `${cond} && ${tlbHit('tR', size)}`, `${load(size, 'fd', 'fdh')} ${tail}`, resyncFlags(size));
  }
  known(c, LfOp.LOGIC, size);
  return out;
};

const INC = 0, DEC = 1, NOT = 2;
const unary: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const size = form.size;
  const op = form.variant;
  const wide = size === 8;
  let compute: string;
  switch (op) {
    case INC: compute = `v = (fd + 1) | 0;${wide ? ' vh = v === 0 ? (fdh + 1) | 0 : fdh;' : ''}`; break;
    case DEC: compute = `v = (fd - 1) | 0;${wide ? ' vh = fd === 0 ? (fdh - 1) | 0 : fdh;' : ''}`; break;
    case NOT: compute = 'v = ~fd; vh = ~fdh;'; break;
    default: compute = `v = -fd | 0;${wide ? ' vh = fd === 0 ? -fdh | 0 : ~fdh;' : ''}`; break;
  }
  let flags = '';
  if (op === INC || op === DEC) {
    flags = `fs = 1;${wide ? ' fsh = 0;' : ''} fr = v;${wide ? ' frh = vh;' : ''} ${recordFlags(op === INC ? LfOp.INC : LfOp.DEC, size, 'getCF(cpu)')}`;
  } else if (op !== NOT) {
    // NEG records SUB 0 - a.
    flags = `fs = fd; fd = 0;${wide ? ' fsh = fdh; fdh = 0;' : ''} fr = v;${wide ? ' frh = vh;' : ''} ${recordFlags(LfOp.SUB, size, null)}`;
  }
  const after = (): void => {
    if (op !== NOT) known(c, op === INC ? LfOp.INC : op === DEC ? LfOp.DEC : LfOp.SUB, size);
  };
  if (!form.mem) {
    const r = d.rm[i];
    const s = `fd = ${regs.read(r, size)}; fdh = ${wide ? regs.hi(r) : '0'}; ${compute} ${regs.write(r, size, 'v', 'vh')} ${flags}`;
    after();
    return s;
  }
  const { code, cond } = emitLinear(c);
  const body = `${load(size, 'fd', 'fdh')}${wide ? '' : ' fdh = 0;'} ${compute} ${storeAt(size, 'v', 'vh')} ${flags}`;
  const out = c.guarded(code, `${cond} && ${tlbHit('tR', size)} && ${tlbHit('tW', size)}`, body, op === NOT ? '' : resyncFlags(size));
  after();
  return out;
};

/**
 * SHL/SAL, SHR and SAR by 1 or an immediate (exec/shift.ts): the masked count is a constant, so
 * the shift is specialised for it; fd = operand, fs = count, fr = result, as the handler records.
 * Rotates, CL counts and a zero count (no flags) run through the handler.
 */
const SHIFT_LF: Readonly<Record<number, LfOp>> = { 4: LfOp.SHL, 5: LfOp.SHR, 6: LfOp.SHL, 7: LfOp.SAR };
const shift: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const size = form.size;
  const lf = SHIFT_LF[form.variant];
  if (lf === undefined || clCount(form)) return undefined;
  const n = (countOne(form) ? 1 : d.imm[i]) & (size === 8 ? 0x3f : 0x1f);
  if (n === 0) return undefined;
  let compute: string;
  if (size === 8) {
    if (lf === LfOp.SHL) compute = n >= 32 ? `frh = fd << ${n - 32}; fr = 0;` : `frh = (fdh << ${n}) | (fd >>> ${32 - n}); fr = fd << ${n};`;
    else if (lf === LfOp.SHR) compute = n >= 32 ? `frh = 0; fr = fdh >>> ${n - 32};` : `frh = fdh >>> ${n}; fr = (fd >>> ${n}) | (fdh << ${32 - n});`;
    else compute = n >= 32 ? `frh = fdh >> 31; fr = fdh >> ${n - 32};` : `frh = fdh >> ${n}; fr = (fd >>> ${n}) | (fdh << ${32 - n});`;
  } else {
    const bits = 8 * size;
    if (lf === LfOp.SHL) compute = `fr = fd << ${n};`;
    else if (lf === LfOp.SHR) compute = `fr = fd >>> ${n};`;
    else compute = `fr = ((fd << ${32 - bits}) >> ${32 - bits}) >> ${Math.min(n, 31)};`;
  }
  const tail = `fs = ${n};${size === 8 ? ' fsh = 0;' : ''} ${compute}`;
  const flags = recordFlags(lf, size, null);
  let out: string;
  if (!form.mem) {
    const r = d.rm[i];
    out = `fd = ${regs.read(r, size)};${size === 8 ? ` fdh = ${regs.hi(r)};` : ''} ${tail} ${regs.write(r, size, 'fr', 'frh')} ${flags}`;
  } else {
    const { code, cond } = emitLinear(c);
    const body = `${load(size, 'fd', 'fdh')} ${tail} ${storeAt(size, 'fr', 'frh')} ${flags}`;
    out = c.guarded(code, `${cond} && ${tlbHit('tR', size)} && ${tlbHit('tW', size)}`, body, resyncFlags(size));
  }
  known(c, lf, size);
  return out;
};

const mov: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const size = form.size;
  const fromImm = immSource(form);
  const toG = toReg(form);
  const [il, ih] = imm(c);
  const g = d.reg[i];
  if (!form.mem) {
    const dst = toG ? g : d.rm[i];
    if (fromImm) return regs.write(dst, size, il, ih);
    const src = toG ? d.rm[i] : g;
    if (size === 8) return `v = ${regs.lo(src)}; vh = ${regs.hi(src)}; ${regs.write(dst, 8, 'v', 'vh')}`;
    return `v = ${regs.read(src, size)}; ${regs.write(dst, size, 'v')}`;
  }
  const { code, cond } = emitLinear(c);
  if (toG) return c.guarded(code, `${cond} && ${tlbHit('tR', size)}`, `${load(size, 'v', 'vh')} ${regs.write(g, size, 'v', 'vh')}`);
  const value = fromImm ? storeAt(size, il, ih) : storeAt(size, regs.read(g, size), size === 8 ? regs.hi(g) : '0');
  return c.guarded(code, `${cond} && ${tlbHit('tW', size)}`, `${HOST} ${value}`);
};

const movx: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const from = sourceBytes(form);
  const signed = form.variant === 1;
  const ext = signed
    ? (from === 1 ? 'v = (v << 24) >> 24;' : from === 2 ? 'v = (v << 16) >> 16;' : 'v = v | 0;')
    : (from === 1 ? 'v &= 0xff;' : from === 2 ? 'v &= 0xffff;' : '');
  const tail = `${ext} ${regs.write(d.reg[i], form.size, 'v', signed ? '(v >> 31)' : '0')}`;
  if (!form.mem) return `v = ${regs.read(d.rm[i], from)}; ${tail}`;
  const { code, cond } = emitLinear(c);
  return c.guarded(code, `${cond} && ${tlbHit('tR', from)}`, `${HOST} v = ${loadAt(from)}; ${tail}`);
};

const lea: Emitter = (c) => {
  const { d, i, form, regs } = c;
  return `${emitOffset(c)} ${regs.write(d.reg[i], form.size, 'al', d.asize[i] === 8 ? 'ah' : '0')}`;
};

/** The stack forms run inline only with a 64-bit stack (64-bit code); others use the handler. */
const push: Emitter = (c) => {
  const { d, i, form, regs } = c;
  if (c.bits !== 64 || form.size !== 8 || form.mem || immFirst(form)) return undefined;
  const r = d.rm[i];
  const sp = Reg.RSP;
  const pre = `s = (${regs.lo(sp)} >>> 0) - 8; nh = (${regs.hi(sp)} + (s < 0 ? -1 : 0)) | 0; nl = s | 0; al = nl; ah = nh;`;
  const cond = `cpu.stackBytes === 8 && ((ah << 16) >> 16) === ah && ${tlbHit('tW', 8)}`;
  const body = `${HOST} ${storeAt(8, regs.lo(r), regs.hi(r))} ${regs.setLo(sp)} = nl; ${regs.setHi(sp)} = nh;`;
  return c.guarded(pre, cond, body);
};

const pop: Emitter = (c) => {
  const { d, i, form, regs } = c;
  if (c.bits !== 64 || form.size !== 8 || form.mem) return undefined;
  const r = d.rm[i];
  const sp = Reg.RSP;
  const pre = `al = ${regs.lo(sp)}; ah = ${regs.hi(sp)};`;
  const cond = `cpu.stackBytes === 8 && ((ah << 16) >> 16) === ah && ${tlbHit('tR', 8)}`;
  const body = `${load(8, 'v', 'vh')} s = (${regs.lo(sp)} >>> 0) + 8; ${regs.setHi(sp)} = (${regs.hi(sp)} + (s > 4294967295 ? 1 : 0)) | 0; ` +
    `${regs.setLo(sp)} = s | 0; ${regs.write(r, 8, 'v', 'vh')}`;
  return c.guarded(pre, cond, body);
};

/**
 * Near relative branches in 64-bit code at the end of a block: the taken target and the
 * fall-through each continue in the region or return to the run loop (InsnContext.jump).
 */
const jcc: Emitter = (c) => {
  const condition = inlineCondition(c.flagsKnown, c.form.variant) ?? `cond(cpu, ${c.form.variant})`;
  if (c.bits !== 64) return `if (${condition}) { ${narrowJump(c)} }`;
  if (c.form.size !== 8) return undefined;
  return `if (${condition}) { ${c.jump(c.next + c.d.imm[c.i])} } ${c.jump(c.next)}`;
};
const jmpRel: Emitter = (c) => (c.bits !== 64 ? narrowJump(c) : c.form.size !== 8 ? undefined : c.jump(c.next + c.d.imm[c.i]));

/**
 * A taken relative branch in 16- or 32-bit code (exec/control.ts branchTo): the target wraps at
 * the operand size, and beyond the CS limit (when CS has one) the handler raises #GP. The block
 * then ends as any other (the translator returns to the run loop; regions are 64-bit only).
 */
function narrowJump(c: InsnContext): string {
  const offset = c.next + c.d.imm[c.i];
  const target = c.form.size === 2 ? `(r + ${offset}) & 0xffff` : `(r + ${offset}) | 0`;
  return c.guarded(`s = ${target};`, `(cpu.segCheck & ${1 << Seg.CS}) === 0 || (s >>> 0) <= cpu.seg.limit[${Seg.CS}]`, 'cpu.ripLo = s; cpu.ripHi = 0;');
}
/**
 * CALL rel32 in 64-bit code with a 64-bit stack (exec/control.ts CALL_REL): the return address
 * is pushed and the target continues in the region (a block of another page is chained) or
 * returns to the run loop. A target whose linear address would carry into RIP's high half, a
 * non-canonical stack address or a push off the TLB fast path runs the handler.
 */
const callRel: Emitter = (c) => {
  if (c.bits !== 64 || c.form.size !== 8) return undefined;
  const { regs } = c;
  const sp = Reg.RSP;
  const target = c.next + c.d.imm[c.i];
  const pre = `s = (${regs.lo(sp)} >>> 0) - 8; nh = (${regs.hi(sp)} + (s < 0 ? -1 : 0)) | 0; nl = s | 0; al = nl; ah = nh; s = r + ${target};`;
  const cond = `cpu.stackBytes === 8 && s >= 0 && s <= 4294967295 && ((ah << 16) >> 16) === ah && ${tlbHit('tW', 8)}`;
  const body = `${HOST} ${storeAt(8, `(r + ${c.next}) | 0`, 'rh')} ${regs.setLo(sp)} = nl; ${regs.setHi(sp)} = nh; ${c.jump(target, true)}`;
  return `${c.guarded(pre, cond, body)} ${c.exit()}`;
};

/**
 * CALL through a 64-bit register in 64-bit code with a 64-bit stack (exec/control.ts CALL_IND):
 * the register is read before the return address is pushed (CALL RSP calls the old RSP). A
 * target whose high half equals RIP's is canonical as RIP is; it continues in the region when it
 * is a region block (the CALL's hinted target, region.ts), else records its distance as the
 * CALL's hint (and, with no hint before, asks for the region to be translated again: M) and
 * returns to the run loop. Another high half (it may be non-canonical), a
 * non-canonical stack address or a push off the TLB fast path runs the handler.
 */
const callInd: Emitter = (c) => {
  if (c.bits !== 64 || c.form.size !== 8 || c.form.mem) return undefined;
  const { regs, indirect } = c;
  const sp = Reg.RSP;
  const t = c.d.rm[c.i];
  const pre = `v = ${regs.lo(t)}; vh = ${regs.hi(t)}; ` +
    `s = (${regs.lo(sp)} >>> 0) - 8; nh = (${regs.hi(sp)} + (s < 0 ? -1 : 0)) | 0; nl = s | 0; al = nl; ah = nh;`;
  const cond = `vh === rh && cpu.stackBytes === 8 && ((ah << 16) >> 16) === ah && ${tlbHit('tW', 8)}`;
  let body = `${HOST} ${storeAt(8, `(r + ${c.next}) | 0`, 'rh')} ${regs.setLo(sp)} = nl; ${regs.setHi(sp)} = nh; `;
  // A region block's linear address is r + delta with no carry (region.ts): low halves suffice.
  for (const delta of indirect.targets) body += `if (v === ((r + ${delta}) | 0)) { ${c.jump(delta, true)} } `;
  const retranslate = indirect.targets.length === 0 ? 'M.missed = true; ' : '';
  body += `I.set(${indirect.hintKey}, (v - r - ${indirect.blockDelta}) | 0); ${retranslate}cpu.ripLo = v; ${c.exit()}`;
  return `${c.guarded(pre, cond, body)} ${c.exit()}`;
};

/**
 * Near RET (and RET imm16) in 64-bit code with a 64-bit stack (exec/control.ts RET): the popped
 * address continues in the region when it is the return site of a CALL there, else returns to
 * the run loop. A target whose high half differs from RIP's (it may be non-canonical), a
 * non-canonical stack address or a pop off the TLB fast path runs the handler.
 */
const ret: Emitter = (c) => {
  if (c.bits !== 64 || c.form.size !== 8) return undefined;
  const { regs } = c;
  const sp = Reg.RSP;
  const extra = immFirst(c.form) ? c.d.imm[c.i] & 0xffff : 0;
  const pre = `al = ${regs.lo(sp)}; ah = ${regs.hi(sp)};`;
  const cond = `cpu.stackBytes === 8 && ((ah << 16) >> 16) === ah && ${tlbHit('tR', 8)} && ` +
    `(${HOST.slice(0, -1)}, view.getInt32(hp + 4, true) === rh)`;
  let body = `v = view.getInt32(hp, true); s = (${regs.lo(sp)} >>> 0) + ${8 + extra}; ` +
    `${regs.setHi(sp)} = (${regs.hi(sp)} + (s > 4294967295 ? 1 : 0)) | 0; ${regs.setLo(sp)} = s | 0; `;
  // A return site's linear address is r + delta with no carry (region.ts), so comparing low halves suffices.
  for (const site of c.returnSites) body += `if (v === ((r + ${site}) | 0)) { ${c.jump(site, true)} } `;
  body += `cpu.ripLo = v; ${c.exit()}`;
  return `${c.guarded(pre, cond, body)} ${c.exit()}`;
};

/**
 * Two- and three-operand IMUL of 16 and 32 bits (exec/muldiv.ts IMUL): the truncated signed
 * product, with the MUL record the handler makes (result in lfRes, CF = OF = lfAux = whether the
 * product does not fit). A 32-bit product fits when the double product equals Math.imul's: a
 * product that fits is exact as a double, and one that does not cannot round back into range.
 * 64-bit products run the handler.
 */
const imul: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const size = form.size;
  if (size !== 2 && size !== 4) return undefined;
  const g = d.reg[i];
  const withImm = threeOperands(form);
  const y = withImm ? String(d.imm[i]) : regs.read(g, size);
  const compute = size === 4
    ? `vh = ${y}; fr = Math.imul(v, vh); ci = v * vh !== fr ? 1 : 0;`
    : `v = (v << 16) >> 16; vh = (${y} << 16) >> 16; fr = v * vh; ci = fr !== ((fr << 16) >> 16) ? 1 : 0;`;
  const tail = `${compute} ${regs.write(g, size, 'fr')} fd = 0; fs = 0; ${recordFlags(LfOp.MUL, size, 'ci')}`;
  c.flagsKnown = null;
  if (!form.mem) return `v = ${regs.read(d.rm[i], size)}; ${tail}`;
  const { code, cond } = emitLinear(c);
  const out = c.guarded(code, `${cond} && ${tlbHit('tR', size)}`, `${HOST} v = ${loadAt(size)}; ${tail}`, resyncFlags(size));
  c.flagsKnown = null;
  return out;
};

/** The condition of CMOVcc/SETcc from the flag locals when the producer is known, else cond(). */
function condition(c: InsnContext): string {
  return inlineCondition(c.flagsKnown, c.form.variant) ?? `cond(cpu, ${c.form.variant})`;
}

/**
 * CMOVcc (exec/move.ts): the source is read whether or not the condition holds (a memory source
 * may fault either way), and a 32-bit CMOV clears the destination's high half even when it does
 * not move.
 */
const cmov: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const size = form.size;
  const g = d.reg[i];
  const apply = `if (${condition(c)}) { ${regs.write(g, size, 'v', 'vh')} }${size === 4 ? ` else ${regs.setHi(g)} = 0;` : ''}`;
  if (!form.mem) {
    const r = d.rm[i];
    return `v = ${regs.read(r, size)};${size === 8 ? ` vh = ${regs.hi(r)};` : ''} ${apply}`;
  }
  const { code, cond } = emitLinear(c);
  return c.guarded(code, `${cond} && ${tlbHit('tR', size)}`, `${load(size, 'v', 'vh')} ${apply}`);
};

/** SETcc Eb (exec/move.ts). */
const setcc: Emitter = (c) => {
  const { d, i, form, regs } = c;
  const value = `(${condition(c)} ? 1 : 0)`;
  if (!form.mem) return regs.write(d.rm[i], 1, value);
  const { code, cond } = emitLinear(c);
  return c.guarded(code, `${cond} && ${tlbHit('tW', 1)}`, `${HOST} ${storeAt(1, value)}`);
};

/**
 * MOV r64, CR8 and MOV CR8, r64 in 64-bit code (exec/system.ts MOV_CR, a CPL-0 family; CR8 is the
 * local APIC's TPR): at CPL 0 the read is the register's value, and a write of a valid value
 * (bits 4-63 clear, else #GP) stores it and tells the platform (control-regs.ts writeCr8), which
 * stops the run loop for an interrupt the lower priority may unmask: the code goes on only when
 * the run loop would find none (events.ts Q). Other control registers, another privilege level
 * or an invalid value run the handler.
 */
const movCr: Emitter = (c) => {
  const { d, i, form, regs } = c;
  if (c.bits !== 64 || d.reg[i] !== 8 || form.checks !== 0) return undefined;
  const r = d.rm[i];
  if (form.variant === 0) return c.guarded('', 'cpu.cpl === 0', regs.write(r, 8, 'cpu.cr8', '0'));
  const body = `${c.sync()}cpu.cr8 = v; cpu.platform.setTpr(cpu, v); cpu.stop |= ${Stop.EVENT}; if (!(${c.sameContext} && Q(cpu))) { ${c.stopped()} }`;
  return c.guarded(`v = ${regs.lo(r)};`, `cpu.cpl === 0 && ${regs.hi(r)} === 0 && (v & ~0xf) === 0`, body);
};

/** CBW/CWDE/CDQE (exec/move.ts): the lower half of the accumulator sign-extended into all of it. */
const cbw: Emitter = (c) => {
  const { regs } = c;
  const a = regs.lo(Reg.RAX);
  switch (c.form.size) {
    case 2: return regs.write(Reg.RAX, 2, `(${a} << 24) >> 24`);
    case 4: return regs.write(Reg.RAX, 4, `(${a} << 16) >> 16`);
    default: return `${regs.setHi(Reg.RAX)} = ${a} >> 31;`;
  }
};

/** CWD/CDQ/CQO (exec/move.ts): rDX filled with the sign of rAX. */
const cwd: Emitter = (c) => {
  const { regs } = c;
  switch (c.form.size) {
    case 2: return regs.write(Reg.RDX, 2, `(${regs.lo(Reg.RAX)} << 16) >> 31`);
    case 4: return regs.write(Reg.RDX, 4, `${regs.lo(Reg.RAX)} >> 31`);
    default: return `v = ${regs.hi(Reg.RAX)} >> 31; ${regs.write(Reg.RDX, 8, 'v', 'v')}`;
  }
};

/** PAUSE takes the modeled CPU's time (exec/move.ts) and does nothing else. */
const pause: Emitter = () => 'cpu.extraCycles += cpu.model.pauseCycles - 1;';
const nop: Emitter = () => '';

export const EMITTERS: Readonly<Record<string, Emitter>> = {
  'alu': alu,
  'test': test,
  'unary': unary,
  'mov': mov,
  'movx': movx,
  'lea': lea,
  'push': push,
  'pop': pop,
  'jcc': jcc,
  'jmp-rel': jmpRel,
  'call-rel': callRel,
  'call-ind': callInd,
  'imul': imul,
  'ret': ret,
  'nop': nop,
  'cbw': cbw,
  'mov-cr': movCr,
  'cwd': cwd,
  'pause': pause,
  'cmov': cmov,
  'setcc': setcc,
  'shift': shift,
};

/** Families whose handlers never change the arithmetic flags (their slow path keeps flag locals). */
export const KEEPS_FLAGS: ReadonlySet<string> = new Set(['mov', 'movx', 'lea', 'push', 'pop', 'nop', 'pause', 'cmov', 'setcc', 'call-rel', 'call-ind', 'ret', 'cbw', 'cwd']);

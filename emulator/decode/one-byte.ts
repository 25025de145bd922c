import { CONDITIONS, type Entry, RowFlag as F, grp, map, mod, op, pfx, range } from './table.js';
import { ALU, AluOp, TEST, UNARY, UnaryOp } from '../exec/alu.js';
import { BCD, BcdOp } from '../exec/bcd.js';
import { LOAD_FAR_POINTER } from '../exec/far-pointer.js';
import { CBW, CWD, FLAGOP, FlagOp, LAHF, LEA, MOV, MOVX, NOP, PAUSE, SAHF, XCHG, XLAT } from '../exec/move.js';
import { SHIFT, ShiftOp } from '../exec/shift.js';
import { DIV, IMUL, MUL1 } from '../exec/muldiv.js';
import { ENTER, LEAVE, POP, POPA, POPF, POP_SEG, PUSH, PUSHA, PUSHF, PUSH_SEG } from '../exec/stack.js';
import { CALL_FAR, CALL_IND, CALL_REL, INT, IRET, IntOp, JCC, JMP_FAR, JMP_IND, JMP_REL, LOOP, LoopOp, RET, RET_FAR } from '../exec/control.js';
import { STRING, StrOp } from '../exec/string.js';
import { IN, OUT } from '../exec/io.js';
import { CLI_STI, HLT, MOV_FROM_SEG, MOV_TO_SEG } from '../exec/system.js';
import { Seg } from '../arch/registers.js';
import { X87_ESCAPES } from './x87-table.js';
import { FWAIT } from '../exec/x87.js';

/** The one-byte opcode map (SDM Vol. 2 Table A-2). Prefix bytes are handled by the decoder. */

const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;

/** The six encodings every ALU operation has at 00+8k .. 05+8k. */
function aluBlock(k: AluOp): Array<[number, Entry]> {
  const name = ALU_NAMES[k];
  const lock = k === AluOp.CMP ? 0 : F.LOCK;
  const base = 8 * k;
  return [
    [base, op(`${name} Eb,Gb`, ALU, k, lock)],
    [base + 1, op(`${name} Ev,Gv`, ALU, k, lock)],
    [base + 2, op(`${name} Gb,Eb`, ALU, k)],
    [base + 3, op(`${name} Gv,Ev`, ALU, k)],
    [base + 4, op(`${name} AL,Ib`, ALU, k)],
    [base + 5, op(`${name} rAX,Iz`, ALU, k)],
  ];
}

function group1(size: 'Eb,Ib' | 'Ev,Iz' | 'Ev,Ib', flags = 0): Entry {
  return grp(ALU_NAMES.map((name, k) => op(`${name} ${size}`, ALU, k, (k === AluOp.CMP ? 0 : F.LOCK) | flags)));
}

const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'] as const;

function group2(operands: string): Entry {
  return grp(SHIFT_NAMES.map((name, k) => op(`${name} ${operands}`, SHIFT, k as ShiftOp)));
}

function group3(size: 'b' | 'v'): Entry {
  const imm = size === 'b' ? 'Ib' : 'Iz';
  return grp([
    op(`test E${size},${imm}`, TEST),
    op(`test E${size},${imm}`, TEST), // /1 is an undocumented alias of /0 that both vendors decode
    op(`not E${size}`, UNARY, UnaryOp.NOT, F.LOCK),
    op(`neg E${size}`, UNARY, UnaryOp.NEG, F.LOCK),
    op(`mul E${size}`, MUL1, 0),
    op(`imul E${size}`, MUL1, 1),
    op(`div E${size}`, DIV, 0),
    op(`idiv E${size}`, DIV, 1),
  ]);
}

const jcc8: Array<[number, Entry]> = CONDITIONS.map((c, k) => [0x70 + k, op(`j${c} Jb`, JCC, k, F.F64 | F.END)]);

export const ONE_BYTE = map([
  ...aluBlock(AluOp.ADD),
  [0x06, op('push ES', PUSH_SEG, Seg.ES, F.I64)],
  [0x07, op('pop ES', POP_SEG, Seg.ES, F.I64 | F.SYS)],
  ...aluBlock(AluOp.OR),
  [0x0e, op('push CS', PUSH_SEG, Seg.CS, F.I64)],
  ...aluBlock(AluOp.ADC),
  [0x16, op('push SS', PUSH_SEG, Seg.SS, F.I64)],
  [0x17, op('pop SS', POP_SEG, Seg.SS, F.I64 | F.SYS)],
  ...aluBlock(AluOp.SBB),
  [0x1e, op('push DS', PUSH_SEG, Seg.DS, F.I64)],
  [0x1f, op('pop DS', POP_SEG, Seg.DS, F.I64 | F.SYS)],
  ...aluBlock(AluOp.AND),
  [0x27, op('daa', BCD, BcdOp.DAA, F.I64)],
  ...aluBlock(AluOp.SUB),
  [0x2f, op('das', BCD, BcdOp.DAS, F.I64)],
  ...aluBlock(AluOp.XOR),
  [0x37, op('aaa', BCD, BcdOp.AAA, F.I64)],
  ...aluBlock(AluOp.CMP),
  [0x3f, op('aas', BCD, BcdOp.AAS, F.I64)],
  // 40-4F are REX prefixes in 64-bit mode; the decoder only reaches these rows elsewhere.
  ...range(0x40, () => op('inc Zv', UNARY, UnaryOp.INC, F.I64)),
  ...range(0x48, () => op('dec Zv', UNARY, UnaryOp.DEC, F.I64)),
  ...range(0x50, () => op('push Zv', PUSH, 0, F.D64)),
  ...range(0x58, () => op('pop Zv', POP, 0, F.D64)),
  [0x60, op('pusha', PUSHA, 0, F.I64)],
  [0x61, op('popa', POPA, 0, F.I64)],
  [0x62, op('bound Gv,Ma', undefined, 0, F.I64)],
  [0x63, op('movsxd Gv,Ed', MOVX, 1, F.O64)],
  [0x68, op('push Iz', PUSH, 0, F.D64)],
  [0x69, op('imul Gv,Ev,Iz', IMUL)],
  [0x6a, op('push Ib', PUSH, 0, F.D64)],
  [0x6b, op('imul Gv,Ev,Ib', IMUL)],
  [0x6c, op('insb Yb,DX', STRING, StrOp.INS, F.REP | F.END | F.IO)],
  [0x6d, op('ins Yz,DX', STRING, StrOp.INS, F.REP | F.END | F.IO)],
  [0x6e, op('outsb DX,Xb', STRING, StrOp.OUTS, F.REP | F.END | F.IO)],
  [0x6f, op('outs DX,Xz', STRING, StrOp.OUTS, F.REP | F.END | F.IO)],
  ...jcc8,
  [0x80, group1('Eb,Ib')],
  [0x81, group1('Ev,Iz')],
  [0x82, group1('Eb,Ib', F.I64)],
  [0x83, group1('Ev,Ib')],
  [0x84, op('test Eb,Gb', TEST)],
  [0x85, op('test Ev,Gv', TEST)],
  [0x86, op('xchg Eb,Gb', XCHG, 0, F.LOCK)],
  [0x87, op('xchg Ev,Gv', XCHG, 0, F.LOCK)],
  [0x88, op('mov Eb,Gb', MOV)],
  [0x89, op('mov Ev,Gv', MOV)],
  [0x8a, op('mov Gb,Eb', MOV)],
  [0x8b, op('mov Gv,Ev', MOV)],
  [0x8c, op('mov Ev,Sw', MOV_FROM_SEG)],
  [0x8d, op('lea Gv,M', LEA)],
  [0x8e, op('mov Sw,Ew', MOV_TO_SEG, 0, F.SYS)],
  [0x8f, grp([op('pop Ev', POP, 0, F.D64), undefined, undefined, undefined, undefined, undefined, undefined, undefined])],
  // 90 is NOP (PAUSE with F3); with REX.B it is XCHG r8,rAX, which the decoder redirects to 91's row.
  [0x90, pfx({ none: op('nop', NOP), pF3: op('pause', PAUSE), p66: op('nop', NOP), pF2: op('nop', NOP) })],
  ...range(0x91, () => op('xchg Zv,rAX', XCHG), 7),
  [0x98, op('cbw', CBW)],
  [0x99, op('cwd', CWD)],
  [0x9a, op('call Ap', CALL_FAR, 0, F.I64 | F.END)],
  [0x9b, op('fwait', FWAIT)],
  [0x9c, op('pushf', PUSHF, 0, F.D64)],
  [0x9d, op('popf', POPF, 0, F.D64 | F.SYS)],
  [0x9e, op('sahf', SAHF)],
  [0x9f, op('lahf', LAHF)],
  [0xa0, op('mov AL,Ob', MOV)],
  [0xa1, op('mov rAX,Ov', MOV)],
  [0xa2, op('mov Ob,AL', MOV)],
  [0xa3, op('mov Ov,rAX', MOV)],
  [0xa4, op('movsb Yb,Xb', STRING, StrOp.MOVS, F.REP | F.END)],
  [0xa5, op('movs Yv,Xv', STRING, StrOp.MOVS, F.REP | F.END)],
  [0xa6, op('cmpsb Xb,Yb', STRING, StrOp.CMPS, F.REP | F.END)],
  [0xa7, op('cmps Xv,Yv', STRING, StrOp.CMPS, F.REP | F.END)],
  [0xa8, op('test AL,Ib', TEST)],
  [0xa9, op('test rAX,Iz', TEST)],
  [0xaa, op('stosb Yb,AL', STRING, StrOp.STOS, F.REP | F.END)],
  [0xab, op('stos Yv,rAX', STRING, StrOp.STOS, F.REP | F.END)],
  [0xac, op('lodsb AL,Xb', STRING, StrOp.LODS, F.REP | F.END)],
  [0xad, op('lods rAX,Xv', STRING, StrOp.LODS, F.REP | F.END)],
  [0xae, op('scasb AL,Yb', STRING, StrOp.SCAS, F.REP | F.END)],
  [0xaf, op('scas rAX,Yv', STRING, StrOp.SCAS, F.REP | F.END)],
  ...range(0xb0, () => op('mov Zb,Ib', MOV)),
  ...range(0xb8, () => op('mov Zv,Iv', MOV)),
  [0xc0, group2('Eb,Ib')],
  [0xc1, group2('Ev,Ib')],
  [0xc2, op('ret Iw', RET, 0, F.F64 | F.END)],
  [0xc3, op('ret', RET, 0, F.F64 | F.END)],
  [0xc4, op('les Gz,Mp', LOAD_FAR_POINTER, Seg.ES, F.I64)],
  [0xc5, op('lds Gz,Mp', LOAD_FAR_POINTER, Seg.DS, F.I64)],
  [0xc6, grp([op('mov Eb,Ib', MOV), undefined, undefined, undefined, undefined, undefined, undefined, undefined])],
  [0xc7, grp([op('mov Ev,Iz', MOV), undefined, undefined, undefined, undefined, undefined, undefined, undefined])],
  [0xc8, op('enter Iw,Ib', ENTER, 0, F.D64)],
  [0xc9, op('leave', LEAVE, 0, F.D64)],
  [0xca, op('retf Iw', RET_FAR, 0, F.END)],
  [0xcb, op('retf', RET_FAR, 0, F.END)],
  [0xcc, op('int3', INT, IntOp.INT3, F.END)],
  [0xcd, op('int Ib', INT, IntOp.INTN, F.END | F.VM86_IOPL)],
  [0xce, op('into', INT, IntOp.INTO, F.I64 | F.END)],
  [0xcf, op('iret', IRET, 0, F.END)],
  [0xd0, group2('Eb,1')],
  [0xd1, group2('Ev,1')],
  [0xd2, group2('Eb,CL')],
  [0xd3, group2('Ev,CL')],
  [0xd4, op('aam Ib', BCD, BcdOp.AAM, F.I64)],
  [0xd5, op('aad Ib', BCD, BcdOp.AAD, F.I64)],
  // SALC: undocumented, executed by Intel and AMD CPUs outside 64-bit mode.
  [0xd6, op('salc', BCD, BcdOp.SALC, F.I64)],
  [0xd7, op('xlat', XLAT)],
  ...X87_ESCAPES.map((e, k): [number, Entry] => [0xd8 + k, e]),
  [0xe0, op('loopne Jb', LOOP, LoopOp.LOOPNE, F.F64 | F.END)],
  [0xe1, op('loope Jb', LOOP, LoopOp.LOOPE, F.F64 | F.END)],
  [0xe2, op('loop Jb', LOOP, LoopOp.LOOP, F.F64 | F.END)],
  [0xe3, op('jrcxz Jb', LOOP, LoopOp.JRCXZ, F.F64 | F.END)],
  [0xe4, op('in AL,Ib', IN, 0, F.SYS)],
  [0xe5, op('in eAX,Ib', IN, 0, F.SYS)],
  [0xe6, op('out Ib,AL', OUT, 0, F.SYS)],
  [0xe7, op('out Ib,eAX', OUT, 0, F.SYS)],
  [0xe8, op('call Jz', CALL_REL, 0, F.F64 | F.END)],
  [0xe9, op('jmp Jz', JMP_REL, 0, F.F64 | F.END)],
  [0xea, op('jmp Ap', JMP_FAR, 0, F.I64 | F.END)],
  [0xeb, op('jmp Jb', JMP_REL, 0, F.F64 | F.END)],
  [0xec, op('in AL,DX', IN, 0, F.SYS)],
  [0xed, op('in eAX,DX', IN, 0, F.SYS)],
  [0xee, op('out DX,AL', OUT, 0, F.SYS)],
  [0xef, op('out DX,eAX', OUT, 0, F.SYS)],
  [0xf1, op('int1', INT, IntOp.INT1, F.END)],
  [0xf4, op('hlt', HLT, 0, F.SYS)],
  [0xf5, op('cmc', FLAGOP, FlagOp.CMC)],
  [0xf6, group3('b')],
  [0xf7, group3('v')],
  [0xf8, op('clc', FLAGOP, FlagOp.CLC)],
  [0xf9, op('stc', FLAGOP, FlagOp.STC)],
  [0xfa, op('cli', CLI_STI, 0, F.SYS)],
  [0xfb, op('sti', CLI_STI, 1, F.SYS)],
  [0xfc, op('cld', FLAGOP, FlagOp.CLD)],
  [0xfd, op('std', FLAGOP, FlagOp.STD)],
  [0xfe, grp([op('inc Eb', UNARY, UnaryOp.INC, F.LOCK), op('dec Eb', UNARY, UnaryOp.DEC, F.LOCK),
    undefined, undefined, undefined, undefined, undefined, undefined])],
  [0xff, grp([
    op('inc Ev', UNARY, UnaryOp.INC, F.LOCK),
    op('dec Ev', UNARY, UnaryOp.DEC, F.LOCK),
    op('call Ev', CALL_IND, 0, F.F64 | F.END),
    mod(op('call Mp', CALL_FAR, 0, F.END), undefined),
    op('jmp Ev', JMP_IND, 0, F.F64 | F.END),
    mod(op('jmp Mp', JMP_FAR, 0, F.END), undefined),
    op('push Ev', PUSH, 0, F.D64),
    undefined,
  ])],
]);

/** Row used for 90 with REX.B (xchg r8, rax). */
export const XCHG_RAX_ROW = (ONE_BYTE[0x91] as Entry);

import { CONDITIONS, type Entry, RowFlag as F, grp, map, mod, op, pfx, range, rm } from './table.js';
import { CMOV, MOVX, SETCC, BSWAP, NOP, MOVBE } from '../exec/move.js';
import { SHXD } from '../exec/shift.js';
import { IMUL } from '../exec/muldiv.js';
import { BT, BtOp, SCAN, ScanOp } from '../exec/bits.js';
import { CMPXCHG, CMPXCHG8B, XADD } from '../exec/atomic.js';
import { POP_SEG, PUSH_SEG } from '../exec/stack.js';
import { LOAD_FAR_POINTER } from '../exec/far-pointer.js';
import { JCC } from '../exec/control.js';
import {
  CACHE_FLUSH, CLFLUSH, CLTS, CPUID, HYPERCALL, INVLPG, LMSW, LOAD_DT, LOAD_SYSSEG, MOV_CR, MOV_DR, PKRU, RDMSR,
  RDPID, RDPMC, RDTSC, SMSW, STORE_DT, STORE_SYSSEG, SWAPGS, SYSCALL, SYSRET, UD, WRMSR, INVPCID, STAC_CLAC,
} from '../exec/system.js';
import { XCR, XSAVE } from '../exec/xsave.js';
import { SEGMENT_QUERY } from '../exec/segment-query.js';
import { Seg } from '../arch/registers.js';
import { FXRSTOR_ROW, FXSAVE_ROW, LDMXCSR_ROW, SSE_ROWS, STMXCSR_ROW, later, ssse3Pair } from './sse-table.js';

/** The two-byte (0F) opcode map (SDM Vol. 2 Table A-3): integer and system rows here, SSE rows in sse-table.ts. */

const S = F.SYS;
const none = undefined;

/** 0F 01: descriptor tables, SMSW/LMSW, INVLPG, and the register forms by ModRM.rm. */
const group7 = grp([
  mod(op('sgdt Ms', STORE_DT, 0), rm([op('enclv'), op('vmcall', HYPERCALL, 0, S), op('vmlaunch'), op('vmresume'),
    op('vmxoff'), op('pconfig'), none, none])),
  mod(op('sidt Ms', STORE_DT, 1), rm([op('monitor'), op('mwait'), op('clac', STAC_CLAC, 0, 0, 'smap'), op('stac', STAC_CLAC, 1, 0, 'smap'), none, none, none, op('encls')])),
  mod(op('lgdt Ms', LOAD_DT, 0, S), rm([op('xgetbv', XCR, 0, 0, 'xsave'), op('xsetbv', XCR, 1, S, 'xsave'), none, none, op('vmfunc'), op('xend'), op('xtest'),
    op('enclu')])),
  mod(op('lidt Ms', LOAD_DT, 1, S), rm([op('vmrun'), op('vmmcall', HYPERCALL, 0, S), op('vmload'), op('vmsave'),
    op('stgi'), op('clgi'), op('skinit'), op('invlpga')])),
  op('smsw Ev', SMSW),
  mod(none, rm([none, none, none, none, none, none, op('rdpkru', PKRU, 0), op('wrpkru', PKRU, 1, S)])),
  op('lmsw Ew', LMSW, 0, S),
  mod(op('invlpg M', INVLPG, 0, S), rm([op('swapgs', SWAPGS, 0, S), op('rdtscp', RDTSC, 1, S, 'rdtscp'), op('monitorx'),
    op('mwaitx'), op('clzero'), op('rdpru', undefined, 0, 0, 'rdpru'), none, none])),
]);

/** 0F AE: FXSAVE and friends, fences, CLFLUSH; with F3 and a register operand, RD/WR FS/GS base. */
const group15 = pfx({
  none: grp([
    mod(FXSAVE_ROW, none),
    mod(FXRSTOR_ROW, none),
    mod(LDMXCSR_ROW, none),
    mod(STMXCSR_ROW, none),
    mod(op('xsave M', XSAVE, 0, 0, 'xsave'), none),
    mod(op('xrstor M', XSAVE, 1, S, 'xsave'), op('lfence', NOP, 0, F.MODRM)),
    mod(op('xsaveopt M', XSAVE, 0, 0, 'xsave'), op('mfence', NOP, 0, F.MODRM)),
    mod(op('clflush Mb', CLFLUSH), op('sfence', NOP, 0, F.MODRM)),
  ]),
  p66: grp([none, none, none, none, none, none, mod(op('clwb Mb', CLFLUSH), none), mod(op('clflushopt Mb', CLFLUSH), none)]),
  pF3: grp([mod(none, op('rdfsbase Ry')), mod(none, op('rdgsbase Ry')), mod(none, op('wrfsbase Ry')),
    mod(none, op('wrgsbase Ry')), none, none, none, none]),
});

/** 0F C7: CMPXCHG8B/16B, RDRAND, RDSEED, RDPID, VMX pointer instructions. */
const group9 = pfx({
  none: grp([none, mod(op('cmpxchg8b My', CMPXCHG8B, 0, F.LOCK), none), none, mod(op('xrstors M'), none),
    mod(op('xsavec M'), none), mod(op('xsaves M'), none), mod(op('vmptrld Mq'), op('rdrand Rv')),
    mod(op('vmptrst Mq'), op('rdseed Rv'))]),
  p66: grp([none, mod(op('cmpxchg8b My', CMPXCHG8B, 0, F.LOCK), none), none, none, none, none,
    mod(op('vmclear Mq'), op('rdrand Rv')), mod(none, op('rdseed Rv'))]),
  pF3: grp([none, mod(op('cmpxchg8b My', CMPXCHG8B, 0, F.LOCK), none), none, none, none, none,
    mod(op('vmxon Mq'), none), mod(none, op('rdpid Rq', RDPID, 0, F.MODRM, 'rdpid'))]),
});

const jcc32: Array<[number, Entry]> = CONDITIONS.map((c, k) => [0x80 + k, op(`j${c} Jz`, JCC, k, F.F64 | F.END)]);
const cmovcc: Array<[number, Entry]> = CONDITIONS.map((c, k) => [0x40 + k, op(`cmov${c} Gv,Ev`, CMOV, k, 0, 'cmov')]);
const setcc: Array<[number, Entry]> = CONDITIONS.map((c, k) => [0x90 + k, op(`set${c} Eb`, SETCC, k, F.MODRM)]);

/** SSSE3's 0F 38 rows with MMX and XMM forms (SDM Vol. 2 Table A-4), listed by name, not implemented. */
const SSSE3_38: Array<[number, string]> = [
  [0x00, 'pshufb'], [0x01, 'phaddw'], [0x02, 'phaddd'], [0x03, 'phaddsw'], [0x04, 'pmaddubsw'], [0x05, 'phsubw'],
  [0x06, 'phsubd'], [0x07, 'phsubsw'], [0x08, 'psignb'], [0x09, 'psignw'], [0x0a, 'psignd'], [0x0b, 'pmulhrsw'],
  [0x1c, 'pabsb'], [0x1d, 'pabsw'], [0x1e, 'pabsd'],
];

/** 0F 38 and 0F 3A escape to the three-byte maps; the decoder handles them before reaching here. */
export const TWO_BYTE = map([
  [0x00, grp([op('sldt Ev', STORE_SYSSEG, 0), op('str Ev', STORE_SYSSEG, 1), op('lldt Ew', LOAD_SYSSEG, 0, S),
    op('ltr Ew', LOAD_SYSSEG, 1, S), op('verr Ew', SEGMENT_QUERY, 2), op('verw Ew', SEGMENT_QUERY, 3), none, none])],
  [0x01, group7],
  [0x02, op('lar Gv,Ew', SEGMENT_QUERY, 0)],
  [0x03, op('lsl Gv,Ew', SEGMENT_QUERY, 1)],
  [0x05, op('syscall', SYSCALL, 0, F.END | S)],
  [0x06, op('clts', CLTS, 0, S)],
  [0x07, op('sysret', SYSRET, 0, F.END | S)],
  [0x08, op('invd', CACHE_FLUSH, 0, S)],
  [0x09, op('wbinvd', CACHE_FLUSH, 0, S)],
  [0x0b, op('ud2', UD, 0, F.END)],
  [0x0d, op('prefetchw Eb', NOP)],
  ...SSE_ROWS,
  [0x18, op('prefetch Eb', NOP)],
  ...range(0x19, () => op('nop Ev', NOP), 5),
  [0x1e, pfx({ none: op('nop Ev', NOP), p66: op('nop Ev', NOP), pF2: op('nop Ev', NOP), pF3: op('endbr/rdssp Ev', NOP) })],
  [0x1f, op('nop Ev', NOP)],
  [0x20, op('mov Rd,Cd', MOV_CR, 0, S)],
  [0x21, op('mov Rd,Dd', MOV_DR, 0, S)],
  [0x22, op('mov Cd,Rd', MOV_CR, 1, S)],
  [0x23, op('mov Dd,Rd', MOV_DR, 1, S)],
  [0x30, op('wrmsr', WRMSR, 0, S)],
  [0x31, op('rdtsc', RDTSC, 0, S)],
  [0x32, op('rdmsr', RDMSR, 0, S)],
  [0x33, op('rdpmc', RDPMC, 0, S)],
  [0x34, op('sysenter')],
  [0x35, op('sysexit')],
  [0x37, op('getsec')],
  ...cmovcc,
  ...jcc32,
  ...setcc,
  [0xa0, op('push FS', PUSH_SEG, Seg.FS, F.D64)],
  [0xa1, op('pop FS', POP_SEG, Seg.FS, F.D64 | S)],
  [0xa2, op('cpuid', CPUID, 0, S)],
  [0xa3, op('bt Ev,Gv', BT, BtOp.BT)],
  [0xa4, op('shld Ev,Gv,Ib', SHXD, 0)],
  [0xa5, op('shld Ev,Gv,CL', SHXD, 0)],
  [0xa8, op('push GS', PUSH_SEG, Seg.GS, F.D64)],
  [0xa9, op('pop GS', POP_SEG, Seg.GS, F.D64 | S)],
  [0xaa, op('rsm')],
  [0xab, op('bts Ev,Gv', BT, BtOp.BTS, F.LOCK)],
  [0xac, op('shrd Ev,Gv,Ib', SHXD, 1)],
  [0xad, op('shrd Ev,Gv,CL', SHXD, 1)],
  [0xae, group15],
  [0xaf, op('imul Gv,Ev', IMUL)],
  [0xb0, op('cmpxchg Eb,Gb', CMPXCHG, 0, F.LOCK)],
  [0xb1, op('cmpxchg Ev,Gv', CMPXCHG, 0, F.LOCK)],
  [0xb2, op('lss Gv,Mp', LOAD_FAR_POINTER, Seg.SS)],
  [0xb3, op('btr Ev,Gv', BT, BtOp.BTR, F.LOCK)],
  [0xb4, op('lfs Gv,Mp', LOAD_FAR_POINTER, Seg.FS)],
  [0xb5, op('lgs Gv,Mp', LOAD_FAR_POINTER, Seg.GS)],
  [0xb6, op('movzx Gv,Eb', MOVX, 0)],
  [0xb7, op('movzx Gv,Ew', MOVX, 0)],
  [0xb8, pfx({ pF3: op('popcnt Gv,Ev', SCAN, ScanOp.POPCNT, 0, 'popcnt') })],
  [0xb9, op('ud1 Gv,Ev', UD, 0, F.END)],
  [0xba, grp([none, none, none, none, op('bt Ev,Ib', BT, BtOp.BT), op('bts Ev,Ib', BT, BtOp.BTS, F.LOCK),
    op('btr Ev,Ib', BT, BtOp.BTR, F.LOCK), op('btc Ev,Ib', BT, BtOp.BTC, F.LOCK)])],
  [0xbb, op('btc Ev,Gv', BT, BtOp.BTC, F.LOCK)],
  [0xbc, pfx({ none: op('bsf Gv,Ev', SCAN, ScanOp.BSF), p66: op('bsf Gv,Ev', SCAN, ScanOp.BSF),
    pF2: op('bsf Gv,Ev', SCAN, ScanOp.BSF), pF3: op('tzcnt Gv,Ev', SCAN, ScanOp.TZCNT, 0, 'bmi1') })],
  [0xbd, pfx({ none: op('bsr Gv,Ev', SCAN, ScanOp.BSR), p66: op('bsr Gv,Ev', SCAN, ScanOp.BSR),
    pF2: op('bsr Gv,Ev', SCAN, ScanOp.BSR), pF3: op('lzcnt Gv,Ev', SCAN, ScanOp.LZCNT, 0, 'abm') })],
  [0xbe, op('movsx Gv,Eb', MOVX, 1)],
  [0xbf, op('movsx Gv,Ew', MOVX, 1)],
  [0xc0, op('xadd Eb,Gb', XADD, 0, F.LOCK)],
  [0xc1, op('xadd Ev,Gv', XADD, 0, F.LOCK)],
  [0xc7, group9],
  ...range(0xc8, () => op('bswap Zv', BSWAP)),
  [0xff, op('ud0 Gv,Ev', UD, 0, F.END)],
]);

/** 0F 38 map: the integer rows (MOVBE, CRC32, ADCX/ADOX); the rest are SSE. */
export const THREE_BYTE_38 = map([
  [0xf0, pfx({ none: op('movbe Gv,Mv', MOVBE, 0, 0, 'movbe'), p66: op('movbe Gv,Mv', MOVBE, 0, 0, 'movbe'), pF2: op('crc32 Gd,Eb') })],
  [0xf1, pfx({ none: op('movbe Mv,Gv', MOVBE, 0, 0, 'movbe'), p66: op('movbe Mv,Gv', MOVBE, 0, 0, 'movbe'), pF2: op('crc32 Gd,Ev') })],
  [0xf6, pfx({ p66: op('adcx Gy,Ey'), pF3: op('adox Gy,Ey') })],
  [0x82, pfx({ p66: op('invpcid Gy,Mdq', INVPCID, 0, F.F64 | S, 'invpcid') })],
  ...SSSE3_38.map(([opcode, name]): [number, Entry] => [opcode, ssse3Pair(name, false)]),
]);

/** SSE4.1's 0F 3A 08-0E (66 only). */
const SSE41_3A = ['roundps', 'roundpd', 'roundss', 'roundsd', 'blendps', 'blendpd', 'pblendw'];

/** 0F 3A map: all SSE; listed for reporting. */
export const THREE_BYTE_3A = map([
  ...range(0x08, (k) => pfx({ p66: later(`${SSE41_3A[k]} Vx,Wx,Ib`) }), 7),
  [0x0f, ssse3Pair('palignr', true)],
]);

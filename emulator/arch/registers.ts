/** General-purpose register numbers, as encoded in ModRM/REX. */
export const enum Reg {
  RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7,
  R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15,
}

export const GPR_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

/** Segment register numbers, as encoded in the Sreg field of ModRM. */
export const enum Seg { ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5 }
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;

/**
 * Byte-register operands are numbered 0-15 for the low byte of each GPR (AL..R15B, with REX the
 * low bytes of SPL/BPL/SIL/DIL), and 16-19 for AH, CH, DH, BH (bits 15:8 of RAX..RBX, only
 * reachable without a REX prefix). The decoder resolves the encoding; handlers see this number.
 */
export const BYTE_REG_HIGH = 16;

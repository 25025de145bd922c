/** RFLAGS bits (SDM Vol. 1 3.4.3). */
export const enum Flag {
  CF = 1 << 0,
  FIXED1 = 1 << 1, // always reads as 1
  PF = 1 << 2,
  AF = 1 << 4,
  ZF = 1 << 6,
  SF = 1 << 7,
  TF = 1 << 8,
  IF = 1 << 9,
  DF = 1 << 10,
  OF = 1 << 11,
  IOPL = 3 << 12,
  NT = 1 << 14,
  RF = 1 << 16,
  VM = 1 << 17,
  AC = 1 << 18,
  VIF = 1 << 19,
  VIP = 1 << 20,
  ID = 1 << 21,
}

/** The six status flags that arithmetic computes (kept lazily by the CPU model). */
export const ARITH_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;

/** Flags a POPF/IRET can change at CPL 0 in protected mode (VM, VIF, VIP handled separately). */
export const WRITABLE_FLAGS = ARITH_FLAGS | Flag.TF | Flag.IF | Flag.DF | Flag.IOPL | Flag.NT |
  Flag.RF | Flag.AC | Flag.ID | Flag.VIF | Flag.VIP;

export const FLAG_NAMES: ReadonlyArray<[number, string]> = [
  [Flag.CF, 'CF'], [Flag.PF, 'PF'], [Flag.AF, 'AF'], [Flag.ZF, 'ZF'], [Flag.SF, 'SF'], [Flag.TF, 'TF'],
  [Flag.IF, 'IF'], [Flag.DF, 'DF'], [Flag.OF, 'OF'], [Flag.AC, 'AC'],
];

export function formatFlags(v: number): string {
  return FLAG_NAMES.filter(([bit]) => (v & bit) !== 0).map(([, n]) => n).join(' ');
}

/** Exception vectors (SDM Vol. 3 6.3.1) and their mnemonics. */
export const enum Vector {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
  TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19, VE = 20, CP = 21,
}

export const VECTOR_NAMES: Readonly<Record<number, string>> = {
  0: '#DE', 1: '#DB', 2: 'NMI', 3: '#BP', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF',
  10: '#TS', 11: '#NP', 12: '#SS', 13: '#GP', 14: '#PF', 16: '#MF', 17: '#AC', 18: '#MC', 19: '#XM',
  20: '#VE', 21: '#CP',
};

/** Exceptions that push an error code when delivered in protected mode. */
export function pushesErrorCode(vector: number): boolean {
  return vector === Vector.DF || (vector >= Vector.TS && vector <= Vector.PF) ||
    vector === Vector.AC || vector === Vector.CP;
}

/**
 * Exception classes for the double-fault rule (SDM Vol. 3 Table 6-5): a contributory exception
 * while delivering a contributory one, or any of #PF/contributory while delivering a #PF, is #DF.
 */
export const enum FaultClass { BENIGN, CONTRIBUTORY, PAGE_FAULT }

export function faultClass(vector: number): FaultClass {
  switch (vector) {
    case Vector.DE: case Vector.TS: case Vector.NP: case Vector.SS: case Vector.GP:
      return FaultClass.CONTRIBUTORY;
    case Vector.PF: case Vector.VE:
      return FaultClass.PAGE_FAULT;
    default:
      return FaultClass.BENIGN;
  }
}

/** Page-fault error code bits (SDM Vol. 3 4.7). */
export const enum Pfec {
  P = 1 << 0, W = 1 << 1, U = 1 << 2, RSVD = 1 << 3, I = 1 << 4, PK = 1 << 5, SS = 1 << 6, SGX = 1 << 15,
}

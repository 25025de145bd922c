/**
 * Guest paging formats as data (SDM Vol. 3 chapter 4). One walker serves all of them; what differs
 * between formats is captured here, not in branches scattered through the walk.
 */
export const enum PagingMode {
  NONE = 0,
  /** 32-bit paging: 2 levels of 4-byte entries, 4 MiB pages with CR4.PSE. */
  BITS32 = 1,
  /** PAE: 4 PDPTE registers, then 2 levels of 8-byte entries, 2 MiB pages. */
  PAE = 2,
  /** 4-level paging (IA-32e): 48-bit linear addresses. */
  LEVEL4 = 3,
  /** 5-level paging (CR4.LA57): 57-bit linear addresses. */
  LEVEL5 = 4,
}

export interface PagingFormat {
  readonly mode: PagingMode;
  readonly name: string;
  /** Levels walked from memory (PAE's PDPTEs are registers, so PAE walks 2). */
  readonly levels: number;
  readonly entryBytes: 4 | 8;
  /** Linear-address bits consumed per level. */
  readonly indexBits: number;
  /** Whether entries carry the XD bit (bit 63) and protection keys (bits 62:59). */
  readonly wide: boolean;
  /** Linear-address width; 0 for formats without a canonical check (the address is 32 bits). */
  readonly vaBits: number;
}

export const FORMATS: Readonly<Record<PagingMode, PagingFormat>> = {
  [PagingMode.NONE]: { mode: PagingMode.NONE, name: 'paging off', levels: 0, entryBytes: 4, indexBits: 0, wide: false, vaBits: 0 },
  [PagingMode.BITS32]: { mode: PagingMode.BITS32, name: '32-bit', levels: 2, entryBytes: 4, indexBits: 10, wide: false, vaBits: 0 },
  [PagingMode.PAE]: { mode: PagingMode.PAE, name: 'PAE', levels: 2, entryBytes: 8, indexBits: 9, wide: true, vaBits: 0 },
  [PagingMode.LEVEL4]: { mode: PagingMode.LEVEL4, name: '4-level', levels: 4, entryBytes: 8, indexBits: 9, wide: true, vaBits: 48 },
  [PagingMode.LEVEL5]: { mode: PagingMode.LEVEL5, name: '5-level', levels: 5, entryBytes: 8, indexBits: 9, wide: true, vaBits: 57 },
};

/** Paging-entry bits common to every format (low 32 bits). */
export const enum Pte {
  P = 1 << 0,
  RW = 1 << 1,
  US = 1 << 2,
  PWT = 1 << 3,
  PCD = 1 << 4,
  A = 1 << 5,
  D = 1 << 6,
  PS = 1 << 7,
  G = 1 << 8,
  /** PAT bit of a 4 KiB PTE (bit 7) and of a large-page entry (bit 12). */
  PAT_LARGE = 1 << 12,
}

/** Bit 63 (XD) seen in the high half of an 8-byte entry. */
export const PTE_HI_XD = 1 << 31;

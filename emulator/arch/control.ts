/** Control-register, EFER and MSR constants (SDM Vol. 3 2.5, 2.2.1, Vol. 4). */

export const enum Cr0 {
  PE = 1 << 0, MP = 1 << 1, EM = 1 << 2, TS = 1 << 3, ET = 1 << 4, NE = 1 << 5,
  WP = 1 << 16, AM = 1 << 18, NW = 1 << 29, CD = 1 << 30, PG = 1 << 31,
}

export const enum Cr4 {
  VME = 1 << 0, PVI = 1 << 1, TSD = 1 << 2, DE = 1 << 3, PSE = 1 << 4, PAE = 1 << 5, MCE = 1 << 6,
  PGE = 1 << 7, PCE = 1 << 8, OSFXSR = 1 << 9, OSXMMEXCPT = 1 << 10, UMIP = 1 << 11, LA57 = 1 << 12,
  VMXE = 1 << 13, SMXE = 1 << 14, FSGSBASE = 1 << 16, PCIDE = 1 << 17, OSXSAVE = 1 << 18,
  SMEP = 1 << 20, SMAP = 1 << 21, PKE = 1 << 22, CET = 1 << 23, PKS = 1 << 24,
}

export const enum Efer {
  SCE = 1 << 0, LME = 1 << 8, LMA = 1 << 10, NXE = 1 << 11, SVME = 1 << 12, FFXSR = 1 << 14,
}

export const enum Msr {
  TSC = 0x10,
  APIC_BASE = 0x1b,
  FEATURE_CONTROL = 0x3a,
  TSC_ADJUST = 0x3b,
  SPEC_CTRL = 0x48,
  PRED_CMD = 0x49,
  /** IA32_BIOS_SIGN_ID: the loaded microcode revision (bits 63:32). */
  BIOS_SIGN_ID = 0x8b,
  ARCH_CAPABILITIES = 0x10a,
  SYSENTER_CS = 0x174,
  SYSENTER_ESP = 0x175,
  SYSENTER_EIP = 0x176,
  MISC_ENABLE = 0x1a0,
  PAT = 0x277,
  TSC_DEADLINE = 0x6e0,
  /** IA32_PKRS: the supervisor protection-key rights (CR4.PKS), laid out as PKRU. */
  PKRS = 0x6e1,
  EFER = 0xc0000080,
  STAR = 0xc0000081,
  LSTAR = 0xc0000082,
  CSTAR = 0xc0000083,
  FMASK = 0xc0000084,
  FS_BASE = 0xc0000100,
  GS_BASE = 0xc0000101,
  KERNEL_GS_BASE = 0xc0000102,
  TSC_AUX = 0xc0000103,
}

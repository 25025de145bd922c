/**
 * The VT-d remapping hardware unit's register layout (Intel VT-d specification, chapter 11) and
 * the capabilities this model reports. 64-bit registers are two 32-bit halves: the CPU hands a
 * quadword MMIO access to the bus as two doublewords, low then high (bus.ts), and the spec lets
 * software use either width (11.2), so every register here lives at a doubleword offset.
 *
 * The values follow what QEMU 7.2 reports for `-device intel-iommu,intremap=on,eim=off` (read from
 * the running device: VER 0x10, CAP 0x00d2008c22260206, ECAP 0x0000000000f00f4a), built up from
 * the fields the spec defines rather than copied as numbers, so that the options change them the
 * way they change QEMU's.
 */

/** Register offsets (spec 11.4). */
export const enum Reg {
  VER = 0x00,
  CAP = 0x08,
  ECAP = 0x10,
  GCMD = 0x18,
  GSTS = 0x1c,
  RTADDR = 0x20,
  CCMD = 0x28,
  FSTS = 0x34,
  FECTL = 0x38,
  FEDATA = 0x3c,
  FEADDR = 0x40,
  FEUADDR = 0x44,
  IQH = 0x80,
  IQT = 0x88,
  IQA = 0x90,
  ICS = 0x9c,
  IECTL = 0xa0,
  IEDATA = 0xa4,
  IEADDR = 0xa8,
  IEUADDR = 0xac,
  IRTA = 0xb8,
  /** IOTLB registers at ECAP.IRO: invalidate address, then the IOTLB invalidate register. */
  IVA = 0xf0,
  IOTLB = 0xf8,
  /** The fault recording registers at CAP.FRO, 16 bytes each. */
  FRCD = 0x220,
}

/** Version 1.0 (major in bits 7:4), as QEMU reports. */
export const VTD_VERSION = 0x10;
/** Fault recording registers (CAP.NFR + 1). */
export const FAULT_RECORDS = 1;

/** GCMD commands and the GSTS status bits at the same positions (spec 11.4.4, 11.4.5). */
export const enum Gcmd {
  TE = 1 << 31,
  SRTP = 1 << 30,
  SFL = 1 << 29,
  EAFL = 1 << 28,
  WBF = 1 << 27,
  QIE = 1 << 26,
  IRE = 1 << 25,
  SIRTP = 1 << 24,
  CFI = 1 << 23,
}

export interface VtdOptions {
  /** ECAP.IR: interrupt remapping (QEMU's intremap=on). */
  readonly interruptRemapping: boolean;
  /** ECAP.EIM: 32-bit x2APIC destination IDs in IRTEs (QEMU's eim=on); needs interruptRemapping. */
  readonly extendedInterruptMode: boolean;
  /** MGAW and the widest AGAW: 39 (3-level tables, QEMU's default aw-bits) or 48 (also 4-level). */
  readonly addressWidth?: 39 | 48;
}

/** A 64-bit register value as two 32-bit halves (no BigInt in the device model). */
export interface Quad {
  readonly lo: number;
  readonly hi: number;
}

/** ND=6: 16-bit domain IDs (spec: 2^(4 + 2*ND) domains). */
const CAP_ND = 6;
/** SAGAW bit 1: 39-bit AGAW (3-level tables); bit 2: 48-bit (4-level). */
const SAGAW_39 = 1 << 1;
const SAGAW_48 = 1 << 2;
/** SLLPS bit 0 (CAP bit 34): 2 MiB pages; bit 1 (35): 1 GiB pages. */
export const SLLPS_2M = 1;
export const SLLPS_1G = 2;
/** Maximum address mask value for page-selective invalidation (QEMU's 18). */
const CAP_MAMV = 18;

/** The capability register (spec 11.4.2). */
export function capability(options: VtdOptions): Quad {
  const aw = options.addressWidth ?? 39;
  const sagaw = aw === 48 ? SAGAW_39 | SAGAW_48 : SAGAW_39;
  const fro = Reg.FRCD >> 4; // in 16-byte units, bits 33:24
  const lo = CAP_ND | (sagaw << 8) | ((aw - 1) << 16) | ((fro & 0xff) << 24);
  const hi = ((fro >> 8) & 3)
    | ((SLLPS_2M | SLLPS_1G) << 2) // bits 37:34
    | (1 << 7) // PSI, bit 39: page-selective IOTLB invalidation
    | ((FAULT_RECORDS - 1) << 8) // NFR, bits 47:40
    | (CAP_MAMV << 16) // MAMV, bits 53:48
    | (1 << 22) | (1 << 23); // DWD, DRD: write and read draining
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

export const enum Ecap {
  QI = 1 << 1,
  DT = 1 << 2,
  IR = 1 << 3,
  EIM = 1 << 4,
  PT = 1 << 6,
}

/** The extended capability register (spec 11.4.3). */
export function extendedCapability(options: VtdOptions): Quad {
  let lo = Ecap.QI | Ecap.PT
    | ((Reg.IVA >> 4) << 8) // IRO, bits 17:8, in 16-byte units
    | (0xf << 20); // MHMV: handle mask values up to 15
  if (options.interruptRemapping) {
    lo |= Ecap.IR;
    if (options.extendedInterruptMode) lo |= Ecap.EIM;
  }
  return { lo: lo >>> 0, hi: 0 };
}

/** Bits of the high half of an address register that hold address bits 63:32 below `aw`. */
export function highAddressMask(aw: number): number {
  return aw >= 64 ? 0xffffffff : (2 ** (aw - 32) - 1);
}

/**
 * The three historical SPTE layouts the model can run with (kvm-mmu.md 2.5). Only what differs
 * between KVM releases lives here; the codec (spte.ts) turns a layout plus the host configuration
 * into masks. Every position below was read in arch/x86/kvm/mmu/spte.h at the named point:
 *
 * - 'current': spte.h/spte.c of 2024/2025 (SPTE_MMU_PRESENT_MASK = bit 11, MMIO generation in
 *   bits 3-10 and 52-62, FROZEN_SPTE = SHADOW_NONPRESENT_VALUE | 0x5a0, EPT host/MMU-writable
 *   57/58, EPT shadow_present_mask and MMIO mask include suppress-#VE, EPT accessed mask is bit 8
 *   even without hardware A/D).
 * - 'b14e28f37e9b': "KVM: x86/mmu: Use a dedicated bit to track shadow/MMU-present SPTEs". Bit 11
 *   became MMU-present, but the 20-bit generation still used SPTE bits 3-11 and 52-62 (the
 *   overlap of thread (e); fixed by "Exclude the MMU_PRESENT bit from MMIO SPTE's generation").
 *   At this commit REMOVED_SPTE was still bit 59 (0x5a0 came two commits later, 282371fdddc3),
 *   and the EPT MMIO mask was RWX only.
 * - 'pre-5.12': spte.h at 6facedb196ba. SPTE_SPECIAL_MASK (bits 53:52) == 3 identifies MMIO SPTEs,
 *   the 18-bit generation is in bits 3-11 and 54-62, presence is "non-zero and not MMIO", and
 *   host/MMU-writable are bits 10/11 (PT_FIRST_AVAIL_BITS_SHIFT) in both formats. REMOVED_SPTE
 *   (bit 59, from the 5.12 TDP MMU series) is used as the frozen value.
 */
export type SpteLayoutName = 'current' | 'b14e28f37e9b' | 'pre-5.12';

export interface SpteLayout {
  readonly name: SpteLayoutName;
  /** Bit of SPTE_MMU_PRESENT_MASK, or -1 where presence is "not nonpresent, not MMIO, not frozen". */
  readonly mmuPresentBit: number;
  /** MMIO_SPTE_GEN_LOW_START/END and MMIO_SPTE_GEN_HIGH_START/END (inclusive). */
  readonly genLow: readonly [number, number];
  readonly genHigh: readonly [number, number];
  /**
   * 'value-mask': is_mmio_spte is (spte & shadow_mmio_mask) == shadow_mmio_value.
   * 'special-bits': is_mmio_spte is (spte & SPTE_SPECIAL_MASK) == SPTE_MMIO_MASK; the vendor value
   * (reserved PA bit + P, or EPT W+X) is only ORed in so that the hardware traps.
   */
  readonly mmioMatch: 'value-mask' | 'special-bits';
  /** DEFAULT_SPTE_{HOST,MMU}_WRITEABLE (x86 format) and EPT_SPTE_{HOST,MMU}_WRITABLE. */
  readonly x86HostWritableBit: number;
  readonly x86MmuWritableBit: number;
  readonly eptHostWritableBit: number;
  readonly eptMmuWritableBit: number;
  /** FROZEN_SPTE (formerly REMOVED_SPTE): true means SHADOW_NONPRESENT_VALUE | 0x5a0, false bit 59. */
  readonly frozenIs5a0: boolean;
  /** kvm_mmu_set_ept_masks: suppress-#VE in shadow_present_mask and in the EPT MMIO mask. */
  readonly eptSuppressVe: boolean;
  /** kvm_mmu_set_ept_masks: shadow_accessed/dirty_mask set even when EPT A/D bits are off. */
  readonly eptAdMasksAlways: boolean;
}

export const SPTE_LAYOUTS: Readonly<Record<SpteLayoutName, SpteLayout>> = {
  current: {
    name: 'current', mmuPresentBit: 11, genLow: [3, 10], genHigh: [52, 62], mmioMatch: 'value-mask',
    x86HostWritableBit: 9, x86MmuWritableBit: 10, eptHostWritableBit: 57, eptMmuWritableBit: 58,
    frozenIs5a0: true, eptSuppressVe: true, eptAdMasksAlways: true,
  },
  'b14e28f37e9b': {
    name: 'b14e28f37e9b', mmuPresentBit: 11, genLow: [3, 11], genHigh: [52, 62], mmioMatch: 'value-mask',
    x86HostWritableBit: 9, x86MmuWritableBit: 10, eptHostWritableBit: 57, eptMmuWritableBit: 58,
    frozenIs5a0: false, eptSuppressVe: false, eptAdMasksAlways: false,
  },
  'pre-5.12': {
    name: 'pre-5.12', mmuPresentBit: -1, genLow: [3, 11], genHigh: [54, 62], mmioMatch: 'special-bits',
    x86HostWritableBit: 10, x86MmuWritableBit: 11, eptHostWritableBit: 10, eptMmuWritableBit: 11,
    frozenIs5a0: false, eptSuppressVe: false, eptAdMasksAlways: false,
  },
};

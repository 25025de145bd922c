import { u64 } from '../emulator/arch/u64.js';
import { FRAMES_PER_LO, PAGE_SHIFT, type Gfn, type Hfn } from '../emulator/arch/address.js';
import { SPTE_LAYOUTS, type SpteLayout, type SpteLayoutName } from './spte-layouts.js';

/**
 * The SPTE codec: KVM's arch/x86/kvm/mmu/spte.{h,c} as a model. SPTEs live in the host arena as
 * 64-bit little-endian words; hot callers pass them as two int32 halves (lo = bits 31:0, hi = bits
 * 63:32). Functions that build an SPTE return the low half and leave the high half in `u64.hi`
 * (the scratch of emulator/arch/u64.ts), so nothing is allocated.
 *
 * Every mask is computed from a SpteConfig when the codec is built, the way
 * kvm_mmu_reset_all_pte_masks / kvm_mmu_set_ept_masks / svm_adjust_mmio_mask compute KVM's
 * shadow_*_mask variables at module load. Threads (b) and (e) were bugs in exactly these masks, so
 * none of them is a hard-coded constant here, and checkDisjointness() reports a bad combination.
 */

/** KVM's ACC_* bits (spte.h): the access a shadow page or an SPTE grants. */
export const ACC_EXEC_MASK = 1;
export const ACC_WRITE_MASK = 2;
export const ACC_USER_MASK = 4;
export const ACC_ALL = 7;

export const PG_LEVEL_4K = 1;

export interface SpteConfig {
  /** 'x86': shadow paging and AMD NPT (the default shadow_* masks); 'ept': Intel EPT. */
  format: 'x86' | 'ept';
  /** Host MAXPHYADDR as CPUID reports it (kvm_host.maxphyaddr), e.g. 46, 48 or 52. */
  hostPhysBits: number;
  /** AMD SME/SEV C-bit position (x86 format only): enables svm_adjust_mmio_mask and shadow_me_value. */
  smeCbit?: number;
  /** PA bits the kernel takes away when SME is on (CPUID 0x8000001F EBX[11:6]); 5 on Rome. */
  smePhysBitsReduction?: number;
  /**
   * Whether the host kernel encrypts its own memory (mem_encrypt=on: sme_me_mask is the C-bit and
   * every SPTE carries it). Default true. False is SYSCFG.MemEncryptionModEn set for SEV guests with
   * the host unencrypted: the address width is still reduced and svm_adjust_mmio_mask still moves
   * the MMIO mask, but SPTEs carry no C-bit (lkml (e)'s dump).
   */
  smeHostEncrypted?: boolean;
  /** enable_ept_ad_bits; ignored by the x86 format, which always has hardware A/D. */
  eptAdBits: boolean;
  /** The mmio_caching module parameter; forced off when no MMIO value can trap (see mmioCachingOffReason). */
  mmioCaching: boolean;
  layout: SpteLayoutName;
  /** Narrow the MMIO generation (e.g. 3 bits to force wraps). Bits fill the layout's low field first. */
  mmioGenBits?: number;
  /** SHADOW_NONPRESENT_VALUE = bit 63 (suppress #VE, 64-bit hosts since the TDX work) instead of 0. */
  nonpresentSuppressVe?: boolean;
}

/** Every mask the codec derived, as bigints, for reports and tests. */
export interface SpteMasks {
  readonly shadowPresent: bigint; readonly mmuPresent: bigint;
  readonly hostWritable: bigint; readonly mmuWritable: bigint; readonly writable: bigint;
  readonly accessed: bigint; readonly dirty: bigint; readonly nx: bigint; readonly x: bigint;
  readonly user: bigint; readonly pageSize: bigint; readonly memtype: bigint; readonly me: bigint;
  readonly pfn: bigint; readonly mmioGfn: bigint;
  readonly mmioValue: bigint; readonly mmioMask: bigint; readonly mmioTrapValue: bigint;
  readonly mmioGeneration: bigint; readonly mmioAccess: bigint; readonly mmioAllowed: bigint;
  readonly accTrack: bigint; readonly adDisabled: bigint;
  readonly frozen: bigint; readonly nonpresent: bigint; readonly hwReservedPa: bigint;
}

// Architectural bits shared by both formats (bit 1 is W in x86 PTEs and in EPT entries, bit 7 is PS).
const PT_WRITABLE_MASK = 2;
const PT_PAGE_SIZE_MASK = 0x80;
// SPTE_TDP_AD_* in bits 53:52, seen from the high half. Also SPTE_SPECIAL_MASK of the pre-5.12 layout.
const SPTE_TDP_AD_MASK_HI = 3 << 20;
const SPTE_TDP_AD_DISABLED_HI = 1 << 20;
const SPTE_MMIO_SPECIAL_HI = 3 << 20;
// SHADOW_ACC_TRACK_SAVED_BITS_SHIFT = 54: EPT R (bit 0) and X (bit 2) are saved at 54 and 56.
const ACC_TRACK_SAVED_SHIFT_HI = 22;
const ACC_TRACK_SAVED_BITS = 5;
const VMX_EPT_RWX_MASK = 7;
const VMX_EPT_MISCONFIG_WX_VALUE = 6;

const bit = (n: number): bigint => 1n << BigInt(n);
/** GENMASK_ULL(high, low); empty when high < low. */
const genmask = (high: number, low: number): bigint =>
  high < low ? 0n : ((1n << BigInt(high - low + 1)) - 1n) << BigInt(low);
const lo32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
const hi32 = (v: bigint): number => Number(BigInt.asIntN(32, v >> 32n));
const join = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const TWO20 = FRAMES_PER_LO;

export class SpteCodec {
  readonly config: Readonly<SpteConfig>;
  readonly layout: SpteLayout;
  readonly masks: SpteMasks;
  /** False when MMIO SPTEs are never created or recognised; the reason says why. */
  readonly mmioCachingEnabled: boolean;
  readonly mmioCachingOffReason: string | null;
  /** Width of the MMIO generation and 2^width (make_mmio_spte masks with MMIO_SPTE_GEN_MASK). */
  readonly genBits: number;
  readonly genModulus: number;
  /** PA width the kernel uses (boot_cpu_data.x86_phys_bits): MAXPHYADDR minus the SME reduction. */
  readonly effectivePhysBits: number;
  /** EPT without A/D: every SPTE carries SPTE_TDP_AD_DISABLED (role.ad_disabled = !kvm_ad_enabled). */
  readonly adDisabled: boolean;

  // Halves of the masks, for the hot (lo, hi) paths.
  readonly presentLo: number; readonly presentHi: number; readonly mmuPresentLo: number;
  readonly hostWritableLo: number; readonly hostWritableHi: number;
  readonly mmuWritableLo: number; readonly mmuWritableHi: number;
  readonly accessedLo: number; readonly dirtyLo: number;
  readonly nxHi: number; readonly xLo: number; readonly userLo: number; readonly memtypeLo: number;
  readonly meLo: number; readonly meHi: number; readonly accTrackLo: number;
  readonly pfnMaskLo: number; readonly pfnMaskHi: number;
  readonly gfnMaskLo: number; readonly gfnMaskHi: number;
  readonly mmioMaskLo: number; readonly mmioMaskHi: number;
  readonly mmioValueLo: number; readonly mmioValueHi: number;
  readonly mmioTrapLo: number; readonly mmioTrapHi: number; readonly mmioAccessMask: number;
  readonly genLowMask: number; readonly genLowShift: number; readonly genLowBits: number;
  readonly genHighMaskHi: number; readonly genHighShiftHi: number;
  readonly frozenLo: number; readonly frozenHi: number;
  readonly nonpresentLo: number; readonly nonpresentHi: number;
  readonly rsvdPaLo: number; readonly rsvdPaHi: number;
  /** shadow_zero_check's PA bits: from the host's CPUID MAXPHYADDR (not SME-reduced) to 51. */
  readonly zeroPaLo: number; readonly zeroPaHi: number;

  constructor(config: SpteConfig) {
    const { format, hostPhysBits, smeCbit } = config;
    if (!Number.isInteger(hostPhysBits) || hostPhysBits < 32 || hostPhysBits > 52) {
      throw new RangeError(`hostPhysBits ${hostPhysBits} outside 32..52`);
    }
    if (smeCbit !== undefined && (format !== 'x86' || smeCbit < 32 || smeCbit > 51)) {
      throw new RangeError('smeCbit needs the x86 format and a position in 32..51');
    }
    this.config = Object.freeze({ ...config });
    const layout = (this.layout = SPTE_LAYOUTS[config.layout]);
    const ept = format === 'ept';
    this.effectivePhysBits = smeCbit === undefined ? hostPhysBits : hostPhysBits - (config.smePhysBitsReduction ?? 5);
    this.adDisabled = ept && !config.eptAdBits;

    // kvm_mmu_reset_all_pte_masks (x86) or kvm_mmu_set_ept_masks (EPT).
    const me = smeCbit === undefined || config.smeHostEncrypted === false ? 0n : bit(smeCbit); // shadow_me_value = sme_me_mask
    const sve = ept && layout.eptSuppressVe ? bit(63) : 0n;
    const eptAd = ept && (config.eptAdBits || layout.eptAdMasksAlways);
    const shadowPresent = ept ? 1n | sve : 1n;
    const mmuPresent = layout.mmuPresentBit < 0 ? 0n : bit(layout.mmuPresentBit);
    const hostWritable = bit(ept ? layout.eptHostWritableBit : layout.x86HostWritableBit);
    const mmuWritable = bit(ept ? layout.eptMmuWritableBit : layout.x86MmuWritableBit);
    const accessed = ept ? (eptAd ? 0x100n : 0n) : 0x20n;
    const dirty = ept ? (eptAd ? 0x200n : 0n) : 0x40n;
    const nx = ept ? 0n : bit(63);
    const x = ept ? 4n : 0n;
    const user = ept ? 1n : 4n; // EPT: ACC_USER_MASK means "readable"
    // vmx_get_mt_mask for RAM without non-coherent DMA: WB (6) in bits 5:3 plus IPAT (bit 6).
    const memtype = ept ? (6n << 3n) | 0x40n : 0n;
    // SPTE_BASE_ADDR_MASK: physical_mask minus the C-bit (CONFIG_DYNAMIC_PHYSICAL_MASK), page-aligned.
    const pfn = genmask(51, 12) & ~me;
    // shadow_nonpresent_or_rsvd_lower_gfn_mask without the L1TF relocation (not modelled).
    const mmioGfn = genmask(this.effectivePhysBits - 1, 12);
    const nonpresent = config.nonpresentSuppressVe ? bit(63) : 0n;
    const frozen = layout.frozenIs5a0 ? nonpresent | 0x5a0n : bit(59);
    // Reserved PA bits as the hardware sees them: a present entry with one set faults (RSVD / misconfig).
    const hwReservedPa = genmask(51, this.effectivePhysBits) & ~me;

    // The MMIO value: kvm_mmu_reset_all_pte_masks (bit 51 | P), svm_adjust_mmio_mask (every
    // reserved PA bit from the reduced width up, plus P) or kvm_mmu_set_ept_masks (W+X, no R).
    let vendorValue: bigint;
    let vendorMask: bigint;
    let reason: string | null = null;
    if (ept) {
      vendorValue = BigInt(VMX_EPT_MISCONFIG_WX_VALUE);
      vendorMask = BigInt(VMX_EPT_RWX_MASK) | sve;
    } else if (smeCbit !== undefined) {
      let maskBit = this.effectivePhysBits;
      if (smeCbit === maskBit) maskBit++;
      vendorValue = vendorMask = maskBit < 52 ? genmask(51, maskBit) | 1n : 0n;
      if (!vendorValue) reason = `svm_adjust_mmio_mask: mask bit ${maskBit} >= 52, no reserved PA bit for MMIO SPTEs`;
    } else {
      vendorValue = vendorMask = hostPhysBits < 52 ? bit(51) | 1n : 0n;
      if (!vendorValue) reason = 'host MAXPHYADDR is 52: no reserved PA bit can mark MMIO SPTEs';
    }
    if (!config.mmioCaching) reason ??= 'mmio_caching disabled by configuration';
    this.mmioCachingEnabled = reason === null;
    this.mmioCachingOffReason = reason;
    const special = layout.mmioMatch === 'special-bits';
    const specialBits = 3n << 52n;
    const on = this.mmioCachingEnabled;
    const mmioMask = special ? specialBits : vendorMask;
    const mmioValue = !on ? 0n : special ? specialBits : vendorValue;
    const mmioTrapValue = !on ? 0n : special ? vendorValue | specialBits : vendorValue;
    const mmioAccess = ept ? 0n : BigInt(ACC_WRITE_MASK | ACC_USER_MASK);
    // SPTE_MMIO_ALLOWED_MASK: bit 63, the PA bits and the EPT RWX bits (plus 53:52 when they mark MMIO).
    const mmioAllowed = bit(63) | genmask(51, 12) | 7n | (special ? specialBits : 0n);

    // The MMIO generation: low field first, then the high field, truncated to mmioGenBits.
    const [lowStart, lowEnd] = layout.genLow;
    const [highStart, highEnd] = layout.genHigh;
    const layoutLow = lowEnd - lowStart + 1;
    const layoutBits = layoutLow + highEnd - highStart + 1;
    const genBits = config.mmioGenBits ?? layoutBits;
    if (!Number.isInteger(genBits) || genBits < 1 || genBits > layoutBits) {
      throw new RangeError(`mmioGenBits ${genBits} outside 1..${layoutBits} for layout ${layout.name}`);
    }
    this.genBits = genBits;
    this.genModulus = 2 ** genBits;
    const lowBits = Math.min(genBits, layoutLow);
    const highBits = genBits - lowBits;
    const genLow = genmask(lowStart + lowBits - 1, lowStart);
    const genHigh = genmask(highStart + highBits - 1, highStart);

    this.masks = Object.freeze({
      shadowPresent, mmuPresent, hostWritable, mmuWritable, writable: BigInt(PT_WRITABLE_MASK),
      accessed, dirty, nx, x, user, pageSize: BigInt(PT_PAGE_SIZE_MASK), memtype, me, pfn, mmioGfn,
      mmioValue, mmioMask, mmioTrapValue, mmioGeneration: genLow | genHigh, mmioAccess, mmioAllowed,
      accTrack: ept ? BigInt(VMX_EPT_RWX_MASK) : 0n, adDisabled: BigInt(SPTE_TDP_AD_DISABLED_HI) << 32n,
      frozen, nonpresent, hwReservedPa,
    });

    this.presentLo = lo32(shadowPresent); this.presentHi = hi32(shadowPresent);
    this.mmuPresentLo = lo32(mmuPresent);
    this.hostWritableLo = lo32(hostWritable); this.hostWritableHi = hi32(hostWritable);
    this.mmuWritableLo = lo32(mmuWritable); this.mmuWritableHi = hi32(mmuWritable);
    this.accessedLo = lo32(accessed); this.dirtyLo = lo32(dirty);
    this.nxHi = hi32(nx); this.xLo = lo32(x); this.userLo = lo32(user); this.memtypeLo = lo32(memtype);
    this.meLo = lo32(me); this.meHi = hi32(me); this.accTrackLo = lo32(this.masks.accTrack);
    this.pfnMaskLo = lo32(pfn); this.pfnMaskHi = hi32(pfn);
    this.gfnMaskLo = lo32(mmioGfn); this.gfnMaskHi = hi32(mmioGfn);
    this.mmioMaskLo = lo32(mmioMask); this.mmioMaskHi = hi32(mmioMask);
    this.mmioValueLo = lo32(mmioValue); this.mmioValueHi = hi32(mmioValue);
    this.mmioTrapLo = lo32(mmioTrapValue); this.mmioTrapHi = hi32(mmioTrapValue);
    this.mmioAccessMask = lo32(mmioAccess);
    this.genLowMask = lo32(genLow); this.genLowShift = lowStart; this.genLowBits = lowBits;
    this.genHighMaskHi = hi32(genHigh); this.genHighShiftHi = highStart - 32;
    this.frozenLo = lo32(frozen); this.frozenHi = hi32(frozen);
    this.nonpresentLo = lo32(nonpresent); this.nonpresentHi = hi32(nonpresent);
    this.rsvdPaLo = lo32(hwReservedPa); this.rsvdPaHi = hi32(hwReservedPa);
    // kvm_get_shadow_phys_bits: CPUID 0x80000008's width, because the bits SME takes from the
    // address are the C-bit and key bits, not reserved; so an SME host's MMIO value has some bits
    // (effectivePhysBits up to hostPhysBits) that this check does not see and some it does.
    const zeroPa = genmask(51, hostPhysBits);
    this.zeroPaLo = lo32(zeroPa); this.zeroPaHi = hi32(zeroPa);
  }

  // ---- Predicates on (lo, hi) ----

  /** is_mmio_spte: matches the MMIO value under the mask, and caching is on. */
  isMmio(lo: number, hi: number): boolean {
    return this.mmioCachingEnabled && (lo & this.mmioMaskLo) === this.mmioValueLo && (hi & this.mmioMaskHi) === this.mmioValueHi;
  }

  isFrozen(lo: number, hi: number): boolean {
    return lo === this.frozenLo && hi === this.frozenHi;
  }

  /**
   * is_shadow_zero_bits_set, as get_mmio_spte applies it to every shadow-present SPTE on the walk:
   * a PA bit at or above the host's MAXPHYADDR (shadow_zero_check), or with EPT a leaf or table
   * that is writable but not readable (__is_bad_mt_xwr: XWR 010 and 110, the EPT MMIO value).
   */
  shadowZeroBitsSet(lo: number, hi: number): boolean {
    if ((lo & this.zeroPaLo) !== 0 || (hi & this.zeroPaHi) !== 0) return true;
    if (this.config.format !== 'ept') return false;
    const xwr = lo & 7;
    return xwr === 2 || xwr === 6;
  }

  /** is_shadow_present_pte: bit 11, or before 5.12 "not nonpresent, not MMIO, not frozen". */
  isShadowPresent(lo: number, hi: number): boolean {
    if (this.mmuPresentLo !== 0) return (lo & this.mmuPresentLo) !== 0;
    return (lo !== this.nonpresentLo || hi !== this.nonpresentHi) && !this.isMmio(lo, hi) && !this.isFrozen(lo, hi);
  }

  /** Present to the hardware walker: P (x86) or any of R/W/X (EPT). */
  isHardwarePresent(lo: number): boolean {
    return (lo & (this.config.format === 'ept' ? VMX_EPT_RWX_MASK : 1)) !== 0;
  }

  /** is_large_pte: PS (bit 7 in both formats). */
  isLarge(lo: number): boolean {
    return (lo & PT_PAGE_SIZE_MASK) !== 0;
  }

  /** is_last_spte. */
  isLeaf(lo: number, _hi: number, level: number): boolean {
    return level === PG_LEVEL_4K || (lo & PT_PAGE_SIZE_MASK) !== 0;
  }

  /** spte_to_pfn, in pages (< 2^40). */
  pfn(lo: number, hi: number): Hfn {
    return ((hi & this.pfnMaskHi) * TWO20 + ((lo & this.pfnMaskLo) >>> PAGE_SHIFT)) as Hfn;
  }

  /** is_writable_pte: the hardware W bit. */
  isWritable(lo: number): boolean {
    return (lo & PT_WRITABLE_MASK) !== 0;
  }

  isHostWritable(lo: number, hi: number): boolean {
    return ((lo & this.hostWritableLo) | (hi & this.hostWritableHi)) !== 0;
  }

  /** is_mmu_writable_spte. */
  isMmuWritable(lo: number, hi: number): boolean {
    return ((lo & this.mmuWritableLo) | (hi & this.mmuWritableHi)) !== 0;
  }

  /** spte_ad_enabled: the A/D type in bits 53:52 is not "disabled". Meaningful for present SPTEs. */
  adEnabled(hi: number): boolean {
    return (hi & SPTE_TDP_AD_MASK_HI) !== SPTE_TDP_AD_DISABLED_HI;
  }

  /** is_access_track_spte: A/D disabled and R/W/X cleared by mark_spte_for_access_track. */
  isAccessTrack(lo: number, hi: number): boolean {
    return !this.adEnabled(hi) && (lo & this.accTrackLo) === 0;
  }

  /** is_accessed_spte (with the pre-6.x fallback when there is no accessed mask). */
  isAccessed(lo: number, hi: number): boolean {
    return this.accessedLo !== 0 ? (lo & this.accessedLo) !== 0 : !this.isAccessTrack(lo, hi);
  }

  /** is_dirty_spte: the dirty bit, or W when there is no dirty mask. */
  isDirty(lo: number): boolean {
    return (lo & (this.dirtyLo !== 0 ? this.dirtyLo : PT_WRITABLE_MASK)) !== 0;
  }

  /** is_executable_pte: X set (EPT) or NX clear (x86). */
  isExecutable(lo: number, hi: number): boolean {
    return this.config.format === 'ept' ? (lo & this.xLo) !== 0 : (hi & this.nxHi) === 0;
  }

  /**
   * Whether the hardware walker faults on this entry in a way that reaches KVM's MMIO path:
   * x86: P=1 with a reserved PA bit (#PF/NPF with RSVD); EPT: W without R, or RWX with a reserved
   * PA bit (EPT misconfiguration). Invariant 5 of kvm-mmu.md 2.7.
   */
  trapsInHardware(lo: number, hi: number): boolean {
    const rsvd = ((lo & this.rsvdPaLo) | (hi & this.rsvdPaHi)) !== 0;
    if (this.config.format === 'x86') return (lo & 1) !== 0 && rsvd;
    const rwx = lo & VMX_EPT_RWX_MASK;
    return rwx !== 0 && ((rwx & 3) === PT_WRITABLE_MASK || rsvd);
  }

  // ---- MMIO SPTE fields ----

  /** get_mmio_spte_generation. */
  mmioGeneration(lo: number, hi: number): number {
    return ((lo & this.genLowMask) >>> this.genLowShift) | (((hi & this.genHighMaskHi) >>> this.genHighShiftHi) << this.genLowBits);
  }

  /** get_mmio_spte_gfn (without the L1TF relocation). */
  mmioGfn(lo: number, hi: number): Gfn {
    return ((hi & this.gfnMaskHi) * TWO20 + ((lo & this.gfnMaskLo) >>> PAGE_SHIFT)) as Gfn;
  }

  /** get_mmio_spte_access: ACC_WRITE/ACC_USER as stored in bits 1-2 (x86); always 0 for EPT. */
  mmioAccess(lo: number): number {
    return lo & this.mmioAccessMask;
  }

  // ---- Constructors: return lo, leave hi in u64.hi ----

  /**
   * make_spte for a leaf. `access` is ACC_* bits. `mmuWritable` is the outcome of
   * mmu_try_to_unsync_pages (false: the gfn is write-protected for shadowing, so no W, no
   * MMU-writable). A writable result also gets D, as in KVM (the guest-dirty rule is the caller's,
   * via the access it passes). `prefetch` leaves A clear, and without A/D marks it access-tracked.
   * The NX-huge-page mitigation is policy: the caller strips ACC_EXEC for large pages if it applies.
   */
  makeSpte(pfn: Hfn, level: number, access: number, hostWritable: boolean, mmuWritable: boolean, prefetch: boolean): number {
    let lo = this.mmuPresentLo | this.presentLo | this.memtypeLo | this.meLo;
    let hi = this.presentHi | this.meHi | (this.adDisabled ? SPTE_TDP_AD_DISABLED_HI : 0);
    if (!prefetch) lo |= this.accessedLo;
    if (access & ACC_EXEC_MASK) lo |= this.xLo;
    else hi |= this.nxHi;
    if (access & ACC_USER_MASK) lo |= this.userLo;
    if (level > PG_LEVEL_4K) lo |= PT_PAGE_SIZE_MASK;
    if (hostWritable) {
      lo |= this.hostWritableLo;
      hi |= this.hostWritableHi;
    } else {
      access &= ~ACC_WRITE_MASK;
    }
    lo |= (pfn % TWO20) << PAGE_SHIFT;
    hi |= Math.floor(pfn / TWO20);
    if ((access & ACC_WRITE_MASK) && mmuWritable) {
      lo |= PT_WRITABLE_MASK | this.mmuWritableLo | this.dirtyLo;
      hi |= this.mmuWritableHi;
    }
    if (prefetch) return this.markSpteForAccessTrack(lo, hi);
    u64.hi = hi;
    return lo;
  }

  /** make_nonleaf_spte: present, W, U and X (no NX) so that the leaf alone decides permissions. */
  makeNonLeafSpte(childPfn: Hfn, adDisabled = this.adDisabled): number {
    let lo = this.mmuPresentLo | this.presentLo | PT_WRITABLE_MASK | this.userLo | this.xLo | this.meLo;
    let hi = this.presentHi | this.meHi;
    if (adDisabled) hi |= SPTE_TDP_AD_DISABLED_HI;
    else lo |= this.accessedLo;
    lo |= (childPfn % TWO20) << PAGE_SHIFT;
    hi |= Math.floor(childPfn / TWO20);
    u64.hi = hi;
    return lo;
  }

  /**
   * make_mmio_spte. `generation` is the memslot generation without the in-progress flag (a
   * non-negative integer); only its low genBits are kept, so it wraps like MMIO_SPTE_GEN_MASK.
   */
  makeMmioSpte(gfn: Gfn, access: number, generation: number): number {
    const gen = generation % this.genModulus;
    let lo = ((gen << this.genLowShift) & this.genLowMask) | this.mmioTrapLo | (access & this.mmioAccessMask);
    let hi = (((gen >>> this.genLowBits) << this.genHighShiftHi) & this.genHighMaskHi) | this.mmioTrapHi;
    lo |= (gfn % TWO20) << PAGE_SHIFT;
    hi |= Math.floor(gfn / TWO20);
    u64.hi = hi;
    return lo;
  }

  /** mark_spte_for_access_track: clear A, or without A/D save R/X in bits 54/56 and clear RWX. */
  markSpteForAccessTrack(lo: number, hi: number): number {
    if (this.adEnabled(hi)) {
      u64.hi = hi;
      return lo & ~this.accessedLo;
    }
    if (!this.isAccessTrack(lo, hi)) {
      hi |= (lo & ACC_TRACK_SAVED_BITS) << ACC_TRACK_SAVED_SHIFT_HI;
      lo &= ~(this.accTrackLo | this.accessedLo);
    }
    u64.hi = hi;
    return lo;
  }

  /** restore_acc_track_spte. */
  restoreAccTrackSpte(lo: number, hi: number): number {
    const saved = (hi >>> ACC_TRACK_SAVED_SHIFT_HI) & ACC_TRACK_SAVED_BITS;
    u64.hi = hi & ~(ACC_TRACK_SAVED_BITS << ACC_TRACK_SAVED_SHIFT_HI);
    return (lo & ~this.accTrackLo) | saved;
  }

  // ---- Checker (kvm-mmu.md 2.7) ----

  /**
   * Per-SPTE invariants 1-3, 5 and 6 for an SPTE found at `level`. Each entry starts with
   * "inv<N>:" so callers can count violations per invariant. Allocates; debug path only.
   */
  violations(lo: number, hi: number, level: number): string[] {
    const out: string[] = [];
    const mmio = this.isMmio(lo, hi);
    const present = this.isShadowPresent(lo, hi);
    if (mmio && present) out.push('inv1: MMIO SPTE is also MMU-present');
    if (this.isFrozen(lo, hi)) {
      if (present) out.push('inv3: FROZEN SPTE is MMU-present');
      if (mmio) out.push('inv3: FROZEN SPTE matches the MMIO value');
      if (this.isHardwarePresent(lo)) out.push('inv3: FROZEN SPTE is present to the hardware');
    }
    if (mmio && !this.trapsInHardware(lo, hi)) out.push('inv5: MMIO SPTE would not fault in hardware');
    if (present && this.isLeaf(lo, hi, level)) {
      // check_spte_writable_invariants: W => MMU-writable => host-writable.
      const mmuW = this.isMmuWritable(lo, hi);
      if (this.isWritable(lo) && !mmuW) out.push('inv6: writable SPTE is not MMU-writable');
      if (mmuW && !this.isHostWritable(lo, hi)) out.push('inv6: MMU-writable SPTE is not host-writable');
    }
    return out;
  }

  /**
   * Invariant 4, checked once per configuration (kvm_mmu_set_mmio_spte_mask's WARNs and the
   * static_asserts of spte.h): value within mask within SPTE_MMIO_ALLOWED_MASK; the generation
   * clear of the MMIO mask and value, of MMU-present, of the GFN and of the access bits; FROZEN
   * neither MMU-present nor MMIO; the MMIO value traps. Empty when the configuration is sound.
   */
  checkDisjointness(): string[] {
    const m = this.masks;
    const out: string[] = [];
    const hex = (v: bigint): string => `0x${v.toString(16)}`;
    const gen = m.mmioGeneration;
    const mmioBits = m.mmioMask | m.mmioTrapValue;
    if (m.mmioValue & ~m.mmioMask) out.push(`MMIO value ${hex(m.mmioValue)} is not within the MMIO mask ${hex(m.mmioMask)}`);
    if (m.mmioMask & ~m.mmioAllowed) out.push(`MMIO mask ${hex(m.mmioMask)} has bits outside SPTE_MMIO_ALLOWED_MASK: ${hex(m.mmioMask & ~m.mmioAllowed)}`);
    if (m.mmioMask & m.mmuPresent) out.push('MMIO mask includes the MMU-present bit');
    if (gen & mmioBits) out.push(`MMIO generation overlaps the MMIO mask/value: ${hex(gen & mmioBits)}`);
    if (gen & m.mmuPresent) out.push(`MMIO generation overlaps the MMU-present bit: ${hex(gen & m.mmuPresent)}`);
    if (gen & genmask(51, 12)) out.push(`MMIO generation overlaps the GFN bits: ${hex(gen & genmask(51, 12))}`);
    if (gen & m.mmioAccess) out.push(`MMIO generation overlaps the MMIO access bits: ${hex(gen & m.mmioAccess)}`);
    if (m.frozen & m.mmuPresent) out.push('FROZEN_SPTE has the MMU-present bit');
    if (this.mmioCachingEnabled) {
      if ((m.frozen & m.mmioMask) === m.mmioValue) out.push('FROZEN_SPTE matches the MMIO value');
      const t = m.mmioTrapValue;
      if (!this.trapsInHardware(lo32(t), hi32(t))) out.push(`MMIO value ${hex(t)} would not fault in hardware`);
    }
    return out;
  }

  // ---- bigint conveniences for tests and reports ----
  // Their frame arguments are plain numbers on purpose: tests build SPTEs from literal frames; the
  // (lo, hi) methods above, which the MMUs call, take and return branded frames.

  readonly big = {
    isMmio: (s: bigint): boolean => this.isMmio(lo32(s), hi32(s)),
    isFrozen: (s: bigint): boolean => this.isFrozen(lo32(s), hi32(s)),
    isShadowPresent: (s: bigint): boolean => this.isShadowPresent(lo32(s), hi32(s)),
    isLeaf: (s: bigint, level: number): boolean => this.isLeaf(lo32(s), hi32(s), level),
    isLarge: (s: bigint): boolean => this.isLarge(lo32(s)),
    pfn: (s: bigint): Hfn => this.pfn(lo32(s), hi32(s)),
    isWritable: (s: bigint): boolean => this.isWritable(lo32(s)),
    isHostWritable: (s: bigint): boolean => this.isHostWritable(lo32(s), hi32(s)),
    isMmuWritable: (s: bigint): boolean => this.isMmuWritable(lo32(s), hi32(s)),
    isAccessed: (s: bigint): boolean => this.isAccessed(lo32(s), hi32(s)),
    isDirty: (s: bigint): boolean => this.isDirty(lo32(s)),
    isAccessTrack: (s: bigint): boolean => this.isAccessTrack(lo32(s), hi32(s)),
    isExecutable: (s: bigint): boolean => this.isExecutable(lo32(s), hi32(s)),
    trapsInHardware: (s: bigint): boolean => this.trapsInHardware(lo32(s), hi32(s)),
    mmioGeneration: (s: bigint): number => this.mmioGeneration(lo32(s), hi32(s)),
    mmioGfn: (s: bigint): Gfn => this.mmioGfn(lo32(s), hi32(s)),
    mmioAccess: (s: bigint): number => this.mmioAccess(lo32(s)),
    violations: (s: bigint, level: number): string[] => this.violations(lo32(s), hi32(s), level),
    makeSpte: (pfn: number, level: number, access: number, hostWritable: boolean, mmuWritable: boolean, prefetch: boolean): bigint =>
      join(this.makeSpte(pfn as Hfn, level, access, hostWritable, mmuWritable, prefetch), u64.hi),
    makeNonLeafSpte: (childPfn: number, adDisabled = this.adDisabled): bigint => join(this.makeNonLeafSpte(childPfn as Hfn, adDisabled), u64.hi),
    makeMmioSpte: (gfn: number, access: number, generation: number): bigint => join(this.makeMmioSpte(gfn as Gfn, access, generation), u64.hi),
    markSpteForAccessTrack: (s: bigint): bigint => join(this.markSpteForAccessTrack(lo32(s), hi32(s)), u64.hi),
    restoreAccTrackSpte: (s: bigint): bigint => join(this.restoreAccTrackSpte(lo32(s), hi32(s)), u64.hi),
  };

  /** One line for reports and traces, e.g. "0x...817 mmio gfn=0xffc12 access=6 gen=258 present". */
  describe(spte: bigint, level = PG_LEVEL_4K): string {
    const lo = lo32(spte), hi = hi32(spte);
    const parts = [`0x${spte.toString(16).padStart(16, '0')}`];
    if (this.isFrozen(lo, hi)) parts.push('frozen');
    if (this.isMmio(lo, hi)) {
      parts.push(`mmio gfn=0x${this.mmioGfn(lo, hi).toString(16)} access=${this.mmioAccess(lo)} gen=${this.mmioGeneration(lo, hi)}`);
    }
    if (this.isShadowPresent(lo, hi)) {
      parts.push(`present pfn=0x${this.pfn(lo, hi).toString(16)}`);
      const flags: [boolean, string][] = [
        [this.isWritable(lo), 'W'], [this.isHostWritable(lo, hi), 'H'], [this.isMmuWritable(lo, hi), 'M'],
        [this.isAccessed(lo, hi), 'A'], [this.isDirty(lo), 'D'], [this.isExecutable(lo, hi), 'X'],
        [!this.isLeaf(lo, hi, level), 'nonleaf'], [this.isLarge(lo), 'PS'],
      ];
      for (const [on, name] of flags) if (on) parts.push(name);
    }
    if (parts.length === 1) parts.push(lo === this.nonpresentLo && hi === this.nonpresentHi ? 'nonpresent' : 'not present');
    for (const v of this.violations(lo, hi, level)) parts.push(`[${v}]`);
    return parts.join(' ');
  }
}

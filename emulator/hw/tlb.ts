/**
 * The hardware TLB: direct-mapped, one 4 KiB translation per slot.
 *
 * Two layers live in each slot:
 * - the architectural entry (linear page, host page, accumulated permissions, dirty, global, PCID),
 *   which lives until an architectural flush (MOV CR3, INVLPG, ...) or eviction, exactly as a CPU's
 *   TLB does, so a guest that forgets an INVLPG sees the stale translation here too;
 * - the fast tags: per access kind and privilege, the linear page number if that access may go
 *   straight to host memory in the current context (permitted, RAM, dirty already set for writes,
 *   no decoded code on the page). The fast path of every memory access is one compare against them.
 *   They are derived state: clearing them never changes behaviour, only speed.
 *
 * Large pages are cached as 4 KiB pieces; each piece remembers the size of the page it came from so
 * INVLPG can drop every piece of a large page.
 */
export const TLB_BITS = 12;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;

/** Bits of Tlb.perm. */
export const enum TlbPerm {
  /** Writable by the accumulated R/W bits of the walk. */
  W = 1 << 0,
  /** User-accessible by the accumulated U/S bits. */
  U = 1 << 1,
  /** Executable (no NX bit on the path, or EFER.NXE=0). */
  X = 1 << 2,
  /** The leaf's dirty bit is known to be set, so a write needs no walk. */
  D = 1 << 3,
  /** Global page (CR4.PGE and the leaf's G bit): survives non-global flushes. */
  G = 1 << 4,
  /** Not RAM: accesses go to the MMIO bus. */
  MMIO = 1 << 5,
  /** Under TDP: the TDP entries allow reads, writes, fetches of the final page (always set in bare mode). */
  TR = 1 << 6,
  TW = 1 << 7,
  TX = 1 << 12,
  /** Protection key in bits 11:8. */
  PK_SHIFT = 8,
  PK_MASK = 0xf << 8,
  /** log2 of the page size this piece belongs to, in bits 19:16 (12, 21, 22 or 30). */
  SIZE_SHIFT = 16,
  SIZE_MASK = 0x1f << 16,
}

const INVALID = -1;
/**
 * Up to this many listed slots, whole-TLB clears visit the listed slots; beyond it they fill the
 * arrays (typed-array fill beats scattered stores once the TLB is well used).
 */
const SPARSE_SLOTS = TLB_SIZE / 8;

/** Counters of cached large-page pieces (see Tlb.piecesInBucket). */
const REGION_BUCKETS = 4096;
/** 4 KiB pieces per large page, by log2 page size. */
const PIECES = new Float64Array(64).map((_, shift) => (shift > 12 ? 2 ** (shift - 12) : 1));

/**
 * The counter for the large page of 2^shift bytes holding linear page vpn: the low 8 bits of the
 * large page's number and its size. Large pages that share a counter only make INVLPG scan where
 * it need not; a typed-array counter costs a TLB fill of a large-page piece (every kernel text
 * fill) far less than a Map keyed by the exact page did.
 */
function regionBucket(vpn: number, shift: number): number {
  return ((Math.floor(vpn / PIECES[shift]) & 0xff) << 4) | ((shift - 12) & 15);
}

export class Tlb {
  readonly vpn = new Float64Array(TLB_SIZE).fill(INVALID);
  /** Host arena offset of the 4 KiB page, or the guest-physical page address for MMIO. */
  readonly host = new Float64Array(TLB_SIZE);
  readonly perm = new Int32Array(TLB_SIZE);
  readonly pcid = new Int32Array(TLB_SIZE);
  /** Under TDP: the root (EPTP/nCR3) the entry was made under, and that root's incarnation. */
  readonly root = new Float64Array(TLB_SIZE);
  readonly incarnation = new Int32Array(TLB_SIZE);

  readonly supRead = new Float64Array(TLB_SIZE).fill(INVALID);
  readonly supWrite = new Float64Array(TLB_SIZE).fill(INVALID);
  readonly supFetch = new Float64Array(TLB_SIZE).fill(INVALID);
  readonly userRead = new Float64Array(TLB_SIZE).fill(INVALID);
  readonly userWrite = new Float64Array(TLB_SIZE).fill(INVALID);
  readonly userFetch = new Float64Array(TLB_SIZE).fill(INVALID);
  /** Host page offset of each slot as an int, for the fast path (valid only where a fast tag matches). */
  readonly fastHost = new Int32Array(TLB_SIZE);

  /** Fast tags of the current privilege level. */
  read = this.supRead;
  write = this.supWrite;
  fetch = this.supFetch;

  /** Number of valid slots holding a piece of a large page (lets INVLPG skip the large-page scan). */
  private largePieces = 0;
  /**
   * Valid large-page pieces per counter (regionBucket), so INVLPG scans for pieces only when the
   * page it names lies in a large page the TLB may hold pieces of; a guest with large pages mapped
   * elsewhere (kernels, kvm-unit-tests) pays three reads per INVLPG, not a TLB scan.
   */
  private readonly piecesInBucket = new Int32Array(REGION_BUCKETS);

  /**
   * The slots filled since the last full flush, each listed once (`listed` marks them; some may
   * have been invalidated since). The non-global, PCID and root flushes and revokeWrites visit
   * these rather than all 4096 slots, so the flush of a MOV CR3 costs what the TLB holds: Linux
   * switches CR3 twice for each instruction it patches (text_poke), thousands of times at boot.
   */
  private readonly filled = new Int32Array(TLB_SIZE);
  private filledCount = 0;
  private readonly listed = new Uint8Array(TLB_SIZE);

  /** Counters for reports. */
  flushes = 0;
  fills = 0;

  selectPrivilege(user: boolean): void {
    if (user) {
      this.read = this.userRead; this.write = this.userWrite; this.fetch = this.userFetch;
    } else {
      this.read = this.supRead; this.write = this.supWrite; this.fetch = this.supFetch;
    }
  }

  fill(slot: number, vpn: number, host: number, perm: number, pcid: number, root = 0, incarnation = 0): void {
    // An invalid slot has no fast tags (they are set only on valid slots and cleared with the
    // entry), so only a valid one needs them cleared: a refill after a flush (upstream vmexit's
    // cr4_pge refills a dozen pages per pass) skips the six stores.
    if (this.vpn[slot] !== INVALID) {
      if (this.isLargePiece(slot)) this.forgetPiece(slot);
      this.clearFast(slot);
    }
    this.vpn[slot] = vpn;
    if (this.listed[slot] === 0) { this.listed[slot] = 1; this.filled[this.filledCount++] = slot; }
    this.host[slot] = host;
    this.perm[slot] = perm;
    this.pcid[slot] = pcid;
    this.root[slot] = root;
    this.incarnation[slot] = incarnation;
    this.fastHost[slot] = (perm & TlbPerm.MMIO) !== 0 ? 0 : host;
    if (this.isLargePiece(slot)) {
      this.largePieces++;
      this.piecesInBucket[regionBucket(vpn, this.sizeShift(slot))]++;
    }
    this.fills++;
  }

  private sizeShift(slot: number): number {
    return (this.perm[slot] & TlbPerm.SIZE_MASK) >>> TlbPerm.SIZE_SHIFT;
  }

  private isLargePiece(slot: number): boolean {
    return this.sizeShift(slot) > 12;
  }

  /** Bookkeeping for a valid large-page piece leaving its slot. */
  private forgetPiece(slot: number): void {
    this.largePieces--;
    this.piecesInBucket[regionBucket(this.vpn[slot], this.sizeShift(slot))]--;
  }

  clearFast(slot: number): void {
    this.supRead[slot] = INVALID; this.supWrite[slot] = INVALID; this.supFetch[slot] = INVALID;
    this.userRead[slot] = INVALID; this.userWrite[slot] = INVALID; this.userFetch[slot] = INVALID;
  }

  invalidateSlot(slot: number): void {
    if (this.vpn[slot] === INVALID) return;
    if (this.isLargePiece(slot)) this.forgetPiece(slot);
    this.vpn[slot] = INVALID;
    this.clearFast(slot);
  }

  /**
   * Drops every fast tag; architectural entries stay (used when CR0.WP, CR4 or EFER.NXE change).
   * Fast tags are only ever set on valid slots, and every valid slot is on the filled list, so a
   * TLB holding few entries clears only those: a guest toggling CR0.WP or CR4.PGE in a loop
   * (upstream vmexit's cr0_wp and cr4_pge) then pays for its dozen entries, not 6 x 4096 slots.
   */
  clearAllFast(): void {
    if (this.filledCount <= SPARSE_SLOTS) {
      for (let k = 0; k < this.filledCount; k++) this.clearFast(this.filled[k]);
      return;
    }
    this.supRead.fill(INVALID); this.supWrite.fill(INVALID); this.supFetch.fill(INVALID);
    this.userRead.fill(INVALID); this.userWrite.fill(INVALID); this.userFetch.fill(INVALID);
  }

  /**
   * CR0.WP 0 -> 1: supervisor writes to pages the walk found read-only lose their fast tag (the
   * only tags WP decides: user writes need R/W=1 whatever WP is). WP 1 -> 0 only permits more, so
   * no tag becomes wrong and nothing needs dropping.
   */
  revokeReadOnlySupervisorWrites(): void {
    for (let k = 0; k < this.filledCount; k++) {
      const s = this.filled[k];
      if ((this.perm[s] & TlbPerm.W) === 0) this.supWrite[s] = INVALID;
    }
  }

  /** Drops the write fast tags of every slot mapping a host page (it now holds decoded code). */
  revokeWrites(hostPage: number): void {
    for (let k = 0; k < this.filledCount; k++) {
      const s = this.filled[k];
      if (this.host[s] === hostPage && this.vpn[s] !== INVALID) {
        this.supWrite[s] = INVALID;
        this.userWrite[s] = INVALID;
      }
    }
  }

  flushAll(): void {
    if (this.filledCount <= SPARSE_SLOTS) {
      // Only listed slots can be valid (see clearAllFast): drop those one by one.
      for (let k = 0; k < this.filledCount; k++) {
        const s = this.filled[k];
        this.invalidateSlot(s);
        this.listed[s] = 0;
      }
      this.filledCount = 0;
      this.flushes++;
      return;
    }
    this.vpn.fill(INVALID);
    this.clearAllFast(); // while the list is still long: the dense clear
    for (let k = 0; k < this.filledCount; k++) this.listed[this.filled[k]] = 0;
    this.filledCount = 0;
    if (this.largePieces !== 0) this.piecesInBucket.fill(0);
    this.largePieces = 0;
    this.flushes++;
  }

  /** Drops every entry made under one TDP root (INVEPT single-context, an ASID/root flush). */
  flushRoot(root: number): void {
    for (let k = 0; k < this.filledCount; k++) {
      const s = this.filled[k];
      if (this.vpn[s] !== INVALID && this.root[s] === root) this.invalidateSlot(s);
    }
    this.forgetInvalidSlots();
    this.flushes++;
  }

  /** MOV CR3 without PCIDs, or with PCID and no NOFLUSH for that PCID: drop non-global entries. */
  flushNonGlobal(pcid = -1): void {
    for (let k = 0; k < this.filledCount; k++) {
      const s = this.filled[k];
      if (this.vpn[s] !== INVALID && (this.perm[s] & TlbPerm.G) === 0 && (pcid < 0 || this.pcid[s] === pcid)) {
        this.invalidateSlot(s);
      }
    }
    this.forgetInvalidSlots();
    this.flushes++;
  }

  /** Drops every entry of one PCID, global ones included (INVPCID type 1 style callers filter). */
  flushPcid(pcid: number, keepGlobal: boolean): void {
    for (let k = 0; k < this.filledCount; k++) {
      const s = this.filled[k];
      if (this.vpn[s] !== INVALID && this.pcid[s] === pcid && !(keepGlobal && (this.perm[s] & TlbPerm.G) !== 0)) {
        this.invalidateSlot(s);
      }
    }
    this.forgetInvalidSlots();
    this.flushes++;
  }

  /** Drops the slots no longer valid from the filled list. */
  private forgetInvalidSlots(): void {
    let kept = 0;
    for (let k = 0; k < this.filledCount; k++) {
      const s = this.filled[k];
      if (this.vpn[s] !== INVALID) this.filled[kept++] = s;
      else this.listed[s] = 0;
    }
    this.filledCount = kept;
  }

  /**
   * INVLPG: drops the translation of one linear page (any PCID for global entries, the given PCID
   * otherwise; pcid < 0 means any), including every cached piece of a large page containing it.
   */
  flushPage(vpn: number, pcid = -1): void {
    const s = vpn & TLB_MASK;
    if (this.vpn[s] === vpn && this.matchesPcid(s, pcid)) this.invalidateSlot(s);
    if (this.largePieces === 0) return;
    this.flushLargePage(vpn, 21, pcid);
    this.flushLargePage(vpn, 22, pcid);
    this.flushLargePage(vpn, 30, pcid);
  }

  /** INVLPG's part for pieces of a 2^shift-byte page containing vpn. */
  private flushLargePage(vpn: number, shift: number, pcid: number): void {
    // The scan stops once it has seen as many pieces of this page as its counter holds (usually a
    // few of its 512 or more slots), so an INVLPG inside a cached large page costs little more
    // than one outside it. A counter shared with another large page only makes it scan further.
    let held = this.piecesInBucket[regionBucket(vpn, shift)];
    if (held === 0) return;
    const pieces = PIECES[shift];
    const base = vpn - (vpn % pieces);
    const slots = Math.min(pieces, TLB_SIZE);
    for (let k = 0; k < slots && held > 0; k++) {
      const slot = (base + k) & TLB_MASK;
      if (!this.isPieceOf(slot, base, pieces, shift)) continue;
      held--;
      if (this.matchesPcid(slot, pcid)) this.invalidateSlot(slot);
    }
  }

  /** INVPCID type 0: one linear page of one PCID, global translations kept. */
  flushPageOfPcid(vpn: number, pcid: number): void {
    const s = vpn & TLB_MASK;
    if (this.vpn[s] === vpn && this.pcid[s] === pcid && (this.perm[s] & TlbPerm.G) === 0) this.invalidateSlot(s);
    if (this.largePieces === 0) return;
    for (let k = 0; k < this.filledCount; k++) {
      const t = this.filled[k];
      const v = this.vpn[t];
      if (v === INVALID || this.pcid[t] !== pcid || (this.perm[t] & TlbPerm.G) !== 0) continue;
      const shift = (this.perm[t] & TlbPerm.SIZE_MASK) >>> TlbPerm.SIZE_SHIFT;
      if (shift <= 12) continue;
      const pieces = 2 ** (shift - 12);
      if (Math.floor(v / pieces) === Math.floor(vpn / pieces)) this.invalidateSlot(t);
    }
    this.flushes++;
  }

  private matchesPcid(slot: number, pcid: number): boolean {
    return pcid < 0 || this.pcid[slot] === pcid || (this.perm[slot] & TlbPerm.G) !== 0;
  }

  /** Whether the slot holds a piece of the 2^shift-byte page whose first 4 KiB page is `base`. */
  private isPieceOf(slot: number, base: number, pieces: number, shift: number): boolean {
    const v = this.vpn[slot];
    if (v === INVALID || v < base || v >= base + pieces) return false;
    return ((this.perm[slot] & TlbPerm.SIZE_MASK) >>> TlbPerm.SIZE_SHIFT) === shift;
  }
}

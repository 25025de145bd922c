import type { SpteCodec } from '../spte.js';
import { type Gfn, type Hpa, type Sptep, PT_ENTRIES, gfnIndex, hfnToHpa, levelPages, sptepAt } from '../../emulator/arch/address.js';

/**
 * KVM's tdp_iter: a pre-order walk over the paging structure under one root, restricted to a
 * guest-frame range. At each position it exposes the SPTE (as int32 halves), its host address,
 * its level and the first guest frame it maps. `next()` steps down into a present non-leaf entry
 * (unless at `minLevel`), else sideways, else up. It re-reads the SPTE at the current position
 * before stepping, so a caller that just linked a child table walks into it: the map path,
 * the zap path and the checker all use it.
 */
const MAX_LEVEL = 5;

export class TdpIter {
  level = 0;
  /** Host address of the current SPTE. */
  sptep = 0 as Sptep;
  lo = 0;
  hi = 0;
  /** First guest frame mapped by the current entry. */
  gfn = 0 as Gfn;
  valid = false;
  /** Per level: the table's host address (Hpa), the entry's index, the table's first frame (Gfn). */
  private readonly table = new Float64Array(MAX_LEVEL + 2);
  private readonly index = new Int32Array(MAX_LEVEL + 2);
  private readonly prefix = new Float64Array(MAX_LEVEL + 2);
  private rootLevel = 0;
  private minLevel = 1;
  private startGfn = 0 as Gfn;
  private endGfn = 0 as Gfn;

  constructor(private readonly view: DataView, private readonly codec: SpteCodec) {}

  /** Starts at the first entry of [startGfn, endGfn) under `root` (a table at `rootLevel`). */
  start(root: Hpa, rootLevel: number, startGfn: Gfn, endGfn: Gfn, minLevel = 1): void {
    this.rootLevel = rootLevel;
    this.minLevel = minLevel;
    this.startGfn = startGfn;
    this.endGfn = endGfn;
    this.level = rootLevel;
    this.table[rootLevel] = root;
    this.prefix[rootLevel] = 0;
    this.index[rootLevel] = gfnIndex(rootLevel, startGfn);
    this.valid = startGfn < endGfn;
    if (this.valid) this.read();
  }

  /** Re-reads the SPTE at the current position (after the caller changed it). */
  read(): void {
    const level = this.level;
    this.sptep = sptepAt(this.table[level] as Hpa, this.index[level]);
    this.lo = this.view.getInt32(this.sptep, true);
    this.hi = this.view.getInt32(this.sptep + 4, true);
    this.gfn = (this.prefix[level] + this.index[level] * levelPages(level)) as Gfn;
  }

  /** Writes the SPTE at the current position. */
  write(lo: number, hi: number): void {
    this.view.setInt32(this.sptep, lo, true);
    this.view.setInt32(this.sptep + 4, hi, true);
    this.lo = lo;
    this.hi = hi;
  }

  next(): void {
    this.read();
    const codec = this.codec;
    if (this.level > this.minLevel && codec.isShadowPresent(this.lo, this.hi) && !codec.isLeaf(this.lo, this.hi, this.level)) {
      // Step down into the child table, at the first entry inside the range.
      const child = hfnToHpa(codec.pfn(this.lo, this.hi));
      const base = this.gfn;
      this.level--;
      this.table[this.level] = child;
      this.prefix[this.level] = base;
      const first = Math.max(this.startGfn, base);
      this.index[this.level] = Math.floor((first - base) / levelPages(this.level));
      this.read();
      return;
    }
    // Step sideways, climbing up while a table is finished.
    for (;;) {
      const level = this.level;
      this.index[level]++;
      const nextGfn = this.prefix[level] + this.index[level] * levelPages(level);
      if (this.index[level] < PT_ENTRIES && nextGfn < this.endGfn) {
        this.read();
        return;
      }
      if (level === this.rootLevel) {
        this.valid = false;
        return;
      }
      this.level++;
    }
  }
}

import type { SpteCodec } from '../spte.js';
import { PT32E_ROOT_LEVEL } from '../role.js';
import { type Hpa, type Sptep, hfnToHpa, pageIndex, sptepAt } from '../../emulator/arch/address.js';

/**
 * KVM's kvm_shadow_walk_iterator (for_each_shadow_entry): from a root down the SPTEs covering one
 * address, a level at a time, while the SPTE above is a present table. A root of level 3 is a
 * pae_root: four PDPTE-like entries (not SPTEs) that point at level-2 shadow pages.
 *
 * The address is a 64-bit pair (a guest linear address under shadow paging, a guest-physical
 * address for direct roots). Reused; nothing is allocated per walk.
 */
export class ShadowWalk {
  /** Host address of the current SPTE. */
  sptep = 0 as Sptep;
  /** Level of the current SPTE (1 = 4 KiB leaf level); 0 when the walk has ended. */
  level = 0;
  /** Index of the current SPTE in its table. */
  index = 0;
  /** The table being walked (0 once a pae_root entry was empty). */
  private table = 0 as Hpa;
  private lo = 0;
  private hi = 0;
  private readonly view: DataView;
  private readonly codec: SpteCodec;

  constructor(view: DataView, codec: SpteCodec) {
    this.view = view;
    this.codec = codec;
  }

  /** shadow_walk_init_using_root. */
  init(root: Hpa, rootLevel: number, lo: number, hi: number): this {
    this.lo = lo;
    this.hi = hi;
    this.table = root;
    this.level = rootLevel;
    if (rootLevel === PT32E_ROOT_LEVEL) {
      // The pae_root holds four PDPTE-like entries, indexed by bits 31:30 of the address.
      const pdpte = sptepAt(root, (lo >>> 30) & 3);
      const entry = this.view.getInt32(pdpte, true);
      const entryHi = this.view.getInt32(pdpte + 4, true);
      this.table = ((entryHi & 0xfffff) * 4294967296 + ((entry & 0xfffff000) >>> 0)) as Hpa;
      this.level = this.table === 0 ? 0 : 2;
    }
    return this;
  }

  /** shadow_walk_okay: positions sptep at this level's entry; false when the walk has ended. */
  okay(): boolean {
    if (this.level < 1) return false;
    this.index = pageIndex(this.level, this.lo, this.hi);
    this.sptep = sptepAt(this.table, this.index);
    return true;
  }

  /** shadow_walk_next: down into the table the current SPTE points to, or end at a leaf or hole. */
  next(): void {
    const lo = this.view.getInt32(this.sptep, true);
    const hi = this.view.getInt32(this.sptep + 4, true);
    if (!this.codec.isShadowPresent(lo, hi) || this.codec.isLeaf(lo, hi, this.level)) {
      this.level = 0;
      return;
    }
    this.table = hfnToHpa(this.codec.pfn(lo, hi));
    this.level--;
  }
}

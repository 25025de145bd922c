import type { Arena } from '../../emulator/machine/arena.js';
import type { Memslots } from '../../emulator/machine/memslots.js';
import { FRAMES_PER_LO, PAGE_SIZE, type Hpa, gpa as asGpa } from '../../emulator/arch/address.js';
import type { Tlb } from '../../emulator/hw/tlb.js';
import { TlbPerm, TLB_SIZE } from '../../emulator/hw/tlb.js';
import type { GpaTlb } from '../../emulator/hw/gpa-tlb.js';
import { GPA_TLB_SIZE } from '../../emulator/hw/gpa-tlb.js';
import type { TdpHardware } from '../../emulator/hw/tdp-hardware.js';
import type { ShadowHardware } from '../../emulator/hw/shadow-hardware.js';
import { TdpAccess, TdpWalkResult, tdpWalk } from '../../emulator/hw/tdp-walk.js';
import { Access, WalkResult, walk } from '../../emulator/paging/walker.js';
import type { RequestSet } from './requests.js';
import { Request } from './requests.js';
import type { SharedMmu } from './kvm-config.js';

/**
 * Invariant 18, remote TLB flushes (kvm_flush_remote_tlbs): once a vCPU has served the flush, or
 * would run guest code without serving one, its hardware TLB holds no translation derived from an
 * SPTE that was zapped or changed before the flush was requested.
 *
 * When a remote flush is requested, the checker notes, per vCPU, the TLB entries the SPTEs no
 * longer back at that moment (a translation the hardware's walk of the entry's root would no
 * longer give: not present, another host page, or fewer rights): exactly the entries the flush
 * exists to remove. Then, at each VM entry, a vCPU with notes is looked at once it has served a
 * TLB_FLUSH request since (its req_tlb_flush count went up; the hardware flush may have missed
 * entries), or once it has no TLB_FLUSH request pending although none was served (the request
 * never reached it): any noted entry still in its TLB, and still not backed, is a violation.
 * Entries made again since from SPTEs that back them are not.
 *
 * It costs nothing unless the checker is on: Kvm calls it only then. The walks are the hardware's
 * own (tdpWalk and the x86 walker) over host memory that cannot be written (accessed and dirty
 * bits are left alone), so checking changes nothing a run does.
 */

/** One vCPU as the check sees it. */
export interface FlushCheckVcpu {
  readonly tlb: Tlb;
  readonly hardware: TdpHardware | null;
  readonly shadowHardware: ShadowHardware | null;
  readonly requests: RequestSet;
  /** TLB_FLUSH requests served (stats.req_tlb_flush). */
  flushesServed(): number;
}

/** The VM as the check sees it. */
export interface FlushCheckVm {
  readonly arena: Arena;
  readonly memslots: Memslots;
  readonly shared: SharedMmu;
  readonly vcpus: readonly FlushCheckVcpu[];
}

const enum Kind { COMBINED = 0, GUEST_PHYSICAL = 1 }

/** A TLB entry the SPTEs no longer backed when a remote flush was requested. */
interface Stale {
  readonly kind: Kind;
  readonly slot: number;
  /** Linear page (combined) or guest frame (guest-physical): a frame number of either space, so no one brand. */
  readonly page: number;
  /** The host page the entry gives. */
  readonly host: Hpa;
  /** TlbPerm bits (combined) or TdpAccess bits (guest-physical). */
  readonly perm: number;
  readonly root: Hpa;
}

/** What one vCPU must no longer hold: the entries noted and its served-flush count at the time. */
interface Obligation {
  readonly stale: Stale[];
  readonly servedBefore: number;
}

/** TlbPerm bits that decide what a combined entry lets an access do. */
const RIGHTS = TlbPerm.W | TlbPerm.U | TlbPerm.X | TlbPerm.TR | TlbPerm.TW | TlbPerm.TX;

export class RemoteFlushCheck {
  private readonly vm: FlushCheckVm;
  private readonly pending: (Obligation | undefined)[];
  /** Host memory as the check reads it: writes (accessed/dirty bits of a walk) are dropped. */
  private readonly readOnly: Arena;
  private readonly tdpOut = new TdpWalkResult();
  private readonly walkOut = new WalkResult();

  constructor(vm: FlushCheckVm) {
    this.vm = vm;
    this.pending = vm.vcpus.map(() => undefined);
    const view = vm.arena.view;
    const roView = { getInt32: (at: number, le?: boolean) => view.getInt32(at, le), setInt32: () => {} };
    this.readOnly = { view: roView } as unknown as Arena;
  }

  /** kvm_flush_remote_tlbs was called: note what each vCPU's TLB holds that the SPTEs no longer back. */
  flushRequested(): void {
    this.vm.vcpus.forEach((v, i) => {
      const stale = this.staleEntries(v);
      if (stale.length === 0) return;
      const before = this.pending[i];
      // A vCPU that has not served the earlier flush yet owes both; its count is the earlier one.
      this.pending[i] = before === undefined ? { stale, servedBefore: v.flushesServed() } : { stale: before.stale.concat(stale), servedBefore: before.servedBefore };
    });
  }

  /** At every VM entry: the vCPUs whose noted entries must be gone by now. */
  check(out: string[]): void {
    this.vm.vcpus.forEach((v, i) => {
      const owed = this.pending[i];
      if (owed === undefined) return;
      const served = v.flushesServed() > owed.servedBefore;
      if (!served && (v.requests.bits & Request.TLB_FLUSH) !== 0) return; // not yet: it will flush before it runs
      this.pending[i] = undefined;
      const left = owed.stale.filter((s) => this.stillHeld(v, s) && !this.backed(v, s.kind, s.page, s.host, s.perm, s.root));
      if (left.length === 0) return;
      const s = left[0];
      const what = s.kind === Kind.COMBINED ? `linear page 0x${(s.page * PAGE_SIZE).toString(16)}` : `guest-physical page 0x${(s.page * PAGE_SIZE).toString(16)}`;
      out.push(`18: vCPU ${i} ${served ? 'served the remote TLB flush' : 'has no TLB flush pending'} but its TLB still holds ${left.length} translation(s) ` +
        `zapped or changed before the flush was requested (first: ${what} -> host 0x${s.host.toString(16)}, root 0x${s.root.toString(16)})`);
    });
  }

  /** The valid entries of a vCPU's TLBs that the SPTEs do not back now. */
  private staleEntries(v: FlushCheckVcpu): Stale[] {
    const stale: Stale[] = [];
    const tlb = v.tlb;
    for (let s = 0; s < TLB_SIZE; s++) {
      if (tlb.vpn[s] < 0 || (tlb.perm[s] & TlbPerm.MMIO) !== 0) continue;
      const perm = tlb.perm[s] & RIGHTS;
      const host = tlb.host[s] as Hpa, root = tlb.root[s] as Hpa;
      if (!this.backed(v, Kind.COMBINED, tlb.vpn[s], host, perm, root)) {
        stale.push({ kind: Kind.COMBINED, slot: s, page: tlb.vpn[s], host, perm, root });
      }
    }
    const gpa = v.hardware?.gpaTlb;
    if (gpa !== undefined) {
      for (let s = 0; s < GPA_TLB_SIZE; s++) {
        if (gpa.gfn[s] < 0) continue;
        const host = gpa.host[s] as Hpa, root = gpa.root[s] as Hpa;
        if (!this.backed(v, Kind.GUEST_PHYSICAL, gpa.gfn[s], host, gpa.allowed[s], root)) {
          stale.push({ kind: Kind.GUEST_PHYSICAL, slot: s, page: gpa.gfn[s], host, perm: gpa.allowed[s], root });
        }
      }
    }
    return stale;
  }

  /** Whether the vCPU's TLB still holds the noted entry in its slot. */
  private stillHeld(v: FlushCheckVcpu, s: Stale): boolean {
    if (s.kind === Kind.COMBINED) {
      const tlb = v.tlb;
      return tlb.vpn[s.slot] === s.page && tlb.host[s.slot] === s.host && tlb.root[s.slot] === s.root &&
        (tlb.perm[s.slot] & TlbPerm.MMIO) === 0 && (tlb.perm[s.slot] & RIGHTS) === s.perm;
    }
    const gpa: GpaTlb = v.hardware!.gpaTlb;
    return gpa.gfn[s.slot] === s.page && gpa.root[s.slot] === s.root && gpa.host[s.slot] === s.host;
  }

  /** Whether the SPTEs of the entry's root give this translation with at least these rights now. */
  private backed(v: FlushCheckVcpu, kind: Kind, page: number, host: Hpa, perm: number, root: Hpa): boolean {
    const shadow = v.shadowHardware;
    if (shadow !== null) {
      // Linear translations are tagged by PCID, not root: only the root loaded now can be walked
      // (an entry of an earlier root is left alone rather than judged by another root's tables).
      if (root !== shadow.ctx.root) return true;
      const out = this.walkOut;
      const lo = (page % FRAMES_PER_LO) * PAGE_SIZE;
      const hi = Math.floor(page / 1048576);
      // A supervisor read that sets no A/D bits (PROBE) and that SMAP does not stop (AC).
      if (!walk(shadow.ctx, shadow.tables, lo | 0, hi, Access.PROBE | Access.AC, out)) return false;
      return out.gpa === host && (perm & (TlbPerm.W | TlbPerm.U | TlbPerm.X) & ~out.perm) === 0;
    }
    const hw = v.hardware!;
    if (!this.rootAlive(root)) return false;
    const access = kind === Kind.GUEST_PHYSICAL ? perm & 7
      : ((perm & TlbPerm.TR) !== 0 ? TdpAccess.READ : 0) | ((perm & TlbPerm.TW) !== 0 ? TdpAccess.WRITE : 0) | ((perm & TlbPerm.TX) !== 0 ? TdpAccess.FETCH : 0);
    const out = this.tdpOut;
    if (kind === Kind.GUEST_PHYSICAL) return tdpWalk(this.readOnly, hw.config, root, asGpa(page * PAGE_SIZE), access, false, out) && out.hostPage === host;
    // A combined entry keeps the host page, not the guest-physical one: try every guest frame
    // the memslots back with that host page.
    const hfn = Math.floor(host / PAGE_SIZE);
    for (const slot of this.vm.memslots.all) {
      const k = hfn - slot.hostHfn;
      if (k < 0 || k >= slot.npages) continue;
      if (tdpWalk(this.readOnly, hw.config, root, asGpa((slot.baseGfn + k) * PAGE_SIZE), access, false, out) && out.hostPage === host) return true;
    }
    return false;
  }

  /** A TDP root still in the VM's lists (a freed root backs nothing). */
  private rootAlive(root: Hpa): boolean {
    const { tdpRoots, cache } = this.vm.shared;
    if (tdpRoots !== undefined) return tdpRoots.roots.some((r) => r.hpa === root);
    return cache !== undefined && cache.byHpa.has(root);
  }
}

import type { BarePlatform } from '../../emulator/machine/bare-platform.js';
import type { Arena } from '../../emulator/machine/arena.js';
import type { HostPages } from '../../emulator/machine/host-pages.js';
import type { MemslotChange, Memslots } from '../../emulator/machine/memslots.js';
import type { Hypervisor } from '../../emulator/machine/hypervisor.js';
import type { Vcpu } from '../../emulator/cpu/vcpu.js';
import type { CostItem } from '../cost.js';
import type { MmuContext } from '../mmu.js';
import { SpteCodec } from '../spte.js';
import { Stats } from '../stats.js';
import { Request } from './requests.js';
import { TdpRootList } from '../tdp/tdp-mmu.js';
import { ShadowPageCache } from '../shadow-pages/page-cache.js';
import { SME_CBIT, type KvmConfig, type SharedMmu } from './kvm-config.js';
import { type KvmVm, KvmVcpu } from './kvm-vcpu.js';
import { LockMode, MmuLock } from './mmu-lock.js';
import { RemoteFlushCheck } from './remote-flush-check.js';
import { DirtyLogIoctls } from './dirty-log-ioctls.js';
import { VmmThread } from './vmm-thread.js';
import { TdpMmu } from '../tdp/tdp-mmu.js';
import { SpteRaces } from '../tdp/spte-races.js';
import { RmapDirtyLog } from '../shadow-pages/dirty-log.js';
import { ShadowMapper } from '../shadow-pages/map.js';

export { KvmRunError } from './kvm-vcpu.js';
export type { KvmConfig, KvmMmuMode } from './kvm-config.js';

/** The machine KVM runs: its vCPUs (each with its paging hardware), host memory and memory map. */
export interface KvmHost {
  readonly vcpus: readonly Vcpu[];
  /** Each vCPU's devices, as the vCPU reaches them without a hypervisor. */
  readonly platforms: readonly BarePlatform[];
  readonly arena: Arena;
  readonly memslots: Memslots;
  /** Which host pages of guest RAM the VMM process has faulted in (absent: all of them). */
  readonly hostPages?: HostPages;
}

/**
 * KVM, modeled: one VM (struct kvm) and its vCPUs (kvm-vcpu.ts). The VM holds what every vCPU
 * shares: the memslots and their generation, the SPTE codec, the MMU's VM-wide structures (the
 * shadow-page hash and its page limit, or the TDP MMU's root list), the invariant checker and its
 * findings. Each vCPU holds its exits, requests, MMU context (current and previous roots, roles),
 * hardware TLB and statistics; the VM's statistics are their sum.
 *
 * MMU work is done on behalf of the vCPU KVM is running for (KVM's kvm_get_running_vcpu): its
 * counters count it and its TSC pays for it. A request for every vCPU (kvm_make_all_cpus_request,
 * kvm_flush_remote_tlbs) is raised on each; a vCPU that is running guest code (not halted, not
 * waiting for SIPI) is kicked out of it with an IPI, paid by the sender, and serves the request
 * in the exit the IPI causes, at its next instruction boundary.
 */
export class Kvm implements Hypervisor, KvmVm {
  readonly cfg: KvmConfig;
  readonly codec: SpteCodec;
  readonly arena: Arena;
  readonly memslots: Memslots;
  readonly shared: SharedMmu;
  readonly tdpLevel: number;
  readonly vcpus: readonly KvmVcpu[];
  readonly mmuContext: MmuContext;
  readonly violations: string[] = [];
  running: KvmVcpu;
  readonly mmuLock = new MmuLock();
  /** Recent SPTE changes in modeled time, so vCPUs race as in KVM (TDP modes with several vCPUs). */
  readonly races: SpteRaces;
  /** Dirty logging's ioctls (KVM_MEM_LOG_DIRTY_PAGES, GET/CLEAR_DIRTY_LOG), as the VMM issues them. */
  readonly dirtyLog: DirtyLogIoctls;
  /** The VMM's own thread (--dirty-log schedules): its ioctls run on its clock, not a vCPU's. */
  readonly vmm: VmmThread;
  /** True while the VMM thread issues an ioctl: MMU work is charged to it instead of `running`. */
  vmmActive = false;
  private auditTick = 0;
  /** Invariant 18 (remote-flush-check.ts); null unless the checker is on. */
  private readonly flushCheck: RemoteFlushCheck | null = null;
  private flushCheckTick = 0;
  /**
   * Test hook for invariant 18: the vCPU that remote TLB flushes skip (neither requested nor
   * kicked, as if kvm_make_all_cpus_request missed it); -1, the default, skips none.
   */
  lostRemoteFlushVcpu = -1;

  constructor(host: KvmHost, cfg: KvmConfig) {
    this.cfg = cfg;
    this.arena = host.arena;
    this.memslots = host.memslots;
    const shadow = cfg.mode === 'shadow';
    // Shadow paging uses the x86 PTE format whatever the vendor; TDP uses EPT on VMX.
    this.codec = new SpteCodec({
      format: cfg.vendor === 'vmx' && !shadow ? 'ept' : 'x86',
      hostPhysBits: cfg.hostPhysBits,
      smeCbit: cfg.hostSme === true ? SME_CBIT : undefined,
      smeHostEncrypted: false,
      eptAdBits: true,
      mmioCaching: true,
      layout: cfg.knobs.spteLayout,
      mmioGenBits: cfg.knobs.mmioGenBits,
    });
    this.tdpLevel = host.vcpus[0].model.maxPhyAddr > 48 ? 5 : 4;
    const kvm = this;
    this.mmuContext = {
      arena: host.arena,
      memslots: host.memslots,
      get stats(): Stats { return kvm.actor.stats; },
      knobs: cfg.knobs,
      codec: this.codec,
      tdpLevel: this.tdpLevel,
      hostMaxLevel: cfg.hostMaxLevel,
      hostPages: host.hostPages,
      request: (req) => { kvm.running.requests.make(req); },
      requestAll: (req) => kvm.requestAll(req),
      flushRemoteTlbs: () => kvm.flushRemoteTlbs(),
      charge: (item: CostItem, times?: number) => kvm.actor.charge(item, times),
      mmioGeneration: () => host.memslots.generation,
      trace: null,
    };
    this.races = new SpteRaces(shadow ? 1 : host.vcpus.length);
    this.races.clock = () => (kvm.vmmActive ? kvm.vmm.time : kvm.running.cpu.cycles());
    this.vmm = new VmmThread(this);
    this.shared = {
      tdpRoots: cfg.mode === 'tdp' ? new TdpRootList(this.races) : undefined,
      cache: cfg.mode === 'tdp' ? undefined : new ShadowPageCache(this.mmuContext),
    };
    const vcpus: KvmVcpu[] = [];
    this.vcpus = vcpus;
    for (let i = 0; i < host.vcpus.length; i++) {
      const v = new KvmVcpu(this, host.vcpus[i], host.platforms[i]);
      vcpus.push(v);
      this.running = v;
    }
    this.running = vcpus[0];
    const bspMmu = vcpus[0].mmu;
    const cache = this.shared.cache;
    this.dirtyLog = new DirtyLogIoctls({
      memslots: host.memslots,
      knobs: cfg.knobs,
      tdpMmu: bspMmu instanceof TdpMmu,
      // PML needs EPT: VMX, not shadow paging.
      pml: cfg.knobs.pml && cfg.vendor === 'vmx' && cfg.mode !== 'shadow',
      // The TDP MMU's slot walks cover the VM's root list from any vCPU's instance; the rmaps are the VM's.
      ops: bspMmu instanceof TdpMmu ? bspMmu : new RmapDirtyLog(this.mmuContext, cache!, new ShadowMapper(this.mmuContext, cache!)),
      lock: (mode) => kvm.actor.lockMmu(mode),
      unlock: (mode, since) => kvm.actor.unlockMmu(mode, since),
      charge: (item, times) => kvm.actor.charge(item, times),
      get stats(): Stats { return kvm.actor.stats; },
      flushRemoteTlbs: () => kvm.flushRemoteTlbs(),
      syncDirtyLog: () => kvm.syncDirtyLog(),
      vcpuStats: vcpus.map((v) => v.stats),
    });
    // A shadow page is synced by the vCPU at hand, with its MMU's roles.
    if (shadow && cache !== undefined) cache.syncPage = (sp) => kvm.running.shadowMmu!.sync.syncPage(sp);
    host.memslots.onSwap((gen) => this.mmioGenerationUpdated(gen));
    host.memslots.onChange((c) => this.memslotsChanged(c));
    this.updatePageLimit();
    for (const v of vcpus) v.initMmu();
    if (cfg.audit) {
      this.flushCheck = new RemoteFlushCheck({
        arena: host.arena,
        memslots: host.memslots,
        shared: this.shared,
        vcpus: vcpus.map((v) => ({
          tlb: v.cpu.paging.tlb, hardware: v.hardware, shadowHardware: v.shadowHardware, requests: v.requests,
          flushesServed: () => v.stats.req_tlb_flush,
        })),
      });
    }
  }

  /** vCPU 0 (the only one on a one-CPU machine). */
  get bsp(): KvmVcpu {
    return this.vcpus[0];
  }

  /** vCPU 0's MMU, which sees the VM's shared structures too (for tools and tests). */
  get mmu(): KvmVcpu['mmu'] {
    return this.bsp.mmu;
  }

  /** The statistics of the VM: every vCPU's counters and the VMM thread's added up (maxima as maxima). */
  get stats(): Stats {
    const total = new Stats();
    for (const v of this.vcpus) total.add(v.stats);
    total.add(this.vmm.stats);
    return total;
  }

  /** Who KVM's work is done for: the VMM thread during its ioctls, else the running vCPU. */
  get actor(): KvmVcpu | VmmThread {
    return this.vmmActive ? this.vmm : this.running;
  }

  /**
   * kvm_arch_sync_dirty_log before GET and CLEAR (vmx.c kvm_flush_pml_buffers): every vCPU is
   * kicked, since its PML buffer is drained only at an exit. KVM does not wait for the exits; the
   * model drains each buffer at the kick, as if the IPI landed within the ioctl (a GET of a large
   * slot outlasts the IPI), so what the vCPUs logged before the ioctl is in the bitmap it copies.
   */
  syncDirtyLog(): void {
    const actor = this.actor;
    for (const v of this.vcpus) {
      if (v === actor || !v.pmlPending()) continue;
      if (v.inGuestMode()) {
        actor.stats.pml_sync_kicks++;
        actor.stats.kicks_sent++;
        actor.charge('remoteKick');
        v.kick();
      }
      v.drainPml();
    }
  }

  // Hypervisor: what the machine asks.

  /** KVM_RUN: an AP still waiting for SIPI blocks outside the guest and loads nothing yet. */
  startVcpu(cpu: number): void {
    const v = this.vcpus[cpu];
    if (!v.cpu.waitForSipi) v.enterGuest();
  }

  registersSet(cpu = 0): void {
    this.vcpus[cpu].resetContext();
  }

  counter(name: string): number | undefined {
    let total: number | undefined;
    for (const v of this.vcpus) {
      const value = (v.stats as unknown as Record<string, unknown>)[name];
      if (typeof value !== 'number') return undefined;
      total = (total ?? 0) + value;
    }
    return total;
  }

  // Requests to every vCPU.

  /**
   * kvm_make_all_cpus_request: every vCPU gets `req`; those running guest code are kicked, the
   * sender paying for each IPI, and take an exit at their next instruction boundary.
   */
  requestAll(req: number, skip = -1): void {
    const sender = this.actor;
    for (const v of this.vcpus) {
      if (v.cpu.index === skip) continue;
      v.requests.make(req);
      if (v === sender || !v.inGuestMode()) continue;
      sender.stats.kicks_sent++;
      sender.charge('remoteKick');
      v.kick();
    }
  }

  /** kvm_flush_remote_tlbs: every vCPU flushes its TLB before it next runs guest code. */
  flushRemoteTlbs(): void {
    this.actor.stats.remote_tlb_flush++;
    // The checker notes what the flush must remove (every auditEvery-th flush on long guests).
    if (this.flushCheck !== null && ++this.flushCheckTick >= (this.cfg.auditEvery ?? 1)) {
      this.flushCheckTick = 0;
      this.flushCheck.flushRequested();
    }
    this.requestAll(Request.TLB_FLUSH, this.lostRemoteFlushVcpu);
    // Every vCPU will flush before it runs guest code again: tables the TDP MMU removed may go.
    this.shared.tdpRoots?.flushed();
  }

  lockHorizon(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const v of this.vcpus) t = Math.min(t, v.cpu.cycles());
    return t;
  }

  // The checker.

  /** After every entry (enterGuest): the checker, every exit or every `auditEvery`-th. */
  afterEntry(): void {
    // The RCU grace period: a removed TDP MMU table still waiting here was never flushed.
    const unflushed = this.shared.tdpRoots?.gracePeriod() ?? 0;
    if (unflushed > 0) {
      this.running.stats.tdp_pt_freed_unflushed += unflushed;
      this.recordViolation(`19: ${unflushed} TDP MMU page tables freed without a TLB flush after they were unlinked`);
    }
    if (this.flushCheck !== null) {
      const found: string[] = [];
      this.flushCheck.check(found);
      for (const v of found) this.recordViolation(v);
    }
    if (this.cfg.audit && ++this.auditTick >= (this.cfg.auditEvery ?? 1)) {
      this.auditTick = 0;
      this.audit();
    }
  }

  /** Runs the invariant checker over the VM's structures; violations are kept in order and counted. */
  audit(): void {
    const found: string[] = [];
    this.bsp.mmu.audit(found);
    const valid = this.bsp.mmu.validRoots();
    if (valid > 4 * this.vcpus.length) found.push(`16: ${valid} valid roots (at most current and three previous per vCPU, or one per role)`);
    this.auditRootReferences(found);
    for (const v of found) this.recordViolation(v);
  }

  /**
   * Invariant 17, the sharing of roots between vCPUs: a TDP MMU root's reference count is the
   * number of vCPUs that have it loaded, plus the MMU's own reference while the root is valid and
   * roots are persistent (6.4+); a legacy TDP root's root_count is the number of vCPUs that have
   * it loaded. (Shadow paging's roots, with their previous roots and PAE quadrants, are counted by
   * the shadow MMU's own checker.)
   */
  private auditRootReferences(out: string[]): void {
    const loaded = new Map<number, number>();
    for (const v of this.vcpus) {
      if (v.shadowMmu !== null) return;
      const root = v.mmu.currentRoot();
      if (root >= 0) loaded.set(root, (loaded.get(root) ?? 0) + 1);
    }
    const persistent = this.cfg.knobs.tdpRootLifetime === 'persistent';
    for (const r of this.shared.tdpRoots?.roots ?? []) {
      const expected = (loaded.get(r.hpa) ?? 0) + (persistent && !r.invalid ? 1 : 0);
      if (r.refs !== expected) out.push(`17: TDP root 0x${r.hpa.toString(16)} has ${r.refs} references, expected ${expected} (${loaded.get(r.hpa) ?? 0} vCPUs hold it)`);
    }
    const cache = this.shared.cache;
    if (this.cfg.mode === 'legacy-tdp' && cache !== undefined) {
      for (const sp of cache.byHpa.values()) {
        const holders = loaded.get(sp.hpa) ?? 0;
        if (sp.rootCount !== holders) out.push(`17: legacy TDP root 0x${sp.hpa.toString(16)} has root_count ${sp.rootCount}, but ${holders} vCPUs hold it`);
      }
    }
  }

  recordViolation(v: string): void {
    this.running.stats.invariant_violations++;
    if (this.violations.length < 100) this.violations.push(v);
  }

  // Memslot updates.

  /**
   * KVM's memslot update (kvm_set_memslot): deleting or moving a slot zaps everything fast
   * (kvm_arch_flush_shadow_memslot); creating one only bumps the generation, which invalidates
   * MMIO SPTEs lazily (a wrap is handled at each publication, mmioGenerationUpdated). With
   * mmioInvalidation=walk-and-zap (3.10, before lkml (b)) MMIO SPTEs carry no generation that
   * counts: a create or move walks every shadow page and clears them (kvm_arch_commit_memory_region).
   */
  private memslotsChanged(change: MemslotChange): void {
    const v = this.actor;
    v.stats.memslot_updates++;
    this.updatePageLimit();
    // kvm_mmu_zap_all_fast under mmu_lock for write.
    const since = v.lockMmu(LockMode.WRITE);
    // A flags-only change (dirty logging on or off) keeps every SPTE; kvm_mmu_slot_apply_flags below.
    if (change.kind !== 'add' && change.kind !== 'flags') this.running.mmu.zapAllFast();
    if (this.walksMmioSptes() && (change.kind === 'add' || change.kind === 'move')) this.shared.cache!.zapMmioSptes();
    v.unlockMmu(LockMode.WRITE, since);
    if (change.kind === 'flags') this.dirtyLog.applyFlags(change.slot, change.old!);
    // A vCPU's ioctl (the test device) returns to its guest; the VMM thread's enters nothing.
    if (v !== this.vmm) this.running.enterGuest();
  }

  /** The 3.10 walk-and-zap of MMIO SPTEs is in force (shadow-page MMUs only; see Knobs.mmioInvalidation). */
  walksMmioSptes(): boolean {
    return this.cfg.knobs.mmioInvalidation === 'walk-and-zap' && this.shared.cache !== undefined;
  }

  /**
   * kvm_arch_memslots_updated -> kvm_mmu_invalidate_mmio_sptes, at each publication of memslots
   * (twice for a delete or move): a generation that wraps to zero in the SPTE's bits would make
   * old MMIO SPTEs look current, so everything is zapped. The generation as stored drops the
   * address-space bit.
   */
  private mmioGenerationUpdated(generation: number): void {
    if (this.walksMmioSptes()) return;
    if (((generation % this.codec.genModulus) & ~1) !== 0) return;
    const v = this.running;
    v.stats.mmio_gen_wrap_zaps++;
    const since = v.lockMmu(LockMode.WRITE);
    v.mmu.zapAllFast();
    v.unlockMmu(LockMode.WRITE, since);
  }

  /** kvm_mmu_change_mmu_pages at memslot commit: the default shadow-page limit follows guest memory. */
  private updatePageLimit(): void {
    const cache = this.shared.cache;
    if (cache === undefined) return;
    if (this.cfg.knobs.nrMmuPages > 0) {
      cache.maxPages = this.cfg.knobs.nrMmuPages;
      return;
    }
    let pages = 0;
    for (const slot of this.memslots.all) pages += slot.npages;
    cache.setDefaultLimit(pages);
  }
}

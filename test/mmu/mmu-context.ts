/**
 * An MMU on its own: a host arena, memslots and the MmuContext KVM would hand it, with no vCPU,
 * no guest and no Kvm. Tests fault guest-physical addresses into an MMU and read back what it
 * built, checking the tables with the TDP hardware's own walker (emulator/hw/tdp-walk.ts), which
 * is the oracle for what the hardware makes of an SPTE.
 */
import { Arena } from '../../emulator/machine/arena.js';
import { type Memslot, Memslots } from '../../emulator/machine/memslots.js';
import { TdpExit, TdpOutcome } from '../../emulator/hw/tdp-hardware.js';
import { TdpAccess, TdpFaultKind, TdpFormat, TdpWalkResult, tdpWalk } from '../../emulator/hw/tdp-walk.js';
import type { MmuContext, TdpCapableMmu } from '../../mmu/mmu.js';
import { PageFault, PfResult } from '../../mmu/page-fault-record.js';
import { faultinPfn } from '../../mmu/faultin.js';
import { CURRENT, type Knobs } from '../../mmu/knobs.js';
import { Stats } from '../../mmu/stats.js';
import { SpteCodec } from '../../mmu/spte.js';
import { Request, RequestSet } from '../../mmu/kvm/requests.js';
import type { CostItem } from '../../mmu/cost.js';
import { cpuRoleFromRegisters, tdpRootRole } from '../../mmu/role.js';
import { Cr0, Cr4, Efer } from '../../emulator/arch/control.js';
import { type Hpa, gpa as asGpa } from '../../emulator/arch/address.js';

export const PAGE = 4096;
/** Guest frames per 2 MiB and per 1 GiB mapping. */
export const FRAMES_2M = 512;
export const FRAMES_1G = 512 * 512;

export interface BenchOptions {
  /** 'ept' (VMX) or 'x86' (NPT, and shadow paging). */
  readonly format?: 'ept' | 'x86';
  readonly hostPhysBits?: number;
  readonly hostMaxLevel?: number;
  readonly tdpLevel?: number;
  readonly knobs?: Partial<Knobs>;
  /** enable_ept_ad_bits (default true). */
  readonly eptAdBits?: boolean;
  /** Arena size in pages (default 4 MiB worth plus room for tables). */
  readonly arenaPages?: number;
}

export interface Bench {
  readonly ctx: MmuContext;
  readonly arena: Arena;
  readonly memslots: Memslots;
  readonly stats: Stats;
  readonly requests: RequestSet;
  readonly codec: SpteCodec;
  /** Every charge() made, by cost item. */
  readonly charged: Map<CostItem, number>;
  readonly hostPhysBits: number;
}

export function bench(opts: BenchOptions = {}): Bench {
  const hostPhysBits = opts.hostPhysBits ?? 46;
  const arena = new Arena((opts.arenaPages ?? 4096) * PAGE);
  const memslots = new Memslots();
  const stats = new Stats();
  const requests = new RequestSet();
  const knobs: Knobs = { ...CURRENT, ...opts.knobs };
  const codec = new SpteCodec({
    format: opts.format ?? 'ept', hostPhysBits, eptAdBits: opts.eptAdBits ?? true, mmioCaching: true,
    layout: knobs.spteLayout, mmioGenBits: knobs.mmioGenBits,
  });
  const charged = new Map<CostItem, number>();
  // One vCPU: its own requests, the VM-wide ones and the remote flush all land in `requests`.
  const ctx: MmuContext = {
    arena, memslots, stats, knobs, codec,
    request: (r: number): void => { requests.make(r); },
    requestAll: (r: number): void => { requests.make(r); },
    flushRemoteTlbs: (): void => { stats.remote_tlb_flush++; requests.make(Request.TLB_FLUSH); },
    tdpLevel: opts.tdpLevel ?? 4,
    hostMaxLevel: opts.hostMaxLevel ?? 1,
    charge: (item: CostItem, times = 1): void => { charged.set(item, (charged.get(item) ?? 0) + times); },
    mmioGeneration: (): number => memslots.generation,
  };
  return { ctx, arena, memslots, stats, requests, codec, charged, hostPhysBits };
}

export interface SlotOptions {
  readonly readOnly?: boolean;
  /** Host frames start this many frames past a `hostAlign` boundary (default 0: aligned). */
  readonly hostMisalign?: number;
  /** Alignment of the host frames in frames (default 512: 2 MiB). */
  readonly hostAlign?: number;
}

/**
 * Adds memslot `id` for guest frames [baseGfn, baseGfn + npages), backed by fresh arena pages
 * aligned as asked. Reserve slots before the MMU allocates tables: reservation is contiguous.
 */
export function addSlot(b: Bench, id: number, baseGfn: number, npages: number, opts: SlotOptions = {}): Memslot {
  const align = opts.hostAlign ?? FRAMES_2M;
  // Before the MMU has allocated (and freed) anything, the next unused frame is pagesInUse.
  const next = b.arena.pagesInUse;
  const pad = (align - (next % align)) % align + (opts.hostMisalign ?? 0);
  if (pad > 0) b.arena.reserveContiguous(pad);
  const hostHfn = b.arena.reserveContiguous(npages);
  const slot = { id, baseGfn, npages, hostHfn, readOnly: opts.readOnly ?? false } as Memslot;
  b.memslots.add(slot);
  return slot;
}

/** A TDP exit (EPT violation) for an access at `gpa`. */
export function tdpExit(gpa: number, access: number = TdpAccess.READ): TdpExit {
  const e = new TdpExit();
  e.kind = TdpFaultKind.EPT_VIOLATION;
  e.gpa = asGpa(gpa);
  e.access = access;
  return e;
}

/** A page-fault record for an EPT violation at `gpa`, as the fault entry fills it (no faultin yet). */
export function tdpFault(gpa: number, access: number = TdpAccess.READ): PageFault {
  return new PageFault().fromTdpExit(tdpExit(gpa, access));
}

/**
 * What KvmVcpu.tdpFault does between the fast path and the map, without the lock and charges:
 * the faultin step, then the MMU's handler unless the step chose emulation. The record is
 * returned through `out` when the caller wants its results (raced, levels).
 */
export function mapFault(b: Bench, mmu: TdpCapableMmu, gpa: number, access: number = TdpAccess.READ, out?: PageFault): TdpOutcome {
  const fault = (out ?? new PageFault()).fromTdpExit(tdpExit(gpa, access));
  if (faultinPfn(fault, b.ctx) !== PfResult.CONTINUE) return TdpOutcome.EMULATE_MMIO;
  return mmu.pageFault(fault);
}

/**
 * A record for calling ShadowMapper.setSpte directly: a fault that writes or not (null would be a
 * prefetch), on a frame of a writable memslot as the faultin step leaves it (map_writable).
 */
export function faultRecord(write: boolean): PageFault {
  const f = new PageFault();
  f.write = write;
  f.mapWritable = true;
  return f;
}

/** The root role of a 64-bit guest under TDP (smm selects the other address space). */
export function tdpRole(b: Bench, smm = false): number {
  const cpu = cpuRoleFromRegisters(Cr0.PG | Cr0.PE | Cr0.WP, Cr4.PAE, Efer.LMA | Efer.LME, { smm });
  return tdpRootRole(cpu, { tdpLevel: b.ctx.tdpLevel, adDisabled: false });
}

/** The CPU role that goes with tdpRole (the TDP MMUs ignore it). */
export function cpuRole(smm = false): ReturnType<typeof cpuRoleFromRegisters> {
  return cpuRoleFromRegisters(Cr0.PG | Cr0.PE | Cr0.WP, Cr4.PAE, Efer.LMA | Efer.LME, { smm });
}

/** What the TDP hardware makes of an access at `gpa` through `root`. */
export function hwWalk(b: Bench, root: number, gpa: number, access: number = TdpAccess.READ): { ok: boolean; r: TdpWalkResult } {
  const r = new TdpWalkResult();
  const ok = tdpWalk(b.arena, {
    format: b.codec.config.format === 'ept' ? TdpFormat.EPT : TdpFormat.NPT,
    levels: b.ctx.tdpLevel, hostPhysBits: b.hostPhysBits, adEnabled: true,
  }, root as Hpa, asGpa(gpa), access, false, r);
  return { ok, r };
}

/** The SPTE at host address `sptep` as a bigint. */
export function spteAt(b: Bench, sptep: number): bigint {
  return b.arena.view.getBigUint64(sptep, true);
}

/**
 * The leaf (or MMIO, or last non-present) SPTE on the path to `gpa` under a TDP root, with its
 * level and host address: a walk of the tables as written, independent of the MMU's own iterators.
 */
export function leafOf(b: Bench, root: number, gpa: number): { spte: bigint; level: number; sptep: number } {
  let table = root;
  for (let level = b.ctx.tdpLevel; ; level--) {
    const index = Math.floor(gpa / (PAGE * 512 ** (level - 1))) % 512;
    const sptep = table + index * 8;
    const spte = spteAt(b, sptep);
    if (level === 1 || !b.codec.big.isShadowPresent(spte) || b.codec.big.isLarge(spte)) return { spte, level, sptep };
    table = b.codec.big.pfn(spte) * PAGE;
  }
}

/** Pages of the arena in use now (guest memory plus MMU tables). */
export const pagesInUse = (b: Bench): number => b.arena.pagesInUse;

/** The checker's findings for an MMU. */
export function auditOf(mmu: { audit(out: string[]): void }): string[] {
  const out: string[] = [];
  mmu.audit(out);
  return out;
}

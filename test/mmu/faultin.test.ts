/**
 * The faultin step (mmu/faultin.ts, kvm_mmu_faultin_pfn) on bare memslots and host-page presence,
 * with no MMU and no vCPU: what it decides for a frame with no memslot, a host page not yet
 * present, and a read-only memslot, and that a reused record carries nothing over.
 */
import { describe, expect, test } from 'vitest';
import { Memslots, type Memslot } from '../../emulator/machine/memslots.js';
import { HostPages } from '../../emulator/machine/host-pages.js';
import { TdpAccess } from '../../emulator/hw/tdp-walk.js';
import { type Gfn, type Hfn } from '../../emulator/arch/address.js';
import { faultinPfn, type FaultinEnv } from '../../mmu/faultin.js';
import { PageFault, PfResult, PFN_NOSLOT } from '../../mmu/page-fault-record.js';
import { PAGE, tdpExit } from './mmu-context.js';

/** Slot 1: RAM at gfn 0x100-0x2ff on host frames 0x400-; slot 2: read-only (ROM) at 0x800-0x80f on 0x1000-. */
const RAM = { id: 1, baseGfn: 0x100 as Gfn, npages: 0x200, hostHfn: 0x400 as Hfn, readOnly: false } as Memslot;
const ROM = { id: 2, baseGfn: 0x800 as Gfn, npages: 0x10, hostHfn: 0x1000 as Hfn, readOnly: true } as Memslot;

function env(opts: { mmioCaching?: boolean; hostPageFrames?: number } = {}): FaultinEnv & { hostPages: HostPages } {
  const memslots = new Memslots();
  memslots.add(RAM);
  memslots.add(ROM);
  const hostPages = new HostPages(0x2000);
  if (opts.hostPageFrames !== undefined) hostPages.setPageFrames(opts.hostPageFrames);
  return { memslots, hostPages, codec: { mmioCachingEnabled: opts.mmioCaching ?? true } };
}

const fault = (gfn: number, access: number = TdpAccess.READ, record = new PageFault()): PageFault =>
  record.fromTdpExit(tdpExit(gfn * PAGE + 0x10, access));

describe('faultin step (kvm_mmu_faultin_pfn)', () => {
  test('no memslot: an MMIO frame; the handler goes on to an MMIO SPTE with MMIO caching, is emulated without; no host page is touched', () => {
    const e = env();
    const f = fault(0x3000, TdpAccess.WRITE);
    expect(faultinPfn(f, e)).toBe(PfResult.CONTINUE);
    expect(f.slot).toBeUndefined();
    expect(f.pfn).toBe(PFN_NOSLOT);
    expect(f.mapWritable).toBe(false);
    expect(f.hostFaults).toBe(0);
    const off = env({ mmioCaching: false });
    expect(faultinPfn(fault(0x3000), off)).toBe(PfResult.EMULATE);
    expect(faultinPfn(fault(0x3000, TdpAccess.WRITE), off)).toBe(PfResult.EMULATE);
    expect(off.hostPages.faultedIn + e.hostPages.faultedIn).toBe(0);
  });

  test('a host page not yet present is faulted in by the first fault and counted once; later faults on it count nothing', () => {
    const e = env();
    const f = fault(0x105, TdpAccess.WRITE);
    expect(e.hostPages.isPresent(0x405)).toBe(false);
    expect(faultinPfn(f, e)).toBe(PfResult.CONTINUE);
    expect(f.slot).toBe(RAM);
    expect(f.pfn).toBe(0x405);
    expect(f.mapWritable).toBe(true);
    expect(f.hostFaults).toBe(1);
    expect(e.hostPages.isPresent(0x405)).toBe(true);
    expect(e.hostPages.faultedIn).toBe(1);
    // The same frame again (another vCPU, or a retried fault): present, nothing to pay.
    expect(faultinPfn(fault(0x105, TdpAccess.READ, f), e)).toBe(PfResult.CONTINUE);
    expect(f.hostFaults).toBe(0);
    // Its neighbour is a separate 4 KiB host page.
    expect(faultinPfn(fault(0x106, TdpAccess.READ, f), e)).toBe(PfResult.CONTINUE);
    expect(f.hostFaults).toBe(1);
    expect(e.hostPages.faultedIn).toBe(2);
  });

  test('with 2 MiB host pages one fault brings in the whole huge page: a neighbour in it costs nothing more', () => {
    const e = env({ hostPageFrames: 512 });
    const f = fault(0x105);
    faultinPfn(f, e);
    expect(f.hostFaults).toBe(1);
    faultinPfn(fault(0x2ff, TdpAccess.READ, f), e); // host frame 0x5ff: the same 2 MiB host page 0x400-0x5ff
    expect(f.hostFaults).toBe(0);
    expect(e.hostPages.faultedIn).toBe(1);
  });

  test('a read-only memslot: a read maps it, not writable; a write is emulated before any host page is touched', () => {
    const e = env();
    const r = fault(0x803);
    expect(faultinPfn(r, e)).toBe(PfResult.CONTINUE);
    expect(r.slot).toBe(ROM);
    expect(r.pfn).toBe(0x1003);
    expect(r.mapWritable).toBe(false);
    expect(r.hostFaults).toBe(1);
    const w = fault(0x804, TdpAccess.WRITE);
    expect(faultinPfn(w, e)).toBe(PfResult.EMULATE);
    expect(w.mapWritable).toBe(false);
    expect(w.hostFaults).toBe(0);
    expect(e.hostPages.isPresent(0x1004)).toBe(false);
  });

  test('a reused record keeps nothing of the last fault: the entry clears the step\'s and the handlers\' results', () => {
    const e = env();
    const f = fault(0x105, TdpAccess.WRITE);
    faultinPfn(f, e);
    f.writeProtected = true;
    f.injectCode = 3;
    f.goalLevel = 2;
    fault(0x3000, TdpAccess.READ, f);
    expect(f.slot).toBeUndefined();
    expect(f.pfn).toBe(PFN_NOSLOT);
    expect(f.mapWritable).toBe(false);
    expect(f.hostFaults).toBe(0);
    expect(f.writeProtected).toBe(false);
    expect(f.injectCode).toBe(-1);
    expect(f.goalLevel).toBe(1);
    expect(f.write).toBe(false);
    expect(f.gfn).toBe(0x3000);
  });
});

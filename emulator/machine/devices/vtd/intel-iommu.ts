import type { MmioDevice } from '../../bus.js';
import type { InterruptMessage } from '../apic-bus.js';
import type { DmaPort } from '../dma.js';
import { rteMessage } from '../ioapic.js';
import { FaultReason, FaultRecorder } from './fault-recording.js';
import { InterruptRemapper, NO_SOURCE_VALIDATION, type Remapped, ioapicIndex, msiIndex } from './interrupt-remap.js';
import { InvalidationQueue } from './invalidation-queue.js';
import type { VtdMemory } from './memory.js';
import { Ecap, Gcmd, type Quad, Reg, SLLPS_1G, SLLPS_2M, VTD_VERSION, type VtdOptions, capability,
  extendedCapability, highAddressMask } from './registers.js';
import { DmaTranslator, type Translation } from './translation.js';

/**
 * An Intel VT-d remapping hardware unit (Intel VT-d specification 3.x) as QEMU's q35 machine has
 * it with `-device intel-iommu`: one unit at 0xFED90000 covering every PCI function, doing DMA
 * remapping (legacy-mode root and context tables, second-level page tables) and, with
 * `interruptRemapping`, interrupt remapping of MSIs and IOAPIC messages. Its parts:
 *
 *   registers.ts          the register offsets, CAP and ECAP
 *   translation.ts        DMA address translation and its faults
 *   interrupt-remap.ts    IRTE lookup and source validation
 *   fault-recording.ts    FSTS, the fault recording registers, the fault event
 *   invalidation-queue.ts queued invalidation (IQH/IQT/IQA, ICS, the completion event)
 *
 * This class is the register file and the glue. It sits between the PCI functions and the rest
 * of the machine as their DmaPort, wrapping the direct port: with GSTS.TES clear a DMA passes
 * through, with it set each 4 KiB page of the access is translated first, and a fault on any page
 * blocks the whole access before any byte moves. MSIs and the IOAPIC's messages are remapped
 * while GSTS.IRES is set; compatibility-format ones then pass only while GSTS.CFIS is set (and
 * never in x2APIC mode, IRTA.EIME). The IOAPIC's messages carry no requester ID that is checked:
 * machines without a DMAR table naming the IOAPIC have none to compare, and kvm-unit-tests'
 * intel-iommu writes the edu device's ID into the IOAPIC pin's IRTE (with SVT=1), which QEMU
 * accepts because it does not validate the IOAPIC's requests either. Fault events and invalidation
 * completion events are compatibility-format MSIs the unit sends through the direct port itself.
 *
 * GCMD (spec 11.4.4): TE, QIE, IRE and CFI are persistent and reflected in GSTS at once; SRTP and
 * SIRTP are one-shot: they latch RTADDR or IRTA and set GSTS.RTPS or IRTPS, which stay set
 * (software writes GSTS back with one more bit, as kvm-unit-tests' vtd_gcmd_or does, so a latch
 * can repeat harmlessly). WBF and SFL have nothing to do (CAP.RWBF and CAP.AFL are 0). Register
 * invalidations (CCMD.ICC, IOTLB.IVT) complete at once, reporting the granularity requested.
 * GCMD reads 0 (write-only); reserved and absent registers read 0 and ignore writes.
 */
export const VTD_BASE = 0xfed90000;
export const VTD_MMIO_SIZE = 0x1000;

/** The requester ID faults from the IOAPIC are recorded under: the platform's pseudo bus 0xff, devfn 0. */
export const IOAPIC_SOURCE_ID = 0xff00;
/** The requester ID under which the unit sends its own event messages. */
const UNIT_SOURCE_ID = 0;

interface Register {
  read(): number;
  write?(value: number): void;
}

const PAGE = 4096;

export class IntelIommu implements MmioDevice, DmaPort {
  readonly name = 'intel-iommu';
  private readonly cap: Quad;
  private readonly ecap: Quad;
  private readonly hawHi: number;
  private gsts = 0;
  private rtaddrLo = 0;
  private rtaddrHi = 0;
  /** The root table latched by the last SRTP. */
  private rootTable = 0;
  private irtaLo = 0;
  private irtaHi = 0;
  private ccmdLo = 0;
  private ccmdHi = 0;
  private ivaLo = 0;
  private ivaHi = 0;
  private iotlbHi = 0;
  private readonly faults: FaultRecorder;
  private readonly queue: InvalidationQueue;
  private readonly translator: DmaTranslator;
  private readonly remapper: InterruptRemapper;
  private readonly registers = new Map<number, Register>();
  private readonly translation: Translation = { address: 0, fault: 0, report: false };
  private readonly remapped: Remapped = { message: null, fault: 0, report: false };
  /** Bus address of each 4 KiB piece of the access in progress (grown on demand). */
  private pieces = new Float64Array(4);

  constructor(memory: VtdMemory, private readonly direct: DmaPort, private readonly deliver: (msg: InterruptMessage) => void,
    private readonly options: VtdOptions) {
    const aw = options.addressWidth ?? 39;
    this.cap = capability(options);
    this.ecap = extendedCapability(options);
    this.hawHi = highAddressMask(aw);
    const event = (address: number, data: number): void => direct.signalMsi(UNIT_SOURCE_ID, address, data);
    this.faults = new FaultRecorder(event);
    this.queue = new InvalidationQueue(memory, this.faults, this.hawHi, event);
    this.translator = new DmaTranslator(memory, aw, aw === 48 ? [1, 2] : [1], SLLPS_2M | SLLPS_1G);
    this.remapper = new InterruptRemapper(memory);
    this.defineRegisters();
  }

  private get eimOffered(): boolean {
    return (this.ecap.lo & Ecap.EIM) !== 0;
  }

  private defineRegisters(): void {
    const r = this.registers;
    const fixed = (value: number): Register => ({ read: () => value | 0 });
    const q = this.queue;
    const f = this.faults;
    const hawHi = this.hawHi;
    r.set(Reg.VER, fixed(VTD_VERSION));
    r.set(Reg.CAP, fixed(this.cap.lo));
    r.set(Reg.CAP + 4, fixed(this.cap.hi));
    r.set(Reg.ECAP, fixed(this.ecap.lo));
    r.set(Reg.ECAP + 4, fixed(this.ecap.hi));
    r.set(Reg.GCMD, { read: () => 0, write: (v) => this.command(v) });
    r.set(Reg.GSTS, { read: () => this.gsts | 0 });
    r.set(Reg.RTADDR, { read: () => this.rtaddrLo | 0, write: (v) => { this.rtaddrLo = v & ~0xfff; } });
    r.set(Reg.RTADDR + 4, { read: () => this.rtaddrHi, write: (v) => { this.rtaddrHi = v & hawHi; } });
    r.set(Reg.CCMD, { read: () => this.ccmdLo | 0, write: (v) => { this.ccmdLo = v; } });
    r.set(Reg.CCMD + 4, { read: () => this.ccmdHi | 0, write: (v) => this.contextCommand(v) });
    r.set(Reg.FSTS, { read: () => f.readStatus(), write: (v) => f.writeStatus(v) });
    r.set(Reg.FECTL, { read: () => f.readControl(), write: (v) => f.writeControl(v) });
    // FEDATA bits 31:16 (extended interrupt message data) and FEUADDR exist only with EIM.
    const dataMask = this.eimOffered ? 0xffffffff : 0xffff;
    r.set(Reg.FEDATA, { read: () => f.data | 0, write: (v) => { f.data = v & dataMask; } });
    r.set(Reg.FEADDR, { read: () => f.address | 0, write: (v) => { f.address = v & ~3; } });
    r.set(Reg.FEUADDR, { read: () => f.upperAddress | 0, write: (v) => { f.upperAddress = this.eimOffered ? v : 0; } });
    r.set(Reg.IQH, { read: () => q.readHead() });
    r.set(Reg.IQT, { read: () => q.readTail(), write: (v) => q.writeTail(v) });
    r.set(Reg.IQA, { read: () => q.readBase(false) | 0, write: (v) => q.writeBase(false, v) });
    r.set(Reg.IQA + 4, { read: () => q.readBase(true), write: (v) => q.writeBase(true, v) });
    r.set(Reg.ICS, { read: () => q.readStatus(), write: (v) => q.writeStatus(v) });
    r.set(Reg.IECTL, { read: () => q.readControl(), write: (v) => q.writeControl(v) });
    r.set(Reg.IEDATA, { read: () => q.data | 0, write: (v) => { q.data = v & dataMask; } });
    r.set(Reg.IEADDR, { read: () => q.address | 0, write: (v) => { q.address = v & ~3; } });
    r.set(Reg.IEUADDR, { read: () => q.upperAddress | 0, write: (v) => { q.upperAddress = this.eimOffered ? v : 0; } });
    if (this.options.interruptRemapping) {
      // IRTA: address bits 63:12, EIME (bit 11) where EIM is offered, S (3:0).
      const irtaMask = 0xfffff00f | (this.eimOffered ? 0x800 : 0);
      r.set(Reg.IRTA, { read: () => this.irtaLo | 0, write: (v) => { this.irtaLo = (v & irtaMask) >>> 0; } });
      r.set(Reg.IRTA + 4, { read: () => this.irtaHi, write: (v) => { this.irtaHi = v & hawHi; } });
    }
    // IVA: address 63:12, IH (6), AM (5:0); the IOTLB register acts on its high half (IVT, bit 63).
    r.set(Reg.IVA, { read: () => this.ivaLo | 0, write: (v) => { this.ivaLo = (v & 0xfffff07f) >>> 0; } });
    r.set(Reg.IVA + 4, { read: () => this.ivaHi, write: (v) => { this.ivaHi = v & hawHi; } });
    r.set(Reg.IOTLB, { read: () => 0 });
    r.set(Reg.IOTLB + 4, { read: () => this.iotlbHi | 0, write: (v) => this.iotlbCommand(v) });
  }

  /** GCMD: act on each command bit; the persistent ones are their GSTS bit's new value. */
  private command(value: number): void {
    const ir = this.options.interruptRemapping;
    if ((value & Gcmd.SRTP) !== 0) {
      this.rootTable = this.rtaddrHi * 2 ** 32 + (this.rtaddrLo >>> 0);
      this.gsts |= Gcmd.SRTP;
    }
    if (ir && (value & Gcmd.SIRTP) !== 0) {
      this.remapper.latch(this.irtaHi * 2 ** 32 + ((this.irtaLo & ~0xfff) >>> 0), this.irtaLo & 0xf,
        (this.irtaLo & 0x800) !== 0);
      this.gsts |= Gcmd.SIRTP;
    }
    this.persist(value, Gcmd.TE, true);
    this.persist(value, Gcmd.IRE, ir);
    this.persist(value, Gcmd.CFI, ir);
    this.persist(value, Gcmd.QIE, true);
    const qie = (value & Gcmd.QIE) !== 0;
    if (qie !== this.queue.isEnabled) this.queue.setEnabled(qie);
  }

  private persist(value: number, bit: Gcmd, offered: boolean): void {
    if (!offered) return;
    this.gsts = (value & bit) !== 0 ? this.gsts | bit : this.gsts & ~bit;
  }

  /** CCMD's high half: ICC (bit 63) runs the invalidation; CAIG (60:59) reports CIRG (62:61). */
  private contextCommand(value: number): void {
    const kept = value & 0x60000003; // CIRG, FM (33:32)
    if ((value & 0x80000000) === 0) {
      this.ccmdHi = (this.ccmdHi & 0x18000000) | kept;
      return;
    }
    this.ccmdHi = kept | ((kept >>> 2) & 0x18000000);
  }

  /** The IOTLB register's high half: IVT (bit 63) runs it; IAIG (58:57) reports IIRG (61:60). */
  private iotlbCommand(value: number): void {
    const kept = value & 0x3003ffff; // IIRG, DR, DW (49:48), DID (47:32)
    if ((value & 0x80000000) === 0) {
      this.iotlbHi = (this.iotlbHi & 0x06000000) | kept;
      return;
    }
    this.iotlbHi = kept | ((kept >>> 3) & 0x06000000);
  }

  mmioRead(offset: number, size: number): number {
    const dword = offset & ~3;
    let v: number;
    if (dword >= Reg.FRCD) v = this.faults.readRecord(dword - Reg.FRCD);
    else v = this.registers.get(dword)?.read() ?? 0;
    if (size >= 4) return v | 0;
    v >>>= 8 * (offset & 3);
    return v & (size === 2 ? 0xffff : 0xff);
  }

  /** Doubleword writes; narrower ones (undefined in the spec, 11.2) are ignored. */
  mmioWrite(offset: number, size: number, value: number): void {
    if (size < 4 || (offset & 3) !== 0) return;
    if (offset >= Reg.FRCD) this.faults.writeRecord(offset - Reg.FRCD, value);
    else this.registers.get(offset)?.write?.(value);
  }

  // DMA: the DmaPort the PCI functions see.

  read(requester: number, address: number, bytes: Uint8Array): boolean {
    if ((this.gsts & Gcmd.TE) === 0) return this.direct.read(requester, address, bytes);
    return this.translated(requester, address, bytes, false);
  }

  write(requester: number, address: number, bytes: Uint8Array): boolean {
    if ((this.gsts & Gcmd.TE) === 0) return this.direct.write(requester, address, bytes);
    return this.translated(requester, address, bytes, true);
  }

  /** A DMA under translation: every page translated first, then each piece moved. */
  private translated(requester: number, address: number, bytes: Uint8Array, write: boolean): boolean {
    const n = this.translateAll(requester, address, bytes.length, write);
    if (n < 0) return false;
    let done = 0;
    for (let k = 0; k < n; k++) {
      const len = Math.min(bytes.length - done, PAGE - ((address + done) % PAGE));
      const piece = bytes.subarray(done, done + len);
      if (!(write ? this.direct.write(requester, this.pieces[k], piece) : this.direct.read(requester, this.pieces[k], piece))) {
        return false;
      }
      done += len;
    }
    return true;
  }

  /**
   * Translates every 4 KiB piece of [address, address + length) into `pieces`; the number of
   * pieces, or -1 after recording the first fault.
   */
  private translateAll(requester: number, address: number, length: number, write: boolean): number {
    const t = this.translation;
    let n = 0;
    for (let done = 0; done < length || n === 0; n++) {
      const at = address + done;
      this.translator.translate(this.rootTable, requester, at, write, t);
      if (t.fault !== 0) {
        if (t.report) this.faults.recordDma(requester, at, !write, t.fault);
        return -1;
      }
      if (n === this.pieces.length) {
        const grown = new Float64Array(n * 2);
        grown.set(this.pieces);
        this.pieces = grown;
      }
      this.pieces[n] = t.address;
      done += PAGE - (at % PAGE);
    }
    return n;
  }

  // Interrupts.

  /**
   * An MSI's DWORD write. Outside the interrupt range 0xFEEx_xxxx it is an ordinary memory write
   * and is translated like any DMA (spec 3.1: only the interrupt range is an interrupt request).
   */
  signalMsi(requester: number, address: number, data: number): void {
    if (address > 0xffffffff || ((address & 0xfff00000) >>> 0) !== 0xfee00000) {
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setUint32(0, data >>> 0, true);
      this.write(requester, address, bytes);
      return;
    }
    if ((this.gsts & Gcmd.IRE) === 0) {
      this.direct.signalMsi(requester, address, data);
      return;
    }
    const index = msiIndex(address, data);
    if (index < 0) {
      if (this.compatibilityPasses(requester)) this.direct.signalMsi(requester, address, data);
      return;
    }
    const msg = this.remap(index, requester, requester);
    if (msg !== null) this.deliver(msg);
  }

  /**
   * The message for IOAPIC redirection entry (`low`, `high`): remapped through its IRTE when the
   * entry is in remappable format and remapping is on; null when blocked or faulted.
   */
  remapIoapic(low: number, high: number): InterruptMessage | null {
    if ((this.gsts & Gcmd.IRE) === 0) return rteMessage(low, high);
    const index = ioapicIndex(low, high);
    if (index < 0) return this.compatibilityPasses(IOAPIC_SOURCE_ID) ? rteMessage(low, high) : null;
    return this.remap(index, NO_SOURCE_VALIDATION, IOAPIC_SOURCE_ID);
  }

  /** Compatibility format under IRE: passes with CFIS outside x2APIC mode, else fault 25h. */
  private compatibilityPasses(sourceId: number): boolean {
    if ((this.gsts & Gcmd.CFI) !== 0 && !this.remapper.x2apicMode) return true;
    this.faults.recordInterrupt(sourceId, 0, FaultReason.IR_COMPAT_BLOCKED);
    return false;
  }

  private remap(index: number, validateAs: number, sourceId: number): InterruptMessage | null {
    const out = this.remapped;
    this.remapper.remap(index, validateAs, out);
    if (out.fault !== 0 && out.report) this.faults.recordInterrupt(sourceId, index, out.fault);
    return out.message;
  }
}

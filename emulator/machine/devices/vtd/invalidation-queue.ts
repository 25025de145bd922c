import { type FaultRecorder, Fsts } from './fault-recording.js';
import { type VtdMemory, le32 } from './memory.js';

/**
 * Queued invalidation (Intel VT-d specification 6.5.2): a ring of 128-bit descriptors at IQA
 * (256 x 2^QS of them), with the head IQH advanced by hardware and the tail IQT by software. While
 * GCMD.QIE is set, a write to IQT makes the unit fetch and complete every descriptor up to the new
 * tail at once.
 *
 * Context-cache (type 1), IOTLB (2) and interrupt-entry-cache (4) invalidations have nothing to do:
 * the model caches no translation and no IRTE (translation.ts). The invalidation wait (5) writes
 * its status data (bits 63:32) to its status address (bits 127:66) when SW (bit 5) is set, and with
 * IF (bit 4) sets ICS.IWC and raises the invalidation completion event (IECTL/IEDATA/IEADDR; with
 * IECTL.IM set only IECTL.IP is set, and the message goes when software clears IM). FN needs
 * nothing, since descriptors complete in order. Any other type (device-TLB invalidation needs
 * ECAP.DT, which is 0) and a tail beyond the queue set FSTS.IQE and stop the queue with IQH at
 * the offending descriptor until software clears IQE and writes IQT again. Reserved fields inside
 * known descriptors are not checked.
 */
const DESC_CONTEXT_CACHE = 1;
const DESC_IOTLB = 2;
const DESC_INTERRUPT_ENTRY_CACHE = 4;
const DESC_WAIT = 5;
const WAIT_IF = 1 << 4;
const WAIT_SW = 1 << 5;
const IECTL_IM = 1 << 31;
const IECTL_IP = 1 << 30;
const ICS_IWC = 1;

export class InvalidationQueue {
  private head = 0;
  private tail = 0;
  private baseLo = 0;
  private baseHi = 0;
  private enabled = false;
  private ics = 0;
  private control = IECTL_IM;
  data = 0;
  address = 0;
  upperAddress = 0;

  /** `signal(address, data)` sends the invalidation completion event. */
  constructor(private readonly memory: VtdMemory, private readonly faults: FaultRecorder, private readonly hawHi: number,
    private readonly signal: (address: number, data: number) => void) {}

  /** GCMD.QIE: disabling empties the queue (IQH reads 0 again). */
  setEnabled(on: boolean): void {
    this.enabled = on;
    if (!on) this.head = 0;
    else this.run();
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  readHead(): number {
    return this.head << 4;
  }

  readTail(): number {
    return this.tail << 4;
  }

  writeTail(value: number): void {
    this.tail = (value >>> 4) & 0x7fff;
    if (this.enabled) this.run();
  }

  /** IQA: base bits 63:12 and QS (2:0); DW (bit 11) needs scalable mode and stays 0. */
  readBase(high: boolean): number {
    return high ? this.baseHi : this.baseLo;
  }

  writeBase(high: boolean, value: number): void {
    if (high) this.baseHi = value & this.hawHi;
    else this.baseLo = (value & 0xfffff007) >>> 0;
  }

  private get size(): number {
    return 256 << (this.baseLo & 7);
  }

  private run(): void {
    if ((this.faults.readStatus() & Fsts.IQE) !== 0) return;
    if (this.tail >= this.size) {
      this.faults.setCondition(Fsts.IQE);
      return;
    }
    const base = this.baseHi * 2 ** 32 + ((this.baseLo & ~0xfff) >>> 0);
    while (this.head !== this.tail) {
      const d = this.memory.readPhysical(base + this.head * 16, 16);
      if (!this.execute(d)) {
        this.faults.setCondition(Fsts.IQE);
        return;
      }
      this.head = (this.head + 1) % this.size;
    }
  }

  /** Completes one descriptor; false for one the unit does not know. */
  private execute(d: Uint8Array): boolean {
    const lo = le32(d, 0);
    if ((lo & 0xe00) !== 0) return false; // type bits 6:4 (11:9) name scalable-mode descriptors
    switch (lo & 0xf) {
      case DESC_CONTEXT_CACHE:
      case DESC_IOTLB:
      case DESC_INTERRUPT_ENTRY_CACHE:
        return true;
      case DESC_WAIT:
        if ((lo & WAIT_SW) !== 0) {
          const status = le32(d, 8) + le32(d, 12) * 2 ** 32;
          this.memory.writePhysical(status - (status % 4), d.slice(4, 8));
        }
        if ((lo & WAIT_IF) !== 0) this.complete();
        return true;
      default:
        return false;
    }
  }

  private complete(): void {
    this.ics |= ICS_IWC;
    if ((this.control & IECTL_IM) !== 0) this.control |= IECTL_IP;
    else this.sendEvent();
  }

  private sendEvent(): void {
    this.signal(this.upperAddress * 2 ** 32 + (this.address >>> 0), this.data);
  }

  readStatus(): number {
    return this.ics;
  }

  /** ICS.IWC is write-1-to-clear; clearing it also clears a pending IECTL.IP. */
  writeStatus(value: number): void {
    if ((value & ICS_IWC) === 0) return;
    this.ics = 0;
    this.control &= ~IECTL_IP;
  }

  readControl(): number {
    return this.control | 0;
  }

  writeControl(value: number): void {
    this.control = (this.control & IECTL_IP) | (value & IECTL_IM);
    if ((this.control & (IECTL_IM | IECTL_IP)) === IECTL_IP) {
      this.control &= ~IECTL_IP;
      this.sendEvent();
    }
  }
}

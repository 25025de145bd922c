import { FAULT_RECORDS } from './registers.js';

/**
 * Primary fault logging and the fault event (Intel VT-d specification 7.2.1 and 7.3): the fault
 * status register FSTS, the fault recording registers at CAP.FRO, and the fault event registers
 * FECTL, FEDATA, FEADDR, FEUADDR.
 *
 * A fault goes into the recording register at the internal index if its F bit is clear (then F is
 * set and the index moves on, wrapping); if that register is still full the fault is dropped and
 * PFO set; while PFO is set nothing more is recorded (QEMU's rule too). PPF reads as the OR of the
 * F bits; FRI names the register the first pending fault went to. A fault event fires when one of
 * the FSTS conditions becomes set while none was: with FECTL.IM clear the FEADDR/FEDATA message
 * goes out at once, with IM set FECTL.IP is set instead and the message goes out when software
 * clears IM. IP clears once software has cleared every condition.
 *
 * A fault from a requester that already has a pending record is not recorded again and does not
 * overflow: the spec recommends collapsing pending faults from one requester when there are few
 * recording registers (7.2.1), and QEMU 7.2 does exactly this with its one register (measured:
 * a second faulting DMA from the edu device leaves FSTS at PPF, without PFO).
 */
export const enum FaultReason {
  ROOT_NOT_PRESENT = 0x1,
  CONTEXT_NOT_PRESENT = 0x2,
  CONTEXT_INVALID = 0x3,
  ADDRESS_BEYOND_AW = 0x4,
  WRITE = 0x5,
  READ = 0x6,
  ROOT_RESERVED = 0xa,
  CONTEXT_RESERVED = 0xb,
  PAGING_RESERVED = 0xc,
  IR_REQUEST_RESERVED = 0x20,
  IR_INDEX_OVER = 0x21,
  IRTE_NOT_PRESENT = 0x22,
  IRTE_RESERVED = 0x24,
  IR_COMPAT_BLOCKED = 0x25,
  IR_SOURCE_ID = 0x26,
}

export const enum Fsts {
  PFO = 1 << 0,
  PPF = 1 << 1,
  IQE = 1 << 4,
  ICE = 1 << 5,
  ITE = 1 << 6,
}

/** FSTS conditions that software clears by writing 1 (PPF clears through the F bits). */
const FSTS_W1C = Fsts.PFO | Fsts.IQE | Fsts.ICE | Fsts.ITE;
const FECTL_IM = 1 << 31;
const FECTL_IP = 1 << 30;
/** F (bit 127) and T (bit 126, 1 = read) in a recording register's top doubleword. */
const FRCD_F = 1 << 31;
const FRCD_T = 1 << 30;

export class FaultRecorder {
  /** The FSTS conditions other than PPF. */
  private status = 0;
  private fri = 0;
  private next = 0;
  private control = FECTL_IM;
  data = 0;
  address = 0;
  upperAddress = 0;
  /** Four doublewords per recording register, as the guest reads them. */
  private readonly records = new Uint32Array(FAULT_RECORDS * 4);

  /** `signal(address, data)` sends the fault event message (never itself remapped: spec 5.1.6). */
  constructor(private readonly signal: (address: number, data: number) => void) {}

  /** A DMA remapping fault at bus address `address` (below 2^53); FI keeps its 4 KiB page. */
  recordDma(sourceId: number, address: number, read: boolean, reason: FaultReason): void {
    this.record(sourceId, (address % 2 ** 32) & ~0xfff, Math.floor(address / 2 ** 32), read, reason);
  }

  /** An interrupt remapping fault: FI bits 63:48 hold the interrupt index, 47:12 are zero. */
  recordInterrupt(sourceId: number, index: number, reason: FaultReason): void {
    this.record(sourceId, 0, (index & 0xffff) << 16, false, reason);
  }

  private record(sourceId: number, fiLo: number, fiHi: number, read: boolean, reason: FaultReason): void {
    if ((this.status & Fsts.PFO) !== 0 || this.pendingFrom(sourceId)) return;
    const before = this.pending();
    const r = this.next * 4;
    if ((this.records[r + 3] & FRCD_F) !== 0) {
      this.status |= Fsts.PFO;
    } else {
      if (!this.anyRecorded()) this.fri = this.next;
      this.records[r] = fiLo;
      this.records[r + 1] = fiHi;
      this.records[r + 2] = sourceId & 0xffff;
      this.records[r + 3] = (FRCD_F | (read ? FRCD_T : 0) | (reason & 0xff)) >>> 0;
      this.next = (this.next + 1) % FAULT_RECORDS;
    }
    if (!before) this.raise();
  }

  /** Sets an invalidation-queue condition (IQE, ICE, ITE), with its fault event. */
  setCondition(bit: Fsts): void {
    const before = this.pending();
    this.status |= bit;
    if (!before) this.raise();
  }

  private pendingFrom(sourceId: number): boolean {
    for (let r = 0; r < this.records.length; r += 4) {
      if ((this.records[r + 3] & FRCD_F) !== 0 && this.records[r + 2] === (sourceId & 0xffff)) return true;
    }
    return false;
  }

  private anyRecorded(): boolean {
    for (let r = 3; r < this.records.length; r += 4) if ((this.records[r] & FRCD_F) !== 0) return true;
    return false;
  }

  private pending(): boolean {
    return this.status !== 0 || this.anyRecorded();
  }

  private raise(): void {
    if ((this.control & FECTL_IM) !== 0) this.control |= FECTL_IP;
    else this.send();
  }

  private send(): void {
    this.control &= ~FECTL_IP;
    this.signal(this.upperAddress * 2 ** 32 + (this.address >>> 0), this.data);
  }

  /** After software cleared conditions: IP falls once none is left. */
  private settle(): void {
    if (!this.pending()) this.control &= ~FECTL_IP;
  }

  readStatus(): number {
    return this.status | (this.anyRecorded() ? Fsts.PPF | (this.fri << 8) : 0);
  }

  writeStatus(value: number): void {
    this.status &= ~(value & FSTS_W1C);
    this.settle();
  }

  readControl(): number {
    return this.control | 0;
  }

  writeControl(value: number): void {
    this.control = (this.control & FECTL_IP) | (value & FECTL_IM);
    if ((this.control & (FECTL_IM | FECTL_IP)) === FECTL_IP) this.send();
  }

  /** Doubleword `offset` (from CAP.FRO) of the recording registers; past them reads 0. */
  readRecord(offset: number): number {
    const i = offset >> 2;
    return i < this.records.length ? this.records[i] | 0 : 0;
  }

  /** Only F is writable, and writing 1 clears it. */
  writeRecord(offset: number, value: number): void {
    const i = offset >> 2;
    if (i >= this.records.length || (i & 3) !== 3 || (value & FRCD_F) === 0) return;
    this.records[i] &= ~FRCD_F;
    this.settle();
  }
}

import type { IoDevice } from '../bus.js';
import { readBytes, writeBytes } from './port-bytes.js';

/**
 * The two cascaded 8259A PICs of a PC (master 0x20/0x21, slave 0xA0/0xA1 on master IR2) and the
 * PIIX edge/level control registers (ELCR, 0x4D0/0x4D1).
 *
 * Each chip has the 8259A's programming model: ICW1 on the command port starts initialization
 * (clears IMR and ISR, resets rotation and read-register selection), then ICW2 (vector base),
 * ICW3 unless single mode, ICW4 if ICW1 asked for it (auto-EOI, special fully nested). Afterwards
 * the data port reads and writes IMR (OCW1); the command port takes OCW2 (non-specific, specific
 * and rotating EOIs, set priority, rotate in auto-EOI mode) and OCW3 (read IRR or ISR, poll,
 * special mask mode) and reads IRR, ISR or the poll byte. An edge-triggered input sets IRR on a
 * rising edge, a level-triggered one (ELCR bit, or ICW1.LTIM) follows the line.
 *
 * The state at start is what the BIOS leaves, except that both IMRs are 0xFF: initialized with
 * vector bases 0x08 and 0x70, cascade on IR2, 8086 mode, everything masked. While masked nothing
 * is ever requested of the CPU. The output (INTR) is reported through `onOutput`, and
 * `acknowledge()` is the INTA cycle returning the vector: the pieces an ExtINT path through the
 * local APIC's LINT0 (or the CPU's INTR pin with the APIC disabled) needs. That path is not wired
 * yet, so the PICs deliver nothing. Left out: buffered mode, the poll command's cascade to the
 * slave (a poll reads each chip on its own), ELCR bits for IRQs 0-2, 8 and 13 (fixed edge, as on
 * PIIX).
 */
export const PIC_MASTER_PORT = 0x20;
export const PIC_SLAVE_PORT = 0xa0;
export const ELCR_PORT = 0x4d0;

class Pic8259 {
  irr = 0;
  isr = 0;
  imr = 0xff;
  /** Line levels as last driven, for edge detection. */
  lines = 0;
  elcr = 0;
  base = 0;
  /** The IR with the highest priority is `priorityAdd` (rotation). */
  priorityAdd = 0;
  readIsr = false;
  poll = false;
  specialMask = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  levelTriggeredAll = false;
  /** 0: ready; 2, 3, 4: expecting ICW2, ICW3, ICW4. */
  initStep = 0;
  needIcw4 = false;
  single = false;

  constructor(readonly isMaster: boolean, readonly elcrMask: number) {}

  private levelMask(): number {
    return this.levelTriggeredAll ? 0xff : this.elcr;
  }

  setIrq(irq: number, level: boolean): void {
    const bit = 1 << irq;
    if ((this.levelMask() & bit) !== 0) {
      if (level) this.irr |= bit; else this.irr &= ~bit;
    } else if (level && (this.lines & bit) === 0) {
      this.irr |= bit;
    }
    if (level) this.lines |= bit; else this.lines &= ~bit;
  }

  /** Priority rank (0 = highest) of the best bit in `mask`, 8 if none. */
  private priority(mask: number): number {
    if (mask === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  /** The IR this chip would interrupt with now, or -1. */
  pendingIrq(): number {
    const p = this.priority(this.irr & ~this.imr);
    if (p === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    if (this.specialFullyNested && this.isMaster) inService &= ~(1 << 2);
    return p < this.priority(inService) ? (p + this.priorityAdd) & 7 : -1;
  }

  /** INTA for `irq`: in service (unless auto-EOI), and an edge request is consumed. */
  acknowledgeIrq(irq: number): void {
    const bit = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else {
      this.isr |= bit;
    }
    if ((this.levelMask() & bit) === 0) this.irr &= ~bit;
  }

  writeCommand(v: number): void {
    if ((v & 0x10) !== 0) { // ICW1
      this.irr &= this.levelMask();
      this.lines = 0;
      this.imr = 0;
      this.isr = 0;
      this.priorityAdd = 0;
      this.readIsr = false;
      this.poll = false;
      this.specialMask = false;
      this.autoEoi = false;
      this.rotateOnAutoEoi = false;
      this.specialFullyNested = false;
      this.needIcw4 = (v & 0x01) !== 0;
      this.single = (v & 0x02) !== 0;
      this.levelTriggeredAll = (v & 0x08) !== 0;
      this.initStep = 2;
    } else if ((v & 0x08) !== 0) { // OCW3
      if ((v & 0x04) !== 0) this.poll = true;
      if ((v & 0x02) !== 0) this.readIsr = (v & 0x01) !== 0;
      if ((v & 0x40) !== 0) this.specialMask = (v & 0x20) !== 0;
    } else { // OCW2
      const cmd = v >> 5;
      switch (cmd) {
        case 0: case 4: this.rotateOnAutoEoi = cmd === 4; break;
        case 1: case 5: { // non-specific EOI (and rotate)
          const p = this.priority(this.isr);
          if (p === 8) break;
          const irq = (p + this.priorityAdd) & 7;
          this.isr &= ~(1 << irq);
          if (cmd === 5) this.priorityAdd = (irq + 1) & 7;
          break;
        }
        case 3: this.isr &= ~(1 << (v & 7)); break; // specific EOI
        case 6: this.priorityAdd = ((v & 7) + 1) & 7; break; // set priority: IR v lowest
        case 7: // rotate on specific EOI
          this.isr &= ~(1 << (v & 7));
          this.priorityAdd = ((v & 7) + 1) & 7;
          break;
        default: break; // 2: no operation
      }
    }
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2:
        this.base = v & 0xf8;
        this.initStep = this.single ? (this.needIcw4 ? 4 : 0) : 3;
        break;
      case 3: // ICW3: cascade wiring, fixed on a PC
        this.initStep = this.needIcw4 ? 4 : 0;
        break;
      case 4:
        this.specialFullyNested = (v & 0x10) !== 0;
        this.autoEoi = (v & 0x02) !== 0;
        this.initStep = 0;
        break;
      default:
        this.imr = v;
        break;
    }
  }

  readCommand(): number {
    if (this.poll) {
      this.poll = false;
      const irq = this.pendingIrq();
      if (irq < 0) return 0;
      this.acknowledgeIrq(irq);
      return irq | 0x80;
    }
    return this.readIsr ? this.isr : this.irr;
  }
}

export class DualPic {
  readonly master = new Pic8259(true, 0xf8);
  readonly slave = new Pic8259(false, 0xde);
  /** INTR, the master's output. */
  onOutput: ((level: boolean) => void) | undefined;
  private output = false;

  /** The three port ranges: master, slave, ELCR. */
  readonly masterPorts: IoDevice = this.chipPorts('pic-master', this.master);
  readonly slavePorts: IoDevice = this.chipPorts('pic-slave', this.slave);
  readonly elcrPorts: IoDevice = {
    name: 'elcr',
    ioRead: (offset, size) => readBytes(offset, size, 2, (o) => (o === 0 ? this.master : this.slave).elcr),
    ioWrite: (offset, size, value) => writeBytes(offset, size, 2, value, (o, v) => {
      const chip = o === 0 ? this.master : this.slave;
      chip.elcr = v & chip.elcrMask;
      this.update();
    }),
  };

  constructor() {
    // As the BIOS leaves them (ICW1 0x11, ICW2 base, ICW3 cascade, ICW4 8086 mode), all masked.
    for (const [chip, base, cascade] of [[this.master, 0x08, 0x04], [this.slave, 0x70, 0x02]] as const) {
      chip.writeCommand(0x11);
      chip.writeData(base);
      chip.writeData(cascade);
      chip.writeData(0x01);
      chip.writeData(0xff);
    }
  }

  private chipPorts(name: string, chip: Pic8259): IoDevice {
    return {
      name,
      ioRead: (offset, size) => readBytes(offset, size, 2, (o) => (o === 0 ? chip.readCommand() : chip.imr)),
      ioWrite: (offset, size, value) => writeBytes(offset, size, 2, value, (o, v) => {
        if (o === 0) chip.writeCommand(v); else chip.writeData(v);
        this.update();
      }),
    };
  }

  /** Drives ISA IRQ line `irq` (0-15). */
  setIrq(irq: number, level: boolean): void {
    if (irq < 8) this.master.setIrq(irq, level); else this.slave.setIrq(irq - 8, level);
    this.update();
  }

  /** The slave's request feeds master IR2; the master's becomes INTR. */
  private update(): void {
    this.master.setIrq(2, this.slave.pendingIrq() >= 0);
    const out = this.master.pendingIrq() >= 0;
    if (out !== this.output) {
      this.output = out;
      this.onOutput?.(out);
    }
  }

  /** Whether INTR is asserted. */
  get intr(): boolean {
    return this.output;
  }

  /** The INTA cycle: the vector of the highest-priority request (IR7's, spurious, if none). */
  acknowledge(): number {
    let vector: number;
    const irq = this.master.pendingIrq();
    if (irq < 0) {
      vector = this.master.base + 7;
    } else {
      this.master.acknowledgeIrq(irq);
      if (irq === 2) {
        const irq2 = this.slave.pendingIrq();
        if (irq2 >= 0) this.slave.acknowledgeIrq(irq2);
        vector = this.slave.base + (irq2 >= 0 ? irq2 : 7);
      } else {
        vector = this.master.base + irq;
      }
    }
    this.update();
    return vector;
  }
}

import type { MmioDevice } from '../bus.js';
import type { InterruptMessage } from './local-apic.js';
import { ApicBus } from './apic-bus.js';

/**
 * An 82093AA-style I/O APIC at 0xFEC00000 with 24 pins (version 0x11, QEMU's): IOREGSEL at offset
 * 0x00 selects a register, IOWIN at 0x10 reads or writes it. Registers: 0x00 ID (bits 27:24),
 * 0x01 version (0x00170011: 24 entries), 0x02 arbitration ID (the ID), 0x10 + 2n / 0x11 + 2n the
 * low and high halves of pin n's redirection entry (all masked at start).
 *
 * A pin is driven by `setIrq(pin, level)`. An unmasked edge-triggered entry sends its message on
 * each assertion; a level-triggered one sends it while the line is asserted and remote IRR is
 * clear, sets remote IRR, and resends when the local APIC's EOI for that vector finds the line
 * still asserted (`eoi(vector)`). Polarity bit 13 = active low. Messages go out at once, so the
 * delivery-status bit reads 0.
 *
 * Built on the APIC bus (`new IoApic(bus)`), messages reach any destination the entry names
 * (physical, logical, broadcast, lowest priority: see apic-bus.ts), and the IOAPIC hears the EOI
 * of a level-triggered vector from whichever local APIC accepted it (the bus's `onLevelEoi`).
 * Built on a callback, it hands each message to that callback (the one-CPU wiring of old).
 *
 * Left out: ExtINT delivery through the IOAPIC (needs the 8259 acknowledge path), the
 * version-0x20 EOI register, extended destination IDs (without a remapper, high-half bits other
 * than 63:56 are reserved and dropped).
 */
export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_MMIO_SIZE = 0x1000;
export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION = 0x00170011;

const IOREGSEL = 0x00;
const IOWIN = 0x10;

const RTE_MASKED = 1 << 16;
const RTE_LEVEL = 1 << 15;
const RTE_REMOTE_IRR = 1 << 14;
const RTE_ACTIVE_LOW = 1 << 13;
/** Low-half bits software writes: vector, delivery mode, destination mode, polarity, trigger, mask. */
const RTE_LOW_WRITABLE = 0x1afff;
const RTE_HIGH_WRITABLE = 0xff000000;
/** With a remapper, the whole high half: bit 48 selects the remappable format, 63:49 the index. */
const RTE_HIGH_WRITABLE_REMAPPABLE = 0xffff0000;

/**
 * Interrupt remapping in front of the IOAPIC (VT-d, vtd/intel-iommu.ts): given a redirection
 * entry, the message to send, or null when the remapping hardware blocks it.
 */
export interface IoapicRemapper {
  remapIoapic(low: number, high: number): InterruptMessage | null;
}

/** The message redirection entry (`low`, `high`) names in compatibility format. */
export function rteMessage(low: number, high: number): InterruptMessage {
  return {
    vector: low & 0xff,
    deliveryMode: (low >> 8) & 7,
    logical: (low & 0x800) !== 0,
    destination: high >>> 24,
    levelTriggered: (low & RTE_LEVEL) !== 0,
  };
}

export class IoApic implements MmioDevice {
  readonly name = 'ioapic';
  private readonly deliver: (msg: InterruptMessage) => void;
  private regsel = 0;
  private id = 0;
  private readonly low = new Int32Array(IOAPIC_PINS).fill(RTE_MASKED);
  private readonly high = new Int32Array(IOAPIC_PINS);
  /** Electrical level of each pin. */
  private readonly lines = new Uint8Array(IOAPIC_PINS);
  /**
   * Set when an interrupt-remapping IOMMU sits between the IOAPIC and the APIC bus: every message
   * then goes through it, and the high half of an entry keeps bits 55:48 (the remappable format).
   */
  remapper: IoapicRemapper | undefined;

  constructor(target: ApicBus | ((msg: InterruptMessage) => void)) {
    if (target instanceof ApicBus) {
      this.deliver = (msg) => target.deliverMessage(msg);
      target.onLevelEoi = (vector) => this.eoi(vector);
    } else {
      this.deliver = target;
    }
  }

  private asserted(pin: number): boolean {
    return (this.lines[pin] !== 0) !== ((this.low[pin] & RTE_ACTIVE_LOW) !== 0);
  }

  setIrq(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) return;
    const wasAsserted = this.asserted(pin);
    this.lines[pin] = level ? 1 : 0;
    const nowAsserted = this.asserted(pin);
    if ((this.low[pin] & RTE_LEVEL) !== 0) this.service(pin);
    else if (nowAsserted && !wasAsserted) this.send(pin);
  }

  /** The local APIC retired level-triggered `vector`: clear remote IRR, resend if still asserted. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const e = this.low[pin];
      if ((e & RTE_LEVEL) === 0 || (e & RTE_REMOTE_IRR) === 0 || (e & 0xff) !== vector) continue;
      this.low[pin] = e & ~RTE_REMOTE_IRR;
      this.service(pin);
    }
  }

  /** A level-triggered entry sends while asserted, unmasked and not already in service. */
  private service(pin: number): void {
    const e = this.low[pin];
    if ((e & RTE_LEVEL) === 0 || (e & (RTE_MASKED | RTE_REMOTE_IRR)) !== 0 || !this.asserted(pin)) return;
    this.low[pin] = e | RTE_REMOTE_IRR;
    this.send(pin);
  }

  private send(pin: number): void {
    const e = this.low[pin];
    if ((e & RTE_MASKED) !== 0) return;
    const msg = this.remapper === undefined ? rteMessage(e, this.high[pin]) : this.remapper.remapIoapic(e, this.high[pin]);
    if (msg !== null) this.deliver(msg);
  }

  private readRegister(index: number): number {
    switch (index) {
      case 0x00: return this.id << 24;
      case 0x01: return IOAPIC_VERSION;
      case 0x02: return this.id << 24;
      default: {
        const pin = (index - 0x10) >> 1;
        if (index < 0x10 || pin >= IOAPIC_PINS) return 0;
        return (index & 1) === 0 ? this.low[pin] : this.high[pin];
      }
    }
  }

  private writeRegister(index: number, value: number): void {
    if (index === 0x00) {
      this.id = (value >>> 24) & 0xf;
      return;
    }
    const pin = (index - 0x10) >> 1;
    if (index < 0x10 || pin >= IOAPIC_PINS) return; // version, arbitration: read-only
    if ((index & 1) === 1) {
      this.high[pin] = value & (this.remapper === undefined ? RTE_HIGH_WRITABLE : RTE_HIGH_WRITABLE_REMAPPABLE);
      return;
    }
    // Remote IRR and delivery status are read-only; an edge entry has no remote IRR.
    const keep = (value & RTE_LEVEL) !== 0 ? this.low[pin] & RTE_REMOTE_IRR : 0;
    this.low[pin] = (value & RTE_LOW_WRITABLE) | keep;
    this.service(pin);
  }

  mmioRead(offset: number, size: number): number {
    let v = 0;
    if (offset === IOREGSEL) v = this.regsel;
    else if (offset >= IOWIN && offset < IOWIN + 4) v = this.readRegister(this.regsel) >>> (8 * (offset - IOWIN));
    return size >= 4 ? v | 0 : v & (size === 2 ? 0xffff : 0xff);
  }

  mmioWrite(offset: number, size: number, value: number): void {
    if (offset === IOREGSEL) this.regsel = value & 0xff;
    else if (offset === IOWIN && size === 4) this.writeRegister(this.regsel, value);
  }
}

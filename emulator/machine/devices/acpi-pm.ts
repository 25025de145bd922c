import type { IoDevice } from '../bus.js';
import { CYCLES_PER_SECOND } from '../clock.js';
import { readBytes, writeBytes } from './port-bytes.js';

/**
 * The ACPI fixed-hardware registers the FADT points at, at QEMU's PIIX4 addresses:
 *
 *   0x600  PM1a_STS  (16 bits, write 1 to clear)   0x602  PM1a_EN (16 bits)
 *   0x604  PM1a_CNT  (16 bits)
 *   0x608  PM_TMR    (32-bit reads; a 24-bit counter at 3.579545 MHz, FADT.TMR_VAL_EXT = 0)
 *
 * The timer is a pure function of modeled time: ticks = floor(cycles * 3579545 / 10^9), so it
 * advances exactly 3,579,545 ticks per modeled second and never depends on the host. TMR_STS is
 * computed the same way: it is set once bit 23 of the counter has toggled since software last
 * cleared it. SCI_EN reads 1 and cannot be cleared (there is no SMI_CMD port: the machine is
 * always in ACPI mode). Left out: the SCI interrupt itself (TMR_EN is stored but no interrupt is
 * raised), sleep states (SLP_EN is accepted and ignored), power and sleep buttons, GPE blocks.
 */
export const ACPI_PM_BASE = 0x600;
export const PM1_CNT_OFFSET = 4;
export const PM_TMR_OFFSET = 8;
/** The PM block's port count: event block, control block, 2 unused ports, timer. */
export const ACPI_PM_PORTS = 12;
/** The SCI's ISA IRQ (QEMU's), as the FADT reports it. */
export const SCI_IRQ = 9;

export const PM_TIMER_HZ = 3_579_545;

const TMR_STS = 1 << 0;
/** PM1_EN bits that exist: TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN. */
const PM1_EN_MASK = 0x0721;
const SCI_EN = 1 << 0;
/** PM1_CNT bits that read back: SCI_EN, BM_RLD, SLP_TYP. GBL_RLS and SLP_EN are write-only. */
const PM1_CNT_READ_MASK = 0x1c03;

/** PM timer ticks after `cycles` modeled cycles, exactly (no floating-point drift). */
export function pmTimerTicks(cycles: number): number {
  const seconds = Math.floor(cycles / CYCLES_PER_SECOND);
  const rest = cycles - seconds * CYCLES_PER_SECOND;
  return seconds * PM_TIMER_HZ + Math.floor((rest * PM_TIMER_HZ) / CYCLES_PER_SECOND);
}

export class AcpiPm implements IoDevice {
  readonly name = 'acpi-pm';
  private readonly now: () => number;
  private enable = 0;
  private control = SCI_EN;
  /** Timer ticks when software last cleared TMR_STS. */
  private tmrStsClearedAt = 0;

  constructor(now: () => number) {
    this.now = now;
  }

  /** The 24-bit counter as the guest reads it. */
  timer(): number {
    return pmTimerTicks(this.now()) & 0xffffff;
  }

  private status(): number {
    const ticks = pmTimerTicks(this.now());
    return Math.floor(ticks / 0x800000) !== Math.floor(this.tmrStsClearedAt / 0x800000) ? TMR_STS : 0;
  }

  ioRead(offset: number, size: number): number {
    return readBytes(offset, size, ACPI_PM_PORTS, (o) => this.readByte(o));
  }

  ioWrite(offset: number, size: number, value: number): void {
    writeBytes(offset, size, ACPI_PM_PORTS, value, (o, v) => this.writeByte(o, v));
  }

  private readByte(offset: number): number {
    switch (offset) {
      case 0: return this.status();
      case 1: return 0;
      case 2: return this.enable & 0xff;
      case 3: return this.enable >> 8;
      case 4: return (this.control & PM1_CNT_READ_MASK) & 0xff;
      case 5: return (this.control & PM1_CNT_READ_MASK) >> 8;
      case 8: case 9: case 10: case 11: return (this.timer() >>> (8 * (offset - 8))) & 0xff;
      default: return 0xff; // 0x606-0x607: no register
    }
  }

  private writeByte(offset: number, value: number): void {
    switch (offset) {
      case 0:
        if ((value & TMR_STS) !== 0) this.tmrStsClearedAt = pmTimerTicks(this.now());
        break;
      case 2: this.enable = (this.enable & 0xff00) | (value & PM1_EN_MASK & 0xff); break;
      case 3: this.enable = (this.enable & 0x00ff) | ((value << 8) & PM1_EN_MASK); break;
      case 4: this.control = (this.control & 0xff00) | (value & 0xfe) | SCI_EN; break;
      case 5: this.control = (this.control & 0x00ff) | (value << 8); break;
      default: break; // PM1_STS high byte (no status bits there), the timer (read-only)
    }
  }
}

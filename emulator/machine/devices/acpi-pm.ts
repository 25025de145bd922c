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
 * always in ACPI mode).
 *
 * Sleep: writing SLP_EN with SLP_TYP 1 (PIIX4's suspend-to-RAM encoding, QEMU's \_S3) asks the
 * machine to enter S3 through `onSleep` (pc.ts stops the CPUs at once); WAK_STS clears then, so
 * the firmware's resume path can tell a wake from the sleep itself. The RTC alarm's IRQ8 sets
 * RTC_STS; while asleep with RTC_EN set it wakes the machine: WAK_STS sets and `onWake` resumes
 * it. RTC_STS and WAK_STS are cleared by writing 1. Other SLP_TYP values (S5, soft off, among
 * them) are stored and do nothing. Left out: the SCI interrupt itself (TMR_EN and RTC_EN are
 * stored but no SCI is raised), power and sleep buttons, GPE blocks.
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
export const RTC_STS = 1 << 10;
export const WAK_STS = 1 << 15;
/** PM1_STS bits latched by events (write 1 to clear); TMR_STS is derived from the timer. */
const LATCHED_STS = RTC_STS | WAK_STS;
const RTC_EN = 1 << 10;
const SLP_EN = 1 << 13;
/** SLP_TYP (PM1_CNT bits 12:10) of S3, suspend to RAM. */
export const SLP_TYP_S3 = 1;
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
  /** RTC_STS and WAK_STS as set by events. */
  private latched = 0;
  /** In S3: the CPUs are stopped until a wake event. */
  sleeping = false;
  /** SLP_EN was written with this SLP_TYP (the machine decides what the type means). */
  onSleep: ((type: number) => void) | undefined;
  /** A wake event ended the sleep. */
  onWake: (() => void) | undefined;

  constructor(now: () => number) {
    this.now = now;
  }

  /** The 24-bit counter as the guest reads it. */
  timer(): number {
    return pmTimerTicks(this.now()) & 0xffffff;
  }

  private status(): number {
    const ticks = pmTimerTicks(this.now());
    return (Math.floor(ticks / 0x800000) !== Math.floor(this.tmrStsClearedAt / 0x800000) ? TMR_STS : 0) | this.latched;
  }

  /** The RTC raised its alarm interrupt: RTC_STS, and a wake if asleep with RTC_EN set. */
  rtcAlarm(): void {
    this.latched |= RTC_STS;
    if (this.sleeping && (this.enable & RTC_EN) !== 0) {
      this.sleeping = false;
      this.latched |= WAK_STS;
      this.onWake?.();
    }
  }

  /** Enters the sleep state SLP_TYP selects, if the machine has one for it. */
  private sleep(type: number): void {
    if (type !== SLP_TYP_S3 || this.onSleep === undefined) return;
    this.latched &= ~WAK_STS;
    this.sleeping = true;
    this.onSleep(type);
  }

  /** Built once: an IN or OUT allocates nothing (guests poll the timer in tight loops). */
  private readonly readByteAt = (o: number): number => this.readByte(o);
  private readonly writeByteAt = (o: number, v: number): void => this.writeByte(o, v);

  ioRead(offset: number, size: number): number {
    // The 32-bit timer read, the one guests poll: the counter once, where its four byte reads would
    // compute it four times (modeled time does not move within one IN, so the value is the same).
    if (offset === PM_TMR_OFFSET && size === 4) return this.timer();
    return readBytes(offset, size, ACPI_PM_PORTS, this.readByteAt);
  }

  ioWrite(offset: number, size: number, value: number): void {
    writeBytes(offset, size, ACPI_PM_PORTS, value, this.writeByteAt);
  }

  private readByte(offset: number): number {
    switch (offset) {
      case 0: return this.status() & 0xff;
      case 1: return (this.status() >> 8) & 0xff;
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
      case 1: this.latched &= ~((value << 8) & LATCHED_STS); break;
      case 5:
        // SLP_EN (bit 13) is write-only: it starts the sleep with the SLP_TYP written with it.
        this.control = (this.control & 0x00ff) | ((value << 8) & ~SLP_EN);
        if (((value << 8) & SLP_EN) !== 0) this.sleep((this.control >> 10) & 7);
        break;
      default: break; // the timer (read-only)
    }
  }
}

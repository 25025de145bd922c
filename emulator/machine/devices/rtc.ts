import type { IoDevice } from '../bus.js';
import { CYCLES_PER_SECOND, type Clock, type TimerEvent } from '../clock.js';

/**
 * The PC's CMOS real-time clock (Motorola MC146818A, ports 0x70/0x71) and its 128 bytes of CMOS RAM.
 *
 *   0x70  write: register index (bits 6:0); bit 7 is the NMI mask (stored, no NMI source exists)
 *   0x71  the selected register
 *
 * Registers 0x00-0x09 are the time and date (seconds, alarm seconds, minutes, alarm minutes,
 * hours, alarm hours, day of week, day of month, month, year), 0x32 the century (the ACPI FADT's
 * and QEMU's choice), in BCD or binary and 24- or 12-hour format as register B says. Register A
 * holds UIP (update in progress) and the divider and periodic rate bits, B the SET bit, the
 * interrupt enables (PIE, AIE, UIE), SQWE, DM (binary) and 24/12, C the interrupt flags (cleared
 * by reading), D the valid-RAM bit. The rest is battery-backed RAM.
 *
 * Time is modeled, never the host's: the clock starts at a fixed date (START_DATE, so runs are
 * repeatable) and advances with the machine's modeled cycles. UIP reads 1 during the last 244
 * microseconds of each modeled second, as on the chip, and the update-ended and periodic flags
 * are derived from modeled time; with UIE or PIE set they raise ISA IRQ8 (as an edge each time).
 * Writing the time registers (with SET) moves the modeled date. The alarm (registers 1, 3, 5)
 * matches at a second boundary where every field equals its register or the register is a
 * don't-care (bits 7:6 both set): AF sets then, and with AIE IRQ8 rises and `onAlarm` hears it
 * (the ACPI PM block's RTC_STS and its wake from S3). Left out: daylight-saving adjustment, the
 * square-wave pin.
 */
export const RTC_PORT = 0x70;
export const RTC_PORTS = 2;
export const RTC_IRQ = 8;

/** The date the modeled clock starts at: 2025-01-01 00:00:00 (seconds since the Unix epoch). */
export const START_DATE = Date.UTC(2025, 0, 1) / 1000;

const REG_SECONDS = 0x00;
const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
const REG_CENTURY = 0x32;

const A_UIP = 0x80;
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_DM_BINARY = 0x04;
const B_24H = 0x02;
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
const D_VRT = 0x80;

/** UIP is set this long before each update (t_BUC, 244 us at the 32.768 kHz time base). */
const UIP_CYCLES = 244_000;

const REG_ALARM_SECONDS = 0x01;
const REG_ALARM_MINUTES = 0x03;
const REG_ALARM_HOURS = 0x05;
/** An alarm register with bits 7:6 set matches any value. */
const ALARM_DONT_CARE = 0xc0;
const SECONDS_PER_DAY = 86400;

function toBcd(v: number): number {
  return ((Math.floor(v / 10) % 10) << 4) | (v % 10);
}

function fromBcd(v: number): number {
  return (v >> 4) * 10 + (v & 0xf);
}

export class CmosRtc implements IoDevice {
  readonly name = 'rtc';
  readonly ram = new Uint8Array(128);
  private index = 0;
  /** NMI mask bit written with the index (stored only). */
  nmiMasked = false;
  private readonly clock: Clock;
  private readonly pulseIrq: () => void;
  /** Seconds since the epoch at modeled cycle 0 (moved by time writes). */
  private baseSeconds = START_DATE;
  /** Flags in register C that have been raised since the guest last read it, besides the derived ones. */
  private flags = 0;
  /** Modeled cycle of the last read of register C: UF and PF count events after it. */
  private flagsClearedAt = 0;
  private irqEvent: TimerEvent | undefined;
  /** Called when the alarm raises IRQ8 (AF with AIE set). */
  onAlarm: (() => void) | undefined;

  constructor(clock: Clock, pulseIrq: () => void) {
    this.clock = clock;
    this.pulseIrq = pulseIrq;
    this.ram[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.ram[REG_B] = B_24H; // BCD, 24-hour, no interrupts
    this.ram[REG_D] = D_VRT;
  }

  /** Modeled seconds since the epoch, whole, and the cycles into the current second. */
  private now(): { seconds: number; into: number } {
    const cycles = this.clock.now();
    const whole = Math.floor(cycles / CYCLES_PER_SECOND);
    return { seconds: this.baseSeconds + whole, into: cycles - whole * CYCLES_PER_SECOND };
  }

  ioRead(offset: number): number {
    if (offset === 0) return 0xff; // the index port is write-only
    return this.readRegister(this.index);
  }

  ioWrite(offset: number, _size: number, value: number): void {
    if (offset === 0) {
      this.index = value & 0x7f;
      this.nmiMasked = (value & 0x80) !== 0;
      return;
    }
    this.writeRegister(this.index, value & 0xff);
  }

  private binaryMode(): boolean {
    return (this.ram[REG_B] & B_DM_BINARY) !== 0;
  }

  private encode(v: number): number {
    return this.binaryMode() ? v : toBcd(v);
  }

  private decode(v: number): number {
    return this.binaryMode() ? v : fromBcd(v);
  }

  /** The hour register's encoding: 24-hour, or 1-12 with bit 7 for PM. */
  private encodeHour(h: number): number {
    if ((this.ram[REG_B] & B_24H) !== 0) return this.encode(h);
    const pm = h >= 12;
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.encode(h12) | (pm ? 0x80 : 0);
  }

  private decodeHour(v: number): number {
    if ((this.ram[REG_B] & B_24H) !== 0) return this.decode(v);
    const h12 = this.decode(v & 0x7f) % 12;
    return (v & 0x80) !== 0 ? h12 + 12 : h12;
  }

  readRegister(reg: number): number {
    const t = this.now();
    const date = new Date(t.seconds * 1000);
    switch (reg) {
      case REG_SECONDS: return this.encode(date.getUTCSeconds());
      case 0x02: return this.encode(date.getUTCMinutes());
      case 0x04: return this.encodeHour(date.getUTCHours());
      case 0x06: return this.encode(date.getUTCDay() + 1);
      case 0x07: return this.encode(date.getUTCDate());
      case 0x08: return this.encode(date.getUTCMonth() + 1);
      case 0x09: return this.encode(date.getUTCFullYear() % 100);
      case REG_CENTURY: return this.encode(Math.floor(date.getUTCFullYear() / 100));
      case REG_A: {
        const setting = (this.ram[REG_B] & B_SET) !== 0;
        const uip = !setting && t.into >= CYCLES_PER_SECOND - UIP_CYCLES;
        return (this.ram[REG_A] & 0x7f) | (uip ? A_UIP : 0);
      }
      case REG_C: {
        const c = this.currentFlags();
        this.flags = 0;
        this.flagsClearedAt = this.clock.now();
        return c;
      }
      case REG_D: return D_VRT;
      default: return this.ram[reg];
    }
  }

  /** Register C as of now: flags raised since the last read, with IRQF if an enabled one is set. */
  private currentFlags(): number {
    const now = this.clock.now();
    let f = this.flags;
    // Update-ended: a second boundary passed since the last read (and SET was not holding updates).
    if ((this.ram[REG_B] & B_SET) === 0 && Math.floor(now / CYCLES_PER_SECOND) > Math.floor(this.flagsClearedAt / CYCLES_PER_SECOND)) f |= C_UF;
    const period = this.periodCycles();
    if (period > 0 && Math.floor(now / period) > Math.floor(this.flagsClearedAt / period)) f |= C_PF;
    // Alarm: a matching second boundary after the last read.
    if (this.nextAlarmSecond(Math.floor(this.flagsClearedAt / CYCLES_PER_SECOND), Math.floor(now / CYCLES_PER_SECOND)) !== Number.POSITIVE_INFINITY) f |= C_AF;
    const b = this.ram[REG_B];
    const enabled = ((b & B_PIE) !== 0 && (f & C_PF) !== 0) || ((b & B_UIE) !== 0 && (f & C_UF) !== 0) || ((b & B_AIE) !== 0 && (f & C_AF) !== 0);
    return f | (enabled ? C_IRQF : 0);
  }

  /** The periodic interrupt's period in cycles from register A's rate (0: off). */
  private periodCycles(): number {
    const rate = this.ram[REG_A] & 0x0f;
    if (rate === 0 || (this.ram[REG_A] & 0x70) !== 0x20) return 0;
    const hz = rate === 1 ? 256 : rate === 2 ? 128 : 65536 >> rate; // rates 1 and 2 are special (data sheet)
    return Math.round(CYCLES_PER_SECOND / hz);
  }

  writeRegister(reg: number, v: number): void {
    switch (reg) {
      case REG_SECONDS: case 0x02: case 0x04: case 0x06: case 0x07: case 0x08: case 0x09: case REG_CENTURY:
        this.setTimeField(reg, v);
        break;
      case REG_A: this.ram[REG_A] = v & 0x7f; this.scheduleIrq(); break;
      case REG_B: {
        // SET stops updates and clears UIE (data sheet); the flags stay as they are.
        this.ram[REG_B] = (v & B_SET) !== 0 ? v & ~B_UIE : v;
        this.scheduleIrq();
        break;
      }
      case REG_C: case REG_D: break; // read-only
      case REG_ALARM_SECONDS: case REG_ALARM_MINUTES: case REG_ALARM_HOURS:
        this.ram[reg] = v;
        this.scheduleIrq();
        break;
      default: this.ram[reg] = v; break;
    }
  }

  /** Moves the modeled date so that field `reg` reads `v`, keeping the others. */
  private setTimeField(reg: number, v: number): void {
    const t = this.now();
    const d = new Date(t.seconds * 1000);
    const fields = {
      year: d.getUTCFullYear(), month: d.getUTCMonth(), day: d.getUTCDate(),
      hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(),
    };
    switch (reg) {
      case REG_SECONDS: fields.second = this.decode(v); break;
      case 0x02: fields.minute = this.decode(v); break;
      case 0x04: fields.hour = this.decodeHour(v); break;
      case 0x07: fields.day = this.decode(v); break;
      case 0x08: fields.month = this.decode(v) - 1; break;
      case 0x09: fields.year = Math.floor(fields.year / 100) * 100 + this.decode(v); break;
      case REG_CENTURY: fields.year = this.decode(v) * 100 + (fields.year % 100); break;
      default: return; // day of week follows from the date
    }
    const target = Date.UTC(fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second) / 1000;
    if (Number.isFinite(target)) this.baseSeconds += target - t.seconds;
  }

  /** With PIE or UIE set, schedules IRQ8 at the next periodic tick or second boundary. */
  private scheduleIrq(): void {
    this.clock.cancel(this.irqEvent);
    this.irqEvent = undefined;
    const b = this.ram[REG_B];
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    const period = this.periodCycles();
    if ((b & B_PIE) !== 0 && period > 0) next = (Math.floor(now / period) + 1) * period;
    if ((b & B_UIE) !== 0) next = Math.min(next, (Math.floor(now / CYCLES_PER_SECOND) + 1) * CYCLES_PER_SECOND);
    const alarmAt = (b & B_AIE) !== 0 ? this.nextAlarmSecond(Math.floor(now / CYCLES_PER_SECOND)) * CYCLES_PER_SECOND : Number.POSITIVE_INFINITY;
    next = Math.min(next, alarmAt);
    if (next === Number.POSITIVE_INFINITY) return;
    this.irqEvent = this.clock.at(next, () => {
      this.irqEvent = undefined;
      this.pulseIrq();
      if (next === alarmAt) this.onAlarm?.();
      this.scheduleIrq();
    });
  }

  /** Whether the alarm registers match the time `second` modeled seconds after cycle 0. */
  private alarmMatches(second: number): boolean {
    const ofDay = (((this.baseSeconds + second) % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
    const field = (reg: number, value: number, hour: boolean): boolean => {
      const r = this.ram[reg];
      if ((r & ALARM_DONT_CARE) === ALARM_DONT_CARE) return true;
      return (hour ? this.decodeHour(r) : this.decode(r)) === value;
    };
    return field(REG_ALARM_SECONDS, ofDay % 60, false) && field(REG_ALARM_MINUTES, Math.floor(ofDay / 60) % 60, false) &&
      field(REG_ALARM_HOURS, Math.floor(ofDay / 3600), true);
  }

  /**
   * The first whole modeled second after `second` (seconds since cycle 0) and not after `until`
   * at which the alarm matches, or infinity: the registers repeat daily, so a day's search decides.
   */
  private nextAlarmSecond(second: number, until = Number.POSITIVE_INFINITY): number {
    const last = Math.min(until, second + SECONDS_PER_DAY);
    for (let s = second + 1; s <= last; s++) if (this.alarmMatches(s)) return s;
    return Number.POSITIVE_INFINITY;
  }
}

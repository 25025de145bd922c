import type { IoDevice } from '../bus.js';
import { CYCLES_PER_SECOND, type Clock, type TimerEvent } from '../clock.js';

/**
 * The 8254 programmable interval timer of a PC (ports 0x40-0x43) and the system control port B
 * at 0x61 that gates channel 2 and shows its output (the PC speaker's timer).
 *
 *   0x40-0x42  counters 0-2 (access by LSB, MSB or LSB-then-MSB, as programmed)
 *   0x43       control word: counter select, access mode, mode 0-5, BCD; counter latch (access 0);
 *              read-back (select 3) latching counts and/or status of several counters
 *   0x61       bit 0 channel 2 gate, bit 1 speaker enable (stored), bit 4 refresh toggle,
 *              bit 5 channel 2 output
 *
 * Counters run at 1.193182 MHz in modeled time (the clock's cycles, see clock.ts), so a count
 * read back is a pure function of guest time and every calibration against the PIT is exact and
 * repeatable. Channel 0's output drives ISA IRQ0: each rising edge of OUT0 (every period in modes
 * 2 and 3, once at the terminal count in modes 0 and 4) is scheduled on the clock and delivered as
 * a pulse. Channel 1 (DRAM refresh on old PCs) counts but drives nothing; channel 2's gate is
 * port 0x61 bit 0, channels 0 and 1 are always gated on.
 *
 * Modes follow the 8254 data sheet: 0 interrupt on terminal count, 1 hardware-retriggerable
 * one-shot, 2 rate generator, 3 square wave, 4 software-triggered strobe, 5 hardware-triggered
 * strobe. A count of 0 means 65536 (10000 in BCD). Left out: BCD counting (the BCD bit is stored
 * and read back in the status byte, but counts are binary), the exact one-clock delay between a
 * count write and the start of counting.
 */
export const PIT_BASE = 0x40;
export const PIT_PORTS = 4;
export const PORT_B = 0x61;
export const PIT_HZ = 1_193_182;
/** The IRQ channel 0 drives. */
export const PIT_IRQ = 0;

/** Whole PIT ticks in `cycles` modeled cycles, exact for any cycle count below 2^53. */
export function pitTicks(cycles: number): number {
  const seconds = Math.floor(cycles / CYCLES_PER_SECOND);
  const rest = cycles - seconds * CYCLES_PER_SECOND;
  return seconds * PIT_HZ + Math.floor((rest * PIT_HZ) / CYCLES_PER_SECOND);
}

/** The first cycle count at which `ticks` whole PIT ticks have elapsed. */
export function cyclesForTicks(ticks: number): number {
  const seconds = Math.floor(ticks / PIT_HZ);
  const rest = ticks - seconds * PIT_HZ;
  return seconds * CYCLES_PER_SECOND + Math.ceil((rest * CYCLES_PER_SECOND) / PIT_HZ);
}

const enum Access { LATCH = 0, LSB = 1, MSB = 2, WORD = 3 }

/** Read-back status byte bits (8254 data sheet, "Status Byte"). */
const STATUS_OUTPUT = 0x80;
const STATUS_NULL_COUNT = 0x40;

/** The DRAM refresh request toggles about every 15 microseconds (port 0x61 bit 4). */
const REFRESH_CYCLES = 15_085;

class Channel {
  mode = 0;
  access = Access.WORD;
  bcd = false;
  /** The programmed count (1-65536), 0 before the first count is written. */
  count = 0;
  /** Cycle at which counting from `count` (re)started. */
  loadedAt = 0;
  /** While the gate is low in modes that pause (0, 2, 3, 4): elapsed ticks when it went low. */
  pausedTicks = -1;
  gate: boolean;
  /** Write state for WORD access: the LSB has been written, the MSB comes next. */
  writeMsbNext = false;
  /** Read state for WORD access: the LSB has been read, the MSB comes next. */
  readMsbNext = false;
  /** Latched count (-1: none) and its WORD-access read state. */
  latched = -1;
  latchedMsbNext = false;
  /** Latched status byte (-1: none); read before a latched count. */
  status = -1;
  /** LSB waiting for its MSB in WORD access. */
  pendingLsb = 0;
  /** A new control word was written and no count loaded since (status bit 6). */
  nullCount = true;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  /** Ticks counted since the count was loaded, as of cycle `now`. */
  elapsed(now: number): number {
    if (this.count === 0) return 0;
    if (this.pausedTicks >= 0) return this.pausedTicks;
    return pitTicks(now - this.loadedAt);
  }

  /** The counting element's value (what a latch captures). */
  value(now: number): number {
    if (this.count === 0) return 0;
    const n = this.count;
    const d = this.elapsed(now);
    switch (this.mode) {
      case 2: return n - (d % n);
      case 3: {
        // Decrements by two; with an odd count the high half lasts one tick longer.
        const half = (2 * d) % n;
        return (n - half) & 0xfffe || n;
      }
      case 0: case 1: case 4: case 5: default:
        // Counts down through zero and wraps to 0xFFFF.
        return (n - d) & 0xffff;
    }
  }

  /** OUT level at cycle `now`. */
  output(now: number): boolean {
    if (this.count === 0) return this.mode !== 0;
    const n = this.count;
    const d = this.elapsed(now);
    switch (this.mode) {
      case 0: return d >= n;
      case 1: return d >= n || !this.triggered;
      case 2: return d % n !== n - 1;
      case 3: return d % n < Math.ceil(n / 2);
      case 4: case 5: return d !== n;
      default: return true;
    }
  }

  /** Modes 1 and 5 start counting only on a gate rising edge. */
  triggered = false;

  /** Ticks from the load to the next rising edge of OUT strictly after tick `d`, or -1 for none. */
  nextRisingEdge(d: number): number {
    const n = this.count;
    if (n === 0) return -1;
    switch (this.mode) {
      case 0: return d < n ? n : -1;
      case 1: return this.triggered && d < n ? n : -1;
      case 2: return (Math.floor(d / n) + 1) * n;
      case 3: return (Math.floor(d / n) + 1) * n;
      case 4: case 5: return d < n + 1 ? n + 1 : -1;
      default: return -1;
    }
  }
}

export class Pit8254 {
  private readonly channels = [new Channel(true), new Channel(true), new Channel(false)];
  private readonly clock: Clock;
  private readonly pulseIrq0: () => void;
  private irq0Event: TimerEvent | undefined;
  /** Port 0x61 bits the guest owns: gate 2 (bit 0), speaker data (bit 1), and bits 2-3. */
  private portB = 0;

  readonly pitPorts: IoDevice = {
    name: 'pit',
    ioRead: (offset) => (offset === 3 ? 0xff : this.readCounter(offset)),
    ioWrite: (offset, _size, value) => { if (offset === 3) this.writeControl(value & 0xff); else this.writeCounter(offset, value & 0xff); },
  };

  readonly portBPorts: IoDevice = {
    name: 'port-b',
    ioRead: () => this.readPortB(),
    ioWrite: (_offset, _size, value) => this.writePortB(value & 0xff),
  };

  /** `pulseIrq0` delivers one rising edge of OUT0 to the interrupt controllers. */
  constructor(clock: Clock, pulseIrq0: () => void) {
    this.clock = clock;
    this.pulseIrq0 = pulseIrq0;
  }

  /** Channel `k`'s current count, as a latch would read it (for tests and traces). */
  countOf(k: number): number {
    return this.channels[k].value(this.clock.now());
  }

  outputOf(k: number): boolean {
    return this.channels[k].output(this.clock.now());
  }

  private writeControl(v: number): void {
    const select = v >> 6;
    const access = (v >> 4) & 3;
    const now = this.clock.now();
    if (select === 3) { // read-back
      for (let k = 0; k < 3; k++) {
        if ((v & (2 << k)) === 0) continue;
        const ch = this.channels[k];
        if ((v & 0x20) === 0 && ch.latched < 0) { ch.latched = ch.value(now); ch.latchedMsbNext = false; }
        if ((v & 0x10) === 0 && ch.status < 0) {
          ch.status = (ch.output(now) ? STATUS_OUTPUT : 0) | (ch.nullCount ? STATUS_NULL_COUNT : 0) |
            (ch.access << 4) | (ch.mode << 1) | (ch.bcd ? 1 : 0);
        }
      }
      return;
    }
    const ch = this.channels[select];
    if (access === Access.LATCH) {
      if (ch.latched < 0) { ch.latched = ch.value(now); ch.latchedMsbNext = false; }
      return;
    }
    ch.access = access;
    ch.mode = (v >> 1) & 7;
    if (ch.mode > 5) ch.mode -= 4; // modes 6 and 7 are 2 and 3
    ch.bcd = (v & 1) !== 0;
    ch.count = 0;
    ch.nullCount = true;
    ch.writeMsbNext = false;
    ch.readMsbNext = false;
    ch.latched = -1;
    ch.status = -1;
    ch.triggered = false;
    ch.pausedTicks = -1;
    if (select === 0) this.scheduleIrq0();
  }

  private writeCounter(k: number, byte: number): void {
    const ch = this.channels[k];
    let count: number;
    switch (ch.access) {
      case Access.LSB: count = byte; break;
      case Access.MSB: count = byte << 8; break;
      default:
        if (!ch.writeMsbNext) { ch.pendingLsb = byte; ch.writeMsbNext = true; return; }
        ch.writeMsbNext = false;
        count = ch.pendingLsb | (byte << 8);
        break;
    }
    this.load(k, count === 0 ? 0x10000 : count);
  }

  /**
   * A new count starts counting at once. (A real 8254 in mode 2 or 3 finishes the running period
   * first; Linux writes a control word before every new count, which makes the two the same.)
   */
  private load(k: number, count: number): void {
    const ch = this.channels[k];
    const now = this.clock.now();
    ch.count = count;
    ch.nullCount = false;
    ch.loadedAt = now;
    ch.pausedTicks = ch.gate || ch.mode === 1 || ch.mode === 5 ? -1 : 0;
    ch.triggered = false;
    if (k === 0) this.scheduleIrq0();
  }

  private readCounter(k: number): number {
    const ch = this.channels[k];
    if (ch.status >= 0) {
      const s = ch.status;
      ch.status = -1;
      return s;
    }
    let value: number;
    let msb: boolean;
    if (ch.latched >= 0) {
      value = ch.latched;
      if (ch.access === Access.WORD) {
        msb = ch.latchedMsbNext;
        ch.latchedMsbNext = !msb;
        if (msb) ch.latched = -1;
      } else {
        msb = ch.access === Access.MSB;
        ch.latched = -1;
      }
    } else {
      value = ch.value(this.clock.now());
      if (ch.access === Access.WORD) {
        msb = ch.readMsbNext;
        ch.readMsbNext = !msb;
      } else {
        msb = ch.access === Access.MSB;
      }
    }
    return msb ? (value >> 8) & 0xff : value & 0xff;
  }

  private readPortB(): number {
    const now = this.clock.now();
    const ch2 = this.channels[2];
    const refresh = Math.floor(now / REFRESH_CYCLES) & 1;
    return (this.portB & 0x0f) | (refresh << 4) | (ch2.output(now) ? 0x20 : 0);
  }

  private writePortB(v: number): void {
    this.portB = v & 0x0f;
    this.setGate(2, (v & 1) !== 0);
  }

  /** Gate input of channel `k`: pauses modes 0 and 4, restarts 2 and 3, triggers 1 and 5. */
  private setGate(k: number, level: boolean): void {
    const ch = this.channels[k];
    if (ch.gate === level) return;
    const now = this.clock.now();
    const rising = level && !ch.gate;
    if (ch.count !== 0) {
      switch (ch.mode) {
        case 0: case 4:
          if (level) { ch.loadedAt = now - cyclesForTicks(ch.pausedTicks); ch.pausedTicks = -1; } else ch.pausedTicks = ch.elapsed(now);
          break;
        case 2: case 3:
          if (rising) { ch.loadedAt = now; ch.pausedTicks = -1; } else ch.pausedTicks = ch.elapsed(now);
          break;
        case 1: case 5:
          if (rising) { ch.loadedAt = now; ch.pausedTicks = -1; ch.triggered = true; }
          break;
        default: break;
      }
    }
    ch.gate = level;
    if (k === 0) this.scheduleIrq0();
  }

  /** Schedules the next rising edge of OUT0 on the clock (replacing any scheduled one). */
  private scheduleIrq0(): void {
    this.clock.cancel(this.irq0Event);
    this.irq0Event = undefined;
    const ch = this.channels[0];
    if (ch.count === 0 || ch.pausedTicks >= 0) return;
    const now = this.clock.now();
    const edge = ch.nextRisingEdge(ch.elapsed(now));
    if (edge < 0) return;
    this.irq0Event = this.clock.at(ch.loadedAt + cyclesForTicks(edge), () => {
      this.irq0Event = undefined;
      this.pulseIrq0();
      this.scheduleIrq0();
    });
  }
}

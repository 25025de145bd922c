/**
 * A VT-d unit on its own for the vtd*.test.ts files: a flat guest-physical memory, a direct port
 * that records what reaches it, and helpers that build VT-d tables and talk to the registers the
 * way the CPU does (a quadword as two doublewords, low then high: linear-memory.ts write64).
 */
import type { InterruptMessage } from '../../emulator/machine/devices/apic-bus.js';
import type { DmaPort } from '../../emulator/machine/devices/dma.js';
import { IntelIommu } from '../../emulator/machine/devices/vtd/intel-iommu.js';

export const MEM_BYTES = 16 << 20;

export class FlatMemory {
  readonly bytes = new Uint8Array(MEM_BYTES);
  readonly view = new DataView(this.bytes.buffer);
  readPhysical(gpa: number, length: number): Uint8Array {
    return this.bytes.slice(gpa, gpa + length);
  }
  writePhysical(gpa: number, bytes: Uint8Array): void {
    this.bytes.set(bytes, gpa);
  }
  /** Writes a 64-bit value given as a Number below 2^53. */
  q(gpa: number, value: number): void {
    this.view.setUint32(gpa, value % 2 ** 32, true);
    this.view.setUint32(gpa + 4, Math.floor(value / 2 ** 32), true);
  }
  d(gpa: number): number {
    return this.view.getUint32(gpa, true);
  }
}

/** The machine side of the unit: memory accesses land in `memory`, MSIs are decoded and kept. */
export class RecordingPort implements DmaPort {
  readonly accesses: Array<{ requester: number; address: number; length: number; write: boolean }> = [];
  readonly msis: Array<{ address: number; data: number }> = [];
  constructor(private readonly memory: FlatMemory) {}
  read(requester: number, address: number, bytes: Uint8Array): boolean {
    this.accesses.push({ requester, address, length: bytes.length, write: false });
    bytes.set(this.memory.readPhysical(address, bytes.length));
    return true;
  }
  write(requester: number, address: number, bytes: Uint8Array): boolean {
    this.accesses.push({ requester, address, length: bytes.length, write: true });
    this.memory.writePhysical(address, bytes);
    return true;
  }
  signalMsi(_requester: number, address: number, data: number): void {
    this.msis.push({ address, data });
  }
}

export interface Rig {
  memory: FlatMemory;
  port: RecordingPort;
  delivered: InterruptMessage[];
  iommu: IntelIommu;
  r32(offset: number): number;
  /** A quadword register below 2^53 (throws otherwise: use rq). */
  r64(offset: number): number;
  /** A quadword register, exactly. */
  rq(offset: number): bigint;
  w32(offset: number, value: number): void;
  w64(offset: number, value: number): void;
}

export function rig(options: { interruptRemapping?: boolean; extendedInterruptMode?: boolean; addressWidth?: 39 | 48 } = {}): Rig {
  const memory = new FlatMemory();
  const port = new RecordingPort(memory);
  const delivered: InterruptMessage[] = [];
  const iommu = new IntelIommu(memory, port, (m) => delivered.push(m), {
    interruptRemapping: options.interruptRemapping ?? true,
    extendedInterruptMode: options.extendedInterruptMode ?? false,
    addressWidth: options.addressWidth,
  });
  const r32 = (o: number): number => iommu.mmioRead(o, 4) >>> 0;
  const w32 = (o: number, v: number): void => iommu.mmioWrite(o, 4, v | 0);
  return {
    memory, port, delivered, iommu, r32, w32,
    r64: (o) => {
      if (r32(o + 4) >= 2 ** 21) throw new Error(`register 0x${o.toString(16)} is not below 2^53`);
      return r32(o + 4) * 2 ** 32 + r32(o);
    },
    rq: (o) => (BigInt(r32(o + 4)) << 32n) | BigInt(r32(o)),
    w64: (o, v) => { w32(o, v % 2 ** 32); w32(o + 4, Math.floor(v / 2 ** 32)); },
  };
}

export const GCMD = 0x18;
export const GSTS = 0x1c;
export const TE = 0x80000000;
export const SRTP = 0x40000000;
export const QIE = 0x04000000;
export const IRE = 0x02000000;
export const SIRTP = 0x01000000;
export const CFI = 0x00800000;

/** kvm-unit-tests' vtd_gcmd_or: GSTS with one more bit, written back to GCMD. */
export function gcmdOr(r: Rig, bit: number): void {
  r.w32(GCMD, (r.r32(GSTS) | bit) >>> 0);
}

/** Table placement in the test memory. */
export const ROOT = 0x100000;
export const CONTEXT = 0x101000;
export const IRT = 0x110000;

/** Points RTADDR at ROOT and latches it. */
export function setRoot(r: Rig): void {
  r.w64(0x20, ROOT);
  gcmdOr(r, SRTP);
}

/** A present root entry for `bus` pointing at CONTEXT + bus * 4 KiB. */
export function rootEntry(r: Rig, bus: number): number {
  const ctx = CONTEXT + bus * 0x1000;
  r.memory.q(ROOT + bus * 16, ctx | 1);
  return ctx;
}

/**
 * A present context entry for devfn on `bus`: translation type `tt` (0 multi-level), address width
 * code `aw` (1: 39-bit), second-level table at `slpt`, domain `did`, fault processing disable `fpd`.
 */
export function contextEntry(r: Rig, bus: number, devfn: number, slpt: number,
  o: { tt?: number; aw?: number; did?: number; fpd?: boolean } = {}): void {
  const ctx = rootEntry(r, bus);
  r.memory.q(ctx + devfn * 16, slpt | ((o.tt ?? 0) << 2) | (o.fpd ? 2 : 0) | 1);
  r.memory.q(ctx + devfn * 16 + 8, (o.aw ?? 1) | ((o.did ?? 1) << 8));
}

/** Second-level entry at table `table`, index `i`. */
export function sl(r: Rig, table: number, i: number, value: number): void {
  r.memory.q(table + i * 8, value);
}

/** One fault recording register (at CAP.FRO = 0x220) as its fields. */
export function faultRecord(r: Rig): { fi: number; sid: number; reason: number; read: boolean; f: boolean } {
  const d = [0, 1, 2, 3].map((k) => r.r32(0x220 + 4 * k));
  return {
    fi: d[1] * 2 ** 32 + d[0],
    sid: d[2] & 0xffff,
    reason: d[3] & 0xff,
    read: (d[3] & 0x40000000) !== 0,
    f: (d[3] & 0x80000000) !== 0,
  };
}

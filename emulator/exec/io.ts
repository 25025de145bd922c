import type { Vcpu } from '../cpu/vcpu.js';
import { CpuMode, Stop } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { Flag } from '../arch/eflags.js';
import { Reg } from '../arch/registers.js';
import { syncTime } from './system.js';
import { ioAccessed } from '../cpu/debug-exceptions.js';

/**
 * IN and OUT (SDM Vol. 2; I/O protection in Vol. 1 19.5): in protected mode with CPL > IOPL (or in
 * virtual-8086 mode) every byte of the access must be allowed by the TSS I/O permission bitmap,
 * else #GP(0).
 */
export function ioPermitted(cpu: Vcpu, port: number, size: number): boolean {
  if (cpu.mode === CpuMode.REAL) return true;
  const iopl = (cpu.flags & Flag.IOPL) >>> 12;
  if (cpu.cpl <= iopl && (cpu.flags & Flag.VM) === 0) return true;
  // The bitmap offset is at TSS offset 0x66; bits for ports port..port+size-1 must all be clear.
  const tr = cpu.tr;
  if (tr.limit < 0x67) return false;
  const base = cpu.mem.readImplicit32((tr.baseLo + 0x64) | 0, tr.baseHi) >>> 16;
  const byte = base + (port >>> 3);
  if (byte + 1 > tr.limit) return false;
  const bits = cpu.mem.readImplicit32((tr.baseLo + byte) | 0, tr.baseHi) & 0xffff;
  if (cpu.exc >= 0) return false;
  const mask = ((1 << size) - 1) << (port & 7);
  return (bits & mask) === 0;
}

export function portIn(cpu: Vcpu, port: number, size: number): number {
  ioAccessed(cpu, port, size);
  const v = cpu.platform.ioRead(port, size);
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}

export function portOut(cpu: Vcpu, port: number, size: number, v: number): void {
  ioAccessed(cpu, port, size);
  cpu.platform.ioWrite(port, size, size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v);
  // A device may have raised an interrupt or ended the run: leave the block.
  cpu.stop |= Stop.EVENT;
}

/** IN AL/eAX, imm8 ("AL,Ib", "eAX,Ib") and IN AL/eAX, DX ("AL,DX", "eAX,DX"). */
export const IN = family('in', (form) => {
  const size = form.size === 8 ? 4 : form.size;
  const fromDx = form.operands.endsWith('DX');
  return (cpu, i) => {
    const port = fromDx ? cpu.lo[Reg.RDX] & 0xffff : cpu.dec.imm[i] & 0xff;
    if (!ioPermitted(cpu, port, size)) { if (cpu.exc < 0) cpu.raiseGp(0); return; }
    syncTime(cpu, i);
    const v = portIn(cpu, port, size);
    if (size === 1) cpu.set8(Reg.RAX, v);
    else if (size === 2) cpu.set16(Reg.RAX, v);
    else cpu.set32(Reg.RAX, v);
  };
});

/** OUT imm8, AL/eAX ("Ib,AL", "Ib,eAX") and OUT DX, AL/eAX ("DX,AL", "DX,eAX"). */
export const OUT = family('out', (form) => {
  const size = form.size === 8 ? 4 : form.size;
  const toDx = form.operands.startsWith('DX');
  return (cpu, i) => {
    const port = toDx ? cpu.lo[Reg.RDX] & 0xffff : cpu.dec.imm[i] & 0xff;
    if (!ioPermitted(cpu, port, size)) { if (cpu.exc < 0) cpu.raiseGp(0); return; }
    syncTime(cpu, i);
    portOut(cpu, port, size, cpu.lo[Reg.RAX]);
  };
});

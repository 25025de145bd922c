import type { Vcpu } from '../cpu/vcpu.js';
import { Stop } from '../cpu/vcpu.js';
import { checkedFamily, Operand } from './registry.js';
import { Reg } from '../arch/registers.js';
import { Check, syncTime } from './checks.js';
import { ioAccessed } from '../cpu/debug-exceptions.js';

/**
 * IN and OUT (SDM Vol. 2). The I/O permission check (Vol. 1 19.5: CPL > IOPL or virtual-8086 mode
 * consults the TSS I/O bitmap) is the families' Check.IO, made before the handler runs.
 */

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
export const IN = checkedFamily('in', Check.IO, (form) => {
  const size = form.size === 8 ? 4 : form.size;
  const fromDx = form.ops.second === Operand.DX;
  return (cpu, i) => {
    const port = fromDx ? cpu.lo[Reg.RDX] & 0xffff : cpu.dec.imm[i] & 0xff;
    syncTime(cpu, i);
    const v = portIn(cpu, port, size);
    if (size === 1) cpu.set8(Reg.RAX, v);
    else if (size === 2) cpu.set16(Reg.RAX, v);
    else cpu.set32(Reg.RAX, v);
  };
});

/** OUT imm8, AL/eAX ("Ib,AL", "Ib,eAX") and OUT DX, AL/eAX ("DX,AL", "DX,eAX"). */
export const OUT = checkedFamily('out', Check.IO, (form) => {
  const size = form.size === 8 ? 4 : form.size;
  const toDx = form.ops.first === Operand.DX;
  return (cpu, i) => {
    const port = toDx ? cpu.lo[Reg.RDX] & 0xffff : cpu.dec.imm[i] & 0xff;
    syncTime(cpu, i);
    portOut(cpu, port, size, cpu.lo[Reg.RAX]);
  };
});

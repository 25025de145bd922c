import type { Vcpu } from './vcpu.js';
import { Cr0 } from '../arch/control.js';
import { Flag } from '../arch/eflags.js';
import { Reg, Seg } from '../arch/registers.js';
import { SegAttr, TableRegister } from './segment-state.js';
import { updateMode } from './segmentation.js';
import { pagingChanged } from './control-regs.js';

/**
 * INIT and STARTUP (SDM Vol. 3 9.1.1, Table 9-1, and 9.4 for the MP start-up sequence).
 *
 * INIT puts the registers in their INIT state: real mode at F000:FFF0 with CS.base FFFF0000,
 * RFLAGS 2, CR0 with only ET set besides the CD and NW it keeps, CR2/CR3/CR4/EFER 0, the
 * descriptor-table registers at base 0 and limit FFFF, DR6/DR7 at their reset values, the
 * general registers 0 but EDX, which holds the processor signature. The x87/SSE state, the TSC
 * and most MSRs are kept, as INIT leaves them. The local APIC resets itself (local-apic.ts).
 * An application processor then waits for a STARTUP IPI; the bootstrap processor starts at the
 * reset vector, as on hardware.
 *
 * STARTUP with vector VV starts a waiting CPU in real mode at VV00:0000 (CS.base VV000).
 */

const REAL_MODE_DATA = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED;
const REAL_MODE_CODE = REAL_MODE_DATA | SegAttr.CODE;

function resetTable(t: TableRegister): void {
  t.baseLo = 0;
  t.baseHi = 0;
  t.limit = 0xffff;
  t.selector = 0;
  t.attr = 0;
}

/** Applies an INIT to the vCPU's registers (the APIC has already taken its part). */
export function applyInit(cpu: Vcpu): void {
  const signature = cpu.model.cpuid(1, 0, cpu.index)[0];
  cpu.lo.fill(0);
  cpu.hi.fill(0);
  cpu.lo[Reg.RDX] = signature;
  cpu.setFlags(Flag.FIXED1);
  cpu.ripLo = 0xfff0;
  cpu.ripHi = 0;
  cpu.cr0 = (cpu.cr0 & (Cr0.CD | Cr0.NW)) | Cr0.ET;
  cpu.cr2Lo = 0;
  cpu.cr2Hi = 0;
  cpu.cr3Lo = 0;
  cpu.cr3Hi = 0;
  cpu.cr4 = 0;
  cpu.cr8 = 0;
  cpu.efer = 0;
  cpu.resetSegments();
  resetTable(cpu.gdtr);
  resetTable(cpu.idtr);
  resetTable(cpu.ldtr);
  resetTable(cpu.tr);
  cpu.drLo.fill(0);
  cpu.drHi.fill(0);
  cpu.drLo[6] = 0xffff0ff0 | 0;
  cpu.drLo[7] = 0x400;
  cpu.cpl = 0;
  cpu.exc = -1;
  cpu.halted = false;
  cpu.interruptShadow = false;
  cpu.nmiPending = false;
  cpu.nmiBlocked = false;
  cpu.waitForSipi = cpu.index !== 0;
  updateMode(cpu);
  pagingChanged(cpu);
  cpu.platform.initReceived(cpu);
}

/** Starts a CPU in wait-for-SIPI at the STARTUP vector's page. */
export function applyStartup(cpu: Vcpu, vector: number): void {
  cpu.seg.set(Seg.CS, vector << 8, vector << 12, 0, 0xffff, REAL_MODE_CODE);
  cpu.ripLo = 0;
  cpu.ripHi = 0;
  cpu.waitForSipi = false;
  cpu.sipiVector = -1;
  updateMode(cpu);
  cpu.platform.startupReceived(cpu);
}

import type { Vcpu } from '../../emulator/cpu/vcpu.js';
import { CpuMode } from '../../emulator/cpu/vcpu.js';
import { Seg } from '../../emulator/arch/registers.js';
import { Access } from '../../emulator/paging/walker.js';
import type { Memslots } from '../../emulator/machine/memslots.js';
import { gpa as asGpa } from '../../emulator/arch/address.js';
import type { Arena } from '../../emulator/machine/arena.js';
import { KvmExit } from '../../emulator/debug/trace-exit-reasons.js';
import type { EmulatedWalk } from '../emulated-walk.js';
import type { CostItem } from '../cost.js';
import type { Stats } from '../stats.js';

/** kvm_emulate_prefix: ud2, then the bytes 'k', 'v', 'm'. */
const PREFIX = [0x0f, 0x0b, 0x6b, 0x76, 0x6d] as const;

/** What handle_ud needs of its vCPU's KVM. */
export interface ForcedEmulationHost {
  readonly stats: Stats;
  exitBegin(reason: KvmExit): void;
  charge(item: CostItem): void;
  enterGuest(): void;
}

/**
 * handle_ud (x86.c) with kvm.force_emulation_prefix=1: a #UD (always intercepted) whose bytes at
 * the linear RIP are the prefix moves RIP past it and emulates the next instruction
 * (EMULTYPE_TRAP_UD_FORCED): here the CPU runs it with every access translated by KVM's walker
 * (EmulatedWalk, the MMU role's cached permissions). Any other #UD is reflected to the guest.
 * Without the parameter the #UD goes straight to the guest, uncounted (as every #UD is without a
 * hypervisor; KVM's own #UD emulation of VMCALL/VMMCALL is not modeled).
 */
export class ForcedEmulation {
  private readonly bytes = new Uint8Array(PREFIX.length);

  constructor(
    private readonly host: ForcedEmulationHost,
    private readonly walk: EmulatedWalk,
    private readonly arena: Arena,
    private readonly memslots: Memslots,
    private readonly enabled: boolean,
  ) {}

  handleUd(cpu: Vcpu): boolean {
    if (!this.enabled) return false;
    this.host.exitBegin(KvmExit.UD_EXCEPTION);
    this.host.charge('simpleExitHandler');
    const matched = this.readPrefix(cpu);
    if (matched) {
      const next = (cpu.ripLo >>> 0) + PREFIX.length;
      if (cpu.mode === CpuMode.LONG64) {
        if (next > 0xffffffff) cpu.ripHi = (cpu.ripHi + 1) | 0;
        cpu.ripLo = next | 0;
      } else {
        cpu.ripLo = (cpu.mode === CpuMode.REAL || cpu.codeBits === 16 ? next & 0xffff : next) | 0;
      }
      this.host.stats.insn_emulation++;
      this.host.charge('emulateInsn');
      cpu.paging.emulateNextInstruction(this.walk);
    }
    this.host.enterGuest();
    return matched;
  }

  /** kvm_read_guest_virt of the prefix at the linear RIP, through KVM's walker; false on a fault. */
  private readPrefix(cpu: Vcpu): boolean {
    let lo = cpu.ripLo;
    let hi = cpu.ripHi;
    if (cpu.mode !== CpuMode.LONG64) {
      lo = (lo + cpu.seg.baseLo[Seg.CS]) | 0;
      hi = 0;
    }
    const access = cpu.cpl === 3 ? Access.USER : 0;
    for (let k = 0; k < PREFIX.length; k++) {
      const gpa = this.walk.gvaToGpa((lo + k) | 0, (lo >>> 0) + k > 0xffffffff ? hi + 1 : hi, access);
      if (gpa < 0) return false;
      const host = this.memslots.gpaToHpa(asGpa(gpa));
      if (host < 0) return false;
      this.bytes[k] = this.arena.bytes[host];
      if (this.bytes[k] !== PREFIX[k]) return false;
    }
    return true;
  }
}

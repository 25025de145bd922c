import { CpuMode, type Vcpu } from '../../emulator/cpu/vcpu.js';
import { Reg } from '../../emulator/arch/registers.js';
import type { ApicBus } from '../../emulator/machine/devices/apic-bus.js';

/**
 * KVM's hypercalls (Documentation/virt/kvm/x86/hypercalls.rst; kvm_emulate_hypercall): VMCALL or
 * VMMCALL with the number in RAX and up to four arguments in RBX, RCX, RDX, RSI; the result goes to
 * RAX. Outside 64-bit mode the arguments and the result are 32 bits. At CPL > 0 every hypercall
 * returns -KVM_EPERM.
 *
 * What mmulab's KVM offers:
 *   KVM_HC_VAPIC_POLL_IRQ (1)  returns 0: a pending interrupt is injected on the next entry anyway
 *   KVM_HC_SEND_IPI (10)       KVM_FEATURE_PV_SEND_IPI's hypercall: one IPI to many CPUs named by a
 *                              bitmap of APIC IDs (below)
 *   anything else              -KVM_ENOSYS
 * KVM answers these whether or not the guest's CPUID leaf 0x40000001 advertises them (it checks the
 * leaf only with KVM_CAP_ENFORCE_PV_FEATURE_CPUID, which QEMU does not set by default). mmulab's CPU
 * model has no hypervisor leaves at all (0x40000000 reads as the highest basic leaf), so guests
 * that look there for KVM find none, and kvm-unit-tests calls the hypercall without looking.
 *
 * KVM_HC_SEND_IPI(bitmap_low, bitmap_high, min, icr), kvm_pv_send_ipi: bit i of bitmap_low names
 * APIC ID min + i and bit i of bitmap_high APIC ID min + 64 + i (32 for a 32-bit caller; min is a
 * u32 and wraps). icr gives the vector, delivery mode, level and trigger; a destination mode or
 * shorthand in it makes the call return -KVM_EINVAL. IDs above the highest APIC ID in the VM are
 * skipped. The result is the number of CPUs the IPI was delivered to.
 */
export const KVM_HC_VAPIC_POLL_IRQ = 1;
export const KVM_HC_SEND_IPI = 10;
export const KVM_ENOSYS = 1000;
export const KVM_EPERM = 1;
export const KVM_EINVAL = 22;

const ICR_DEST_LOGICAL = 0x800;
const ICR_SHORTHAND = 0xc0000;

/** Runs the hypercall in `cpu`'s registers and writes its result to RAX. */
export function kvmHypercall(cpu: Vcpu, apicBus: ApicBus | undefined): void {
  const op64 = cpu.mode === CpuMode.LONG64;
  let ret: number;
  // In 64-bit mode the hypercall number is all 64 bits of RAX: a high half makes it unknown.
  const nr = op64 && cpu.hi[Reg.RAX] !== 0 ? -1 : cpu.lo[Reg.RAX] >>> 0;
  if (cpu.cpl !== 0) ret = -KVM_EPERM;
  else {
    switch (nr) {
      case KVM_HC_VAPIC_POLL_IRQ:
        ret = 0;
        break;
      case KVM_HC_SEND_IPI:
        ret = apicBus === undefined ? -KVM_ENOSYS : pvSendIpi(cpu, apicBus, op64);
        break;
      default:
        ret = -KVM_ENOSYS;
    }
  }
  cpu.lo[Reg.RAX] = ret;
  cpu.hi[Reg.RAX] = op64 && ret < 0 ? -1 : 0;
}

function pvSendIpi(cpu: Vcpu, bus: ApicBus, op64: boolean): number {
  const icr = cpu.lo[Reg.RSI];
  if ((icr & (ICR_DEST_LOGICAL | ICR_SHORTHAND)) !== 0 || (op64 && cpu.hi[Reg.RSI] !== 0)) return -KVM_EINVAL;
  const vector = icr & 0xff;
  const mode = (icr >> 8) & 7;
  const level = (icr & 0x8000) !== 0;
  const cluster = op64 ? 64 : 32;
  let min = cpu.lo[Reg.RDX] >>> 0;
  let count = sendCluster(bus, cpu.lo[Reg.RBX], op64 ? cpu.hi[Reg.RBX] : 0, min, cluster, mode, vector, level);
  min = (min + cluster) >>> 0;
  count += sendCluster(bus, cpu.lo[Reg.RCX], op64 ? cpu.hi[Reg.RCX] : 0, min, cluster, mode, vector, level);
  return count;
}

/** One bitmap of `cluster` bits (lo, hi halves) from APIC ID `min`: __pv_send_ipi. */
function sendCluster(bus: ApicBus, lo: number, hi: number, min: number, cluster: number,
  mode: number, vector: number, level: boolean): number {
  let maxId = -1;
  for (const apic of bus.members) if (apic.enabled && apic.initialId > maxId) maxId = apic.initialId;
  if (maxId < 0 || min > maxId) return 0;
  const bits = Math.min(cluster, maxId - min + 1);
  let count = 0;
  for (let i = 0; i < bits; i++) {
    const set = i < 32 ? (lo >>> i) & 1 : (hi >>> (i - 32)) & 1;
    if (set === 0) continue;
    for (const apic of bus.members) {
      if (apic.enabled && apic.initialId === min + i) {
        apic.acceptMessage(mode, vector, level);
        count++;
      }
    }
  }
  return count;
}

import type { Vcpu } from './vcpu.js';

/**
 * What a serializing system instruction costs on the modeled CPU when it runs natively, in modeled
 * cycles (the TSC's unit; like mmu/cost.ts, one modeled cycle stands for about one ns). Every
 * other instruction counts one cycle. A serializing instruction drains the pipeline and the store
 * buffer before the next one starts (SDM Vol. 3, "Serializing Instructions"), and a control-register write may also
 * invalidate TLB entries, so a guest that times a loop of them with RDTSC (upstream vmexit's
 * toggle_cr0_wp and toggle_cr4_pge) must see hundreds of cycles per write, not one: at one cycle
 * that loop runs about 2^31 instructions per vCPU before upstream's 2^30-cycle goal is met.
 *
 * The charge is the instruction's own and applies only when it runs natively: in bare mode, and under
 * KVM when the write does not exit (a bit the guest owns). An intercepted write never executes on
 * the hardware, the VM exit replaces it, so it pays the exit's COST entries alone (mmu/cost.ts,
 * through KvmVcpu.charge; they were calibrated to whole intercepted loops); the platform reports
 * the exit (CrWrite.EXITED, Platform.invpcid's result). MOV to CR8 is not serializing (SDM Vol. 2, MOV—Move to/from Control Registers)
 * and is not charged; neither is MOV to CR2, which invalidates nothing.
 *
 * Sources, per entry:
 * - [L] Andy Lutomirski, "x86/mm: If INVPCID is available, use it to flush global mappings"
 *   (Linux commit d8bced79af1d, 4.6, January 2016), measured on a Skylake laptop (the model's
 *   generation): "INVPCID function 2 (flush absolutely everything) takes about 376ns, whereas
 *   saving flags, twiddling CR4.PGE to flush global mappings, and restoring flags takes about
 *   539ns." The CR4.PGE twiddle is two MOV to CR4, so one is about 270 ns (the flag save and
 *   restore are a few cycles).
 * - [R] reasoned from [L]: no published figure for these writes alone was found (searched: the
 *   CR0.WP guest-owned series, fb509f76acc8, gives only rt-tests runtimes; Agner Fog's and
 *   uops.info's tables were not found to list MOV to CR). MOV to CR0 and MOV to CR3 serialize
 *   like MOV to CR4; the CR4.PGE write also flushes the whole TLB, which makes its figure an
 *   upper bound for them. The model charges them the same.
 */
export const SERIALIZING_COST = {
  /** MOV to CR4 (any bits; toggle_cr4_pge's write flushes the whole TLB, globals included). [L] */
  movCr4: 270,
  /** MOV to CR0 (toggle_cr0_wp's write invalidates nothing, SDM Vol. 3 4.10.4.1). [R] */
  movCr0: 270,
  /** MOV to CR3 (flushes the non-global entries of the PCID, or nothing with bit 63 under PCIDE). [R] */
  movCr3: 270,
  /** INVPCID type 2, all contexts including global translations. [L] */
  invpcidAll: 376,
} as const;

/**
 * Adds a serializing instruction's cost beyond the one cycle every retired instruction counts.
 * A cost below one charges nothing, so an entry can never make the clock run backwards.
 */
export function chargeSerializing(cpu: Vcpu, cycles: number): void {
  if (cycles > 1) cpu.extraCycles += cycles - 1;
}

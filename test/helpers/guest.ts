import { readFileSync } from 'node:fs';
import { type Backing, type MmuMode, Machine } from '../../vmm/machine.js';
import type { Vendor } from '../../mmu/kvm/vendor.js';
import { resolveKnobs } from '../../mmu/knobs.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';

/** A guest image run in-process, with KVM's invariant checker on in the virtualized modes. */
export interface GuestRun {
  readonly output: string;
  readonly status: number | undefined;
  readonly outcome: string;
  readonly vm: Machine;
}

export interface GuestOptions {
  readonly preset?: string;
  readonly knobs?: readonly string[];
  readonly vendor?: Vendor;
  readonly backing?: Backing;
  /** --cpu syntax (default: mmulab's default model). */
  readonly cpu?: string;
  readonly maxInsns?: number;
  /** Run the checker after every exit (default true; off for long runs checked once at the end). */
  readonly audit?: boolean;
}

export function runGuest(guest: string, args: string, mmu: MmuMode, opts: GuestOptions = {}): GuestRun {
  const path = `build/guests/${guest}.flat`;
  const out: Uint8Array[] = [];
  const vm = new Machine({
    mmu, audit: opts.audit ?? true, vendor: opts.vendor ?? 'vmx', backing: opts.backing,
    knobs: resolveKnobs(opts.preset ?? 'current', [...(opts.knobs ?? [])]),
    model: opts.cpu === undefined ? undefined : cpuModelFromSpec(opts.cpu),
    serialOut: (b) => { out.push(b); },
  });
  vm.loadMultiboot(readFileSync(path), path, args);
  const r = vm.run(opts.maxInsns ?? 2e9);
  return { output: Buffer.concat(out).toString('latin1'), status: r.exitStatus, outcome: r.outcome, vm };
}

/** The numbers a guest printed on the first line matching `pattern`. */
export function infoNumbers(output: string, pattern: RegExp): number[] {
  const m = pattern.exec(output);
  if (m === null) throw new Error(`no line matching ${pattern} in:\n${output}`);
  return m.slice(1).map(Number);
}

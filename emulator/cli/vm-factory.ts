import { readFileSync } from 'node:fs';
import { type MmuMode, Machine } from '../../vmm/machine.js';
import { CpuModel } from '../cpu/cpu-model.js';
import { hasPvhNote } from '../machine/pvh.js';
import { applyBiosState } from '../machine/bios-state.js';
import type { MachineOptions } from './machine-args.js';
import { UsageError, fileError } from './errors.js';
import { ensureImages } from './image-build.js';

/**
 * Reads the image and initrd named on the command line (file errors are BAD_IMAGE), first building
 * them when they are this project's and missing (image-build.ts; `notice` hears of a build).
 */
export function readInputs(o: MachineOptions, notice?: (line: string) => void): { image: Uint8Array; initrd: Uint8Array | undefined } {
  ensureImages(o.initrd === undefined ? [o.image] : [o.image, o.initrd], notice);
  return { image: readInput('image', o.image), initrd: o.initrd === undefined ? undefined : readInput('initrd', o.initrd) };
}

function readInput(what: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw fileError(what, path, err);
  }
}

/** Builds the VM the options describe in one MMU mode, with the guest loaded. */
export function createVm(o: MachineOptions, mmu: MmuMode, inputs: { image: Uint8Array; initrd: Uint8Array | undefined },
  serialOut: (bytes: Uint8Array) => void, traceSize = 0): Machine {
  let vm: Machine;
  try {
    const model = new CpuModel({ vendor: o.cpu.vendor, features: o.cpu.features, maxPhyAddr: o.cpu.maxPhyAddr });
    if (o.hostSme === true && mmu === 'shadow') throw new UsageError('--host-sme: the SME host is modeled with TDP (legacy-tdp, tdp), not shadow paging');
    vm = new Machine({ memBytes: o.memMiB * 1024 * 1024, serialOut, traceSize, model, mmu, vendor: o.vendor, knobs: o.knobs, audit: o.audit, auditEvery: o.auditEvery, backing: o.backing, cpus: o.smp, quantum: o.quantum, hostSme: o.hostSme, hostPrefault: o.hostPrefault, chipset: o.chipset });
  } catch (err) {
    // The host could not allocate guest RAM: the --mem value cannot be honoured here.
    if (err instanceof RangeError && /Array buffer allocation failed/i.test(err.message)) {
      throw new UsageError(`--mem ${o.memMiB}: cannot allocate ${o.memMiB} MiB of guest memory on this host`);
    }
    throw err;
  }
  // The BIOS runs before the loader: an image may cover what it left in low memory, as under QEMU.
  if (o.biosState === true) applyBiosState(vm.bus, (gpa, bytes) => vm.writePhysical(gpa, bytes));
  // Like QEMU's -kernel: a vmlinux with a PVH entry note boots through PVH, anything else as multiboot.
  if (hasPvhNote(inputs.image)) vm.loadPvh(inputs.image, o.image, o.append, inputs.initrd);
  else vm.loadMultiboot(inputs.image, o.image, o.append, inputs.initrd);
  return vm;
}

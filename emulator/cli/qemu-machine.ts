import { UsageError } from './errors.js';
import type { PcChipset } from '../machine/pc.js';

/**
 * The machine side of `mmulab qemu`: QEMU's `-device`, `-machine` and `-global` values as
 * declarative tables of what mmulab models, what it accepts because it cannot change a test's
 * result, and (everything else) what it refuses. emulator/cli/README.md has the same table.
 */

/** How mmulab treats a device or property: it is modeled; it has no effect on results; it is
 * missing and said so in a warning each run (no device is, at present). */
export type Support = 'modeled' | 'no-effect' | 'warn';

/** The machine a command line builds, as -machine and -device set it (`pc.ts`'s PcChipset). */
export interface ChipsetChoice {
  machine: PcChipset['machine'];
  edu: boolean;
  iommu: { interruptRemapping: boolean; extendedInterruptMode: boolean } | undefined;
  /** -machine kernel-irqchip= as given (on: KVM's default). */
  kernelIrqchip: 'on' | 'split';
}

export function defaultChipset(): ChipsetChoice {
  return { machine: 'pc', edu: false, iommu: undefined, kernelIrqchip: 'on' };
}

interface DeviceSpec {
  readonly bus: string;
  readonly support: Support;
  /** Validates the device's properties (name=value). */
  check(props: ReadonlyMap<string, string>): void;
  /** What the device adds to the machine (devices without it change nothing: mmulab's PC has them). */
  add?(chipset: ChipsetChoice, props: ReadonlyMap<string, string>): void;
  /** The warning line for `warn` devices. */
  readonly warning?: string;
}

function onlyProps(device: string, props: ReadonlyMap<string, string>, allowed: Readonly<Record<string, (v: string) => boolean>>): void {
  for (const [k, v] of props) {
    const ok = allowed[k];
    if (ok === undefined) throw new UsageError(`-device ${device}: property "${k}" is not supported by mmulab`);
    if (!ok(v)) throw new UsageError(`-device ${device}: ${k}=${v} is not supported by mmulab`);
  }
}

/** A number in QEMU's syntax (decimal or 0x hex). */
const num = (v: string): number => (/^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : Number.NaN);

export const DEVICES: Readonly<Record<string, DeviceSpec>> = {
  // mmulab's debug exit is at port 0xf4, 4 ports wide, as kvm-unit-tests configures QEMU's.
  'isa-debug-exit': {
    bus: 'ISA',
    support: 'modeled',
    check: (p) => onlyProps('isa-debug-exit', p, { iobase: (v) => num(v) === 0xf4, iosize: (v) => num(v) === 4 }),
  },
  // x86/run refuses to run without it; mmulab's PC always has it (devices/pc-testdev.ts).
  'pc-testdev': {
    bus: 'ISA',
    support: 'modeled',
    check: (p) => onlyProps('pc-testdev', p, {}),
  },
  // QEMU's educational PCI device (devices/edu.ts), in slot 1 of a q35 machine.
  edu: {
    bus: 'PCI',
    support: 'modeled',
    check: (p) => onlyProps('edu', p, {}),
    add: (c) => {
      if (c.edu) throw new UsageError('-device edu: mmulab models one edu device');
      c.edu = true;
    },
  },
  // Intel VT-d (devices/vtd/): DMA remapping, and interrupt remapping with intremap=on; only the
  // xAPIC-format destinations (eim=off), which is what kvm-unit-tests' intel_iommu entry asks for.
  'intel-iommu': {
    bus: 'System',
    support: 'modeled',
    check: (p) => onlyProps('intel-iommu', p, { intremap: (v) => v === 'on' || v === 'off', eim: (v) => v === 'off' }),
    add: (c, p) => {
      if (c.iommu !== undefined) throw new UsageError('-device intel-iommu: only one IOMMU');
      c.iommu = { interruptRemapping: p.get('intremap') === 'on', extendedInterruptMode: false };
    },
  },
};

/**
 * The combination QEMU insists on, checked once the whole line is read: an IOMMU needs q35
 * (QEMU's VT-d sits on the MCH), and interrupt remapping needs the IOAPIC outside the kernel
 * (QEMU: "Intel Interrupt Remapping cannot work with kernel-irqchip=on, please use 'split|off'").
 * edu is a PCI device, and only q35 has a PCI bus with devices here.
 */
export function checkChipset(c: ChipsetChoice): PcChipset {
  if (c.edu && c.machine !== 'q35') throw new UsageError('-device edu: mmulab puts PCI devices only on the q35 machine (-M q35)');
  if (c.iommu !== undefined) {
    if (c.machine !== 'q35') throw new UsageError('-device intel-iommu: the Intel IOMMU needs the q35 machine (-M q35)');
    if (c.iommu.interruptRemapping && c.kernelIrqchip === 'on') {
      throw new UsageError("-device intel-iommu,intremap=on: Intel Interrupt Remapping cannot work with kernel-irqchip=on, please use 'split'");
    }
  }
  return c.machine === 'pc' ? { machine: 'pc' } : { machine: 'q35', edu: c.edu, iommu: c.iommu };
}

/** QEMU's `-device help` listing of the devices mmulab accepts (x86/run greps it for "pc-testdev"). */
export function deviceHelp(): string {
  return Object.entries(DEVICES).map(([name, d]) => `name "${name}", bus ${d.bus}`).join('\n') + '\n';
}

/** `name,k=v,...` as the name and a property map; `k` alone means `k=on`. */
export function splitProps(what: string, text: string, firstIsName: boolean): { name: string | undefined; props: Map<string, string>; order: [string, string][] } {
  const parts = text.split(',');
  let name: string | undefined;
  if (firstIsName && parts.length > 0 && !parts[0].includes('=')) name = parts.shift();
  const props = new Map<string, string>();
  const order: [string, string][] = [];
  for (const p of parts) {
    if (p === '') throw new UsageError(`${what}: empty property in "${text}"`);
    const eq = p.indexOf('=');
    const [k, v] = eq < 0 ? [p, 'on'] : [p.slice(0, eq), p.slice(eq + 1)];
    props.set(k, v);
    order.push([k, v]);
  }
  return { name, props, order };
}

/** The effect of one -device: validated, added to `chipset`, and its warning line if any. */
export function device(text: string, chipset: ChipsetChoice): string | undefined {
  const { name, props } = splitProps('-device', text, true);
  if (name === undefined) throw new UsageError(`-device "${text}": no device name`);
  const spec = DEVICES[name];
  if (spec === undefined) throw new UsageError(`-device ${name}: not emulated by mmulab (devices: ${Object.keys(DEVICES).join(', ')})`);
  spec.check(props);
  spec.add?.(chipset, props);
  return spec.support === 'warn' ? spec.warning : undefined;
}

/**
 * `-machine` types: the i440FX-era PC without PCI devices (default), and q35 (MCH + ICH9, with
 * PCI devices: devices/pci-q35.ts). Everything else about the two is the same machine.
 */
export function machineType(name: string): PcChipset['machine'] {
  if (name === 'pc' || /^pc-i440fx-\d+\.\d+$/.test(name)) return 'pc';
  if (name === 'q35' || /^pc-q35-\d+\.\d+$/.test(name)) return 'q35';
  throw new UsageError(`-machine ${name}: mmulab models only the i440FX PC ("pc") and "q35"`);
}

export function machineHelp(): string {
  return 'Supported machines are:\npc                   Standard PC (i440FX + PIIX, 1996), as mmulab models it (default)\n'
    + 'q35                  Standard PC (Q35 + ICH9, 2009), as mmulab models it (PCI devices: edu, intel-iommu)\n';
}

/**
 * Machine properties other than accel and mmulab's own: what each does in mmulab. pit=off is
 * accepted with a warning (the PIT stays; no test reads it when QEMU would have none, vmexit_ipi
 * only asks for it so that AVIC is not inhibited).
 */
export function machineProperty(key: string, value: string, chipset: ChipsetChoice): string | undefined {
  if (key === 'pit') {
    if (value === 'on') return undefined;
    if (value === 'off') return 'warning: -machine pit=off: mmulab\'s PC always has its 8254 PIT (it ticks only when the guest programs it)';
  }
  if (key === 'kernel-irqchip' && value === 'on') return undefined; // KVM's default: mmulab's KVM holds the LAPIC, IOAPIC, PICs and PIT
  // split: KVM keeps the local APICs, QEMU the IOAPIC, PICs and PIT, so that QEMU's VT-d model can
  // remap the IOAPIC's interrupts. mmulab's devices are one model whichever process would hold
  // them, and its IOAPIC's messages go through the IOMMU's remapping either way, so the split
  // changes nothing a guest sees here but QEMU's userspace IOAPIC's version (0x20, with an EOI
  // register, where mmulab's is 0x11, the in-kernel one's): no test this accepts it for reads it.
  if (key === 'kernel-irqchip' && value === 'split') {
    chipset.kernelIrqchip = 'split';
    return undefined;
  }
  throw new UsageError(`-machine ${key}=${value}: not supported by mmulab`);
}

/**
 * The chipset a list of QEMU words gives (`-M q35,kernel-irqchip=split -device edu`): the
 * machine and device options only, as the test table's `qemu` field and upstream's qemu_params
 * carry them. UsageError for anything else.
 */
export function chipsetFromQemuWords(words: readonly string[]): PcChipset {
  const c = defaultChipset();
  for (let i = 0; i < words.length; i += 2) {
    const [option, value] = [words[i], words[i + 1]];
    if (value === undefined) throw new UsageError(`option ${option} needs a value`);
    if (option === '-device') {
      device(value, c);
    } else if (option === '-M' || option === '-machine') {
      const { name, order } = splitProps('-machine', value, true);
      if (name !== undefined) c.machine = machineType(name);
      for (const [k, v] of order) if (machineProperty(k, v, c) !== undefined) throw new UsageError(`-machine ${k}=${v}: not for the test table`);
    } else {
      throw new UsageError(`option ${option}: only -M/-machine and -device set the machine here`);
    }
  }
  return checkChipset(c);
}

/** `-global` settings that cannot change a result: the in-kernel PIT's lost-tick policy (mmulab loses no ticks). */
export function globalSetting(text: string): void {
  if (/^kvm-pit\.lost_tick_policy=(discard|delay)$/.test(text)) return;
  throw new UsageError(`-global ${text}: not supported by mmulab`);
}

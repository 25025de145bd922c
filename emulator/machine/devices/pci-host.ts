import type { IoDevice, MmioDevice } from '../bus.js';
import type { PciFunction } from './pci-function.js';
import { requesterId } from './dma.js';

/**
 * PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2) and bus 0's functions: a 32-bit
 * write to 0xCF8 latches CONFIG_ADDRESS (enable bit 31, bus 23:16, device 15:11, function 10:8,
 * register 7:2; the reserved bits 30:24 and 1:0 read back as 0), and 0xCFC-0xCFF then read or
 * write that register's bytes at any width. Only a 32-bit access to 0xCF8 touches the latch;
 * narrower ones go to no device (0xCF9, PIIX's reset control, is not modeled), as a host bridge
 * decodes them.
 *
 * The byte a data-port access starts at is the register plus the port offset, ORed with bits 1:0
 * of the value written to CONFIG_ADDRESS: QEMU keeps those bits (hw/pci/pci_host.c,
 * pci_data_read: `config_reg | (addr & 3)`), and kvm-unit-tests relies on it, reading the device
 * ID with CONFIG_ADDRESS = ...| 2 and a 16-bit IN from 0xCFC (lib/x86/asm/pci.h).
 *
 * Functions register by device and function number (`attach`). A function nobody registered
 * answers all ones (vendor ID 0xFFFF, "no device": what an OS scan stops at) and drops writes, as
 * does every bus other than 0. The default PC has no function at all.
 *
 * Memory BARs are decoded through `window`, one MMIO range the machine registers over its PCI
 * hole: each access goes to the function and BAR that decode the address at that moment, so a
 * BAR the guest rewrites moves without re-registering anything. A BAR placed outside the hole is
 * not reached.
 */
export const PCI_CONFIG_ADDRESS_PORT = 0xcf8;
export const PCI_CONFIG_DATA_PORT = 0xcfc;

const CONFIG_ADDRESS_MASK = 0x80fffffc | 0;

export class PciHost {
  private address = 0;
  /** Bits 1:0 of the last CONFIG_ADDRESS written (QEMU's byte offset within the register). */
  private addressLow = 0;
  /** Offset into the BAR the last decode() found. */
  private hitOffset = 0;
  /** Bus 0's functions, by devfn (device << 3 | function). */
  private readonly functions: Array<PciFunction | undefined> = new Array(256).fill(undefined);
  /** The same functions, in the order attached: what a memory access searches. */
  private readonly attached: PciFunction[] = [];

  readonly addressPorts: IoDevice = {
    name: 'pci-config-address',
    ioRead: (offset, size) => (offset === 0 && size === 4 ? this.address : allOnes(size)),
    ioWrite: (offset, size, value) => {
      if (offset !== 0 || size !== 4) return;
      this.address = value & CONFIG_ADDRESS_MASK;
      this.addressLow = value & 3;
    },
  };

  readonly dataPorts: IoDevice = {
    name: 'pci-config-data',
    ioRead: (offset, size) => {
      const fn = this.selected();
      return fn === undefined ? allOnes(size) : fn.read(this.register(offset, size), size);
    },
    ioWrite: (offset, size, value) => { this.selected()?.write(this.register(offset, size), size, value); },
  };

  /** Places `fn` at bus 0, device `device`, function `func`; it learns its requester ID. */
  attach(device: number, func: number, fn: PciFunction): void {
    const devfn = (device << 3) | func;
    if (device < 0 || device > 31 || func < 0 || func > 7) throw new Error(`no PCI slot ${device}.${func}`);
    if (this.functions[devfn] !== undefined) throw new Error(`PCI 00:${hex2(device)}.${func} is taken by ${this.functions[devfn]!.name}`);
    this.functions[devfn] = fn;
    this.attached.push(fn);
    fn.requester = requesterId(0, device, func);
  }

  /** The function at bus 0 `devfn`, if any. */
  at(devfn: number): PciFunction | undefined {
    return this.functions[devfn];
  }

  /** Bus 0's functions with their devfn, in devfn order. */
  list(): Array<{ devfn: number; fn: PciFunction }> {
    const out: Array<{ devfn: number; fn: PciFunction }> = [];
    this.functions.forEach((fn, devfn) => { if (fn !== undefined) out.push({ devfn, fn }); });
    return out;
  }

  /** The MMIO range over the PCI hole `base`: every access goes to the BAR decoding it now. */
  window(base: number): MmioDevice {
    return {
      name: 'pci-hole',
      mmioRead: (offset, size) => {
        const dev = this.decode(base + offset);
        if (dev === undefined) return size >= 4 ? -1 : allOnes(size);
        return dev.mmioRead(this.hitOffset, size);
      },
      mmioWrite: (offset, size, value) => {
        this.decode(base + offset)?.mmioWrite(this.hitOffset, size, value);
      },
    };
  }

  /** The device behind the BAR that decodes `addr` now, its offset left in hitOffset (nothing allocated per access). */
  private decode(addr: number): MmioDevice | undefined {
    for (let i = 0; i < this.attached.length; i++) {
      const fn = this.attached[i];
      const bar = fn.barAt(addr);
      if (bar < 0) continue;
      this.hitOffset = addr - (fn.barAddress(bar) >>> 0);
      return fn.bars[bar].device;
    }
    return undefined;
  }

  /** The latched function, when CONFIG_ADDRESS is enabled and names bus 0 and a registered function. */
  private selected(): PciFunction | undefined {
    if ((this.address & 0x80000000) === 0 || ((this.address >>> 16) & 0xff) !== 0) return undefined;
    return this.functions[(this.address >>> 8) & 0xff];
  }

  /** The first byte an access of `size` at data port `offset` reaches, kept within the DWORD. */
  private register(offset: number, size: number): number {
    const byte = (offset | this.addressLow) & (4 - size);
    return (this.address & 0xfc) + byte;
  }
}

function allOnes(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

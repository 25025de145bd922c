import type { IoDevice } from '../bus.js';

/**
 * PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2): a 32-bit write to 0xCF8 latches
 * CONFIG_ADDRESS (enable bit 31, bus 23:16, device 15:11, function 10:8, register 7:2; the
 * reserved bits 30:24 and 1:0 read back as 0), and 0xCFC-0xCFF then read or write that
 * register's bytes at any width. Only a 32-bit access to 0xCF8 touches the latch; narrower ones
 * go to no device (0xCF9, PIIX's reset control, is not modeled), as a host bridge decodes them.
 *
 * The bus is empty: no host bridge or other function answers, so every configuration read
 * returns all ones (vendor ID 0xFFFF, "no device": what an OS scan stops at) and writes are
 * dropped. Devices will register here when the machine gets any.
 */
export const PCI_CONFIG_ADDRESS_PORT = 0xcf8;
export const PCI_CONFIG_DATA_PORT = 0xcfc;

const CONFIG_ADDRESS_MASK = 0x80fffffc | 0;

export class PciHost {
  private address = 0;

  readonly addressPorts: IoDevice = {
    name: 'pci-config-address',
    ioRead: (offset, size) => (offset === 0 && size === 4 ? this.address : allOnes(size)),
    ioWrite: (offset, size, value) => {
      if (offset === 0 && size === 4) this.address = value & CONFIG_ADDRESS_MASK;
    },
  };

  readonly dataPorts: IoDevice = {
    name: 'pci-config-data',
    ioRead: (offset, size) => (this.enabled ? this.configRead(offset, size) : allOnes(size)),
    ioWrite: () => { /* no function to write to */ },
  };

  private get enabled(): boolean {
    return (this.address & 0x80000000) !== 0;
  }

  /** A configuration read of the latched function: with no devices, nobody answers. */
  private configRead(_offset: number, size: number): number {
    return allOnes(size);
  }
}

function allOnes(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}

import type { IoDevice } from '../bus.js';
import { checkCpuCount } from './acpi-tables.js';

/**
 * QEMU's firmware configuration device (fw_cfg), the traditional I/O interface at 0x510: a
 * 16-bit OUT to the selector picks an item by key and rewinds it; each byte IN from the data port
 * returns the next byte of the item, and 0 past its end or for a key without an item. That is how
 * kvm-unit-tests learns the CPU count (key 5, NB_CPUS: the only per-CPU item its smp code reads;
 * it then waits for that many CPUs to come up after its INIT/SIPI broadcast) and QEMU's firmware
 * the RAM size. NB_CPUS and MAX_CPUS are both the machine's CPU count, as for QEMU's -smp N. mmulab keeps QEMU's keys and byte order (little-endian integers).
 *
 * Like QEMU's combined I/O region, both ports decode both roles: any 16-bit write selects, any
 * byte read reads data. Byte writes to the data port are ignored (QEMU dropped the write channel
 * in 2.4), and reads of other widths get no answer (all ones). Left out: the DMA interface
 * (port 0x514; the ID item does not advertise it) and the file directory's files (key 0x19 holds
 * an empty directory).
 */
export const FW_CFG_PORT = 0x510;

export const enum FwCfgKey {
  SIGNATURE = 0x0000,
  ID = 0x0001,
  UUID = 0x0002,
  RAM_SIZE = 0x0003,
  NOGRAPHIC = 0x0004,
  NB_CPUS = 0x0005,
  BOOT_MENU = 0x000e,
  MAX_CPUS = 0x000f,
  FILE_DIR = 0x0019,
}

/** Bit 0 of the ID item: the traditional (selector/data port) interface exists. */
const FW_CFG_VERSION_TRADITIONAL = 1;
/** Keys select an item by their low 14 bits plus the architecture-local bit (0x8000). */
const KEY_MASK = 0xbfff;

export interface FwCfgConfig {
  readonly ramBytes: number;
  readonly cpus: number;
}

function le(value: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let v = value;
  for (let k = 0; k < bytes; k++) {
    out[k] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

export class FwCfg implements IoDevice {
  readonly name = 'fw_cfg';
  private readonly items = new Map<number, Uint8Array>();
  private current: Uint8Array | undefined;
  private offset = 0;

  constructor(config: FwCfgConfig) {
    checkCpuCount(config.cpus);
    this.items.set(FwCfgKey.SIGNATURE, Uint8Array.from(Buffer.from('QEMU', 'latin1')));
    this.items.set(FwCfgKey.ID, le(FW_CFG_VERSION_TRADITIONAL, 4));
    this.items.set(FwCfgKey.UUID, new Uint8Array(16));
    this.items.set(FwCfgKey.RAM_SIZE, le(config.ramBytes, 8));
    this.items.set(FwCfgKey.NOGRAPHIC, le(0, 2));
    this.items.set(FwCfgKey.NB_CPUS, le(config.cpus, 2));
    this.items.set(FwCfgKey.BOOT_MENU, le(0, 2));
    this.items.set(FwCfgKey.MAX_CPUS, le(config.cpus, 2));
    this.items.set(FwCfgKey.FILE_DIR, new Uint8Array(4)); // big-endian file count: 0
  }

  /** What a 16-bit write to the selector does: choose the item for `key` and rewind it. */
  select(key: number): void {
    this.current = this.items.get(key & KEY_MASK);
    this.offset = 0;
  }

  ioRead(_offset: number, size: number): number {
    if (size !== 1) return size === 2 ? 0xffff : 0xffffffff;
    const item = this.current;
    if (item === undefined || this.offset >= item.length) return 0;
    return item[this.offset++];
  }

  ioWrite(_offset: number, size: number, value: number): void {
    if (size === 2) this.select(value & 0xffff);
  }
}

import type { Vm } from './vm.js';
import { Serial16550 } from './devices/serial.js';
import { DebugExit } from './devices/debug-exit.js';

/**
 * The PC platform around the CPU: every device a guest may rely on (DESIGN section 6), registered
 * on the VM's bus, MSR list and interrupt wiring. One place lists them all.
 */
export interface PcDevices {
  readonly serial: Serial16550;
}

export function attachPcDevices(vm: Vm, serialOut: (bytes: Uint8Array) => void): PcDevices {
  const serial = new Serial16550(serialOut);
  vm.bus.registerPorts(0x3f8, 8, serial);
  vm.bus.registerPorts(0xf4, 4, new DebugExit((status) => vm.requestExit(status)));
  return { serial };
}

import type { IoDevice } from '../bus.js';

/**
 * QEMU's isa-debug-exit at 0xf4: a write of `value` ends the run with exit status (value << 1) | 1,
 * so scripts written for QEMU and kvm-unit-tests read mmulab's status the same way.
 */
export class DebugExit implements IoDevice {
  readonly name = 'debug-exit';
  private readonly onExit: (status: number) => void;

  constructor(onExit: (status: number) => void) {
    this.onExit = onExit;
  }

  ioRead(): number {
    return 0xffffffff;
  }

  ioWrite(_offset: number, _size: number, value: number): void {
    this.onExit(((value << 1) | 1) & 0xff);
  }
}

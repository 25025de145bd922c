import type { IoDevice } from '../bus.js';

/**
 * Port 0x80, the POST-code port firmware writes progress codes to (and that OSes write to for a
 * short I/O delay). Writes are accepted and the last code is kept for reports; reads return all
 * ones, as QEMU's ioport80 does.
 */
export const POST_CODE_PORT = 0x80;

export class PostCode implements IoDevice {
  readonly name = 'post-code';
  /** The last byte written, or -1 if none. */
  last = -1;

  ioRead(_offset: number, size: number): number {
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
  }

  ioWrite(_offset: number, _size: number, value: number): void {
    this.last = value & 0xff;
  }
}

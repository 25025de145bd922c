import type { MmioDevice } from './bus.js';

/**
 * The one piece of firmware every mmulab PC has: the reset vector and the ACPI S3 resume path,
 * which SeaBIOS provides under QEMU. mmulab starts guests directly (multiboot, PVH), so the reset
 * vector only runs after the ACPI PM block put the machine to sleep (pc.ts sends every CPU an
 * INIT then) and after it woke it (the BSP gets a second INIT).
 *
 *   FFFFFFF0   (where a CPU starts after INIT: CS base FFFF0000, IP FFF0) and its real-mode alias
 *   F000:FFF0  jmp far F000:E05B (the IBM PC's POST entry). The top 64 KiB of the 4 GiB space are
 *              a small ROM (ResetVectorRom) that holds only this jump; the rest reads as all ones.
 *   F000:E05B  cli; if PM1_STS.WAK_STS is clear the machine is still asleep: sti; hlt forever
 *              (the PICs are masked and the local APIC was reset, so nothing interrupts it; the
 *              RTC alarm's wake sends the next INIT). Otherwise resume as SeaBIOS's s3_resume
 *              does: a stack in the F segment, then a far jump in real mode to the FACS's
 *              firmware waking vector, as segment (vector >> 4) : offset (vector & 0xF), with
 *              DS, ES and the general registers 0 (SeaBIOS's zeroed register block).
 * The sleep loop runs no guest code and touches no guest memory; the stack is the F segment's
 * (reserved in the e820 map, below the stubs bios-state.ts writes at F000:FE00 and up).
 */

const F_SEGMENT_BASE = 0xf0000;
const RESET_VECTOR = 0xfff0;
const RESUME_ENTRY = 0xe05b;
const JUMP_TO_RESUME = [0xea, RESUME_ENTRY & 0xff, RESUME_ENTRY >> 8, 0x00, 0xf0];

/** The BIOS ROM's window below 4 GiB. */
export const RESET_ROM_BASE = 0xffff0000;
export const RESET_ROM_SIZE = 0x10000;

/** The ROM at RESET_ROM_BASE: the jump at the reset vector, all ones elsewhere; writes are ignored. */
export class ResetVectorRom implements MmioDevice {
  readonly name = 'bios-rom';
  private readonly bytes = new Uint8Array(RESET_ROM_SIZE).fill(0xff);
  constructor() {
    this.bytes.set(JUMP_TO_RESUME, RESET_VECTOR);
  }
  mmioRead(offset: number, size: number): number {
    let v = 0;
    for (let k = Math.min(size, 4) - 1; k >= 0; k--) v = (v << 8) | (offset + k < RESET_ROM_SIZE ? this.bytes[offset + k] : 0xff);
    return v;
  }
  mmioWrite(): void {}
}

function resumeCode(facsSegment: number): number[] {
  return [
    0xfa, // cli
    0xba, 0x00, 0x06, // mov dx, 0x600 (PM1a_STS)
    0xed, // in ax, dx
    0xf6, 0xc4, 0x80, // test ah, 0x80 (WAK_STS)
    0x74, 0x2b, // jz sleep
    0xb8, 0x00, 0xf0, // mov ax, 0xf000
    0x8e, 0xd0, // mov ss, ax
    0xbc, 0x00, 0xe0, // mov sp, 0xe000
    0xb8, facsSegment & 0xff, facsSegment >> 8, // mov ax, FACS segment
    0x8e, 0xd8, // mov ds, ax
    0x66, 0xa1, 0x0c, 0x00, // mov eax, [0x0c] (firmware_waking_vector)
    0x66, 0x89, 0xc3, // mov ebx, eax
    0x66, 0xc1, 0xeb, 0x04, // shr ebx, 4
    0x53, // push bx (segment)
    0x83, 0xe0, 0x0f, // and ax, 0xf
    0x50, // push ax (offset)
    0x66, 0x31, 0xc0, // xor eax, eax: SeaBIOS enters the vector with its register block zeroed
    0x8e, 0xd8, // mov ds, ax
    0x8e, 0xc0, // mov es, ax
    0x66, 0x31, 0xdb, // xor ebx, ebx
    0x66, 0x31, 0xd2, // xor edx, edx
    0xcb, // retf
    0xfb, // sleep: sti
    0xf4, // hlt
    0xeb, 0xfc, // jmp sleep
  ];
}

/** Writes the reset vector and the resume path; `facs` is the FACS's address (below 1 MiB, 16-byte aligned). */
export function installFirmwareResume(writePhysical: (gpa: number, bytes: Uint8Array) => void, facs: number): void {
  if (facs % 16 !== 0 || facs >= 0x100000) throw new Error(`the FACS at 0x${facs.toString(16)} is not reachable as segment:0 in real mode`);
  writePhysical(F_SEGMENT_BASE + RESUME_ENTRY, Uint8Array.from(resumeCode(facs >> 4)));
  writePhysical(F_SEGMENT_BASE + RESET_VECTOR, Uint8Array.from(JUMP_TO_RESUME));
}

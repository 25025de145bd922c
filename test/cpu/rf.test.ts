import { describe, expect, test } from 'vitest';
import { Reg } from '../../emulator/arch/registers.js';
import { CODE, DATA, hex, le32, runTiny, u32 } from './tiny-guest.js';

/**
 * The RF bit of the EFLAGS image an exception pushes (SDM Vol. 3 18.3.1.1): 1 for fault-class
 * exceptions other than instruction-breakpoint #DBs, so IRET does not re-trigger a breakpoint on
 * the restarted instruction; traps and software interrupts push RF as it is (0 here). A tiny
 * 32-bit guest installs one IDT gate whose handler loads the pushed EFLAGS into EAX and halts.
 */

const IDT = DATA + 0x100;
const PSEUDO = DATA;
/** Multiboot leaves GDTR undefined: the guest loads a GDT whose entry 1 (selector 8) is flat 32-bit code. */
const GDT = DATA + 0x200;
const GDT_PSEUDO = DATA + 0x10;
const le16 = (v: number): string => le32(v).slice(0, 4);

/** The guest: gate for `vector`, then `trigger`; the handler reads EFLAGS at [esp + eflagsAt]. */
function guest(vector: number, trigger: string, eflagsAt: number): string {
  const gate = IDT + 8 * vector;
  const setup = (handler: number): string => [
    `bc ${le32(DATA + 0x800)}`, // mov esp, stack
    `c7 05 ${le32(GDT + 8)} ${le32(0x0000ffff)}`,
    `c7 05 ${le32(GDT + 12)} ${le32(0x00cf9a00)}`,
    `66 c7 05 ${le32(GDT_PSEUDO)} ${le16(0x17)}`,
    `c7 05 ${le32(GDT_PSEUDO + 2)} ${le32(GDT)}`,
    `0f 01 15 ${le32(GDT_PSEUDO)}`, // lgdt
    `66 c7 05 ${le32(gate + 2)} ${le16(8)}`, // the gate's selector
    `66 c7 05 ${le32(gate)} ${le16(handler & 0xffff)}`,
    `c7 05 ${le32(gate + 4)} ${le32(((handler & 0xffff0000) | 0x8e00) >>> 0)}`,
    `66 c7 05 ${le32(PSEUDO)} ${le16(0x7ff)}`,
    `c7 05 ${le32(PSEUDO + 2)} ${le32(IDT)}`,
    `0f 01 1d ${le32(PSEUDO)}`, // lidt [PSEUDO]
    trigger,
  ].join(' ');
  const handler = CODE + hex(setup(0)).length;
  return `${setup(handler)}  8b 44 24 ${eflagsAt.toString(16).padStart(2, '0')}`; // mov eax, [esp + eflagsAt]
}

const RF = 1 << 16;

describe('RF in the pushed EFLAGS image', () => {
  test('#GP (fault, error code) pushes RF=1', () => {
    const r = runTiny(guest(13, `b8 ${le32(-1)}  0f 22 e0`, 12)); // mov eax, -1; mov cr4, eax
    expect(r.vector).toBe(null);
    expect(u32(r, Reg.RAX) & RF).toBe(RF);
  });

  test('#UD (fault) pushes RF=1', () => {
    const r = runTiny(guest(6, '0f 0b', 8)); // ud2
    expect(u32(r, Reg.RAX) & RF).toBe(RF);
  });

  test('INT3 (trap) pushes RF as it is: 0', () => {
    const r = runTiny(guest(3, 'cc', 8));
    expect(r.vector).toBe(null);
    expect(u32(r, Reg.RAX) & RF).toBe(0);
  });
});

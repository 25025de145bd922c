/**
 * A REP string instruction is interruptible between iterations, as on hardware (SDM Vol. 1
 * 7.3.9.2 and Vol. 3 6.6: rCX/rSI/rDI updated, the saved RIP is the string instruction itself),
 * and --max-insns stops even a REP with ECX = 2^32 - 1. The result is the same in every MMU mode,
 * since the points where a REP yields depend only on rCX (emulator/exec/string.ts).
 */
import { describe, expect, test } from 'vitest';
import { MMU_MODES, Machine } from '../../vmm/machine.js';
import { Reg } from '../../emulator/arch/registers.js';
import { buildElf32 } from '../helpers/elf32.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex'));

/** Code starts after the 12-byte multiboot header at 0x200000. */
const ENTRY = 0x20000c;

function boot(code: Uint8Array, mmu: (typeof MMU_MODES)[number]): Machine {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {}, mmu });
  vm.loadMultiboot(buildElf32({ code }), 'test', '');
  return vm;
}

const u32 = (vm: Machine, gpa: number): number => Buffer.from(vm.readPhysical(gpa, 4)).readUInt32LE(0);

describe('REP string instructions stop at the instruction limit', () => {
  // mov ecx, 0xffffffff; mov edi, 0x400000; mov esi, 0x100000; xor eax, eax; rep <op>; hlt
  const cases = [
    { name: 'REP STOSB', op: 'f3 aa' },
    { name: 'REP MOVSB', op: 'f3 a4' },
    { name: 'REP STOSD', op: 'f3 ab' },
  ];
  for (const c of cases) {
    for (const mmu of MMU_MODES) {
      test(`${c.name} with ECX = 2^32 - 1 under ${mmu}`, () => {
        const vm = boot(hex(`b9 ff ff ff ff  bf 00 00 40 00  be 00 00 10 00  31 c0  ${c.op}  f4`), mmu);
        const r = vm.run(1000);
        expect(r.outcome).toBe('insn-limit');
        expect(r.instructions).toBe(1000);
        // Four set-up instructions, then 996 executions of the REP: the first runs ECX mod 1024
        // = 1023 iterations, each later one 1024.
        const done = 1023 + 995 * 1024;
        const cpu = vm.cpu;
        expect(cpu.lo[Reg.RCX] >>> 0).toBe(0xffffffff - done);
        const size = c.op.endsWith('ab') ? 4 : 1;
        expect(cpu.lo[Reg.RDI] >>> 0).toBe(0x400000 + done * size);
        expect(cpu.ripLo >>> 0).toBe(ENTRY + 17); // RIP stays on the REP instruction
      });
    }
  }
});

/*
 * The APIC timer fires in the middle of a 4 MiB REP STOSB. Assembled from (gas, -m32, at 0x20000c):
 *   esp = 0x380000; lgdt (flat code 0x08, data 0x10); lidt; IDT[0x40] = 32-bit interrupt gate to
 *   handler; APIC on (SVR 0x1ff), timer divide 1, LVT timer one-shot vector 0x40; ecx = edi =
 *   0x400000; al = 0x5a; initial count 1500; sti; rep stosb; cli; [0x300010] = ecx;
 *   [0x300014] = edi; exit through port 0xf4 with 0.
 *   handler: inc [0x300000]; [0x300004] = ecx; [0x300008] = saved EIP (EAX kept); EOI; iret.
 */
const IRQ_GUEST = hex(`
  bc 00 00 38 00                 # mov esp, 0x380000
  0f 01 15 b9 00 20 00           # lgdt [gdtr]
  0f 01 1d b3 00 20 00           # lidt [idtr]
  b8 91 00 20 00                 # mov eax, handler
  66 a3 00 02 30 00              # mov [0x300200], ax
  66 c7 05 02 02 30 00 08 00     # mov word [0x300202], 0x08
  66 c7 05 04 02 30 00 00 8e     # mov word [0x300204], 0x8e00
  c1 e8 10                       # shr eax, 16
  66 a3 06 02 30 00              # mov [0x300206], ax
  c7 05 f0 00 e0 fe ff 01 00 00  # mov dword [0xfee000f0], 0x1ff
  c7 05 e0 03 e0 fe 0b 00 00 00  # mov dword [0xfee003e0], 0xb
  c7 05 20 03 e0 fe 40 00 00 00  # mov dword [0xfee00320], 0x40
  b9 00 00 40 00                 # mov ecx, 0x400000
  bf 00 00 40 00                 # mov edi, 0x400000
  b0 5a                          # mov al, 0x5a
  c7 05 80 03 e0 fe dc 05 00 00  # mov dword [0xfee00380], 1500
  fb                             # sti
  f3 aa                          # rep stosb               (0x20007a)
  fa                             # cli
  89 0d 10 00 30 00              # mov [0x300010], ecx
  89 3d 14 00 30 00              # mov [0x300014], edi
  b8 00 00 00 00                 # mov eax, 0
  e7 f4                          # out 0xf4, eax
  f4                             # hlt
  ff 05 00 00 30 00              # handler (0x200091): inc dword [0x300000]
  89 0d 04 00 30 00              # mov [0x300004], ecx
  50                             # push eax (the REP's AL)
  8b 44 24 04                    # mov eax, [esp + 4]
  a3 08 00 30 00                 # mov [0x300008], eax
  58                             # pop eax
  c7 05 b0 00 e0 fe 00 00 00 00  # mov dword [0xfee000b0], 0
  cf                             # iret
  ff 07 00 00 30 00              # idtr (0x2000b3): limit 0x7ff, base 0x300000
  17 00 bf 00 20 00              # gdtr (0x2000b9): limit 23, base 0x2000bf
  00 00 00 00 00 00 00 00        # gdt: null
  ff ff 00 00 00 9a cf 00        #   0x08: flat 32-bit code
  ff ff 00 00 00 92 cf 00        #   0x10: flat data
`);
const REP_AT = 0x20007a;

describe('an interrupt taken in the middle of a REP STOSB', () => {
  for (const mmu of MMU_MODES) {
    test(`under ${mmu}: delivered between iterations, and the REP completes after IRET`, () => {
      const vm = boot(IRQ_GUEST, mmu);
      const r = vm.run(10_000_000);
      expect(r.outcome, r.detail).toBe('exit');
      expect(u32(vm, 0x300000)).toBe(1); // one interrupt
      const ecxAtIrq = u32(vm, 0x300004);
      expect(ecxAtIrq).toBeGreaterThan(0);
      expect(ecxAtIrq).toBeLessThan(0x400000); // in the middle of the REP
      expect(ecxAtIrq % 1024).toBe(0); // at a point where the REP yields
      expect(u32(vm, 0x300008)).toBe(REP_AT); // the saved EIP is the REP itself
      expect(u32(vm, 0x300010)).toBe(0);
      expect(u32(vm, 0x300014)).toBe(0x800000);
      const filled = vm.readPhysical(0x400000, 0x400000);
      expect(filled.findIndex((b) => b !== 0x5a)).toBe(-1);
    });
  }
});

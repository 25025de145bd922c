import { describe, expect, test } from 'vitest';
import { Reg } from '../../emulator/arch/registers.js';
import { type Ran, rdmsr, runTiny, u32, wrmsr } from './tiny-guest.js';
import { resolveQemuCpu } from '../../emulator/cli/qemu-cpu.js';

/**
 * MSRs as KVM gives them to a guest (arch/x86/kvm/x86.c set_msr_mce/get_msr_mce, svm/pmu.c):
 * the machine-check banks, AMD's legacy performance counters; and UMIP, which CPUID, CR4 and the
 * QEMU front end now know.
 */

const both = (r: Ran): [number, number] => [u32(r, Reg.RAX), u32(r, Reg.RDX)];

describe('machine-check MSRs (KVM with no MCE set up: 32 banks, no MCG_CTL)', () => {
  test('IA32_MCG_CAP reads 32 banks and is read-only; IA32_MCG_CTL does not exist', () => {
    expect(both(runTiny(rdmsr(0x179)))).toEqual([32, 0]);
    expect(runTiny(wrmsr(0x179, 32, 0)).vector).toBe(13);
    expect(runTiny(rdmsr(0x17b)).vector).toBe(13);
  });

  test('MCi_CTL takes 0 or all ones, MCi_STATUS only 0, MCi_ADDR and MCi_MISC anything', () => {
    expect(both(runTiny(`${wrmsr(0x400, -1, -1)}  ${rdmsr(0x400)}`))).toEqual([0xffffffff, 0xffffffff]);
    expect(runTiny(wrmsr(0x400, 0xaaaaaaaa, 0xaaaaaaaa)).vector).toBe(13);
    expect(runTiny(wrmsr(0x401, 1, 0)).vector).toBe(13);
    expect(runTiny(wrmsr(0x401, 0, 0)).vector).toBe(null);
    expect(both(runTiny(`${wrmsr(0x47e, 0xaaaaaaaa, 0xaaaaaaaa)}  ${rdmsr(0x47e)}`))).toEqual([0xaaaaaaaa, 0xaaaaaaaa]);
    expect(both(runTiny(`${wrmsr(0x47f, 0x12345678, 0x9abcdef0)}  ${rdmsr(0x47f)}`))).toEqual([0x12345678, 0x9abcdef0]);
  });

  test('past bank 31 (0x480, VMX_BASIC without VMX) is #GP', () => {
    expect(runTiny(rdmsr(0x480)).vector).toBe(13);
  });
});

describe("AMD's legacy performance counters", () => {
  const amd = 'max,vendor=AuthenticAMD';
  test('exist on AMD only', () => {
    expect(runTiny(wrmsr(0xc0010000, 0, 0)).vector).toBe(13);
    expect(runTiny(wrmsr(0xc0010000, 0, 0), amd).vector).toBe(null);
  });

  test('event selects refuse KVM reserved bits; counters keep 48 bits', () => {
    expect(both(runTiny(`${wrmsr(0xc0010003, 0x430076, 0)}  ${rdmsr(0xc0010003)}`, amd))).toEqual([0x430076, 0]);
    expect(runTiny(wrmsr(0xc0010001, 1 << 19, 0), amd).vector).toBe(13);
    expect(runTiny(wrmsr(0xc0010001, 0, 0x10), amd).vector).toBe(13);
    expect(both(runTiny(`${wrmsr(0xc0010007, -1, -1)}  ${rdmsr(0xc0010007)}`, amd))).toEqual([0xffffffff, 0xffff]);
    expect(runTiny(rdmsr(0xc0010008), amd).vector).toBe(13);
  });
});

describe('UMIP', () => {
  const setUmip = '0f 20 e0  0d 00 08 00 00  0f 22 e0'; // mov eax,cr4; or eax,UMIP; mov cr4,eax
  test('CR4.UMIP can be set only when CPUID.7.0:ECX.UMIP is', () => {
    expect(runTiny(setUmip, 'qemu64').vector).toBe(13);
    expect(runTiny(setUmip, 'qemu64,+umip').vector).toBe(null);
    const r = runTiny('b8 07 00 00 00  31 c9  0f a2', 'qemu64,+umip');
    expect((u32(r, Reg.RCX) >>> 2) & 1).toBe(1);
  });

  test("the QEMU front end accepts +umip (upstream's umip entry)", () => {
    expect(resolveQemuCpu('qemu64,+umip', 'GenuineIntel').spec.features).toContain('umip');
  });
});

describe('canonical checks of address-holding MSRs use the CPU width, not CR4.LA57 (SDM Vol. 3 4.1.1)', () => {
  // 0xffaaaaaa_aaaaaaaa is canonical with 57 bits, not with 48; paging is off in these guests.
  test.each([[0xc0000100, 'FS_BASE'], [0xc0000102, 'KERNEL_GS_BASE'], [0xc0000082, 'LSTAR']])('%s (%s)', (index) => {
    expect(runTiny(wrmsr(index, 0xaaaaaaaa, 0xffaaaaaa), 'max').vector).toBe(null);
    expect(runTiny(wrmsr(index, 0xaaaaaaaa, 0xffaaaaaa), 'max,-la57').vector).toBe(13);
    expect(runTiny(wrmsr(index, 0xaaaaaaaa, 0xaaaaaaaa), 'max').vector).toBe(13);
  });
});

import { describe, expect, test } from 'vitest';
import { Reg } from '../../emulator/arch/registers.js';
import { DATA, type Ran, le32, runTiny, u32 } from './tiny-guest.js';

/**
 * XGETBV/XSETBV, CPUID leaf 0xD and XSAVE/XRSTOR against the SDM (Vol. 1 ch. 13, Vol. 2): tiny
 * 32-bit guests with no IDT, so an exception shows as the first vector of the triple fault.
 */

const AREA = 0x301000; // 64-byte aligned XSAVE area
const OUT = 0x302000;

/** mov eax,cr4; or eax,OSFXSR|OSXSAVE; mov cr4,eax */
const ENABLE_OSXSAVE = `0f 20 e0  0d ${le32(0x40200)}  0f 22 e0`;
const ENABLE_OSFXSR = `0f 20 e0  0d ${le32(0x200)}  0f 22 e0`;
const run = runTiny;
const vectorOf = (r: Ran): number | null => r.vector;

describe('XGETBV and XSETBV', () => {
  test('#UD while CR4.OSXSAVE is 0; setting CR4.OSXSAVE without XSAVE in CPUID is #GP', () => {
    expect(vectorOf(run('31 c9  0f 01 d0'))).toBe(6);
    expect(vectorOf(run(`31 c9  31 d2  b8 ${le32(3)}  0f 01 d1`))).toBe(6);
    expect(vectorOf(run(ENABLE_OSXSAVE, 'qemu64'))).toBe(13);
    expect(vectorOf(run(ENABLE_OSXSAVE))).toBe(null);
  });

  test('without XSAVE in CPUID the opcodes are undefined even with OSXSAVE impossible', () => {
    expect(vectorOf(run('31 c9  0f 01 d0', 'qemu64'))).toBe(6);
  });

  test('XCR0 resets to 1 and takes x87|SSE; CPUID.1:ECX.OSXSAVE mirrors CR4', () => {
    const vm = run(`${ENABLE_OSXSAVE}  31 c9  0f 01 d0  89 c6  b8 ${le32(3)}  31 d2  0f 01 d1  0f 01 d0  89 c7
      b8 01 00 00 00  0f a2`);
    expect(vectorOf(vm)).toBe(null);
    expect(u32(vm, Reg.RSI)).toBe(1);
    expect(u32(vm, Reg.RDI)).toBe(3);
    expect(vm.vm.cpu.xcr0).toBe(3);
    expect((u32(vm, Reg.RCX) >>> 26) & 3).toBe(3); // XSAVE and OSXSAVE
  });

  test.each([
    ['XCR0 = 0 (x87 cleared)', 0, 0, 0],
    ['XCR0 = SSE only', 2, 0, 0],
    ['XCR0 = x87|SSE|AVX (AVX not supported)', 7, 0, 0],
    ['a bit in EDX', 3, 1, 0],
    ['XCR1', 3, 0, 1],
    ['XCR 0x80000000', 3, 0, 0x80000000],
  ])('XSETBV of %s is #GP', (_name, eax, edx, ecx) => {
    expect(vectorOf(run(`${ENABLE_OSXSAVE}  b8 ${le32(eax)}  ba ${le32(edx)}  b9 ${le32(ecx)}  0f 01 d1`))).toBe(13);
  });

  test('XGETBV of any XCR but 0 is #GP', () => {
    expect(vectorOf(run(`${ENABLE_OSXSAVE}  b9 ${le32(1)}  0f 01 d0`))).toBe(13);
    expect(vectorOf(run(`${ENABLE_OSXSAVE}  b9 ${le32(2)}  0f 01 d0`))).toBe(13);
  });
});

describe('CPUID leaf 0xD', () => {
  test('subleaf 0 lists x87|SSE and a 576-byte area; subleaf 1 XSAVEOPT only; subleaf 2 (AVX) is empty', () => {
    const leaf = (sub: number): number[] => {
      const vm = run(`b8 ${le32(0xd)}  b9 ${le32(sub)}  0f a2`);
      expect(vectorOf(vm)).toBe(null);
      return [Reg.RAX, Reg.RBX, Reg.RCX, Reg.RDX].map((r) => u32(vm, r));
    };
    expect(leaf(0)).toEqual([3, 576, 576, 0]);
    expect(leaf(1)).toEqual([1, 0, 0, 0]);
    expect(leaf(2)).toEqual([0, 0, 0, 0]);
  });

  test('without XSAVE the leaf is all zero', () => {
    const vm = run(`b8 ${le32(0xd)}  31 c9  0f a2`, 'qemu64');
    expect([Reg.RAX, Reg.RBX, Reg.RCX, Reg.RDX].map((r) => u32(vm, r))).toEqual([0, 0, 0, 0]);
  });
});

describe('XSAVE and XRSTOR (standard form, x87 and SSE)', () => {
  const pattern = Uint8Array.from({ length: 16 }, (_, k) => 0x11 * (k + 1));
  const SETUP = `${ENABLE_OSXSAVE}  b8 ${le32(3)}  31 d2  31 c9  0f 01 d1`;
  const LOAD_XMM0 = `f3 0f 6f 05 ${le32(DATA)}`;
  const XSAVE = `b8 ${le32(3)}  31 d2  0f ae 25 ${le32(AREA)}`;
  const XRSTOR = `b8 ${le32(3)}  31 d2  0f ae 2d ${le32(AREA)}`;
  const STORE_XMM0 = `f3 0f 7f 05 ${le32(OUT)}`;

  test('XSAVE writes the legacy region and sets XSTATE_BV; XRSTOR brings XMM0 back', () => {
    const vm = run(`${SETUP}  ${LOAD_XMM0}  ${XSAVE}  66 0f ef c0  ${XRSTOR}  ${STORE_XMM0}`, 'max', pattern);
    expect(vectorOf(vm)).toBe(null);
    const area = vm.vm.readPhysical(AREA, 576);
    const view = new DataView(area.buffer, area.byteOffset);
    expect(view.getUint16(0, true)).toBe(0x37f); // FCW
    expect(view.getUint32(24, true)).toBe(0x1f80); // MXCSR
    expect([...area.subarray(160, 176)]).toEqual([...pattern]);
    expect(view.getUint32(512, true)).toBe(3); // XSTATE_BV
    expect([...vm.vm.readPhysical(OUT, 16)]).toEqual([...pattern]);
  });

  test('XSAVE with RFBM = x87 leaves the SSE part of the area alone', () => {
    const vm = run(`${SETUP}  ${LOAD_XMM0}  b8 ${le32(1)}  31 d2  0f ae 25 ${le32(AREA)}`, 'max', pattern);
    expect(vectorOf(vm)).toBe(null);
    const area = vm.vm.readPhysical(AREA, 576);
    expect([...area.subarray(160, 176)]).toEqual(new Array(16).fill(0));
    expect(new DataView(area.buffer, area.byteOffset).getUint32(512, true)).toBe(1);
  });

  test('XRSTOR of a component whose XSTATE_BV bit is clear puts it in its initial state', () => {
    // XSAVE, clear XSTATE_BV in memory, XRSTOR: XMM0 becomes 0.
    const vm = run(`${SETUP}  ${LOAD_XMM0}  ${XSAVE}  c7 05 ${le32(AREA + 512)} ${le32(0)}  ${XRSTOR}  ${STORE_XMM0}`, 'max', pattern);
    expect(vectorOf(vm)).toBe(null);
    expect([...vm.vm.readPhysical(OUT, 16)]).toEqual(new Array(16).fill(0));
  });

  test.each([
    ['a misaligned area', `b8 ${le32(3)}  31 d2  0f ae 25 ${le32(AREA + 16)}`],
    ['XRSTOR with XCOMP_BV nonzero', `${XSAVE}  c7 05 ${le32(AREA + 520)} ${le32(1)}  ${XRSTOR}`],
    ['XRSTOR with XSTATE_BV naming a component outside XCR0', `${XSAVE}  c7 05 ${le32(AREA + 512)} ${le32(7)}  ${XRSTOR}`],
    ['XRSTOR with reserved MXCSR bits', `${XSAVE}  c7 05 ${le32(AREA + 24)} ${le32(0x10000)}  ${XRSTOR}`],
  ])('%s is #GP', (_name, body) => {
    expect(vectorOf(run(`${SETUP}  ${body}`))).toBe(13);
  });

  test('XSAVE is #UD without CR4.OSXSAVE and #NM with CR0.TS', () => {
    expect(vectorOf(run(`${ENABLE_OSFXSR}  ${XSAVE}`))).toBe(6);
    // mov eax,cr0; or eax,8 (TS); mov cr0,eax
    expect(vectorOf(run(`${SETUP}  0f 20 c0  83 c8 08  0f 22 c0  ${XSAVE}`))).toBe(7);
  });
});

describe('RDPRU', () => {
  test('#UD where CPUID does not enumerate it (mmulab never does)', () => {
    expect(vectorOf(run('31 c9  0f 01 fd'))).toBe(6);
    expect(vectorOf(run('31 c9  0f 01 fd', 'max,vendor=AuthenticAMD'))).toBe(6);
  });
});

/**
 * ACPI S3 (emulator/machine/devices/acpi-pm.ts, rtc.ts's alarm, pc.ts, firmware-resume.ts), the
 * way kvm-unit-tests' s3.flat uses it: RTC_EN, an RTC alarm, SLP_TYP 1 with SLP_EN, and a resume
 * in real mode at the FACS's firmware waking vector. QEMU TCG is no oracle here (it lets the
 * guest run on after the OUT, and s3.flat fails under it), so the rules are the ACPI
 * specification's and the MC146818's data sheet's.
 */
import { expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { CYCLES_PER_SECOND } from '../../emulator/machine/clock.js';
import { RTC_STS, WAK_STS } from '../../emulator/machine/devices/acpi-pm.js';
import { buildElf32 } from '../helpers/elf32.js';
import { hex, le32 } from '../cpu/tiny-guest.js';
import { TestMachine } from './devices/machine.js';

const rtcOut = (m: TestMachine, reg: number, v: number): void => { m.out(0x70, reg); m.out(0x71, v); };
const rtcIn = (m: TestMachine, reg: number): number => { m.out(0x70, reg); return m.in(0x71); };

test('RTC alarm: AF sets at the matching second boundary (register C, cleared by reading); don\'t-care fields match any value', () => {
  const m = new TestMachine();
  rtcOut(m, 0x0b, 0x06); // binary, 24-hour, no interrupts
  rtcOut(m, 0x01, 5); // 00:00:05
  rtcOut(m, 0x03, 0);
  rtcOut(m, 0x05, 0);
  m.advanceTo(4 * CYCLES_PER_SECOND);
  expect(rtcIn(m, 0x0c) & 0x20).toBe(0);
  m.advanceTo(5 * CYCLES_PER_SECOND);
  expect(rtcIn(m, 0x0c) & 0xa0).toBe(0x20); // AF; no IRQF without AIE
  expect(rtcIn(m, 0x0c) & 0x20).toBe(0);
  rtcOut(m, 0x01, 0xc0); // any second
  m.advance(CYCLES_PER_SECOND);
  expect(rtcIn(m, 0x0c) & 0x20).toBe(0x20);
});

test('with AIE the alarm raises IRQ8 and sets PM1_STS.RTC_STS (write 1 to clear)', () => {
  const m = new TestMachine();
  rtcOut(m, 0x01, 0xc0);
  rtcOut(m, 0x03, 0xc0);
  rtcOut(m, 0x05, 0xc0);
  rtcOut(m, 0x0b, 0x22); // AIE, 24-hour
  expect(m.in(0x600, 2) & RTC_STS).toBe(0);
  m.advance(CYCLES_PER_SECOND);
  expect(m.in(0x600, 2) & RTC_STS).toBe(RTC_STS);
  expect(rtcIn(m, 0x0c) & 0xb0).toBe(0xb0); // IRQF, AF, and UF (a second boundary passed)
  m.out(0x600, RTC_STS, 2);
  expect(m.in(0x600, 2) & RTC_STS).toBe(0);
});

/*
 * The guest (32-bit, flat): PM1_EN = RTC_EN; alarm at every second with AIE; [0] = 0; SLP_TYP 1 |
 * SLP_EN to PM1a_CNT; then [0] = 1 forever. The resume code at 0x1000 (real mode, 0100:0000)
 * exits with PM1_STS's high byte OR [0]: 0x84 (WAK_STS, RTC_STS) when no instruction ran after
 * the OUT that started the sleep, 0x85 when one did.
 */
function guest(rtcEn: boolean): string {
  return [
    `ba ${le32(0x602)}`, `b8 ${le32(rtcEn ? 0x400 : 0)}`, '66 ef', // out 0x602, ax
    'b0 01 e6 70 b0 c0 e6 71', 'b0 03 e6 70 b0 c0 e6 71', 'b0 05 e6 70 b0 c0 e6 71',
    'b0 0b e6 70 b0 22 e6 71', // register B: AIE, 24-hour
    `c7 05 ${le32(0)} ${le32(0)}`, // mov dword [0], 0
    `ba ${le32(0x604)}`, `b8 ${le32(0x2400)}`, '66 ef', // out 0x604, 0x2400
    `c7 05 ${le32(0)} ${le32(1)}`, 'eb f6', // 1: mov dword [0], 1; jmp 1b
  ].join(' ');
}
// 16-bit: mov dx, 0x600; in ax, dx; mov al, [0]; or al, ah; out 0xf4, al; hlt
const RESUME = hex('ba 00 06  ed  a0 00 00  08 e0  e6 f4  f4');

function sleepAndWake(rtcEn: boolean, maxInsns: number): { vm: Machine; outcome: string; status: number | undefined } {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {} });
  const facs = vm.devices.acpiTables.addresses.get('FACS')!;
  vm.loadMultiboot(buildElf32({ code: hex(guest(rtcEn)) }), 's3', '');
  vm.writePhysical(facs + 12, hex(le32(0x1000)));
  vm.writePhysical(0x1000, RESUME);
  const r = vm.run(maxInsns);
  return { vm, outcome: r.outcome, status: r.exitStatus };
}

test('SLP_TYP 1 with SLP_EN stops the CPU at once; the RTC alarm wakes it and it resumes at the FACS waking vector in real mode', () => {
  const r = sleepAndWake(true, 1_000_000);
  expect(r.outcome).toBe('exit');
  // isa-debug-exit's status is (value << 1) | 1, as a process exit status byte; 0x85 would give 11.
  expect(r.status).toBe(((((WAK_STS | RTC_STS) >> 8) << 1) | 1) & 0xff);
  // The wake came at the alarm's second boundary, not before.
  expect(r.vm.cpu.cycles()).toBeGreaterThanOrEqual(CYCLES_PER_SECOND);
  expect(r.vm.cpu.cycles()).toBeLessThan(CYCLES_PER_SECOND + 1_000_000);
});

test('without RTC_EN the alarm does not wake the machine: it stays asleep until the run\'s limit', () => {
  const r = sleepAndWake(false, 20_000);
  expect(r.outcome).toBe('insn-limit');
  expect(r.vm.devices.acpiPm.sleeping).toBe(true);
  expect(Buffer.from(r.vm.readPhysical(0, 4)).readUInt32LE(0)).toBe(0);
});

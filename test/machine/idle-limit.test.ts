/**
 * --max-insns bounds a machine that retires nothing: a halted one, and one in an exception loop.
 *
 * A halted machine: A guest that programs the PIT for periodic interrupts,
 * leaves IRQ0 masked at the PIC (its power-up state) and halts with interrupts enabled retires no
 * instruction ever again, while the timer keeps giving the scheduler deadlines to idle to: the run
 * used to loop for good (the instruction fuzzer's seed 1207 case 119378). Idle steps with no
 * instruction between them now count toward the limit; a guest its timer really wakes is not
 * charged anything.
 *
 * An exception loop: a #UD handler that is itself UD2 takes #UD again before retiring anything,
 * each delivery pushing a frame. With paging off and the stack below the tables, the pushes wrap
 * through 4 GiB before they could overwrite anything that matters: the run never ended. Each
 * delivery with no instruction since the previous one now counts toward the limit.
 */
import { describe, expect, test } from 'vitest';
import { TestMachine } from './devices/machine.js';

const GDT = 0x3000;
const IDT = 0x4000;
const HANDLER = 0x5000;
const CODE = 0x100000;
const VECTOR = 0x40;

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** mov al, v; out port, al */
const outb = (port: number, v: number): number[] => [0xb0, v, 0xe6, port];

/** PIT channel 0, mode 2 (rate generator), count 1000: a deadline about every 838 us. */
const PERIODIC_PIT = [...outb(0x43, 0x34), ...outb(0x40, 1000 & 0xff), ...outb(0x40, 1000 >> 8)];

/** sti; hlt; jmp back to the hlt (a halt loop, as an idle kernel has). */
const HALT_LOOP = [0xfb, 0xf4, 0xeb, 0xfd];

function machine(code: number[]): TestMachine {
  const m = new TestMachine();
  m.vm.writePhysical(CODE, Uint8Array.from(code));
  m.vm.enterProtectedMode(CODE);
  return m;
}

/**
 * UD2 at CODE, and a #UD interrupt gate to `handler` bytes, with the GDT, IDT and handler near
 * the top of RAM and the stack growing down from 1 MiB: pushes wrap through 4 GiB of address
 * space before they could reach the tables.
 */
function udMachine(handler: number[]) {
  const vm = machine([0x0f, 0x0b]).vm;
  const [gdt, idt, at] = [0x1fd000, 0x1fe000, 0x1ff000];
  vm.writePhysical(gdt, Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, ...le32(0x0000ffff), ...le32(0x00cf9b00), ...le32(0x0000ffff), ...le32(0x00cf9300)]));
  vm.writePhysical(idt + 8 * 6, Uint8Array.from([...le32((0x08 << 16) | (at & 0xffff)), ...le32((at & 0xffff0000) | 0x8e00)]));
  vm.writePhysical(at, Uint8Array.from(handler));
  const cpu = vm.cpu;
  cpu.gdtr.baseLo = gdt; cpu.gdtr.limit = 23;
  cpu.idtr.baseLo = idt; cpu.idtr.limit = 8 * 256 - 1;
  cpu.lo[4] = 0x100000;
  return vm;
}

describe('the instruction limit bounds idle time', () => {
  test('a halted CPU whose periodic timer is masked stops at --max-insns instead of idling for good', () => {
    const m = machine([...PERIODIC_PIT, ...HALT_LOOP]);
    // Without the bound the run never returns: fail instead once far more periods than the limit passed.
    let fired = 0;
    const at = m.vm.clock.at.bind(m.vm.clock);
    m.vm.clock.at = (due, fire) => at(due, () => {
      if (++fired > 10_000) throw new Error('the halted machine idled past 10,000 timer periods');
      fire();
    });
    const r = m.vm.run(1000);
    expect(r.outcome).toBe('insn-limit');
    // 6 + STI + HLT retired; every other unit of the limit is an idle step.
    expect(r.instructions).toBe(8);
    expect(m.vm.scheduler.idleStepsCharged).toBe(1000 - 8);
    expect(r.detail).toBe('instruction limit of 1000 reached (992 of them idle steps or event deliveries with no instruction between)');
    // The timer really was running: modeled time moved on by about 992 periods of 1000 PIT ticks.
    expect(m.vm.cpu.haltedCycles).toBeGreaterThan(990 * 838_000);
  });

  test('a halted CPU with nothing that could wake it still ends as halted, not at the limit', () => {
    const m = machine(HALT_LOOP);
    const r = m.vm.run(1000);
    expect(r.outcome).toBe('halted');
    expect(m.vm.scheduler.idleStepsCharged).toBe(0);
  });

  test('a CPU its timer wakes is charged nothing: the limit is reached by retired instructions alone', () => {
    // The local APIC timer, periodic, unmasked, vector 0x40; the handler sends EOI and returns to
    // the halt loop. Flat GDT and an IDT with one interrupt gate, paging off.
    const m = machine([
      0xc7, 0x05, ...le32(0xfee003e0), ...le32(0xb), // TDCR: divide by 1
      0xc7, 0x05, ...le32(0xfee00320), ...le32(0x20000 | VECTOR), // LVT timer: periodic
      0xc7, 0x05, ...le32(0xfee00380), ...le32(5000), // TMICT: 5,000 cycles
      ...HALT_LOOP,
    ]);
    const vm = m.vm;
    vm.writePhysical(GDT, Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, ...le32(0x0000ffff), ...le32(0x00cf9b00), ...le32(0x0000ffff), ...le32(0x00cf9300)]));
    vm.writePhysical(IDT + 8 * VECTOR, Uint8Array.from([...le32((0x08 << 16) | (HANDLER & 0xffff)), ...le32((HANDLER & 0xffff0000) | 0x8e00)]));
    vm.writePhysical(HANDLER, Uint8Array.from([0xc7, 0x05, ...le32(0xfee000b0), ...le32(0), 0xcf])); // EOI; iret
    const cpu = vm.cpu;
    cpu.gdtr.baseLo = GDT; cpu.gdtr.limit = 23;
    cpu.idtr.baseLo = IDT; cpu.idtr.limit = 8 * 256 - 1;
    cpu.lo[4] = 0x8000; // ESP
    const r = vm.run(3000);
    expect(r.outcome).toBe('insn-limit');
    expect(r.instructions).toBe(3000);
    expect(vm.scheduler.idleStepsCharged).toBe(0);
    // It did idle: most of the modeled time went by in HLT, woken each period.
    expect(cpu.haltedCycles).toBeGreaterThan(cpu.instructions);
  });

  test('an exception loop (the #UD handler is UD2) stops at --max-insns, one delivery per unit', () => {
    const vm = udMachine([0x0f, 0x0b]); // the handler: ud2
    const cpu = vm.cpu;
    // Without the bound the run never returns: fail instead once far more frames than the limit were pushed.
    const state = vm.states[0];
    let deliveries = 0;
    const ud = cpu.raiseUd.bind(cpu);
    cpu.raiseUd = () => { if (++deliveries > 10_000) throw new Error('the exception loop ran past 10,000 deliveries'); ud(); };
    const r = vm.run(1000);
    expect(r.outcome).toBe('insn-limit');
    expect(r.instructions).toBe(0);
    // 1,001 deliveries: the first follows the start of the run, each later one counts.
    expect(deliveries).toBe(1001);
    expect(state.uncountedEvents).toBe(1000);
    expect((0x100000 - (cpu.lo[4] >>> 0)) / 12).toBe(1001);
    expect(r.detail).toBe('instruction limit of 1000 reached (1000 of them idle steps or event deliveries with no instruction between)');
  });

  test('a handler that retires an instruction before faulting again is charged nothing', () => {
    // The #UD handler is NOP; UD2: one instruction retires between deliveries.
    const vm = udMachine([0x90, 0x0f, 0x0b]); // the handler: nop; ud2
    const r = vm.run(500);
    expect(r.outcome).toBe('insn-limit');
    expect(r.instructions).toBe(500);
    expect(vm.scheduler.charged()).toBe(0);
  });
});

/**
 * The platform guests (guests/platform, guests/apic) in mmulab and under QEMU TCG.
 *
 * In mmulab they run with `--cpu max` (x2APIC and TSC-deadline advertised, so every case runs)
 * and must pass; their INFO lines must show the exact modeled timing and the SDM's answer wherever
 * QEMU TCG 7.2 is known to give another one. Under QEMU (`-cpu max`, which lacks x2APIC and the
 * TSC-deadline timer under TCG) the PASS/FAIL/SKIP lines must be identical to mmulab's when
 * mmulab is given the same CPUID features, and both must exit with status 1. Without QEMU the
 * comparisons are skipped with a notice.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { qemuAvailable, runInQemu } from '../helpers/qemu.js';

const GUESTS = fileURLToPath(new URL('../../build/guests/', import.meta.url));
const MAX_INSNS = 500_000_000;
const PM_HZ = 3_579_545;

interface Outcome { readonly out: string; readonly status: number | undefined; readonly outcome: string; readonly instructions: number; readonly wallMs: number }

const image = (name: string): string => `${GUESTS}${name}.flat`;
const runs = new Map<string, Outcome>();

function runInMmulab(name: string, cpu: string): Outcome {
  const key = `${name} ${cpu}`;
  let r = runs.get(key);
  if (r === undefined) {
    const chunks: Buffer[] = [];
    const vm = new Machine({ model: cpuModelFromSpec(cpu), serialOut: (bytes) => { chunks.push(Buffer.from(bytes)); } });
    vm.loadMultiboot(readFileSync(image(name)), image(name), '');
    const result = vm.run(MAX_INSNS);
    r = { out: Buffer.concat(chunks).toString('latin1'), status: result.exitStatus, outcome: result.outcome, instructions: result.instructions, wallMs: result.wallMs };
    console.log(`mmulab ${name} --cpu ${cpu}: ${r.outcome}, status ${r.status}, ${r.instructions} instructions in ${r.wallMs.toFixed(0)} ms`);
    runs.set(key, r);
  }
  return r;
}

/** The verdict lines: what must be identical between correct machines. */
const verdicts = (out: string): string[] => out.split('\n').filter((l) => /^(PASS|FAIL|XPASS|XFAIL|SKIP|SUMMARY): /.test(l));

/** The captures of an INFO line, or a failure naming the missing line. */
function info(out: string, re: RegExp): string[] {
  const m = out.match(re);
  expect(m, `no line matching ${re}\n${out}`).not.toBeNull();
  return m!.slice(1);
}

describe('platform guest in mmulab (--cpu max): boots the way kvm-unit-tests does', () => {
  test('every step passes, status 1', () => {
    const r = runInMmulab('platform', 'max');
    expect(r.outcome, r.out).toBe('exit');
    expect(r.out.match(/^FAIL: .*$/gm) ?? []).toEqual([]);
    expect(r.out).toMatch(/^PASS: SMP: INIT to all but self accepted, delivery status reads 0$/m);
    expect(r.out).toMatch(/^PASS: fw_cfg: NB_CPUS = 1 /m);
    expect(r.out).toMatch(/^PASS: ACPI: XSDT valid and leads to the same FACP/m);
    expect(r.out).toMatch(/^PASS: PM timer: advances$/m);
    expect(r.out).toMatch(/^SUMMARY: \d+ tests$/m);
    expect(r.status, r.out).toBe(1);
  });

  test('the tables are mmulab\'s: RSDP revision 2 in the BIOS area, FADT revision 3', () => {
    const out = runInMmulab('platform', 'max').out;
    expect(info(out, /^INFO: ACPI: RSDP at (0x[0-9a-f]+), revision (\d+),/m)).toEqual(['0xe0000', '2']);
    expect(info(out, /^INFO: ACPI: FACP revision (\d+), length (\d+)$/m)).toEqual(['3', '244']);
    expect(info(out, /^INFO: PCI: bus 0 has (\d+) functions$/m)).toEqual(['0']);
  });

  test('a globally disabled APIC does not answer its page, and may be enabled again (SDM 11.4.3)', () => {
    // QEMU TCG 7.2 answers the page while disabled (the ID reads 0) and refuses EN=1 afterwards
    // ("if disabled, cannot be enabled again": the P6 3-wire APIC bus rule). The SDM allows
    // re-enabling on FSB processors, which kvm-unit-tests' reset_apic() depends on.
    const out = runInMmulab('platform', 'max').out;
    expect(info(out, /^INFO: APIC: while disabled, the ID register reads (0x[0-9a-f]+)/m)).toEqual(['0xffffffff']);
    expect(info(out, /^INFO: APIC: IA32_APIC_BASE after setting EN again: (0x[0-9a-f]+)$/m)).toEqual(['0xfee00900']);
  });

  test('CPUID.1:EDX.APIC reads 0 while IA32_APIC_BASE.EN is 0 (SDM 11.4.3)', () => {
    // Needs the CPUID instruction (emulator/exec) to consult the APIC's enable bit; QEMU does.
    const out = runInMmulab('platform', 'max').out;
    expect(info(out, /^INFO: APIC: while disabled, .* CPUID\.1:EDX\.APIC is (\d)$/m)).toEqual(['0']);
  });
});

describe('apic guest in mmulab (--cpu max)', () => {
  test('every case passes, including x2APIC mode and TSC-deadline mode; status 1', () => {
    const r = runInMmulab('apic', 'max');
    expect(r.outcome, r.out).toBe('exit');
    expect(r.out.match(/^(FAIL|SKIP): .*$/gm) ?? []).toEqual([]);
    expect(r.out).toMatch(/^PASS: x2apic: self IPI: delivered after the instruction following STI/m);
    expect(r.out).toMatch(/^PASS: xapic: TSC deadline: HLT woken by the deadline interrupt$/m);
    expect(r.out).toMatch(/^PASS: x2apic: TSC deadline: not before the deadline$/m);
    expect(r.out).toMatch(/^SUMMARY: \d+ tests$/m);
    expect(r.status, r.out).toBe(1);
  });

  test('timers are exact in modeled time (up to the PM timer\'s 279 ns tick)', () => {
    const out = runInMmulab('apic', 'max').out;
    for (const mode of ['xapic', 'x2apic']) {
      // 10^6 bus ticks at divide 1 = 1 ms = 3579.545 PM ticks; HLT skips straight to the expiry.
      const [ticks] = info(out, new RegExp(`^INFO: ${mode}: one-shot: 1000000 ticks at divide 1 took (\\d+) PM ticks`, 'm'));
      expect(Number(ticks)).toBeGreaterThanOrEqual(3579);
      expect(Number(ticks)).toBeLessThanOrEqual(3581);
      for (const div of [1, 2, 16]) {
        const [counts, pm] = info(out, new RegExp(`^INFO: ${mode}: timer rate: divide by ${div}: (\\d+) counts in (\\d+) PM ticks$`, 'm'));
        const ns = (Number(pm) * 1e9) / PM_HZ;
        expect(Math.abs(Number(counts) * div - ns), `divide by ${div}`).toBeLessThanOrEqual(2 * 280 + 100);
      }
      const [, , perPeriod] = info(out, new RegExp(`^INFO: ${mode}: periodic: (\\d+) interrupts in (\\d+) PM ticks \\((\\d+) ns per period\\)$`, 'm'));
      expect(Math.abs(Number(perPeriod) - 200000)).toBeLessThanOrEqual(100);
      const [late] = info(out, new RegExp(`^INFO: ${mode}: TSC deadline: handler (\\d+) TSC ticks after the deadline$`, 'm'));
      expect(Number(late)).toBeLessThan(200); // interrupt delivery and the handler's first instructions
    }
    // The PM timer against the 1 GHz APIC timer and against the TSC (1 cycle = 1 ns): 3579545 Hz.
    const [perApic] = info(out, /^INFO: PM timer: (\d+) ticks per 10\^9 APIC timer ticks$/m);
    const [perTsc] = info(out, /^INFO: PM timer: (\d+) ticks per 10\^9 TSC ticks$/m);
    expect(Math.abs(Number(perApic) - PM_HZ)).toBeLessThanOrEqual(200);
    expect(Math.abs(Number(perTsc) - PM_HZ)).toBeLessThanOrEqual(200);
  });

  test('SDM answers where QEMU TCG gives others', () => {
    const out = runInMmulab('apic', 'max').out;
    for (const mode of ['xapic', 'x2apic']) {
      // SDM 11.5.2/11.5.3: vectors 0-15 are illegal: "send illegal vector" (ESR bit 5), nothing
      // delivered. QEMU 7.2 sets IRR and delivers vector 5 (#BR) with ESR 0.
      expect(info(out, new RegExp(`^INFO: ${mode}: illegal vector 5 in a fixed self IPI: ESR (0x[0-9a-f]+), delivered (\\d+) times$`, 'm')))
        .toEqual(['0x20', '0']);
      // SDM 11.4.7.2: software-disabled, every LVT mask is set and cannot be cleared (and stays
      // set after re-enabling), and fixed interrupts are not accepted. QEMU keeps the LVT as
      // written (0xe0) and accepts the IPI.
      expect(info(out, new RegExp(`^INFO: ${mode}: software disable: LVT timer (0x[0-9a-f]+), (0x[0-9a-f]+) after writing it unmasked, (0x[0-9a-f]+) after enabling; a fixed self IPI was (\\w+)$`, 'm')))
        .toEqual(['0x100e0', '0x100e0', '0x100e0', 'dropped']);
    }
    // SDM 11.12.1.2: x2APIC MSRs fault unless the APIC is in x2APIC mode. QEMU 7.2 TCG reads
    // unknown MSRs as 0 without a fault.
    expect(info(out, /^INFO: x2APIC: RDMSR 0x802 in xAPIC mode: (.+)$/m)).toEqual(['#GP']);
  });

  test('without the TSC-deadline CPUID bit, IA32_TSC_DEADLINE does not exist (#GP)', () => {
    // QEMU 7.2 TCG implements the MSR whatever CPUID says.
    const out = runInMmulab('apic', 'max,-x2apic,-tsc-deadline').out; // also QEMU's features
    expect(info(out, /^INFO: TSC deadline: RDMSR 0x6e0 without CPUID support: (.+)$/m)).toEqual(['#GP']);
    expect(out).toMatch(/^SKIP: xapic: TSC deadline: not advertised by CPUID\.1:ECX\[24\]$/m);
  });
});

const haveQemu = qemuAvailable();
if (!haveQemu) console.warn('NOTICE: qemu-system-x86_64 is not available: the platform guest comparisons with QEMU TCG are SKIPPED');

/** mmulab's --cpu for QEMU's CPUID: max without the APIC features QEMU's output says it lacks. */
function matchingCpu(qemuOut: string, name: string): string {
  let x2apic: number;
  let deadline: number;
  if (name === 'platform') {
    const [ecx] = info(qemuOut, /^INFO: cpuid\.1: ecx (0x[0-9a-f]+) /m);
    x2apic = (Number(ecx) >>> 21) & 1;
    deadline = (Number(ecx) >>> 24) & 1;
  } else {
    [x2apic, deadline] = info(qemuOut, /^INFO: cpuid\.1: x2apic (\d), tsc-deadline (\d)$/m).map(Number);
  }
  return `max${x2apic ? '' : ',-x2apic'}${deadline ? '' : ',-tsc-deadline'}`;
}

describe('platform guests print the same verdicts under QEMU TCG', () => {
  test.skipIf(!haveQemu).each(['platform', 'apic'])('%s', async (name) => {
    const q = await runInQemu(image(name), [], { timeoutMs: 60_000 });
    console.log(`qemu ${name}: status ${q.status} in ${q.wallMs.toFixed(0)} ms`);
    expect(q.status, q.stdout + q.stderr).toBe(1);
    const cpu = matchingCpu(q.stdout, name);
    const m = runInMmulab(name, cpu);
    expect(verdicts(m.out)).toEqual(verdicts(q.stdout));
    expect(m.status).toBe(1);
    if (name === 'apic') {
      // Host-dependent timing: QEMU's APIC timer and PM timer both run on its virtual clock, so
      // their ratio is 3.579545 MHz within the guest's 1%; the TSC is the host's (any rate).
      const [perApic] = info(q.stdout, /^INFO: PM timer: (\d+) ticks per 10\^9 APIC timer ticks$/m);
      expect(Math.abs(Number(perApic) - PM_HZ) / PM_HZ).toBeLessThan(0.01);
    }
  });
});

/**
 * The QEMU front end's parser (emulator/cli/qemu-args.ts): every option kvm-unit-tests' x86/run,
 * arch-run.bash and x86/unittests.cfg pass, the help probes they make, and the refusals (one
 * UsageError each, never a silently different run).
 */
import { describe, expect, test } from 'vitest';
import { type QemuRequest, VERSION_LINE, parseQemuArgs } from '../../emulator/cli/qemu-args.js';
import { UsageError } from '../../emulator/cli/errors.js';
import type { RunOptions } from '../../emulator/cli/run-args.js';
import { HOST_PHYS_BITS } from '../../emulator/cli/qemu-cpu.js';
import { knownFeatures } from '../../emulator/cpu/cpu-spec.js';
import { MAX_CPUS } from '../../emulator/machine/vm.js';

/** x86/run's command line for a test (arch-run.bash + unittests.cfg), as run_tests.sh builds it. */
const X86_RUN = ['--no-reboot', '-nodefaults', '-global', 'kvm-pit.lost_tick_policy=discard', '-device', 'pc-testdev',
  '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-display', 'none', '-serial', 'stdio', '-machine', 'accel=tcg', '-kernel', 'x86/apic.flat'];

function run(args: readonly string[]): { options: RunOptions; warnings: readonly string[] } {
  const r: QemuRequest = parseQemuArgs(args);
  if (r.kind !== 'run') throw new Error(`expected a run, got info: ${r.text}`);
  return r;
}

function info(args: readonly string[]): string {
  const r = parseQemuArgs(args);
  if (r.kind !== 'info') throw new Error('expected an info answer');
  return r.text;
}

function refused(args: readonly string[]): string {
  try {
    parseQemuArgs(args);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
}

describe('upstream command lines', () => {
  test('x86/run\'s line with smp, append, cpu and memory from unittests.cfg', () => {
    const { options, warnings } = run([...X86_RUN, '-smp', '2', '-append', 'ipi iterations=10', '-cpu', 'qemu64,+x2apic,+tsc-deadline', '-m', '2048',
      '-initrd', '/tmp/env']);
    expect(options).toMatchObject({ image: 'x86/apic.flat', smp: 2, append: 'ipi iterations=10', memMiB: 2048, initrd: '/tmp/env', mmu: 'bare', vendor: 'vmx', preset: 'current', backing: '2m', audit: false });
    expect(options.cpu.features).toEqual(expect.arrayContaining(['x2apic', 'tsc-deadline', 'lm', 'nx', 'sse2', 'cx16']));
    // qemu64 has none of these in QEMU either
    for (const f of ['smep', 'smap', 'pku', 'la57', 'pcid', 'popcnt']) expect(options.cpu.features).not.toContain(f);
    expect(options.cpu).toMatchObject({ vendor: 'GenuineIntel', maxPhyAddr: 40 });
    // What mmulab lacks is said, in lines upstream's harness tolerates (they contain "warning").
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: CPU model qemu64: mmulab does not implement .*mmx/);
  });

  test('defaults: 128 MiB, one CPU, qemu64, no command line, tcg = bare', () => {
    const { options } = run(['-kernel', 'k.flat']);
    expect(options).toMatchObject({ memMiB: 128, smp: 1, append: '', initrd: undefined, mmu: 'bare' });
  });

  test('-m sizes', () => {
    expect(run(['-kernel', 'k', '-m', '512M']).options.memMiB).toBe(512);
    expect(run(['-kernel', 'k', '-m', '2G']).options.memMiB).toBe(2048);
    expect(run(['-kernel', 'k', '-m', 'size=64']).options.memMiB).toBe(64);
    expect(refused(['-kernel', 'k', '-m', '4g'])).toMatch(/-m 4g: mmulab's guest RAM is 2 to 3072 MiB/);
    expect(refused(['-kernel', 'k', '-m', 'lots'])).toMatch(/^-m: expected a size/);
  });

  test('-smp forms, and the message upstream\'s MAX_SMP probe reads', () => {
    expect(run(['-kernel', 'k', '-smp', '4']).options.smp).toBe(4);
    expect(run(['-kernel', 'k', '-smp', 'cpus=3,maxcpus=3']).options.smp).toBe(3);
    expect(refused(['-kernel', 'k', '-smp', String(MAX_CPUS + 1)])).toBe(`Invalid SMP CPUs ${MAX_CPUS + 1}. The max CPUs supported by machine 'pc' is ${MAX_CPUS}`);
    expect(refused(['-kernel', 'k', '-smp', '2,sockets=2'])).toMatch(/sockets=2.*not supported/);
  });

  test('options are accepted with one dash or two', () => {
    expect(run(['--kernel', 'k', '--smp', '2', '-no-reboot']).options.smp).toBe(2);
  });
});

describe('accelerators', () => {
  test('tcg is bare, kvm and mmulab are tdp; a fallback list takes its first', () => {
    expect(run(['-kernel', 'k', '-machine', 'accel=tcg']).options.mmu).toBe('bare');
    expect(run(['-kernel', 'k', '-machine', 'accel=kvm']).options.mmu).toBe('tdp');
    expect(run(['-kernel', 'k', '-machine', 'accel=kvm:tcg']).options.mmu).toBe('tdp');
    expect(run(['-kernel', 'k', '-accel', 'mmulab']).options.mmu).toBe('tdp');
    expect(run(['-kernel', 'k', '-enable-kvm']).options.mmu).toBe('tdp');
  });

  test('mmulab\'s properties, in -accel and after accel= in -machine (upstream\'s ACCEL_PROPS)', () => {
    const a = run(['-kernel', 'k', '-accel', 'mmulab,mmu=shadow,preset=kvm-6.3,vendor=svm,backing=4k,knob=tdpRootLifetime=vcpu-refcount,audit=on']).options;
    expect(a).toMatchObject({ mmu: 'shadow', preset: 'kvm-6.3', vendor: 'svm', backing: '4k', audit: true, auditEvery: 1 });
    expect(a.knobs.tdpRootLifetime).toBe('vcpu-refcount');
    // the CPU's vendor follows the virtualization hardware, as QEMU's does the host's under KVM
    expect(a.cpu.vendor).toBe('AuthenticAMD');
    const m = run(['-kernel', 'k', '-machine', 'accel=tcg,mmu=legacy-tdp,audit-every=100']).options;
    expect(m).toMatchObject({ mmu: 'legacy-tdp', audit: true, auditEvery: 100 });
    expect(run(['-kernel', 'k', '-accel', 'tcg,thread=single']).options.mmu).toBe('bare');
  });

  test('bad accelerators and properties are refused', () => {
    expect(refused(['-kernel', 'k', '-accel', 'hvf'])).toMatch(/^-accel hvf: unknown accelerator/);
    expect(refused(['-kernel', 'k', '-accel', 'tcg,mmu=ept'])).toMatch(/^-accel: mmu: expected one of bare, shadow, legacy-tdp, tdp/);
    expect(refused(['-kernel', 'k', '-accel', 'kvm,preset=kvm-9'])).toMatch(/^-accel: preset: unknown preset/);
    expect(refused(['-kernel', 'k', '-accel', 'kvm,knob=nope=1'])).toMatch(/^-accel: knob: /);
    expect(refused(['-kernel', 'k', '-accel', 'kvm,dirty-ring-size=4096'])).toMatch(/property "dirty-ring-size" is not supported/);
  });
});

describe('-cpu', () => {
  const cpu = (text: string, extra: string[] = []): RunOptions['cpu'] => run(['-kernel', 'k', '-cpu', text, ...extra]).options.cpu;

  test('max and host are every feature mmulab implements; host-phys-bits is the modeled host\'s MAXPHYADDR', () => {
    expect(new Set(cpu('max').features)).toEqual(new Set(knownFeatures()));
    expect(cpu('max,host-phys-bits')).toMatchObject({ maxPhyAddr: HOST_PHYS_BITS, vendor: 'GenuineIntel' });
    expect(new Set(cpu('host,migratable=no').features)).toEqual(new Set(knownFeatures()));
    expect(cpu('max,-pku').features).not.toContain('pku');
  });

  test('named models get QEMU\'s feature set; phys-bits wins over host-phys-bits=off', () => {
    const ivy = run(['-kernel', 'k', '-cpu', 'IvyBridge,phys-bits=36,host-phys-bits=off']);
    expect(ivy.options.cpu.maxPhyAddr).toBe(36);
    expect(ivy.options.cpu.features).toEqual(expect.arrayContaining(['smep', 'fsgsbase', 'rdtscp', 'x2apic', 'tsc-deadline', 'popcnt', 'erms']));
    for (const f of ['smap', 'la57', 'pku', 'invpcid']) expect(ivy.options.cpu.features).not.toContain(f);
    expect(ivy.warnings[0]).toMatch(/^warning: CPU model IvyBridge: mmulab does not implement .*avx/);
    const haswell = cpu('Haswell').features;
    expect(haswell).toEqual(expect.arrayContaining(['invpcid', 'pcid', 'movbe', 'bmi1']));
    expect(haswell).not.toContain('smap');
    expect(cpu('Skylake-Server').features).toEqual(expect.arrayContaining(['smap', 'pku', 'pdpe1gb']));
  });

  test('vendor=, +feat, -feat and feat=on|off', () => {
    expect(cpu('Opteron_G1,vendor=AuthenticAMD')).toMatchObject({ vendor: 'AuthenticAMD' });
    expect(cpu('max,vendor=GenuineIntel').vendor).toBe('GenuineIntel');
    expect(cpu('qemu64,vendor=GenuineIntel').features).not.toContain('smep');
    expect(cpu('qemu64,+pcid,+invpcid').features).toEqual(expect.arrayContaining(['pcid', 'invpcid']));
    expect(cpu('qemu64,-pcid,+invpcid').features).not.toContain('pcid');
    expect(cpu('max,-x2apic').features).not.toContain('x2apic');
    expect(cpu('qemu64,smep=on,lahf_lm=off').features).toContain('smep');
    expect(cpu('qemu64,lahf_lm=off').features).not.toContain('lahf_lm');
    // removing a feature mmulab does not implement changes nothing: accepted
    expect(cpu('max,-svm,-vmx-mbec,-skinit').features).not.toContain('svm');
  });

  test('what mmulab cannot give is refused', () => {
    expect(refused(['-kernel', 'k', '-cpu', 'max,+svm'])).toBe('-cpu: CPU feature "svm" is not implemented by mmulab');
    expect(refused(['-kernel', 'k', '-cpu', 'max,+vmx'])).toBe('-cpu: CPU feature "vmx" is not implemented by mmulab');
    expect(refused(['-kernel', 'k', '-cpu', 'host,hv_passthrough'])).toMatch(/Hyper-V enlightenments are not modeled/);
    expect(refused(['-kernel', 'k', '-cpu', 'Pentium9'])).toMatch(/^-cpu: unknown CPU model "Pentium9"/);
    expect(refused(['-kernel', 'k', '-cpu', 'max,+frobnicate'])).toBe('-cpu: unknown CPU feature or property "frobnicate"');
    expect(refused(['-kernel', 'k', '-cpu', 'max,phys-bits=60'])).toMatch(/phys-bits: expected 32 to 52/);
    expect(refused(['-kernel', 'k', '-cpu', 'max,vendor=CyrixInstead'])).toMatch(/vendor: expected GenuineIntel or AuthenticAMD/);
  });
});

describe('machine and devices', () => {
  test('-M pc and pc-i440fx-N.M are mmulab\'s PC; pit=off is accepted with a warning', () => {
    expect(run(['-kernel', 'k', '-M', 'pc']).options.mmu).toBe('bare');
    expect(run(['-kernel', 'k', '-machine', 'pc-i440fx-7.2,accel=kvm']).options.mmu).toBe('tdp');
    expect(run(['-kernel', 'k', '-machine', 'pit=off']).warnings).toEqual([expect.stringMatching(/^warning: CPU model qemu64/), expect.stringMatching(/^warning: -machine pit=off: mmulab's PC always has its 8254 PIT/)]);
  });

  test('-M q35 with edu and intel-iommu (kvm-unit-tests\' intel_iommu line) builds that chipset; pc keeps the empty bus', () => {
    expect(run(['-kernel', 'k']).options.chipset).toEqual({ machine: 'pc' });
    expect(run(['-kernel', 'k', '-M', 'pc-i440fx-7.2']).options.chipset).toEqual({ machine: 'pc' });
    expect(run(['-kernel', 'k', '-M', 'q35']).options.chipset).toEqual({ machine: 'q35', edu: false, iommu: undefined });
    expect(run(['-kernel', 'k', '-M', 'pc-q35-7.2', '-device', 'edu']).options.chipset).toEqual({ machine: 'q35', edu: true, iommu: undefined });
    expect(run(['-kernel', 'k', '-M', 'q35,kernel-irqchip=split', '-device', 'intel-iommu,intremap=on,eim=off', '-device', 'edu']).options.chipset)
      .toEqual({ machine: 'q35', edu: true, iommu: { interruptRemapping: true, extendedInterruptMode: false } });
    expect(run(['-kernel', 'k', '-M', 'q35', '-device', 'intel-iommu']).options.chipset)
      .toEqual({ machine: 'q35', edu: false, iommu: { interruptRemapping: false, extendedInterruptMode: false } });
  });

  test('what the q35 devices refuse', () => {
    expect(refused(['-kernel', 'k', '-device', 'edu'])).toBe('-device edu: mmulab puts PCI devices only on the q35 machine (-M q35)');
    expect(refused(['-kernel', 'k', '-M', 'q35', '-device', 'edu', '-device', 'edu'])).toBe('-device edu: mmulab models one edu device');
    expect(refused(['-kernel', 'k', '-M', 'q35', '-device', 'edu,dma_mask=0xffff'])).toBe('-device edu: property "dma_mask" is not supported by mmulab');
    expect(refused(['-kernel', 'k', '-device', 'intel-iommu,intremap=off'])).toBe('-device intel-iommu: the Intel IOMMU needs the q35 machine (-M q35)');
    expect(refused(['-kernel', 'k', '-M', 'q35', '-device', 'intel-iommu,intremap=on'])).toMatch(/^-device intel-iommu,intremap=on: Intel Interrupt Remapping cannot work with kernel-irqchip=on/);
    expect(refused(['-kernel', 'k', '-M', 'q35,kernel-irqchip=split', '-device', 'intel-iommu,intremap=on,eim=on'])).toBe('-device intel-iommu: eim=on is not supported by mmulab');
    expect(refused(['-kernel', 'k', '-M', 'q35,kernel-irqchip=split', '-device', 'intel-iommu,caching-mode=on'])).toBe('-device intel-iommu: property "caching-mode" is not supported by mmulab');
    expect(refused(['-kernel', 'k', '-M', 'q35,kernel-irqchip=off'])).toBe('-machine kernel-irqchip=off: not supported by mmulab');
    expect(refused(['-kernel', 'k', '-M', 'virt'])).toMatch(/^-machine virt: mmulab models only the i440FX PC \("pc"\) and "q35"/);
  });

  test('machines, devices and settings mmulab does not have are refused', () => {
    expect(refused(['-kernel', 'k', '-machine', 'vmport=on'])).toBe('-machine vmport=on: not supported by mmulab');
    expect(refused(['-kernel', 'k', '-device', 'pci-testdev'])).toMatch(/^-device pci-testdev: not emulated by mmulab/);
    expect(refused(['-kernel', 'k', '-device', 'virtio-net-pci'])).toMatch(/^-device virtio-net-pci: not emulated/);
    expect(refused(['-kernel', 'k', '-device', 'isa-debug-exit,iobase=0x501,iosize=2'])).toBe('-device isa-debug-exit: iobase=0x501 is not supported by mmulab');
    expect(refused(['-kernel', 'k', '-global', 'kvm-pit.foo=1'])).toMatch(/^-global kvm-pit.foo=1: not supported/);
    expect(refused(['-kernel', 'k', '-serial', 'mon:stdio'])).toBe('-serial mon:stdio: only "stdio" is supported by mmulab');
    expect(refused(['-kernel', 'k', '-vnc', ':0'])).toMatch(/only "none"/);
    expect(refused(['-kernel', 'k', '-overcommit', 'cpu-pm=on'])).toBe('option -overcommit is not supported by mmulab');
    expect(refused(['-kernel', 'k', '-chardev', 'socket,id=mon,path=/tmp/q'])).toMatch(/^option -chardev is not supported/);
  });

  test('command-line mistakes', () => {
    expect(refused(['-smp', '2'])).toMatch(/^no -kernel given/);
    expect(refused(['-kernel'])).toBe('option -kernel needs a value');
    expect(refused(['-kernel', 'a', '-kernel', 'b'])).toBe('-kernel given more than once');
    expect(refused(['x86/dummy.flat'])).toMatch(/^unexpected argument "x86\/dummy.flat"/);
  });
});

describe('help probes (answered before anything else, in QEMU\'s format)', () => {
  test('the device list x86/run greps for "pc-testdev" (with the quotes)', () => {
    for (const q of ['?', 'help']) {
      const text = info(['-device', q]);
      expect(text).toContain('name "pc-testdev", bus ISA');
      expect(text).toContain('name "isa-debug-exit", bus ISA');
      expect(text).not.toContain('pci-testdev');
    }
  });

  test('version, help, machines, CPUs and accelerators', () => {
    expect(info(['-version'])).toBe(`${VERSION_LINE}\n`);
    // upstream: `$qemu --help | grep -q QEMU`, and `$qemu -h | head -1` read as "QEMU emulator version X.Y.Z"
    expect(info(['--help']).split('\n')[0]).toMatch(/^QEMU emulator version \d+\.\d+\.\d+ /);
    expect(info(['-h'])).toContain('QEMU');
    expect(info(['-machine', '?'])).toMatch(/^Supported machines are:\npc .*\nq35 /);
    expect(info(['-M', 'accel=help'])).toBe('Accelerators supported in QEMU binary:\ntcg\nkvm\nmmulab\n');
    expect(info(['-accel', 'help'])).toBe('Accelerators supported in QEMU binary:\ntcg\nkvm\nmmulab\n');
    const cpus = info(['-cpu', 'help']);
    for (const m of ['max', 'host', 'qemu64', 'IvyBridge', 'Haswell', 'Opteron_G1']) expect(cpus).toContain(`x86 ${m}\n`);
  });
});

describe('-gdb, -s and -S (run-args.ts\'s gdbOptions, as `mmulab run --gdb`)', () => {
  test('-s is -gdb tcp::1234; -S starts stopped; -gdb takes tcp::PORT and tcp:HOST:PORT', () => {
    expect(run(['-kernel', 'k.flat']).options).toMatchObject({ gdb: undefined, gdbWait: false });
    expect(run(['-kernel', 'k.flat', '-s']).options).toMatchObject({ gdb: { host: undefined, port: 1234 }, gdbWait: false });
    expect(run(['-kernel', 'k.flat', '-s', '-S']).options).toMatchObject({ gdb: { port: 1234 }, gdbWait: true });
    expect(run(['-S', '-kernel', 'k.flat', '-gdb', 'tcp::4321']).options).toMatchObject({ gdb: { port: 4321 }, gdbWait: true });
    expect(run(['-kernel', 'k.flat', '--gdb', 'tcp:127.0.0.1:4000']).options).toMatchObject({ gdb: { host: '127.0.0.1', port: 4000 } });
  });

  test('refusals in QEMU\'s spelling', () => {
    expect(refused(['-kernel', 'k.flat', '-S'])).toBe('-S waits for gdb: it needs -gdb tcp::PORT or -s');
    expect(refused(['-kernel', 'k.flat', '-s', '-gdb', 'tcp::1'])).toBe('give -gdb or -s (-gdb tcp::1234), not both');
    expect(refused(['-kernel', 'k.flat', '-gdb', 'udp::1'])).toMatch(/^-gdb: expected tcp::PORT/);
    expect(refused(['-kernel', 'k.flat', '-gdb', 'tcp::1', '-gdb', 'tcp::2'])).toBe('-gdb given more than once');
    expect(refused(['-kernel', 'k.flat', '-gdb'])).toBe('option -gdb needs a value');
  });
});

import { describe, expect, test } from 'vitest';
import { CpuSpecError, OPTIONAL_FEATURES, parseCpuSpec } from '../../emulator/cpu/cpu-spec.js';
import { CpuModel, DEFAULT_FEATURES } from '../../emulator/cpu/cpu-model.js';

describe('--cpu in QEMU syntax', () => {
  test('base is the default set; max adds every optional feature mmulab implements', () => {
    expect(new Set(parseCpuSpec('base').features)).toEqual(new Set(DEFAULT_FEATURES));
    expect(new Set(parseCpuSpec('max').features)).toEqual(new Set([...DEFAULT_FEATURES, ...OPTIONAL_FEATURES]));
  });

  test('+feat and -feat (and feat=on|off) adjust the base model', () => {
    const f = parseCpuSpec('max,-pku,smap=off,+la57').features;
    expect(f).not.toContain('pku');
    expect(f).not.toContain('smap');
    expect(f).toContain('la57');
    expect(parseCpuSpec('+smep').features).toContain('smep');
  });

  test('vendor and phys-bits; an explicit --phys-bits wins', () => {
    const s = parseCpuSpec('base,vendor=AuthenticAMD,phys-bits=36');
    expect([s.vendor, s.maxPhyAddr]).toEqual(['AuthenticAMD', 36]);
    expect(parseCpuSpec('base,phys-bits=36', 46).maxPhyAddr).toBe(46);
  });

  test.each([
    ['foo', /unknown CPU model/],
    ['max,+avx512f', /unknown CPU feature "avx512f"/],
    ['max,+arch-capabilities', /not implemented/],
    ['max,pku', /written \+name or -name/],
    ['max,phys-bits=70', /phys-bits must be/],
  ])('rejects %s with a message naming the problem', (spec, message) => {
    expect(() => parseCpuSpec(spec)).toThrow(CpuSpecError);
    expect(() => parseCpuSpec(spec)).toThrow(message);
  });

  test('CPUID reports exactly the chosen features', () => {
    const model = new CpuModel({ features: parseCpuSpec('base,+smep,+pku').features, maxPhyAddr: 36 });
    const [, ebx7, ecx7] = model.cpuid(7, 0, 0);
    expect(ebx7 & (1 << 7)).not.toBe(0); // SMEP
    expect(ebx7 & (1 << 20)).toBe(0); // no SMAP
    expect(ecx7 & (1 << 3)).not.toBe(0); // PKU
    expect(model.cpuid(0x80000008, 0, 0)[0] & 0xff).toBe(36);
    const [, b0, c0, d0] = model.cpuid(0, 0, 0);
    expect(Buffer.from(new Int32Array([b0, d0, c0]).buffer).toString()).toBe('GenuineIntel');
  });
});

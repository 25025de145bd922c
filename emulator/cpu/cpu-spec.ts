import { CpuModel, DEFAULT_FEATURES, FEATURES, type FeatureName, type Vendor } from './cpu-model.js';

/**
 * Parses a CPU model in QEMU's -cpu syntax: a base model, then comma-separated modifiers:
 * `+feat`/`-feat` (or `feat=on|off`), `vendor=GenuineIntel|AuthenticAMD`, `phys-bits=N`.
 *   max              every feature mmulab implements
 *   base, qemu64     the default set (no SMEP, SMAP, PKU, PCID, LA57, x2APIC, ...)
 * An unknown base, feature or modifier is an error naming it.
 */
export class CpuSpecError extends Error {}

/** Features beyond the default set that mmulab implements, enabled by `max`. */
export const OPTIONAL_FEATURES: readonly FeatureName[] = [
  'smep', 'smap', 'pku', 'pcid', 'invpcid', 'la57', 'fsgsbase', 'rdpid', 'x2apic', 'tsc-deadline', 'umip', 'xsave', 'pks',
];

const BASES: Readonly<Record<string, readonly FeatureName[]>> = {
  base: DEFAULT_FEATURES,
  qemu64: DEFAULT_FEATURES,
  max: [...DEFAULT_FEATURES, ...OPTIONAL_FEATURES],
};

/** Every feature name the model accepts in +/- modifiers: implemented ones only. */
export function knownFeatures(): FeatureName[] {
  return [...new Set([...DEFAULT_FEATURES, ...OPTIONAL_FEATURES])];
}

export interface CpuSpec {
  readonly vendor: Vendor;
  readonly features: readonly FeatureName[];
  readonly maxPhyAddr: number;
}

export function parseCpuSpec(text: string, physBits?: number): CpuSpec {
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const baseName = parts.length > 0 && !/^[+-]|=/.test(parts[0]) ? parts.shift()! : 'base';
  const base = BASES[baseName];
  if (base === undefined) throw new CpuSpecError(`unknown CPU model "${baseName}" (known: ${Object.keys(BASES).join(', ')})`);
  const features = new Set<FeatureName>(base);
  let vendor: Vendor = 'GenuineIntel';
  let maxPhyAddr = physBits ?? 40;
  const implemented = new Set(knownFeatures());
  const feature = (name: string): FeatureName => {
    if (!(name in FEATURES)) throw new CpuSpecError(`unknown CPU feature "${name}"`);
    if (!implemented.has(name as FeatureName)) throw new CpuSpecError(`CPU feature "${name}" is not implemented by mmulab`);
    return name as FeatureName;
  };
  for (const p of parts) {
    if (p.startsWith('+')) features.add(feature(p.slice(1)));
    else if (p.startsWith('-')) features.delete(feature(p.slice(1)));
    else if (p.includes('=')) {
      const [key, value] = p.split('=', 2);
      if (key === 'vendor') {
        if (value !== 'GenuineIntel' && value !== 'AuthenticAMD') throw new CpuSpecError(`unknown vendor "${value}"`);
        vendor = value;
      } else if (key === 'phys-bits') {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 32 || n > 52) throw new CpuSpecError(`phys-bits must be from 32 to 52, got "${value}"`);
        maxPhyAddr = n;
      } else if (value === 'on' || value === 'off') {
        if (value === 'on') features.add(feature(key)); else features.delete(feature(key));
      } else {
        throw new CpuSpecError(`unknown CPU option "${p}"`);
      }
    } else {
      throw new CpuSpecError(`unknown CPU option "${p}" (features are written +name or -name)`);
    }
  }
  if (physBits !== undefined) maxPhyAddr = physBits;
  return { vendor, features: [...features], maxPhyAddr };
}

export function cpuModelFromSpec(text: string, physBits?: number): CpuModel {
  const spec = parseCpuSpec(text, physBits);
  return new CpuModel({ vendor: spec.vendor, features: spec.features, maxPhyAddr: spec.maxPhyAddr });
}

import { FEATURES, type FeatureName, type Vendor } from '../cpu/cpu-model.js';
import { type CpuSpec, knownFeatures } from '../cpu/cpu-spec.js';
import { QEMU_CPU_MODELS, QEMU_FEATURE_FLAGS } from './qemu-cpu-models.js';
import { UsageError } from './errors.js';

/**
 * QEMU's `-cpu MODEL[,+feat|-feat|feat=on|off|prop=value...]` onto mmulab's CPU model.
 *
 * - A named model (qemu64, IvyBridge, Haswell, Opteron_G1, ...) gets QEMU's feature set
 *   (qemu-cpu-models.ts) minus what mmulab does not implement; those left out are named in one
 *   warning line, as QEMU's TCG warns of the features it cannot offer.
 * - `max` and `host` are every feature mmulab implements (QEMU's max is "all the accelerator
 *   supports"; mmulab has no host CPU to pass through, and accepts `host` under tcg too, where
 *   QEMU refuses it).
 * - Vendor: the virtualization hardware's (GenuineIntel with vmx, the default; AuthenticAMD with
 *   svm), as QEMU takes the host's under KVM, for every model; `vendor=` overrides it. QEMU's TCG
 *   reports AuthenticAMD for qemu64, max and the Opterons, but mmulab's CPUID signature is an
 *   Intel family 6 part and it has none of AMD's MSRs (kvm-unit-tests' setup probes the K7
 *   performance counters on AMD and takes #GP), so an AMD vendor is only given when asked for.
 * - `+feat` of a feature mmulab does not implement is refused (the guest would not get what it
 *   asks for); `-feat` of one is accepted (it is absent anyway). A name QEMU does not know is refused.
 * - `phys-bits=N` sets MAXPHYADDR (default 40, QEMU TCG's); `host-phys-bits` takes the modeled
 *   host's (HOST_PHYS_BITS); `migratable=` has no effect on a guest's results.
 */

/** MAXPHYADDR of the host mmulab models (vmm/machine.ts: Machine's hostPhysBits default). */
export const HOST_PHYS_BITS = 46;
/** QEMU TCG's guest MAXPHYADDR, also mmulab's default. */
export const DEFAULT_PHYS_BITS = 40;

/** The model QEMU uses without -cpu. */
export const DEFAULT_QEMU_CPU = 'qemu64';

export interface ResolvedCpu {
  readonly spec: CpuSpec;
  /** One warning line when a named model's features are not all implemented. */
  readonly warning: string | undefined;
}

/** QEMU writes feature names with '-' (lahf-lm) and accepts '_' (lahf_lm): compare them with '-'. */
const canonical = (name: string): string => name.replace(/_/g, '-');

/** mmulab's implemented features, by canonical name. */
function implementedByName(): Map<string, FeatureName> {
  return new Map(knownFeatures().map((f) => [canonical(f), f]));
}

/** QEMU's name for SSE3 is pni; other names are shared with cpu-model.ts. */
const ALIASES: Readonly<Record<string, string>> = { sse3: 'pni', 'sse4-1': 'sse4.1', 'sse4-2': 'sse4.2' };

function isQemuFeature(name: string): boolean {
  return QEMU_FEATURE_FLAGS.has(name) || name.startsWith('vmx-') || canonical(name) in FEATURES_BY_CANONICAL;
}

const FEATURES_BY_CANONICAL: Record<string, true> = Object.fromEntries(Object.keys(FEATURES).map((f) => [canonical(f), true]));

export function cpuModelNames(): string[] {
  return ['max', 'host', ...Object.keys(QEMU_CPU_MODELS)];
}

/** Whether a `key=value` or bare word is on: QEMU's on/off, yes/no, true/false. */
function onOff(what: string, value: string | undefined): boolean {
  if (value === undefined || value === 'on' || value === 'yes' || value === 'true') return true;
  if (value === 'off' || value === 'no' || value === 'false') return false;
  throw new UsageError(`-cpu: ${what}: expected on or off, got "${value}"`);
}

/** Resolves a -cpu value; `hardwareVendor` is the virtualization hardware's vendor. */
export function resolveQemuCpu(text: string, hardwareVendor: Vendor): ResolvedCpu {
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const modelName = parts.length > 0 && !/^[+-]/.test(parts[0]) && !parts[0].includes('=') ? parts.shift()! : DEFAULT_QEMU_CPU;
  const implemented = implementedByName();
  const features = new Set<FeatureName>();
  let vendor: Vendor;
  let warning: string | undefined;
  if (modelName === 'max' || modelName === 'host') {
    for (const f of implemented.values()) features.add(f);
    vendor = hardwareVendor;
  } else {
    const model = QEMU_CPU_MODELS[modelName];
    if (model === undefined) throw new UsageError(`-cpu: unknown CPU model "${modelName}" (models: ${cpuModelNames().join(', ')})`);
    const missing: string[] = [];
    for (const name of model.features.split(' ')) {
      const f = implemented.get(canonical(name));
      if (f === undefined) missing.push(name); else features.add(f);
    }
    vendor = hardwareVendor;
    if (missing.length > 0) warning = `warning: CPU model ${modelName}: mmulab does not implement ${missing.join(', ')} (left out of CPUID)`;
  }
  let physBits = DEFAULT_PHYS_BITS;
  let explicitPhysBits: number | undefined;
  let hostPhysBits = false;
  for (const p of parts) {
    const m = /^([+-])?([^=]+)(?:=(.*))?$/.exec(p)!;
    const [, sign, rawKey, value] = m;
    const key = canonical(rawKey);
    if (sign === undefined && key === 'vendor') {
      if (value !== 'GenuineIntel' && value !== 'AuthenticAMD') throw new UsageError(`-cpu: vendor: expected GenuineIntel or AuthenticAMD, got "${value ?? ''}"`);
      vendor = value;
    } else if (sign === undefined && key === 'phys-bits') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 32 || n > 52) throw new UsageError(`-cpu: phys-bits: expected 32 to 52, got "${value ?? ''}"`);
      explicitPhysBits = n;
    } else if (sign === undefined && key === 'host-phys-bits') {
      hostPhysBits = onOff('host-phys-bits', value);
    } else if (sign === undefined && key === 'migratable') {
      onOff('migratable', value); // migration is not modeled; it changes nothing a test sees
    } else if (sign === undefined && (key === 'hv-passthrough' || key.startsWith('hv-'))) {
      throw new UsageError(`-cpu: ${rawKey}: Hyper-V enlightenments are not modeled by mmulab`);
    } else {
      const name = ALIASES[key] ?? key;
      if (!isQemuFeature(name)) throw new UsageError(`-cpu: unknown CPU feature or property "${rawKey}"`);
      if (sign !== undefined && value !== undefined) throw new UsageError(`-cpu: "${p}": write +${rawKey}, -${rawKey} or ${rawKey}=on|off`);
      const on = sign === '+' || (sign === undefined && onOff(rawKey, value));
      const f = implemented.get(name);
      if (f !== undefined) {
        if (on) features.add(f); else features.delete(f);
      } else if (on) {
        throw new UsageError(`-cpu: CPU feature "${rawKey}" is not implemented by mmulab`);
      }
    }
  }
  // QEMU: an explicit phys-bits wins over host-phys-bits (host-phys-bits=off leaves phys-bits).
  if (explicitPhysBits !== undefined) physBits = explicitPhysBits;
  else if (hostPhysBits) physBits = HOST_PHYS_BITS;
  return { spec: { vendor, features: [...features], maxPhyAddr: physBits }, warning };
}

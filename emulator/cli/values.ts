import { UsageError } from './errors.js';

/**
 * Validation of option values, after yargs has parsed the command line. yargs leaves a value as
 * a string when it is not a number and makes an array of an option given twice; both become a
 * UsageError naming the option and the value.
 */

/** The value of an option that may be given at most once. */
function single(name: string, value: unknown): unknown {
  if (Array.isArray(value)) throw new UsageError(`--${name} given more than once`);
  return value;
}

/** A whole number in [min, max]: "--mem: expected a whole number from 2 to 3072, got "abc"". */
export function wholeNumber(name: string, value: unknown, min: number, max: number, unit = ''): number {
  const v = single(name, value);
  const text = String(v).trim();
  const n = typeof v === 'number' ? v : text === '' ? Number.NaN : Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}: expected a whole number${unit} from ${min} to ${max}, got "${String(v)}"`);
  }
  return n;
}

/** A string option given at most once; `undefined` when absent. */
export function optionalString(name: string, value: unknown): string | undefined {
  const v = single(name, value);
  if (v === undefined) return undefined;
  return String(v);
}

/** A boolean flag (yargs turns a repeated flag into an array of booleans). */
export function flag(value: unknown): boolean {
  if (Array.isArray(value)) return value.some((x) => x === true);
  return value === true;
}

/** Glue between the form tables and vitest: one test per group of forms. */
import { runDiff, type TestCase } from './diff.js';
import { buildCases, type Form } from './forms.js';
import { Rng, seedFor } from './rng.js';

/** Builds the cases of `forms` with a generator seeded from `name` and runs them on both sides. */
export function checkForms(name: string, forms: readonly Form[]): void {
  const rng = new Rng(seedFor(name));
  const cases: TestCase[] = [];
  for (const f of forms) cases.push(...buildCases(f, rng));
  runDiff(name, cases);
}

/** Runs hand-built cases; `make` gets a generator seeded from `name`. */
export function checkCases(name: string, make: (rng: Rng) => TestCase[]): void {
  runDiff(name, make(new Rng(seedFor(name))));
}

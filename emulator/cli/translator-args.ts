import type { Argv } from 'yargs';
import { UsageError } from './errors.js';
import { optionalString } from './values.js';
import { TRANSLATOR_ENV, TRANSLATOR_MODES, parseTranslatorMode } from '../jit/mode.js';

/**
 * `--translator off|on|force` (run, compare, test): how hot guest code is compiled (jit/mode.ts).
 * The choice is passed on through MMULAB_TRANSLATOR, which every code cache reads and worker
 * threads and child processes inherit; without the option an invalid MMULAB_TRANSLATOR is refused.
 */
export function translatorBuilder(y: Argv): Argv {
  return y.option('translator', {
    type: 'string', requiresArg: true,
    describe: `hot code: ${TRANSLATOR_MODES.join(', ')} (off: call-threaded blocks; force: translate every block when first run; env ${TRANSLATOR_ENV})`,
    defaultDescription: 'on',
  });
}

export function applyTranslatorOption(argv: Record<string, unknown>): void {
  const given = optionalString('translator', argv.translator);
  const value = given ?? process.env[TRANSLATOR_ENV];
  if (value === undefined || value === '') return;
  if (parseTranslatorMode(value) === undefined) {
    const where = given !== undefined ? '--translator' : TRANSLATOR_ENV;
    throw new UsageError(`${where}: expected one of ${TRANSLATOR_MODES.join(', ')}, got "${value}"`);
  }
  process.env[TRANSLATOR_ENV] = value;
}

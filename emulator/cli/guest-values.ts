/**
 * Measurements a guest prints as lines of two words, a name and a whole number, the format of
 * kvm-unit-tests' vmexit ("cpuid 2164": TSC cycles per iteration). `compare` shows them as rows,
 * one per name, and leaves their numbers out when it checks that the modes agree: a measurement
 * is expected to differ between MMU modes, the rest of the output is not.
 */

/** NAME VALUE: a name of letters, digits and _ : . + - starting with a letter, and a decimal number. */
const VALUE_LINE = /^([A-Za-z][\w:.+-]*) (\d+)$/;

/** The measurements in a guest's output, in order (a name printed twice keeps its last value). */
export function guestValues(output: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of output.split('\n')) {
    const m = VALUE_LINE.exec(line.replace(/\r$/, ''));
    if (m !== null) {
      values.delete(m[1]);
      values.set(m[1], Number(m[2]));
    }
  }
  return values;
}

/** The output with every measurement's number replaced by '#': what must agree between modes. */
export function withoutValues(output: string): string {
  return output.split('\n').map((line) => {
    const m = VALUE_LINE.exec(line.replace(/\r$/, ''));
    return m === null ? line : `${m[1]} #`;
  }).join('\n');
}

/**
 * The names measured in any of the outputs, merged in the order the guests printed them: a name
 * only some outputs have goes after the name printed before it (vmcall after cpuid, even though
 * the first output, from a mode without a hypervisor, skipped it).
 */
export function valueNames(all: readonly Map<string, number>[]): string[] {
  const names: string[] = [];
  for (const values of all) {
    let at = -1;
    for (const name of values.keys()) {
      const known = names.indexOf(name);
      if (known >= 0) at = known;
      else names.splice(++at, 0, name);
    }
  }
  return names;
}

/** printk's "[    1.234567] " prefix: the modeled time at which a line was printed. */
const PRINTK_TIME = /^\[\s*\d+\.\d+\] /;

/**
 * What must agree between MMU modes: the output without measurements' numbers, without printk
 * timestamps (each mode spends modeled time differently), and without the lines `ignore` names.
 */
export function comparableOutput(output: string, ignore: readonly RegExp[]): string {
  const lines = output.split('\n').map((l) => l.replace(/\r$/, '').replace(PRINTK_TIME, ''));
  return withoutValues(lines.filter((l) => !ignore.some((re) => re.test(l))).join('\n'));
}

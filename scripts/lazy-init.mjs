// Deferring the costly module-level objects of yargs' text-width helpers (string-width, which
// cliui and wrap-ansi use to lay out help text). Each copy builds an Intl.Segmenter and, in
// string-width 8, a /^\p{RGI_Emoji}$/v pattern when it is loaded: about 25 ms of CPU each (ICU's
// segmentation data; the emoji property of strings), paid by every start of mmulab although only
// help output and error messages ever measure a string. bundle-cli.mjs rewrites those
// declarations to lazyInit(() => ...), which builds the object on first use.

/** Source of the helper put at the top of a rewritten module. */
export const LAZY_INIT_SOURCE = `function lazyInit(make) {
  let made;
  const real = () => (made ??= make());
  // Methods are bound to the real object, so a regular expression's lastIndex and a segmenter's
  // state stay its own; String.prototype.match/search/split/replace reach it through Symbol.match etc.
  return new Proxy({}, {
    get(_, key) { const o = real(); const v = Reflect.get(o, key, o); return typeof v === 'function' ? v.bind(o) : v; },
    set(_, key, value) { return Reflect.set(real(), key, value); },
    has(_, key) { return Reflect.has(real(), key); },
  });
}
`;

/** `const name = new Intl.Segmenter(...)` or a regular expression literal using a Unicode property. */
const COSTLY = /^(const|let|var) (\w+) = (new Intl\.Segmenter\([^)]*\)|\/.*\\p\{.*\/[a-z]*);$/gm;

/** The module's source with its costly module-level declarations deferred, and how many were. */
export function deferCostlyInit(source) {
  let count = 0;
  const out = source.replace(COSTLY, (_, kind, name, init) => { count++; return `${kind} ${name} = lazyInit(() => ${init});`; });
  return { source: count > 0 ? `${out}\n${LAZY_INIT_SOURCE}` : source, count };
}

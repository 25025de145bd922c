#!/usr/bin/env node
// mmulab's entry point as `npm run build` leaves it (written by scripts/bundle-cli.mjs): the CLI and
// everything it imports are one script beside this file, compiled through V8's code cache. The
// first start after a build compiles it and, at exit, saves the compiled code (the functions that
// start used included) in a file named after the bundle's hash; later starts load that instead of
// parsing 1.3 MB of JavaScript and compiling each function on its first call. A cache V8 rejects
// (another Node version or V8 flags) is rewritten; one that cannot be written (a read-only
// install) only means a slower start.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const file = fileURLToPath(new URL('./main.bundle.cjs', import.meta.url));
// V8 checks a cache against the source's length only: the name carries the bundle's content hash.
const cacheFile = fileURLToPath(new URL('./main.bundle.@HASH@.cache', import.meta.url));
let cachedData;
try { cachedData = readFileSync(cacheFile); } catch { cachedData = undefined; }
// The bundle is an ES module turned CommonJS: strict, as it was, and its first line (#!) a comment.
const source = readFileSync(file, 'utf8').replace(/^#!/, '//');
const script = new Script(`(function (exports, require, module, __filename, __dirname, mainUrl, importModule) {'use strict';${source}\n})`,
  { filename: file, cachedData });
if (cachedData === undefined || script.cachedDataRejected === true) {
  process.once('exit', () => {
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch { /* read-only: start without the cache */ }
  });
}
const module = { exports: {} };
// The bundle's dynamic imports (capstone-wasm) come here: import() in code from the cache would fail.
const importModule = (specifier) => import(specifier);
script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file), import.meta.url, importModule);

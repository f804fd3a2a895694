#!/usr/bin/env node
/**
 * Where oneDNN lives, for the native addon's build (native/binding.gyp) and for scripts/native/build.js.
 *   SUPERFICIAL_SAFETY_DNNL_ROOT=/prefix       headers in /prefix/include, library in /prefix/lib (or lib64)
 *   SUPERFICIAL_SAFETY_DNNL_INCLUDE=/dir  SUPERFICIAL_SAFETY_DNNL_LIB=/dir   each on its own
 * Otherwise the usual system and Homebrew prefixes are searched.
 * `node dnnl-dirs.js include|libflags|rpath` prints what gyp needs (nothing when the compiler's defaults do);
 * `node dnnl-dirs.js` prints the found directories as JSON, or exits 1 when no dnnl.hpp is found.
 */
const fs = require('fs');
const path = require('path');

const PREFIXES = ['/usr', '/usr/local', '/opt/homebrew', '/opt/homebrew/opt/onednn', '/usr/local/opt/onednn',
  '/opt/intel/oneapi/dnnl/latest', '/opt/intel/oneapi/dnnl/latest/cpu_gomp'];
const DEFAULT_INCLUDES = ['/usr/include', '/usr/local/include'];

function findDirs(env = process.env) {
  const root = env.SUPERFICIAL_SAFETY_DNNL_ROOT;
  const roots = root ? [root] : PREFIXES;
  let include = env.SUPERFICIAL_SAFETY_DNNL_INCLUDE;
  if (!include) include = roots.map((r) => path.join(r, 'include')).find((d) => fs.existsSync(path.join(d, 'oneapi', 'dnnl', 'dnnl.hpp')));
  if (!include || !fs.existsSync(path.join(include, 'oneapi', 'dnnl', 'dnnl.hpp'))) return undefined;
  let lib = env.SUPERFICIAL_SAFETY_DNNL_LIB;
  if (!lib) {
    const prefix = path.dirname(include);
    const names = ['libdnnl.so', 'libdnnl.dylib'];
    lib = ['lib', 'lib64', 'lib/x86_64-linux-gnu', 'lib/aarch64-linux-gnu'].map((l) => path.join(prefix, l))
      .find((d) => names.some((n) => fs.existsSync(path.join(d, n))));
  }
  return { include, lib };
}

if (require.main === module) {
  const dirs = findDirs();
  const what = process.argv[2];
  if (!what) {
    if (!dirs) process.exit(1);
    console.log(JSON.stringify(dirs));
  } else if (dirs) {
    const custom = (d) => d && !DEFAULT_INCLUDES.includes(d) && !/^\/usr\/lib(64)?(\/[^/]+-linux-gnu)?$/.test(d);
    if (what === 'include' && custom(dirs.include)) console.log(dirs.include);
    if (what === 'libflags' && custom(dirs.lib)) console.log(`-L${dirs.lib}`);
    if (what === 'rpath' && custom(dirs.lib)) console.log(`-Wl,-rpath,${dirs.lib}`);
    // The addon is compiled on the machine it runs on (npm ci), so it may use that CPU's vector units;
    // SUPERFICIAL_SAFETY_NATIVE_PORTABLE=1 builds for the baseline ISA instead (a binary copied elsewhere).
    if (what === 'march' && process.env.SUPERFICIAL_SAFETY_NATIVE_PORTABLE !== '1' && process.arch === 'x64') console.log('-march=native');
  }
}

module.exports = { findDirs };

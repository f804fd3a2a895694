#!/usr/bin/env node
/**
 * Builds the native oneDNN addon (native/) during `npm ci` / `npm install`, and never fails the install:
 * without oneDNN, a C++ compiler or Node's headers it says why in one line and the project runs on the wasm
 * engine. `npm run build:native` runs it by hand (add --verbose for the compiler's output).
 * SUPERFICIAL_SAFETY_SKIP_NATIVE=1 skips it; where oneDNN lives: see scripts/native/dnnl-dirs.js.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { findDirs } = require('./dnnl-dirs');

const root = path.join(__dirname, '..', '..');
const verbose = process.argv.includes('--verbose');
const note = (msg) => console.log(`superficial-safety: native engine ${msg}`);

function main() {
  if (process.env.SUPERFICIAL_SAFETY_SKIP_NATIVE === '1') return note('not built (SUPERFICIAL_SAFETY_SKIP_NATIVE=1); the wasm engine will run');
  const dirs = findDirs();
  if (!dirs) {
    return note('not built: oneDNN headers (oneapi/dnnl/dnnl.hpp) not found; the wasm engine will run. ' +
      'Install libdnnl-dev (Debian/Ubuntu) or see environment.md, or set SUPERFICIAL_SAFETY_DNNL_ROOT');
  }
  const cxx = process.env.CXX || 'c++';
  if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) {
    return note(`not built: no C++ compiler (${cxx}); the wasm engine will run`);
  }
  let gyp;
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
    require.resolve('node-addon-api', { paths: [root] });
  } catch {
    return note('not built: node-gyp or node-addon-api is not installed; the wasm engine will run');
  }
  // Node's own headers, so that node-gyp needs no download (this machine may be offline).
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const args = [gyp, 'rebuild', '--directory=native'];
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', stdio: verbose ? 'inherit' : 'pipe' });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join(' | ');
    return note(`not built: the compile failed (${tail || `exit ${r.status}`}); the wasm engine will run. ` +
      'Run `npm run build:native -- --verbose` to see why');
  }
  const check = spawnSync(process.execPath, ['-e', "require('./native/build/Release/superficial_native.node').info()"], { cwd: root, encoding: 'utf8' });
  if (check.status !== 0) return note(`built but does not load (${(check.stderr || '').trim().split('\n')[0]}); the wasm engine will run`);
  note(`built (oneDNN from ${dirs.include})`);
}

try {
  main();
} catch (e) {
  note(`not built: ${e && e.message}; the wasm engine will run`);
}

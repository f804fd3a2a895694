/**
 * A missing or broken native addon: a clear reason, and the wasm engine. Runs with or without the addon.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

type NativeModule = typeof import('../../src/engine/native');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const tfjs = require('@tensorflow/tfjs');

function loadWith(addonPath: string): NativeModule {
  const prev = process.env.SUPERFICIAL_SAFETY_NATIVE_ADDON;
  process.env.SUPERFICIAL_SAFETY_NATIVE_ADDON = addonPath;
  try {
    let mod: NativeModule | undefined;
    // A fresh copy of native.ts (its load state), sharing this process's TF.js.
    jest.isolateModules(() => {
      jest.doMock('@tensorflow/tfjs', () => tfjs);
      mod = require('../../src/engine/native') as NativeModule;
    });
    mod!.loadNative();
    return mod!;
  } finally {
    if (prev === undefined) delete process.env.SUPERFICIAL_SAFETY_NATIVE_ADDON;
    else process.env.SUPERFICIAL_SAFETY_NATIVE_ADDON = prev;
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-native-load-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('an addon that is not built is reported as such, with what to do', () => {
  const m = loadWith(path.join(tmp, 'missing.node'));
  expect(m.nativeAddon()).toBeUndefined();
  expect(m.nativeLoadError()).toMatch(/not built .*missing\.node.*npm run build:native/);
  expect(m.installNativeKernels()).toBe(false);
});

test('a file that does not load as an addon (wrong or corrupt binary) is reported, not thrown', () => {
  const bad = path.join(tmp, 'bad.node');
  fs.writeFileSync(bad, 'not an ELF file');
  const m = loadWith(bad);
  expect(m.nativeAddon()).toBeUndefined();
  expect(m.nativeLoadError()).toMatch(/does not load|cannot load/);
});

const cli = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');
(fs.existsSync(cli) ? test : test.skip)('the CLI falls back to wasm with a one-line reason, and --engine native then fails clearly', () => {
  const env = { ...process.env, SUPERFICIAL_SAFETY_NATIVE_ADDON: path.join(tmp, 'missing.node'), SUPERFICIAL_SAFETY_ENGINE: '' };
  const probe = "require('./dist/engine/backend').initEngine().then((e) => console.log(JSON.stringify(e)))";
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: path.resolve(__dirname, '..', '..'), env, encoding: 'utf8' });
  expect(r.status).toBe(0);
  const info = JSON.parse(r.stdout.trim());
  expect(info.engine).toBe('wasm');
  expect(info.nativeUnavailable).toMatch(/not built/);
  expect(r.stderr).toMatch(/superficial-safety: wasm engine \(the native addon is not built/);
  const forced = spawnSync(process.execPath, [cli, 'train', '--help'], { env, encoding: 'utf8' });
  expect(forced.stdout).toMatch(/--engine/);
  const f = spawnSync(process.execPath, ['-e', "require('./dist/engine/backend').initEngine({ engine: 'native' }).catch((e) => { console.error(e.message); process.exit(3); })"],
    { cwd: path.resolve(__dirname, '..', '..'), env, encoding: 'utf8' });
  expect(f.status).toBe(3);
  expect(f.stderr).toMatch(/SUPERFICIAL_SAFETY_ENGINE=native \(or --engine native\) but the native engine is unavailable: the native addon is not built/);
});

test('the install step never fails: without oneDNN or a compiler it says why and exits 0', () => {
  const script = path.resolve(__dirname, '..', '..', 'scripts', 'native', 'build.js');
  const noDnnl = spawnSync(process.execPath, [script], { env: { ...process.env, SUPERFICIAL_SAFETY_DNNL_ROOT: path.join(tmp, 'nowhere') }, encoding: 'utf8' });
  expect(noDnnl.status).toBe(0);
  expect(noDnnl.stdout).toMatch(/native engine not built: oneDNN headers .* not found; the wasm engine will run/);
  const fakeRoot = path.join(tmp, 'dnnl');
  fs.mkdirSync(path.join(fakeRoot, 'include', 'oneapi', 'dnnl'), { recursive: true });
  fs.writeFileSync(path.join(fakeRoot, 'include', 'oneapi', 'dnnl', 'dnnl.hpp'), '');
  const noCxx = spawnSync(process.execPath, [script], { env: { ...process.env, SUPERFICIAL_SAFETY_DNNL_ROOT: fakeRoot, CXX: path.join(tmp, 'no-such-compiler') }, encoding: 'utf8' });
  expect(noCxx.status).toBe(0);
  expect(noCxx.stdout).toMatch(/native engine not built: no C\+\+ compiler/);
  const skipped = spawnSync(process.execPath, [script], { env: { ...process.env, SUPERFICIAL_SAFETY_SKIP_NATIVE: '1' }, encoding: 'utf8' });
  expect(skipped.status).toBe(0);
  expect(skipped.stdout).toMatch(/not built \(SUPERFICIAL_SAFETY_SKIP_NATIVE=1\)/);
});

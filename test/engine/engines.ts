/**
 * The engines a test file runs on: wasm always, native when the addon is built. Where it is not, the
 * native runs are skipped with one visible note (not silently).
 */
import { nativeLoadError } from '../../src/engine/native';

let noted = false;

export function nativeAvailable(): boolean {
  return !nativeLoadError();
}

export function testEngines(): ('wasm' | 'native')[] {
  if (nativeAvailable()) return ['wasm', 'native'];
  if (!noted) {
    noted = true;
    // eslint-disable-next-line no-console
    console.log(`NOTE: native-engine tests skipped: ${nativeLoadError()}`);
  }
  return ['wasm'];
}

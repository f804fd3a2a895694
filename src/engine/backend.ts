/**
 * Backend choice. Preference: tfjs-node (native, only if the user installed it — its install step
 * downloads libtensorflow, which this project cannot depend on) → wasm (default) → cpu (pure JS,
 * ~100x slower, last resort). SUPERFICIAL_SAFETY_BACKEND=node|wasm|cpu forces one.
 */
import * as tf from '@tensorflow/tfjs';
import { installFastConvGradients } from './convGradients';
import { installFastMatMulGradients } from './matmulGradients';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_ENV = 'SUPERFICIAL_SAFETY_BACKEND';

export interface EngineInfo {
  backend: BackendName;
  fastConvGradients: boolean;
  simd?: boolean;
  tfjsVersion: string;
}

let current: EngineInfo | undefined;

/**
 * The cpu backend prints a banner recommending tfjs-node on its first use in Node; this project already
 * says how to enable tfjs-node (environment.md), so the banner is noise in every log and notebook.
 */
function silenceNodeGreeting(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}

function tryLoadNode(): boolean {
  try {
    // Optional peer: not in package.json on purpose.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    require('@tensorflow/tfjs-backend-wasm');
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

function normalise(name: string): BackendName {
  const n = name.trim().toLowerCase();
  if (n === 'node' || n === 'tfjs-node' || n === 'tensorflow') return 'tensorflow';
  if (n === 'wasm' || n === 'cpu') return n;
  throw new Error(`${BACKEND_ENV}=${name}: unknown backend (use node, wasm or cpu)`);
}

/**
 * Initialise TF.js once per process and return what was chosen. Safe to call repeatedly; a different
 * explicit request switches backend.
 */
export async function initEngine(opts: { backend?: string; quiet?: boolean } = {}): Promise<EngineInfo> {
  silenceNodeGreeting();
  const requested = opts.backend ?? process.env[BACKEND_ENV];
  const want = requested ? normalise(requested) : undefined;
  if (current && (!want || want === current.backend)) return current;

  let backend: BackendName | undefined;
  if (want === 'tensorflow') {
    if (!tryLoadNode() || !(await tf.setBackend('tensorflow'))) {
      throw new Error(`${BACKEND_ENV}=node but @tensorflow/tfjs-node could not be loaded; see environment.md`);
    }
    backend = 'tensorflow';
  } else if (want === 'wasm') {
    if (!(await tryWasm())) throw new Error('the wasm backend could not be initialised');
    backend = 'wasm';
  } else if (want === 'cpu') {
    await tf.setBackend('cpu');
    backend = 'cpu';
  } else if (tryLoadNode() && (await tf.setBackend('tensorflow'))) {
    backend = 'tensorflow';
  } else if (await tryWasm()) {
    backend = 'wasm';
  } else {
    await tf.setBackend('cpu');
    backend = 'cpu';
  }
  await tf.ready();

  // Native kernels have fast backprop; wasm lacks Conv2DBackpropFilter and cpu is faster with forward convs too.
  const fast = backend !== 'tensorflow';
  if (fast) {
    installFastConvGradients();
    installFastMatMulGradients();
  }
  current = {
    backend,
    fastConvGradients: fast,
    simd: backend === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : undefined,
    tfjsVersion: tf.version.tfjs,
  };
  if (!opts.quiet && backend === 'cpu') {
    console.warn('superficial-safety: using the pure-JS cpu backend (about 100x slower than wasm)');
  }
  return current;
}

export function engineInfo(): EngineInfo | undefined {
  return current;
}

/** Throw a clear error if a tensor holds NaN or Inf (reads back one scalar, not the tensor). */
export function assertFinite(t: tf.Tensor, what: string): void {
  const bad = tf.tidy(() => tf.logicalNot(tf.isFinite(t)).any().dataSync()[0]);
  if (bad) throw new Error(`${what} is not finite (NaN or Inf)`);
}

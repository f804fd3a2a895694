/**
 * Backend and engine choice. Backend preference: tfjs-node (only if the user installed it — its install
 * step downloads libtensorflow, which this project cannot depend on) → wasm (default) → cpu (pure JS,
 * ~100x slower, last resort). SUPERFICIAL_SAFETY_BACKEND=node|wasm|cpu forces one.
 *
 * On the wasm backend the engine is `native` (oneDNN kernels from the project's addon, engine/native.ts)
 * when the addon loads, else `wasm`; SUPERFICIAL_SAFETY_ENGINE=native|wasm (CLI --engine) forces one.
 * SUPERFICIAL_SAFETY_THREADS (CLI --threads) sets the native threads of this thread (default 1: the study
 * runs one cell per core).
 */
import * as tf from '@tensorflow/tfjs';
import { installFastConvGradients } from './convGradients';
import { installFastMatMulGradients } from './matmulGradients';
import { installNativeKernels, loadNative, nativeAddon, nativeLoadError, setNativeThreads, uninstallNativeKernels } from './native';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type EngineName = 'native' | 'wasm' | 'tensorflow' | 'cpu';
export const BACKEND_ENV = 'SUPERFICIAL_SAFETY_BACKEND';
export const ENGINE_ENV = 'SUPERFICIAL_SAFETY_ENGINE';
export const THREADS_ENV = 'SUPERFICIAL_SAFETY_THREADS';

export interface EngineInfo {
  backend: BackendName;
  /** What computes: `native` (oneDNN kernels on the wasm backend's memory), `wasm`, or the backend itself. */
  engine: EngineName;
  /** Native threads per worker thread (1 unless --threads / SUPERFICIAL_SAFETY_THREADS). */
  threads: number;
  /** oneDNN version when the native engine runs. */
  dnnl?: string;
  /** Why the native engine is not running, when the backend is wasm and it is not. */
  nativeUnavailable?: string;
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

export function normaliseEngine(name: string): 'native' | 'wasm' {
  const n = name.trim().toLowerCase();
  if (n === 'native' || n === 'wasm') return n;
  throw new Error(`${ENGINE_ENV}=${name}: unknown engine (use native or wasm)`);
}

export function parseThreads(value: string | number | undefined, what = THREADS_ENV): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what}=${value}: threads must be a positive integer`);
  return n;
}

let warnedNative = false;

/** Switch the engine on the wasm backend (tests and bench run both in one process). */
export function setEngine(engine: 'native' | 'wasm', opts: { threads?: number } = {}): EngineInfo {
  if (!current || current.backend !== 'wasm') throw new Error('setEngine: the wasm backend is not initialised');
  if (engine === 'native') {
    if (!installNativeKernels()) throw new Error(`the native engine is unavailable: ${nativeLoadError() ?? 'unknown reason'}`);
  } else {
    uninstallNativeKernels();
  }
  const threads = opts.threads ?? current.threads;
  if (loadNative()) setNativeThreads(threads);
  current = {
    ...current, engine, threads, dnnl: engine === 'native' ? nativeAddon()?.info().dnnl : undefined,
    nativeUnavailable: engine === 'native' ? undefined : current.nativeUnavailable,
  };
  return current;
}

/**
 * Initialise TF.js once per process (per worker thread) and return what was chosen. Safe to call
 * repeatedly; a different explicit request switches backend or engine.
 */
export async function initEngine(opts: { backend?: string; engine?: string; threads?: number; quiet?: boolean } = {}): Promise<EngineInfo> {
  silenceNodeGreeting();
  const requested = opts.backend ?? process.env[BACKEND_ENV];
  const want = requested ? normalise(requested) : undefined;
  const engineRequest = opts.engine ?? process.env[ENGINE_ENV];
  const wantEngine = engineRequest ? normaliseEngine(engineRequest) : undefined;
  const threads = opts.threads ?? parseThreads(process.env[THREADS_ENV]) ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer (got ${threads})`);
  if (current && (!want || want === current.backend)) {
    if (current.backend !== 'wasm') return current;
    if ((wantEngine ?? current.engine) !== current.engine || threads !== current.threads) {
      return setEngine(wantEngine ?? (current.engine as 'native' | 'wasm'), { threads });
    }
    return current;
  }
  if (wantEngine && want && want !== 'wasm') {
    throw new Error(`engine ${wantEngine} needs the wasm backend (backend ${want} was requested)`);
  }

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
    engine: backend,
    threads,
    fastConvGradients: fast,
    simd: backend === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : undefined,
    tfjsVersion: tf.version.tfjs,
  };
  if (!opts.quiet && backend === 'cpu') {
    console.warn('superficial-safety: using the pure-JS cpu backend (about 100x slower than wasm)');
  }
  if (backend === 'wasm') {
    const available = !!loadNative();
    if (wantEngine === 'native' && !available) {
      throw new Error(`${ENGINE_ENV}=native (or --engine native) but the native engine is unavailable: ${nativeLoadError()}`);
    }
    if (!available) {
      current.nativeUnavailable = nativeLoadError();
      if (!opts.quiet && !wantEngine && !warnedNative) {
        warnedNative = true;
        console.warn(`superficial-safety: wasm engine (${current.nativeUnavailable})`);
      }
    }
    setEngine(wantEngine ?? (available ? 'native' : 'wasm'), { threads });
  }
  return current;
}

export function engineInfo(): EngineInfo | undefined {
  return current;
}

/** One line for logs, reports and notebooks: which engine computed, with how many threads. */
export function describeEngine(e: EngineInfo | undefined = current): string {
  if (!e) return 'engine not initialised';
  const base = `TF.js ${e.tfjsVersion} ${e.backend}${e.simd ? ' (SIMD)' : ''}`;
  if (e.engine === 'native') return `engine native (oneDNN ${e.dnnl}, ${e.threads} thread${e.threads > 1 ? 's' : ''}) on ${base}`;
  if (e.engine === 'wasm') return `engine wasm on ${base}${e.nativeUnavailable ? ` (native unavailable: ${e.nativeUnavailable})` : ''}`;
  return `engine ${e.engine} (${base})`;
}

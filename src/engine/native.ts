/**
 * The native engine: oneDNN kernels (native/src/addon.cc) registered as the wasm backend's kernels, so
 * models, defenses and attacks run unchanged. The wasm backend keeps every tensor in its
 * WebAssembly.Memory; a native kernel gets that ArrayBuffer plus byte offsets and works in place, so no
 * activation is ever copied between memories. The buffer is fetched again after every allocation because
 * growing the memory detaches the old one.
 *
 * What the addon does not support (another dtype, NCHW, dilation, broadcast batch products) runs on the
 * wasm kernel that was registered before, and is counted (`nativeStats().fallbacks`).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

interface Addon {
  conv2d(heap: ArrayBuffer, args: Float64Array): void;
  matMul(heap: ArrayBuffer, args: Float64Array): void;
  batchNormForward(heap: ArrayBuffer, args: Float64Array): void;
  batchNormBackward(heap: ArrayBuffer, args: Float64Array): void;
  avgPool2(heap: ArrayBuffer, args: Float64Array): void;
  sgdStep(heap: ArrayBuffer, args: Float64Array): void;
  setThreads(n: number): void;
  configure(blockedWeights?: boolean): void;
  info(): { dnnl: string; cpuRuntime: string; threads: number; cachedPrimitives: number; calls: number; blockedWeights: boolean };
  sgemm(args: Float64Array): number;
}

/** The wasm backend's internals that the kernels use (stable across tfjs-backend-wasm 4.x). */
interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

export const ADDON_ENV = 'SUPERFICIAL_SAFETY_NATIVE_ADDON';
export const ADDON_PATH = path.resolve(__dirname, '..', '..', 'native', 'build', 'Release', 'superficial_native.node');

let addon: Addon | undefined;
let loadError: string | undefined;
let loadTried = false;

/** Load the addon once; undefined (with `nativeLoadError()` saying why) when it is not built or does not load. */
export function loadNative(): Addon | undefined {
  if (loadTried) return addon;
  loadTried = true;
  const file = process.env[ADDON_ENV] || ADDON_PATH;
  if (!fs.existsSync(file)) {
    loadError = `the native addon is not built (${path.relative(process.cwd(), file) || file} is missing): ` +
      'install oneDNN and run `npm run build:native` (environment.md)';
    return undefined;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const a = require(file) as Addon;
    a.info();
    addon = a;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    loadError = /cannot open shared object|Library not loaded|image not found|undefined symbol/.test(msg)
      ? `the native addon cannot load its oneDNN library (${msg}); reinstall oneDNN or rebuild with \`npm run build:native\``
      : `the native addon does not load (${msg})`;
  }
  return addon;
}

export function nativeLoadError(): string | undefined {
  loadNative();
  return loadError;
}

export function nativeAddon(): Addon | undefined {
  return loadNative();
}

// ---------------------------------------------------------------------------------------------------------
const fallbacks = new Map<string, number>();
let active = false;

function fellBack(kernel: string): void {
  fallbacks.set(kernel, (fallbacks.get(kernel) ?? 0) + 1);
}

export interface NativeStats { active: boolean; fallbacks: Record<string, number>; calls: number; threads: number; dnnl?: string }

export function nativeStats(): NativeStats {
  const info = addon?.info();
  return { active, fallbacks: Object.fromEntries(fallbacks), calls: info?.calls ?? 0, threads: info?.threads ?? 0, dnnl: info?.dnnl };
}

export function resetNativeFallbacks(): void {
  fallbacks.clear();
}

/** True while the native kernels are installed and the wasm backend is the active one (tests switch backends). */
export function nativeActive(): boolean {
  return active && tf.getBackend() === 'wasm';
}

/** Native threads for this thread's kernels (each worker thread has its own count). */
export function setNativeThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`native threads must be a positive integer (got ${n})`);
  loadNative()?.setThreads(n);
}

function offset(backend: WasmBackendLike, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Conv geometry in the addon's argument order, or undefined where the addon does not apply. */
export function nativeConvGeometry(xShape: number[], filterShape: number[], strides: number | [number, number],
  pad: tf.backend_util.PadInfo | 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]] | unknown,
  dilations: number | [number, number] = 1, dimRoundingMode?: 'floor' | 'round' | 'ceil', dataFormat = 'NHWC'): number[] | undefined {
  if (dataFormat !== 'NHWC' || xShape.length !== 4 || filterShape.length !== 4) return undefined;
  const d = Array.isArray(dilations) ? dilations : [dilations, dilations];
  if (d[0] !== 1 || d[1] !== 1) return undefined;
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number],
    filterShape as [number, number, number, number], strides, 1, pad as 'same', dimRoundingMode, false, 'channelsLast');
  const { top, left, bottom, right } = info.padInfo;
  const [n, h, w, ci] = xShape;
  const [kh, kw, , co] = filterShape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  if ([top, left, bottom, right].some((p) => p < 0) || [n, h, w, ci, co, oh, ow].some((v) => v <= 0)) return undefined;
  if (Math.floor((h + top + bottom - kh) / sh) + 1 !== oh || Math.floor((w + left + right - kw) / sw) + 1 !== ow) return undefined;
  return [n, h, w, ci, kh, kw, co, oh, ow, sh, sw, top, left, bottom, right];
}

function convArgs(mode: number, offsets: number[], geometry: number[]): Float64Array {
  return Float64Array.from([mode, ...offsets, ...geometry]);
}

interface ConvAttrs {
  strides: [number, number] | number; pad: 'same' | 'valid' | number; dataFormat: string;
  dilations?: [number, number] | number; dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape?: number[]; filterShape?: number[];
}

function conv2dKernel(original?: tf.KernelFunc): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const a = args.attrs as unknown as ConvAttrs;
    const g = x.dtype === 'float32' && filter.dtype === 'float32'
      ? nativeConvGeometry(x.shape, filter.shape, a.strides, a.pad, a.dilations, a.dimRoundingMode, a.dataFormat) : undefined;
    if (!g || !original) {
      if (!original) throw new Error(`native Conv2D x[${x.shape}] filter[${filter.shape}]: unsupported and no wasm kernel`);
      fellBack('Conv2D');
      return original(args);
    }
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput([g[0], g[7], g[8], g[6]], 'float32');
    addon!.conv2d(backend.wasm.HEAPU8.buffer as ArrayBuffer, convArgs(0, [offset(backend, x), offset(backend, filter), offset(backend, out)], g));
    return out;
  }) as tf.KernelFunc;
}

function conv2dBackpropInputKernel(original?: tf.KernelFunc): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = args.attrs as unknown as ConvAttrs;
    const xShape = a.inputShape!;
    const g = dy.dtype === 'float32' && filter.dtype === 'float32'
      ? nativeConvGeometry(xShape, filter.shape, a.strides, a.pad, 1, a.dimRoundingMode, a.dataFormat) : undefined;
    if (!g || g[7] !== dy.shape[1] || g[8] !== dy.shape[2]) {
      if (!original) throw new Error(`native Conv2DBackpropInput dy[${dy.shape}] filter[${filter.shape}]: unsupported and no wasm kernel`);
      fellBack('Conv2DBackpropInput');
      return original(args);
    }
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(xShape, 'float32');
    addon!.conv2d(backend.wasm.HEAPU8.buffer as ArrayBuffer, convArgs(1, [offset(backend, dy), offset(backend, filter), offset(backend, out)], g));
    return out;
  }) as tf.KernelFunc;
}

function conv2dBackpropFilterKernel(original?: tf.KernelFunc): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = args.attrs as unknown as ConvAttrs;
    const filterShape = a.filterShape!;
    const g = x.dtype === 'float32' && dy.dtype === 'float32'
      ? nativeConvGeometry(x.shape, filterShape, a.strides, a.pad, 1, a.dimRoundingMode, a.dataFormat) : undefined;
    if (!g || g[7] !== dy.shape[1] || g[8] !== dy.shape[2]) {
      // The gradient that dispatches here checks support first (convGradients.ts), so this is a caller's bug.
      if (!original) throw new Error(`native Conv2DBackpropFilter x[${x.shape}] dy[${dy.shape}] filter[${filterShape}]: unsupported shape`);
      fellBack('Conv2DBackpropFilter');
      return original(args);
    }
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(filterShape, 'float32');
    addon!.conv2d(backend.wasm.HEAPU8.buffer as ArrayBuffer, convArgs(2, [offset(backend, x), offset(backend, dy), offset(backend, out)], g));
    return out;
  }) as tf.KernelFunc;
}

function batchMatMulKernel(original?: tf.KernelFunc): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const ra = a.shape.length;
    const rb = b.shape.length;
    const sameBatch = ra === rb && ra >= 2 && tf.util.arraysEqual(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const batch = tf.util.sizeFromShape(a.shape.slice(0, -2));
    if (!sameBatch || a.dtype !== 'float32' || b.dtype !== 'float32' || k !== kb || m * n * k * batch === 0) {
      if (!original) throw new Error(`native BatchMatMul a[${a.shape}] b[${b.shape}]: unsupported and no wasm kernel`);
      fellBack('BatchMatMul');
      return original(args);
    }
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput([...a.shape.slice(0, -2), m, n], 'float32');
    addon!.matMul(backend.wasm.HEAPU8.buffer as ArrayBuffer,
      Float64Array.of(offset(backend, a), offset(backend, b), offset(backend, out), batch, m, n, k, transposeA ? 1 : 0, transposeB ? 1 : 0));
    return out;
  }) as tf.KernelFunc;
}

/** Training-mode batch norm (+ ReLU) over NHWC channels: outputs y, batch mean, biased batch variance. */
function batchNormTrainKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, gamma, beta } = args.inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
  const { relu, epsilon } = args.attrs as unknown as { relu: boolean; epsilon: number };
  const backend = args.backend as unknown as WasmBackendLike;
  const [n, h, w, c] = x.shape;
  const y = backend.makeOutput(x.shape, 'float32');
  const mean = backend.makeOutput([c], 'float32');
  const variance = backend.makeOutput([c], 'float32');
  addon!.batchNormForward(backend.wasm.HEAPU8.buffer as ArrayBuffer, Float64Array.of(
    offset(backend, x), offset(backend, gamma), offset(backend, beta), offset(backend, y), offset(backend, mean),
    offset(backend, variance), n, h, w, c, epsilon, relu ? 1 : 0));
  return [y, mean, variance];
}

function batchNormTrainGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, y, dy, gamma, mean, variance } = args.inputs as Record<string, tf.TensorInfo>;
  const { relu, epsilon } = args.attrs as unknown as { relu: boolean; epsilon: number };
  const backend = args.backend as unknown as WasmBackendLike;
  const [n, h, w, c] = x.shape;
  const dx = backend.makeOutput(x.shape, 'float32');
  const dGamma = backend.makeOutput([c], 'float32');
  const dBeta = backend.makeOutput([c], 'float32');
  addon!.batchNormBackward(backend.wasm.HEAPU8.buffer as ArrayBuffer, Float64Array.of(
    offset(backend, x), offset(backend, y), offset(backend, dy), offset(backend, gamma), offset(backend, mean),
    offset(backend, variance), offset(backend, dx), offset(backend, dGamma), offset(backend, dBeta), n, h, w, c, epsilon, relu ? 1 : 0));
  return [dx, dGamma, dBeta];
}

/** 2x2 average pooling with stride 2 on even sizes, and its gradient (attrs.backward). */
function avgPool2Kernel(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { backward } = args.attrs as unknown as { backward: boolean };
  const backend = args.backend as unknown as WasmBackendLike;
  const [n, h, w, c] = x.shape;
  // Backward: x is dy [n, h/2, w/2, c] and the output has the input's size.
  const [fh, fw] = backward ? [2 * h, 2 * w] : [h, w];
  const out = backend.makeOutput(backward ? [n, fh, fw, c] : [n, h / 2, w / 2, c], 'float32');
  addon!.avgPool2(backend.wasm.HEAPU8.buffer as ArrayBuffer,
    Float64Array.of(offset(backend, x), offset(backend, out), n, fh, fw, c, backward ? 1 : 0));
  return out;
}

/** One SGD-with-momentum step of one parameter: [p', v'] from p, g and v (absent on the first step). */
function sgdStepKernel(args: KernelArgs): tf.TensorInfo[] {
  const { p, g, v } = args.inputs as { p: tf.TensorInfo; g: tf.TensorInfo; v?: tf.TensorInfo };
  const { lr, momentum, weightDecay } = args.attrs as unknown as { lr: number; momentum: number; weightDecay: number };
  const backend = args.backend as unknown as WasmBackendLike;
  const pOut = backend.makeOutput(p.shape, 'float32');
  const vOut = momentum > 0 ? backend.makeOutput(p.shape, 'float32') : undefined;
  addon!.sgdStep(backend.wasm.HEAPU8.buffer as ArrayBuffer, Float64Array.of(offset(backend, p), offset(backend, g),
    v ? offset(backend, v) : -1, offset(backend, pOut), vOut ? offset(backend, vOut) : -1, tf.util.sizeFromShape(p.shape),
    lr, momentum, weightDecay));
  return vOut ? [pOut, vOut] : [pOut];
}

/**
 * Identity shares its input's memory (as the cpu backend does) where the wasm kernel copies it: tensors are
 * immutable, and TF.js clones a tensor for every saved input of a custom gradient and every kept result.
 */
function identityKernel(original?: tf.KernelFunc): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string' && original) return original(args);
    (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }) as tf.KernelFunc;
}

export const NATIVE_BN_TRAIN = 'SuperficialNativeBatchNormTrain';
export const NATIVE_BN_TRAIN_GRAD = 'SuperficialNativeBatchNormTrainGrad';
export const NATIVE_AVG_POOL2 = 'SuperficialNativeAvgPool2';
export const NATIVE_SGD_STEP = 'SuperficialNativeSgdStep';

const replaced: tf.KernelConfig[] = [];
const REPLACED_KERNELS = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', 'Identity'];

/**
 * Register the native kernels for the wasm backend (idempotent). False when the addon is unavailable or the
 * backend is not wasm; the previous kernels are kept for `uninstallNativeKernels` and for fallbacks.
 */
export function installNativeKernels(): boolean {
  if (active) return true;
  if (!loadNative() || tf.getBackend() !== 'wasm') return false;
  const kernels: [string, (orig?: tf.KernelFunc) => tf.KernelFunc][] = [
    ['Conv2D', conv2dKernel],
    ['Conv2DBackpropInput', conv2dBackpropInputKernel],
    ['Conv2DBackpropFilter', conv2dBackpropFilterKernel],
    ['BatchMatMul', batchMatMulKernel],
    ['Identity', identityKernel],
  ];
  for (const [name, make] of kernels) {
    const prev = tf.getKernel(name, 'wasm');
    if (prev) {
      replaced.push(prev);
      tf.unregisterKernel(name, 'wasm');
    }
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: make(prev?.kernelFunc) });
  }
  if (!tf.getKernel(NATIVE_BN_TRAIN, 'wasm')) {
    tf.registerKernel({ kernelName: NATIVE_BN_TRAIN, backendName: 'wasm', kernelFunc: batchNormTrainKernel as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: NATIVE_BN_TRAIN_GRAD, backendName: 'wasm', kernelFunc: batchNormTrainGradKernel as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: NATIVE_AVG_POOL2, backendName: 'wasm', kernelFunc: avgPool2Kernel as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: NATIVE_SGD_STEP, backendName: 'wasm', kernelFunc: sgdStepKernel as unknown as tf.KernelFunc });
  }
  active = true;
  return true;
}

/** Put the wasm kernels back (the engine's `wasm` mode; tests and bench switch both ways in one process). */
export function uninstallNativeKernels(): void {
  if (!active) return;
  for (const name of REPLACED_KERNELS) {
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
  }
  for (const k of replaced.splice(0)) tf.registerKernel(k);
  active = false;
}

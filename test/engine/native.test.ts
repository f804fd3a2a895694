/**
 * The native engine's kernels against TF.js's reference kernels (cpu backend), its fallbacks and errors,
 * its batch norm against the TF.js composition, and the addon in a worker thread. Skipped, with a note,
 * where the addon is not built.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { initEngine, setEngine } from '../../src/engine/backend';
import { ADDON_PATH, nativeAddon, nativeStats, resetNativeFallbacks } from '../../src/engine/native';
import { batchNorm, BatchStats } from '../../src/models/layers';
import { nativeAvailable, testEngines } from './engines';

const maybe = nativeAvailable() ? describe : describe.skip;
testEngines(); // prints the skip note when the addon is missing

type Pad = 'same' | 'valid';
const cases: { x: [number, number, number, number]; f: [number, number, number, number]; stride: number; pad: Pad }[] = [
  { x: [2, 7, 7, 3], f: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], stride: 1, pad: 'valid' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], stride: 2, pad: 'same' },
  { x: [2, 7, 7, 3], f: [3, 3, 3, 4], stride: 2, pad: 'same' },
  { x: [2, 7, 7, 3], f: [3, 3, 3, 4], stride: 2, pad: 'valid' },
  { x: [2, 8, 6, 2], f: [3, 3, 2, 5], stride: 2, pad: 'valid' },
  { x: [2, 8, 8, 3], f: [1, 1, 3, 4], stride: 1, pad: 'same' },
  { x: [2, 8, 8, 3], f: [1, 1, 3, 4], stride: 2, pad: 'same' },
  { x: [1, 7, 7, 2], f: [1, 1, 2, 2], stride: 2, pad: 'valid' },
  { x: [2, 10, 9, 2], f: [5, 5, 2, 3], stride: 2, pad: 'same' },
  { x: [2, 11, 10, 2], f: [3, 3, 2, 3], stride: 3, pad: 'same' },
  { x: [1, 10, 10, 17], f: [3, 3, 17, 33], stride: 1, pad: 'same' },
  { x: [2, 9, 9, 64], f: [3, 3, 64, 32], stride: 2, pad: 'same' },
];

function maxAbsDiff(a: tf.Tensor | Float32Array, b: tf.Tensor | Float32Array): number {
  const av = a instanceof Float32Array ? a : a.dataSync() as Float32Array;
  const bv = b instanceof Float32Array ? b : b.dataSync() as Float32Array;
  expect(av.length).toBe(bv.length);
  let m = 0;
  for (let i = 0; i < av.length; i++) m = Math.max(m, Math.abs(av[i] - bv[i]));
  return m;
}

/** Run `kernel` on the cpu backend with copies of the inputs and bring the result back as a typed array. */
async function onCpu(kernel: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): Promise<Float32Array> {
  const prev = tf.getBackend();
  const data = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, { v: t.dataSync().slice(), s: t.shape }]));
  await tf.setBackend('cpu');
  const copies = Object.fromEntries(Object.entries(data).map(([k, d]) => [k, tf.tensor(d.v, d.s)]));
  const out = tf.engine().runKernel(kernel, copies, attrs as never) as tf.Tensor;
  const v = out.dataSync().slice() as Float32Array;
  await tf.setBackend(prev);
  return v;
}

maybe('native kernels', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', quiet: true });
    setEngine('native');
  });
  afterAll(() => { setEngine('native'); });

  test.each(cases)('Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter match the cpu kernels: %j', async ({ x: xs, f: fs, stride, pad }) => {
    const x = tf.randomNormal(xs, 0, 1, 'float32', 1) as tf.Tensor4D;
    const f = tf.randomNormal(fs, 0, 1, 'float32', 2) as tf.Tensor4D;
    const attrs = { strides: stride, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined };
    resetNativeFallbacks();
    const y = tf.engine().runKernel('Conv2D', { x, filter: f }, attrs as never) as tf.Tensor4D;
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
    const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: xs } as never) as tf.Tensor;
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: fs } as never) as tf.Tensor;
    expect(nativeStats().fallbacks).toEqual({});
    const tol = 1e-4 * Math.sqrt(fs[0] * fs[1] * fs[2] * fs[3]);
    expect(maxAbsDiff(y, await onCpu('Conv2D', { x, filter: f }, attrs))).toBeLessThan(tol);
    expect(maxAbsDiff(dx, await onCpu('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: xs }))).toBeLessThan(tol);
    expect(maxAbsDiff(dw, await onCpu('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: fs }))).toBeLessThan(tol * 4);
    tf.dispose([x, f, y, dy, dx, dw]);
  });

  test.each([[false, false], [false, true], [true, false], [true, true]])('BatchMatMul transposeA=%s transposeB=%s matches cpu, batched too', async (ta, tb) => {
    for (const batch of [[], [3]]) {
      const a = tf.randomNormal([...batch, ...(ta ? [7, 5] : [5, 7])], 0, 1, 'float32', 11);
      const b = tf.randomNormal([...batch, ...(tb ? [6, 7] : [7, 6])], 0, 1, 'float32', 12);
      const c = tf.matMul(a, b, ta, tb);
      expect(c.shape).toEqual([...batch, 5, 6]);
      expect(maxAbsDiff(c, await onCpu('BatchMatMul', { a, b }, { transposeA: ta, transposeB: tb }))).toBeLessThan(1e-4);
    }
  });

  test('unsupported shapes fall back to the wasm kernel and are counted', () => {
    resetNativeFallbacks();
    const x = tf.randomNormal([1, 9, 9, 2], 0, 1, 'float32', 5) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const dilated = tf.conv2d(x, f, 1, 'same', 'NHWC', 2);
    expect(dilated.shape).toEqual([1, 9, 9, 3]);
    // Broadcast batch dimensions are the wasm kernel's.
    const bc = tf.matMul(tf.ones([2, 3, 4]), tf.ones([1, 4, 5]));
    expect(bc.shape).toEqual([2, 3, 5]);
    expect(bc.dataSync()[0]).toBe(4);
    expect(nativeStats().fallbacks).toEqual({ Conv2D: 1, BatchMatMul: 1 });
  });

  test('a native error is a JavaScript exception naming the op and the shapes', () => {
    const addon = nativeAddon()!;
    const heap = new ArrayBuffer(1024);
    // x [1,8,8,2] (512 bytes) does not fit in 1 KB at offset 768.
    const args = Float64Array.from([0, 768, 0, 0, 1, 8, 8, 2, 3, 3, 4, 8, 8, 1, 1, 1, 1, 1, 1]);
    expect(() => addon.conv2d(heap, args)).toThrow(/native Conv2D x\[1,8,8,2\] filter\[3,3,2,4\].*outside the 1024-byte buffer/);
    // An output size that does not follow from the geometry.
    const bad = Float64Array.from([1, 0, 0, 0, 1, 8, 8, 2, 3, 3, 4, 5, 8, 1, 1, 1, 1, 1, 1]);
    expect(() => addon.conv2d(new ArrayBuffer(1 << 16), bad)).toThrow(/native Conv2DBackpropInput .*output size/);
    expect(() => addon.matMul(heap, Float64Array.of(0, 0, 0, 1, 100, 100, 100, 0, 0))).toThrow(/native BatchMatMul/);
  });

  test.each([false, true])('training batch norm (relu=%s): output, statistics and gradients match the TF.js formula', (relu) => {
    const x = tf.randomNormal([6, 5, 4, 7], 0.5, 2, 'float32', 7) as tf.Tensor4D;
    const params = { 'bn/gamma': tf.randomUniform([7], 0.5, 1.5, 'float32', 8), 'bn/beta': tf.randomNormal([7], 0, 1, 'float32', 9) };
    const state = { 'bn/mean': tf.zeros([7]), 'bn/variance': tf.ones([7]) };
    const w = tf.randomNormal(x.shape, 0, 1, 'float32', 10);
    const run = (engine: 'native' | 'wasm') => {
      setEngine(engine);
      const stats: BatchStats = {};
      const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(batchNorm({ 'bn/gamma': g, 'bn/beta': b }, state, 'bn',
        xx as tf.Tensor4D, { training: true }, stats, relu), w)) as tf.Scalar;
      const y = batchNorm(params, state, 'bn', x, { training: true }, undefined, relu);
      const grads = tf.grads(f)([x, params['bn/gamma'], params['bn/beta']]);
      return { y, grads, mean: stats.bn.mean, variance: stats.bn.variance };
    };
    const n = run('native');
    const t = run('wasm');
    setEngine('native');
    expect(maxAbsDiff(n.y, t.y)).toBeLessThan(1e-4);
    expect(maxAbsDiff(n.mean, t.mean)).toBeLessThan(1e-5);
    expect(maxAbsDiff(n.variance, t.variance)).toBeLessThan(1e-4);
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(n.grads[i], t.grads[i])).toBeLessThan(1e-3);
  });

  test('the addon loads and computes inside worker threads, each with its own thread count', async () => {
    const code = `
      const { parentPort, workerData } = require('worker_threads');
      const addon = require(workerData.file);
      addon.setThreads(workerData.threads);
      const f = new Float32Array(64);
      for (let i = 0; i < 8; i++) { f[i] = i + 1; f[8 + i] = 1; }
      // [1x8]·[8x1] = 36
      addon.matMul(f.buffer, Float64Array.of(0, 32, 64, 1, 1, 1, 8, 0, 0));
      parentPort.postMessage({ value: f[16], threads: addon.info().threads });`;
    const results = await Promise.all([1, 2].map((threads) => new Promise<{ value: number; threads: number }>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { file: path.resolve(ADDON_PATH), threads } });
      w.once('message', (m) => { resolve(m); void w.terminate(); });
      w.once('error', reject);
    })));
    expect(results).toEqual([{ value: 36, threads: 1 }, { value: 36, threads: 2 }]);
    // The main thread's own setting is untouched by the workers'.
    expect(nativeAddon()!.info().threads).toBe(1);
  });
});

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { conv2dFilterGrad, conv2dInputGrad, installFastConvGradients } from '../../src/engine/convGradients';
import { initEngine, setEngine } from '../../src/engine/backend';
import { testEngines } from './engines';

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
  { x: [1, 9, 9, 2], f: [2, 2, 2, 2], stride: 3, pad: 'valid' },
];

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Stock cpu-backend backprop kernels, which the fast gradients must reproduce. */
async function reference(x: tf.Tensor4D, f: tf.Tensor4D, dy: tf.Tensor4D, stride: number, pad: Pad) {
  const prev = tf.getBackend();
  await tf.setBackend('cpu');
  const attrs = { strides: stride, pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  const xc = tf.tensor(x.dataSync(), x.shape) as tf.Tensor4D;
  const fc = tf.tensor(f.dataSync(), f.shape) as tf.Tensor4D;
  const dyc = tf.tensor(dy.dataSync(), dy.shape) as tf.Tensor4D;
  const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy: dyc, filter: fc }, { ...attrs, inputShape: x.shape } as never) as tf.Tensor;
  const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xc, dy: dyc }, { ...attrs, filterShape: f.shape } as never) as tf.Tensor;
  const out = { dx: dx.arraySync(), dw: dw.arraySync() };
  await tf.setBackend(prev);
  return { dx: tf.tensor(out.dx as number[]), dw: tf.tensor(out.dw as number[]) };
}

describe.each(testEngines())('conv gradients on the %s engine', (engine) => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', quiet: true });
    setEngine(engine);
  });

  test.each(cases)('match the cpu backprop kernels: x %j filter %j', async ({ x: xs, f: fs, stride, pad }) => {
    const x = tf.randomNormal(xs, 0, 1, 'float32', 1) as tf.Tensor4D;
    const f = tf.randomNormal(fs, 0, 1, 'float32', 2) as tf.Tensor4D;
    const y = tf.conv2d(x, f, stride, pad);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
    const dx = conv2dInputGrad(x.shape, f, dy, stride, pad);
    const dw = conv2dFilterGrad(x, f.shape, dy, stride, pad);
    const ref = await reference(x, f, dy, stride, pad);
    expect(dx.shape).toEqual(xs);
    expect(dw.shape).toEqual(fs);
    expect(maxAbsDiff(dx, ref.dx)).toBeLessThan(1e-4);
    expect(maxAbsDiff(dw, ref.dw)).toBeLessThan(1e-4);
  });

  test('tf.grad through conv2d uses them on wasm and agrees with finite differences', () => {
    installFastConvGradients();
    const x = tf.randomNormal([1, 5, 5, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const w = tf.randomNormal([1, 3, 3, 3], 0, 1, 'float32', 6);
    // A smooth scalar loss: weighted sum of the stride-2 conv output.
    const loss = (xx: tf.Tensor, ff: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 2, 'same'), w));
    const [gx, gf] = tf.grads(loss)([x, f]);
    const eps = 1e-2;
    const fd = (t: tf.Tensor, index: number, other: tf.Tensor, wrt: 0 | 1) => {
      const v = t.dataSync().slice();
      v[index] += eps;
      const plus = tf.tensor(v, t.shape);
      v[index] -= 2 * eps;
      const minus = tf.tensor(v, t.shape);
      const [a, b] = wrt === 0 ? [loss(plus, other), loss(minus, other)] : [loss(other, plus), loss(other, minus)];
      return (a.dataSync()[0] - b.dataSync()[0]) / (2 * eps);
    };
    const gxv = gx.dataSync();
    const gfv = gf.dataSync();
    for (const i of [0, 7, 19, 33, 49]) expect(fd(x, i, f, 0)).toBeCloseTo(gxv[i], 1);
    for (const i of [0, 5, 17, 30, 53]) expect(fd(f, i, x, 1)).toBeCloseTo(gfv[i], 1);
  });

  test('gradients of gradients work (needed for I-BAU hypergradients)', () => {
    installFastConvGradients();
    const x = tf.randomNormal([1, 6, 6, 2], 0, 1, 'float32', 7) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, 2, 2], 0, 1, 'float32', 8) as tf.Tensor4D;
    // d/dx of ||d loss/d f||^2 exists and is finite; compare against finite differences in x.
    const inner = (xx: tf.Tensor) => tf.grad((ff: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 1, 'same'))))(f);
    const outer = (xx: tf.Tensor) => tf.sum(tf.square(inner(xx)));
    const g = tf.grad(outer)(x);
    const i = 9;
    const v = x.dataSync().slice();
    const eps = 1e-2;
    v[i] += eps;
    const a = outer(tf.tensor(v, x.shape)).dataSync()[0];
    v[i] -= 2 * eps;
    const b = outer(tf.tensor(v, x.shape)).dataSync()[0];
    const fd = (a - b) / (2 * eps);
    expect(Math.abs(fd - g.dataSync()[i]) / Math.max(1, Math.abs(fd))).toBeLessThan(2e-2);
  });
});

describe.each(testEngines())('matmul gradients on the %s engine', (engine) => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', quiet: true });
    setEngine(engine);
  });

  /** Gradients of f(a, b) with the stock and with the fast BatchMatMul gradient agree. */
  async function expectStockGradients(f: (x: tf.Tensor, y: tf.Tensor) => tf.Scalar, a: tf.Tensor, b: tf.Tensor): Promise<void> {
    const { installFastMatMulGradients, uninstallFastMatMulGradients } = await import('../../src/engine/matmulGradients');
    uninstallFastMatMulGradients();
    const stock = tf.grads(f)([a, b]);
    installFastMatMulGradients();
    const fast = tf.grads(f)([a, b]);
    expect(maxAbsDiff(fast[0], stock[0])).toBeLessThan(1e-5);
    expect(maxAbsDiff(fast[1], stock[1])).toBeLessThan(1e-5);
  }

  test.each([[false, false], [false, true], [true, false], [true, true]])('transposeA=%s transposeB=%s match the stock gradient', async (ta, tb) => {
    const a = tf.randomNormal(ta ? [5, 3] : [3, 5], 0, 1, 'float32', 21);
    const b = tf.randomNormal(tb ? [4, 5] : [5, 4], 0, 1, 'float32', 22);
    const w = tf.randomNormal([3, 4], 0, 1, 'float32', 23);
    await expectStockGradients((x, y) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w)), a, b);
    // Batched (same batch dims) and second order keep working.
    const a3 = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 24);
    const b3 = tf.randomNormal([2, 5, 4], 0, 1, 'float32', 25);
    const g3 = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y))))([a3, b3]);
    expect(g3[0].shape).toEqual([2, 3, 5]);
    const p = tf.randomNormal([3, 5], 0, 1, 'float32', 26);
    const q = tf.randomNormal([5, 4], 0, 1, 'float32', 27);
    const second = tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.grad((y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y))))(q))))(p);
    expect(second.shape).toEqual([3, 5]);
  });

  test('a weight larger than the batch takes the (b·gᵀ)ᵀ route and still matches the stock gradient', async () => {
    for (const [as, bs] of [[[2, 6], [6, 8]], [[3, 2, 6], [3, 6, 8]]]) {
      const a = tf.randomNormal(as, 0, 1, 'float32', 31);
      const b = tf.randomNormal(bs, 0, 1, 'float32', 32);
      const w = tf.randomNormal([...as.slice(0, -1), 8], 0, 1, 'float32', 33);
      await expectStockGradients((x, y) => tf.sum(tf.mul(tf.matMul(x, y), w)), a, b);
    }
  });
});

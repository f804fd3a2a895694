/**
 * BatchMatMul gradients with explicit transposes. TF.js's own gradient multiplies with transposeA /
 * transposeB flags, which tfjs-backend-wasm executes ~50–100x slower than a transpose followed by a plain
 * product (measured: 128x1024ᵀ·128x1024 took 1,055 ms with the flag, 23 ms with an explicit transpose). Dense
 * layers (the QRA generator, every model head) train through this. Batched products whose batch dimensions
 * broadcast keep the stock gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { gradientOverride } from './gradientOverride';
import { nativeActive } from './native';

function swapLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1], perm[t.rank - 2]];
  return tf.transpose(t, perm);
}

const matMulOverride = gradientOverride({
  kernelName: 'BatchMatMul',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const sameBatch = a.rank === b.rank && tf.util.arraysEqual(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const stock = matMulOverride.previous();
    // oneDNN's GEMM takes the transpose flags at full speed, so the native engine keeps TF.js's gradient.
    if ((!sameBatch || nativeActive()) && stock) return stock.gradFunc(dy, saved, attrs);
    const g = dy as tf.Tensor;
    const mm = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y);
    if (!transposeA && !transposeB) {
      // dA = g·bᵀ. Transposing a large weight costs more than the product itself on wasm; (b·gᵀ)ᵀ moves
      // only the two batch-sized tensors (measured for 128x1024 · (1024x1024)ᵀ: 35 ms → 15 ms).
      const viaSmall = g.size + a.size < b.size;
      return { a: () => (viaSmall ? swapLast(mm(b, swapLast(g))) : mm(g, swapLast(b))), b: () => mm(swapLast(a), g) };
    }
    if (!transposeA && transposeB) return { a: () => mm(g, b), b: () => mm(swapLast(g), a) };
    if (transposeA && !transposeB) return { a: () => mm(b, swapLast(g)), b: () => mm(a, g) };
    return { a: () => mm(swapLast(b), swapLast(g)), b: () => mm(swapLast(g), swapLast(a)) };
  },
});

export const installFastMatMulGradients = (): void => matMulOverride.install();
export const uninstallFastMatMulGradients = (): void => matMulOverride.uninstall();

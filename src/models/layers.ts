/**
 * Functional layers over explicit parameter records. Nothing here owns state: a forward pass in training
 * mode returns the batch statistics it saw, and the caller decides whether to fold them into the running
 * statistics.
 */
import * as tf from '@tensorflow/tfjs';
import { NATIVE_AVG_POOL2, NATIVE_BN_TRAIN, NATIVE_BN_TRAIN_GRAD, nativeActive } from '../engine/native';
import { Rng } from '../rng';

export type ParamRecord = Record<string, tf.Tensor>;

export const BN_EPSILON = 1e-5;
/** Weight of the new batch in the running statistics (PyTorch's default momentum). */
export const BN_MOMENTUM = 0.1;

export interface ForwardOptions {
  training: boolean;
  /**
   * 'custom' uses a hand-written batch-norm gradient (fast: two reductions and broadcasting arithmetic);
   * 'autodiff' lets TF.js differentiate the formula, which supports gradients of gradients.
   */
  batchNormGradient?: 'custom' | 'autodiff';
}

/** Batch statistics observed in a training-mode forward pass, keyed by the layer's name. */
export type BatchStats = Record<string, { mean: tf.Tensor1D; variance: tf.Tensor1D; count: number }>;

export function heNormal(rng: Rng, shape: number[], fanIn: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  const std = Math.sqrt(2 / fanIn);
  for (let i = 0; i < size; i++) values[i] = rng.normal() * std;
  return tf.tensor(values, shape);
}

/** PyTorch's default for linear layers: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weight and bias. */
export function uniformFanIn(rng: Rng, shape: number[], fanIn: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const bound = 1 / Math.sqrt(fanIn);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = (rng.next() * 2 - 1) * bound;
  return tf.tensor(values, shape);
}

export function initConv(params: ParamRecord, rng: Rng, name: string, k: number, cin: number, cout: number): void {
  params[`${name}/w`] = heNormal(rng, [k, k, cin, cout], k * k * cin);
}

export function initBatchNorm(params: ParamRecord, state: ParamRecord, name: string, c: number): void {
  params[`${name}/gamma`] = tf.ones([c]);
  params[`${name}/beta`] = tf.zeros([c]);
  state[`${name}/mean`] = tf.zeros([c]);
  state[`${name}/variance`] = tf.ones([c]);
}

export function initLinear(params: ParamRecord, rng: Rng, name: string, fanIn: number, fanOut: number): void {
  params[`${name}/w`] = uniformFanIn(rng, [fanIn, fanOut], fanIn);
  params[`${name}/b`] = uniformFanIn(rng, [fanOut], fanIn);
}

export function conv(params: ParamRecord, name: string, x: tf.Tensor4D, stride = 1): tf.Tensor4D {
  return tf.conv2d(x, params[`${name}/w`] as tf.Tensor4D, stride, 'same');
}

export function linear(params: ParamRecord, name: string, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(x, params[`${name}/w`] as tf.Tensor2D), params[`${name}/b`]) as tf.Tensor2D;
}

/**
 * Per-channel sums of an NHWC tensor. tf.sum over axes [0, 1, 2] transposes first and is slow on wasm;
 * a global average pool (XNNPACK) followed by a small sum over the batch is several times faster.
 */
function channelSums(t: tf.Tensor4D): tf.Tensor1D {
  const [n, h, w, c] = t.shape;
  return tf.mul(tf.sum(tf.avgPool(t, [h, w], 1, 'valid').reshape([n, c]), 0), h * w) as tf.Tensor1D;
}

/** y = relu?(x * scale + shift) per channel in one XNNPACK pass (a 1x1 depthwise conv with bias). */
function scaleShift(x: tf.Tensor4D, scale: tf.Tensor1D, shift: tf.Tensor1D, relu: boolean): tf.Tensor4D {
  const c = x.shape[3];
  return tf.fused.depthwiseConv2d({
    x, filter: scale.reshape([1, 1, c, 1]) as tf.Tensor4D, strides: 1, pad: 'valid', bias: shift,
    activation: relu ? 'relu' : 'linear',
  });
}

/**
 * scaleShift with a gradient: the fused depthwise kernel has no backward kernels on wasm, and eval-mode
 * models are differentiated with respect to their inputs (QRA, trigger inversion) and BN parameters.
 */
function makeScaleShift(relu: boolean): (x: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor) => tf.Tensor {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return tf.customGrad(((x: tf.Tensor4D, scale: tf.Tensor1D, shift: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const y = scaleShift(x, scale, shift, relu);
    save([x, y, scale]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, sc] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D];
        const dz = (relu ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor4D;
        return [tf.mul(dz, sc), channelSums(tf.mul(dz, xs) as tf.Tensor4D), channelSums(dz)];
      },
    };
  }) as any) as (x: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor) => tf.Tensor;
}

const scaleShiftDifferentiable = makeScaleShift(false);
const scaleShiftReluDifferentiable = makeScaleShift(true);

/** Side channel: the custom op's forward pass leaves its batch statistics here (ops inside are untaped). */
let lastBatchStats: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;

function makeBatchNormTrain(relu: boolean): (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return tf.customGrad(((x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const m = x.size / x.shape[3];
    const mean = tf.div(channelSums(x), m) as tf.Tensor1D;
    // E[x^2] - E[x]^2, clamped: activations entering BN are O(1), so cancellation is not an issue.
    const variance = tf.relu(tf.sub(tf.div(channelSums(tf.square(x) as tf.Tensor4D), m), tf.square(mean))) as tf.Tensor1D;
    // The forward function runs inside a tidy; keep the statistics so the caller can record them.
    lastBatchStats = { mean: tf.keep(mean), variance: tf.keep(variance) };
    const invStd = tf.rsqrt(tf.add(variance, BN_EPSILON)) as tf.Tensor1D;
    const scale = tf.mul(gamma, invStd) as tf.Tensor1D;
    const y = scaleShift(x, scale, tf.sub(beta, tf.mul(mean, scale)) as tf.Tensor1D, relu);
    save([x, y, mean, invStd, gamma]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, mu, inv, g] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const dz = (relu ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor4D;
        const dBeta = channelSums(dz);
        // sum(dz * xhat) = invStd * (sum(dz * x) - mean * sum(dz))
        const dGamma = tf.mul(inv, tf.sub(channelSums(tf.mul(dz, xs) as tf.Tensor4D), tf.mul(mu, dBeta))) as tf.Tensor1D;
        // dx = gamma*invStd * (dz - dBeta/m - xhat * dGamma/m), written as a*dz + b*x + c per channel.
        const a = tf.mul(g, inv) as tf.Tensor1D;
        const b = tf.neg(tf.mul(tf.mul(a, inv), tf.div(dGamma, m))) as tf.Tensor1D;
        const c = tf.sub(tf.neg(tf.mul(a, tf.div(dBeta, m))), tf.mul(b, mu)) as tf.Tensor1D;
        const dx = tf.add(scaleShift(dz, a, c, false), scaleShift(xs, b, tf.zerosLike(b) as tf.Tensor1D, false));
        return [dx, dGamma, dBeta];
      },
    };
  }) as any) as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
}

const batchNormTrainFast = makeBatchNormTrain(false);
const batchNormReluTrainFast = makeBatchNormTrain(true);

/**
 * The same batch norm (+ ReLU) and the same gradient formula as makeBatchNormTrain, on the native engine:
 * one kernel forward (statistics and normalisation) and one backward, where the TF.js composition above
 * dispatches about twenty small kernels each way.
 */
function makeBatchNormTrainNative(relu: boolean): (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor {
  const attrs = { relu, epsilon: BN_EPSILON };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return tf.customGrad(((x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const [y, mean, variance] = tf.engine().runKernel(NATIVE_BN_TRAIN, { x, gamma, beta }, attrs) as tf.Tensor[];
    lastBatchStats = { mean: tf.keep(mean) as tf.Tensor1D, variance: tf.keep(variance) as tf.Tensor1D };
    save([x, y, gamma, mean, variance]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, g, mu, v] = saved;
        return tf.engine().runKernel(NATIVE_BN_TRAIN_GRAD, { x: xs, y: ys, dy, gamma: g, mean: mu, variance: v }, attrs) as tf.Tensor[];
      },
    };
  }) as any) as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
}

const batchNormTrainNative = makeBatchNormTrainNative(false);
const batchNormReluTrainNative = makeBatchNormTrainNative(true);

/**
 * Batch norm over NHWC channels, optionally followed by ReLU (fused: one pass forward). In training
 * mode it normalises with batch statistics and records them in `stats` (kept outside any tidy; the
 * caller disposes them); in eval mode it uses the running statistics in `state`.
 */
export function batchNorm(params: ParamRecord, state: ParamRecord, name: string, x: tf.Tensor4D,
  opts: ForwardOptions, stats?: BatchStats, relu = false): tf.Tensor4D {
  const gamma = params[`${name}/gamma`] as tf.Tensor1D;
  const beta = params[`${name}/beta`] as tf.Tensor1D;
  if (!opts.training) {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(state[`${name}/variance`], BN_EPSILON))) as tf.Tensor1D;
    const shift = tf.sub(beta, tf.mul(state[`${name}/mean`], scale)) as tf.Tensor1D;
    if (opts.batchNormGradient === 'autodiff') {
      const y = tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
      return relu ? tf.relu(y) : y;
    }
    return (relu ? scaleShiftReluDifferentiable : scaleShiftDifferentiable)(x, scale, shift) as tf.Tensor4D;
  }
  let y: tf.Tensor4D;
  let batch: { mean: tf.Tensor1D; variance: tf.Tensor1D };
  if (opts.batchNormGradient === 'autodiff') {
    batch = tf.moments(x, [0, 1, 2]) as { mean: tf.Tensor1D; variance: tf.Tensor1D };
    y = tf.add(tf.mul(tf.mul(tf.sub(x, batch.mean), tf.rsqrt(tf.add(batch.variance, BN_EPSILON))), gamma),
      beta) as tf.Tensor4D;
    if (relu) y = tf.relu(y);
  } else {
    y = nativeActive() && x.dtype === 'float32'
      ? (relu ? batchNormReluTrainNative : batchNormTrainNative)(x, gamma, beta) as tf.Tensor4D
      : (relu ? batchNormReluTrainFast : batchNormTrainFast)(x, gamma, beta) as tf.Tensor4D;
    batch = lastBatchStats!;
  }
  if (stats) {
    stats[name] = { mean: tf.keep(batch.mean), variance: tf.keep(batch.variance), count: x.size / x.shape[3] };
  } else if (opts.batchNormGradient !== 'autodiff') {
    batch.mean.dispose();
    batch.variance.dispose();
  }
  return y;
}

/** relu(batchNorm(x)), fused on the fast path. */
export function batchNormRelu(params: ParamRecord, state: ParamRecord, name: string, x: tf.Tensor4D,
  opts: ForwardOptions, stats?: BatchStats): tf.Tensor4D {
  return batchNorm(params, state, name, x, opts, stats, true);
}

/**
 * 2x2 average pooling with stride 2. Its gradient is a nearest-neighbour upsampling of dy / 4, which
 * is much cheaper on wasm than the AvgPoolGrad kernel; odd sizes fall back to tf.avgPool.
 */
const avgPool2Fast = tf.customGrad(((x: tf.Tensor4D) => ({
  value: tf.avgPool(x, 2, 2, 'valid'),
  gradFunc: (dy: tf.Tensor4D) => tf.mul(tf.image.resizeNearestNeighbor(dy, [x.shape[1], x.shape[2]]), 0.25),
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
})) as any) as (x: tf.Tensor4D) => tf.Tensor4D;

/** The same pooling and gradient in one native kernel each way. */
const avgPool2Native = tf.customGrad(((x: tf.Tensor4D) => ({
  value: tf.engine().runKernel(NATIVE_AVG_POOL2, { x }, { backward: false }) as tf.Tensor4D,
  gradFunc: (dy: tf.Tensor4D) => tf.engine().runKernel(NATIVE_AVG_POOL2, { x: dy }, { backward: true }) as tf.Tensor4D,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
})) as any) as (x: tf.Tensor4D) => tf.Tensor4D;

export function avgPool2(x: tf.Tensor4D, opts: ForwardOptions): tf.Tensor4D {
  if (x.shape[1] % 2 !== 0 || x.shape[2] % 2 !== 0 || opts.batchNormGradient === 'autodiff') {
    return tf.avgPool(x, 2, 2, 'same');
  }
  return nativeActive() && x.dtype === 'float32' ? avgPool2Native(x) : avgPool2Fast(x);
}

/**
 * New running statistics after a batch: (1 - momentum) * running + momentum * batch, with the unbiased
 * variance as PyTorch does. Returns fresh tensors; the caller disposes the old ones.
 */
export function updatedRunningStats(state: ParamRecord, stats: BatchStats, momentum = BN_MOMENTUM): ParamRecord {
  return tf.tidy(() => {
    const next: ParamRecord = {};
    for (const [name, s] of Object.entries(stats)) {
      const m = s.count;
      const unbiased = m > 1 ? tf.mul(s.variance, m / (m - 1)) : s.variance;
      next[`${name}/mean`] = tf.add(tf.mul(state[`${name}/mean`], 1 - momentum), tf.mul(s.mean, momentum));
      next[`${name}/variance`] = tf.add(tf.mul(state[`${name}/variance`], 1 - momentum), tf.mul(unbiased, momentum));
    }
    return next;
  });
}

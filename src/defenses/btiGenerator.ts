/**
 * The BTI-DBF trigger generator G as a functional model: a parameter record plus a pure forward pass, so
 * that BTI (issue 4) and PAM (issue 7) can train it, freeze it and call it without any hidden state.
 *
 * A small UNet. The authors' generator (spec §4.6) is a UNet with 4 blocks of 32 base filters,
 * InstanceNorm(affine), LeakyReLU, max-pool down and transposed-conv up, on 32×32×3. Departures, all for
 * 28×28×1 on one wasm core (spec §12: "a simpler BTI generator is acceptable if documented"):
 * - `levels` (default 2) 2× down-samplings instead of 4: 28 → 14 → 7, and `baseFilters` 8 instead of 32
 *   (8-16-32 channels): with 16 a generator step cost ~2.5× more, which the budget could not pay in steps.
 *   One 3×3 conv per block, not two.
 * - Down-sampling is a 2×2 average pool, not a max pool, and up-sampling is nearest-neighbour ×2 followed
 *   by the block's 3×3 conv instead of a transposed conv; skips are added to the up-sampled path (as in
 *   LinkNet) rather than concatenated. All three have gradients that are cheap on wasm (MaxPoolGrad and
 *   the slices of a concat's gradient cost more than the convolutions here).
 * - The LeakyReLU (slope `leak`) has a hand-written gradient for the same reason.
 * - The output is residual: G(x) = clip(x + r(x), 0, 1), where r is a 1×1 conv (initialised small) over
 *   the last decoder block. G therefore starts near the identity, which is what the authors' 50-epoch
 *   pretraining aims for (a prediction- and feature-preserving G), and the output stays a valid image.
 *   The pretraining stage still exists (btiReversal.ts) but needs few epochs.
 * - Instance norm is optional (`norm`, default off: it nearly tripled the cost of a step); without it every block
 *   is conv + bias + LeakyReLU.
 */
import * as tf from '@tensorflow/tfjs';
import { avgPool2, heNormal, ParamRecord } from '../models/layers';
import { Rng } from '../rng';

export interface GeneratorSpec {
  /**
   * 'unet': the input-dependent UNet described above. 'blend': the simpler, input-independent
   * G(x) = (1 − a)⊙x + a⊙p with a per-pixel opacity a = sigmoid(A) and pattern p = sigmoid(P), the
   * trigger parameterisation of Neural Cleanse; it represents patch (BadNets) and blend (Blended)
   * triggers exactly, costs nothing next to the classifier, and starts near the identity (a ≈ 0.0025).
   */
  kind: 'unet' | 'blend';
  /** Image geometry; for the UNet, height and width must be divisible by 2^levels. */
  height: number;
  width: number;
  channels: number;
  /** Filters of the first block; each level down doubles them. */
  baseFilters: number;
  /** Number of 2× down-samplings (and matching up-samplings). */
  levels: number;
  norm: 'instance' | 'none';
  /** Negative slope of the LeakyReLUs. */
  leak: number;
  /**
   * Feed the UNet two coordinate maps (row and column in [−1, 1]) beside the image (CoordConv). A fully
   * convolutional network cannot tell one image position from another where the image is uniform, and
   * Fashion-MNIST's borders are black, as is the zero padding: without coordinates the generator cannot
   * put a patch in one corner only, which is what a BadNets trigger is.
   */
  coords: boolean;
}

export interface Generator {
  spec: GeneratorSpec;
  params: ParamRecord;
}

const IN_EPSILON = 1e-5;
/** Scale of the residual layer's He-normal initialisation (an initial pixel MSE of ~0.015–0.06 σ² on Fashion-MNIST). */
const OUT_INIT_SCALE = 0.2;
/** Initial opacity logit of the blend generator: sigmoid(−6) ≈ 0.0025, nearly the identity. */
const BLEND_INIT_LOGIT = -6;

export function defaultGeneratorSpec(height: number, width: number, channels: number,
  overrides: Partial<GeneratorSpec> = {}): GeneratorSpec {
  const spec: GeneratorSpec = { kind: 'unet', height, width, channels, baseFilters: 8, levels: 2, norm: 'none', leak: 0.2, coords: false, ...overrides };
  validateGeneratorSpec(spec);
  return spec;
}

export function validateGeneratorSpec(s: GeneratorSpec): void {
  const bad = (why: string) => { throw new Error(`BTI generator spec: ${why}`); };
  if (s.kind !== 'unet' && s.kind !== 'blend') bad(`kind must be "unet" or "blend" (got ${s.kind})`);
  if (!Number.isInteger(s.channels) || s.channels < 1) bad(`channels must be a positive integer (got ${s.channels})`);
  if (s.kind === 'blend') return;
  if (!Number.isInteger(s.levels) || s.levels < 1) bad(`levels must be a positive integer (got ${s.levels})`);
  if (!Number.isInteger(s.baseFilters) || s.baseFilters < 1) bad(`baseFilters must be a positive integer (got ${s.baseFilters})`);
  const f = 2 ** s.levels;
  if (!Number.isInteger(s.height) || !Number.isInteger(s.width) || s.height % f !== 0 || s.width % f !== 0) {
    bad(`a ${s.height}x${s.width} image cannot be halved ${s.levels} times; use fewer levels`);
  }
  if (s.norm !== 'instance' && s.norm !== 'none') bad(`norm must be "instance" or "none" (got ${s.norm})`);
  if (!(s.leak >= 0 && s.leak < 1)) bad(`leak must be in [0, 1) (got ${s.leak})`);
}

/** Channels of encoder block i (i = levels is the bottleneck). */
function filters(spec: GeneratorSpec, i: number): number {
  return spec.baseFilters * 2 ** i;
}

function initBlock(params: ParamRecord, rng: Rng, spec: GeneratorSpec, name: string, cin: number, cout: number): void {
  params[`${name}/w`] = heNormal(rng, [3, 3, cin, cout], 9 * cin);
  params[`${name}/b`] = tf.zeros([cout]);
  if (spec.norm === 'instance') {
    params[`${name}/gamma`] = tf.ones([cout]);
    params[`${name}/beta`] = tf.zeros([cout]);
  }
}

export function createGenerator(spec: GeneratorSpec, seed: number): Generator {
  validateGeneratorSpec(spec);
  const rng = Rng.derive(seed, 'bti-generator-init');
  const params: ParamRecord = {};
  if (spec.kind === 'blend') {
    params['blend/a'] = tf.fill([1, spec.height, spec.width, 1], BLEND_INIT_LOGIT);
    params['blend/p'] = tf.zeros([1, spec.height, spec.width, spec.channels]);
    return { spec, params };
  }
  let cin = spec.channels + (spec.coords ? 2 : 0);
  for (let i = 0; i <= spec.levels; i++) {
    initBlock(params, rng, spec, `enc${i}`, cin, filters(spec, i));
    cin = filters(spec, i);
  }
  for (let i = spec.levels - 1; i >= 0; i--) {
    initBlock(params, rng, spec, `dec${i}`, cin, filters(spec, i));
    cin = filters(spec, i);
  }
  // A small random residual: G starts near the identity, as the authors' pretrained UNet does, but not
  // exactly at it — the identity is a stationary point of the reversal objective (every feature
  // difference, hence every gradient of the feature-distance loss, is zero there).
  const he = heNormal(rng, [1, 1, cin, spec.channels], cin);
  params['out/w'] = tf.mul(he, OUT_INIT_SCALE);
  he.dispose();
  params['out/b'] = tf.zeros([spec.channels]);
  return { spec, params };
}

/** Per-image, per-channel spatial mean [n, 1, 1, c]; its gradient is a broadcast, not AvgPoolGrad. */
const spatialMean = tf.customGrad(((x: tf.Tensor4D) => ({
  value: tf.avgPool(x, [x.shape[1], x.shape[2]], 1, 'valid'),
  gradFunc: (dy: tf.Tensor4D) => tf.broadcastTo(tf.div(dy, x.shape[1] * x.shape[2]), x.shape),
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
})) as any) as (x: tf.Tensor4D) => tf.Tensor4D;

function instanceNorm(params: ParamRecord, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const mean = spatialMean(x);
  const centred = tf.sub(x, mean) as tf.Tensor4D;
  const variance = spatialMean(tf.square(centred) as tf.Tensor4D);
  const normed = tf.mul(centred, tf.rsqrt(tf.add(variance, IN_EPSILON)));
  return tf.add(tf.mul(normed, params[`${name}/gamma`]), params[`${name}/beta`]) as tf.Tensor4D;
}

/** LeakyReLU whose gradient is dy·(α + (1−α)·step(x)): about half the cost of the stock gradient on wasm. */
const leakyReluBySlope = new Map<number, (x: tf.Tensor4D) => tf.Tensor4D>();
function leakyRelu(x: tf.Tensor4D, alpha: number): tf.Tensor4D {
  let f = leakyReluBySlope.get(alpha);
  if (!f) {
    f = tf.customGrad(((t: tf.Tensor4D, save: tf.GradSaveFunc) => {
      save([t]);
      return {
        value: tf.leakyRelu(t, alpha),
        gradFunc: (dy: tf.Tensor4D, [saved]: tf.Tensor[]) => tf.mul(dy, tf.add(tf.mul(tf.step(saved), 1 - alpha), alpha)),
      };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
    }) as any) as (t: tf.Tensor4D) => tf.Tensor4D;
    leakyReluBySlope.set(alpha, f);
  }
  return f(x);
}

/** conv3×3 + bias (+ skip) (+ instance norm) + LeakyReLU. */
function block(spec: GeneratorSpec, params: ParamRecord, name: string, x: tf.Tensor4D, skip?: tf.Tensor4D): tf.Tensor4D {
  let h = tf.add(tf.conv2d(x, params[`${name}/w`] as tf.Tensor4D, 1, 'same'), params[`${name}/b`]) as tf.Tensor4D;
  if (skip) h = tf.add(h, skip);
  if (spec.norm === 'instance') h = instanceNorm(params, name, h);
  return leakyRelu(h, spec.leak);
}

/** [n, h, w, 2]: row and column coordinates in [−1, 1], the same for every image. */
function coordinateMaps(n: number, h: number, w: number): tf.Tensor4D {
  const v = new Float32Array(h * w * 2);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      v[(i * w + j) * 2] = h > 1 ? (2 * i) / (h - 1) - 1 : 0;
      v[(i * w + j) * 2 + 1] = w > 1 ? (2 * j) / (w - 1) - 1 : 0;
    }
  }
  return tf.tile(tf.tensor4d(v, [1, h, w, 2]), [n, 1, 1, 1]) as tf.Tensor4D;
}

/** Nearest-neighbour ×2; the exact gradient sums each 2×2 cell, i.e. 4 × a 2×2 average pool. */
const upsample2 = tf.customGrad(((x: tf.Tensor4D) => ({
  value: tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]),
  gradFunc: (dy: tf.Tensor4D) => tf.mul(tf.avgPool(dy, 2, 2, 'valid'), 4),
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
})) as any) as (x: tf.Tensor4D) => tf.Tensor4D;

/**
 * G(x) for a batch of NHWC images in [0, 1], with the given parameters (pass other tensors than
 * `gen.params` to differentiate through them). Pure; the output is in [0, 1].
 */
export function generate(spec: GeneratorSpec, params: ParamRecord, x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w, c] = x.shape;
  if (h !== spec.height || w !== spec.width || c !== spec.channels) {
    throw new Error(`BTI generator: built for ${spec.height}x${spec.width}x${spec.channels} images, got ${h}x${w}x${c}`);
  }
  if (spec.kind === 'blend') {
    return tf.tidy(() => {
      const a = tf.sigmoid(params['blend/a']);
      return tf.add(x, tf.mul(a, tf.sub(tf.sigmoid(params['blend/p']), x))) as tf.Tensor4D;
    });
  }
  return tf.tidy(() => {
    const skips: tf.Tensor4D[] = [];
    let t: tf.Tensor4D = spec.coords ? tf.concat([x, coordinateMaps(x.shape[0], h, w)], 3) : x;
    for (let i = 0; i < spec.levels; i++) {
      t = block(spec, params, `enc${i}`, t);
      skips.push(t);
      t = avgPool2(t, { training: true });
    }
    t = block(spec, params, `enc${spec.levels}`, t);
    for (let i = spec.levels - 1; i >= 0; i--) {
      t = block(spec, params, `dec${i}`, upsample2(t), skips[i]);
    }
    const residual = tf.add(tf.conv2d(t, params['out/w'] as tf.Tensor4D, 1, 'valid'), params['out/b']);
    return tf.clipByValue(tf.add(x, residual), 0, 1) as tf.Tensor4D;
  });
}

export function disposeGenerator(g: Generator): void {
  for (const t of Object.values(g.params)) t.dispose();
}

/**
 * Backdoor Existence Coefficient (BEC; Zhu, Liang & Wu, NeurIPS 2024, "Breaking the False Sense of Security in
 * Backdoor Defense through Re-Activation Attack", code JulieCarlon/Backdoor-Reactivation-Attack, BEC/): how much
 * of the backdoored model's representation of triggered inputs, in its backdoor-related neurons, a purified
 * model still computes. A representation-side explanation of superficial safety, beside LMC's weight-space one.
 *
 * What the reference code does (BEC/analy_backdoor_acti.py, analy_backdoor_cka.py, analy_backdoor_bec.py,
 * analy_backdoor_plot.py, analysis/CKA_similarity_torch.py, models/preact_resnet_CLP.py), and what this file does:
 *
 *  - Layers: the output of every Conv2d inside the residual blocks of PreAct-ResNet-18 (16 layers: the stem
 *    conv and the 1×1 shortcuts excluded), i.e. the raw convolution output, before the next batch norm.
 *    Here: the same rule for preact-resnet (each block's conv1 and conv2, before the residual sum); for the
 *    cnn, every stage's convolution but the first, before its batch norm (2 layers of the default 3-stage
 *    cnn). The cnn's first convolution reads the raw image as the reference's excluded stem does, and on
 *    this lab's models its CKA with the clean model is 0.999–1.0 (QUICK study), so it would carry no
 *    information about the backdoor; a one-stage cnn keeps its only convolution.
 *  - Backdoor neurons: channels ranked per layer by the trigger-activated change (TAC) of the *backdoored*
 *    model (CLP's `diff`): for paired clean/triggered test images of non-target classes, the mean over pairs
 *    of ‖a_c(x̃) − a_c(x)‖₂ (L2 over the channel's spatial map), divided by the mean over all images of the
 *    layer's whole-activation norm (a per-layer constant, so it does not change the ranking). The top 10% of
 *    channels per layer (`top10_cka`, the key the paper's BEC figure plots; `int(c · 0.1)` channels) are the
 *    backdoor neurons. Departures: all non-target test pairs instead of 2,200 random ones, one normaliser
 *    over the whole set instead of a sum of per-batch ratios (the same ranking), and at least one channel
 *    (the reference's `int()` gives 0 channels for layers narrower than 10).
 *  - Similarity: linear CKA (biased HSIC: centred Gram matrices, Kornblith et al. 2019) between the
 *    backdoored and the other model's selected-channel activations on triggered non-target test images,
 *    each image a vector of (channels × positions); one CKA per layer, averaged over layers. Departure: all
 *    triggered test images (9,000 on Fashion-MNIST) instead of 500 random ones; computed in feature space
 *    (‖X_cᵀY_c‖²_F, which equals the reference's sum(centred K ∘ centred L) exactly; the Gram matrices of
 *    9,000 images would not fit).
 *  - Normalisation: the reference min–max normalises the similarities of {clean model, defenses} of one
 *    attack and plots the backdoored model at 1, so a model's BEC depends on which other defenses were run
 *    and the most similar defense is 1 by construction. Departure: BEC = (S − S_clean) / (1 − S_clean), with
 *    S the layer-mean CKA to the backdoored model and S_clean the clean model's: the backdoored model is 1
 *    (CKA with itself), the clean model 0, whatever else is in the study, so a BEC is one cached number per
 *    model. It is not clipped: below 0 means less similar than an independently trained clean model.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { EVAL_BATCH } from '../metrics';
import { BlockParams, BlockShape, blockSupported, ConvBnReluPoolChain, outputSize } from '../engine/convBnReluPool';
import { avgPool2, batchNormRelu, BN_EPSILON, conv } from '../models/layers';
import { Model, ModelSpec } from '../models/spec';
import { batchArray } from '../train/augment';

export interface BecConfig {
  /** Share of each layer's channels taken as backdoor neurons (reference: 0.05, 0.1, 0.2; the paper plots 0.1). */
  topFraction: number;
  batchSize: number;
}

export const BEC_DEFAULTS: BecConfig = { topFraction: 0.1, batchSize: EVAL_BATCH };

export function validateBecConfig(c: BecConfig): void {
  if (!(c.topFraction > 0 && c.topFraction <= 1)) throw new Error(`BEC: topFraction must be in (0, 1], got ${c.topFraction}`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 2) throw new Error(`BEC: batchSize must be an integer >= 2, got ${c.batchSize}`);
}

/** A layer whose convolution output BEC reads: its name and channel count. */
export interface BecLayer {
  name: string;
  channels: number;
}

function preactBlocks(spec: ModelSpec): { name: string; stride: number }[] {
  const depth = spec.depth ?? spec.widths.map(() => 2);
  const out = [];
  for (let s = 0; s < spec.widths.length; s++) {
    for (let b = 0; b < depth[s]; b++) out.push({ name: `stage${s}/block${b}`, stride: s > 0 && b === 0 ? 2 : 1 });
  }
  return out;
}

/** Index of the first cnn stage whose convolution is a BEC layer (the first one is the stem). */
const firstCnnLayer = (spec: ModelSpec) => (spec.widths.length > 1 ? 1 : 0);

export function becLayers(spec: ModelSpec): BecLayer[] {
  if (spec.arch === 'cnn') return spec.widths.map((w, i) => ({ name: `stage${i}/conv`, channels: w })).slice(firstCnnLayer(spec));
  const depth = spec.depth ?? spec.widths.map(() => 2);
  return spec.widths.flatMap((w, s) => Array.from({ length: depth[s] }, (_, b) =>
    [{ name: `stage${s}/block${b}/conv1`, channels: w }, { name: `stage${s}/block${b}/conv2`, channels: w }]).flat());
}

/**
 * Eval-mode forward pass up to the last BEC layer, returning each BEC layer's convolution output (NHWC), in
 * becLayers order. It mirrors models/cnn and models/preactResnet, which do not expose intermediate outputs.
 */
export function convActivations(model: Model, x: tf.Tensor4D): tf.Tensor4D[] {
  return model.spec.arch === 'cnn' ? cnnTaps(model, x, 0) : preactTaps(model, x);
}

/** The cnn's BEC taps from stage `first` on, given that stage's input (for first > 0: the previous stage's pooled output). */
function cnnTaps(model: Model, x: tf.Tensor4D, first: number): tf.Tensor4D[] {
  const { params, state, spec } = model;
  const eval_ = { training: false };
  const taps: tf.Tensor4D[] = [];
  let h = x;
  for (let i = first; i < spec.widths.length; i++) {
    const c = conv(params, `stage${i}/conv`, h);
    if (i >= firstCnnLayer(spec)) taps.push(c);
    if (i < spec.widths.length - 1) h = avgPool2(batchNormRelu(params, state, `stage${i}/bn`, c, eval_), eval_);
  }
  return taps;
}

const stemChains = new Map<string, ConvBnReluPoolChain>();

/**
 * The cnn's stage 0 — conv–BN–ReLU–pool, not a BEC layer — in the fused inference kernel (engine/convBnReluPool)
 * where it runs (wasm with SIMD): on wasm that stage costs more in TF.js than the two after it. Null elsewhere.
 */
function fusedStem(model: Model): ((images: Float32Array, n: number) => tf.Tensor4D) | null {
  const { spec, params, state } = model;
  if (spec.arch !== 'cnn' || firstCnnLayer(spec) === 0 || tf.getBackend() !== 'wasm' || !ConvBnReluPoolChain.available()) return null;
  const [height, width, channelsIn] = spec.inputShape;
  const block: BlockShape = { height, width, channelsIn, channelsOut: spec.widths[0], pool: true };
  if (!blockSupported(block)) return null;
  const key = JSON.stringify(block);
  const chain = stemChains.get(key) ?? new ConvBnReluPoolChain([block]);
  stemChains.set(key, chain);
  const [scale, shift] = tf.tidy(() => {
    // The eval-mode batch norm of layers.ts, folded as models/inference does.
    const sc = tf.mul(params['stage0/bn/gamma'], tf.rsqrt(tf.add(state['stage0/bn/variance'], BN_EPSILON)));
    return [sc, tf.sub(params['stage0/bn/beta'], tf.mul(state['stage0/bn/mean'], sc))];
  });
  const stage: BlockParams = {
    weights: params['stage0/conv/w'].dataSync() as Float32Array, scale: scale.dataSync() as Float32Array, shift: shift.dataSync() as Float32Array,
  };
  tf.dispose([scale, shift]);
  const [h, w] = outputSize(block);
  return (images, n) => {
    chain.setInput(images, n);
    return tf.tensor4d(chain.compute([stage]), [n, h, w, block.channelsOut]);
  };
}

/**
 * BEC taps of several models on one batch of images (NHWC floats in [0, 1]): convActivations, with the cnn's
 * stem in the fused kernel where it runs (equal to the TF.js pass to float rounding; tested).
 */
export function batchActivations(models: Model[], images: Float32Array, n: number): tf.Tensor4D[][] {
  const stems = models.map(fusedStem);
  return tf.tidy(() => {
    let x: tf.Tensor4D | undefined;
    return models.map((m, k) => {
      const stem = stems[k];
      if (stem) return cnnTaps(m, stem(images, n), 1);
      x ??= tf.tensor4d(images, [n, ...m.spec.inputShape]);
      return convActivations(m, x);
    });
  });
}

function preactTaps(model: Model, x: tf.Tensor4D): tf.Tensor4D[] {
  const { params, state, spec } = model;
  const eval_ = { training: false };
  const taps: tf.Tensor4D[] = [];
  let h = conv(params, 'stem/conv', x);
  for (const b of preactBlocks(spec)) {
    const pre = batchNormRelu(params, state, `${b.name}/bn1`, h, eval_);
    const shortcut = params[`${b.name}/shortcut/w`] ? conv(params, `${b.name}/shortcut`, pre, b.stride) : h;
    const c1 = conv(params, `${b.name}/conv1`, pre, b.stride);
    const c2 = conv(params, `${b.name}/conv2`, batchNormRelu(params, state, `${b.name}/bn2`, c1, eval_));
    taps.push(c1, c2);
    h = tf.add(c2, shortcut) as tf.Tensor4D;
  }
  return taps;
}

function batches(n: number, size: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let start = 0; start < n; start += size) out.push(Int32Array.from({ length: Math.min(size, n - start) }, (_, i) => start + i));
  return out;
}


/**
 * Trigger-activated change per channel of each BEC layer (CLP's `diff`, as the reference ranks neurons):
 * mean over pairs of the spatial L2 norm of a_c(triggered) − a_c(clean), over the mean norm of the layer's
 * whole activation. `clean[i]` and `triggered[i]` must be the same image without and with the trigger.
 */
export function triggerActivatedChange(model: Model, clean: Dataset, triggered: Dataset, batchSize = EVAL_BATCH): Float64Array[] {
  if (clean.n !== triggered.n) throw new Error(`TAC: ${clean.n} clean images but ${triggered.n} triggered ones; they must be pairs`);
  for (let i = 0; i < clean.n; i++) {
    if (clean.labels[i] !== triggered.labels[i]) throw new Error(`TAC: pair ${i} has labels ${clean.labels[i]} and ${triggered.labels[i]}; they must be the same image`);
  }
  const layers = becLayers(model.spec);
  const diffSums = layers.map((l) => new Float64Array(l.channels));
  const normSums = new Float64Array(layers.length);
  for (const idx of batches(clean.n, batchSize)) {
    const [diffs, norms] = tf.tidy(() => {
      const [a] = batchActivations([model], batchArray(clean, idx), idx.length);
      const [b] = batchActivations([model], batchArray(triggered, idx), idx.length);
      // Spatial sums of squares per (image, channel) through an average pool: tf.sum over [1, 2] transposes on wasm.
      const spatialSq = (t: tf.Tensor4D) => {
        const [n, h, w, c] = t.shape;
        return tf.mul(tf.avgPool(tf.square(t) as tf.Tensor4D, [h, w], 1, 'valid').reshape([n, c]), h * w) as tf.Tensor2D;
      };
      const norms = (t: tf.Tensor4D) => tf.sum(tf.sqrt(tf.sum(spatialSq(t), 1)));
      return [
        a.map((ai, l) => tf.sum(tf.sqrt(spatialSq(tf.sub(b[l], ai) as tf.Tensor4D)), 0)),
        a.map((ai, l) => tf.add(norms(ai), norms(b[l]))),
      ];
    });
    diffs.forEach((d, l) => { const v = d.dataSync(); for (let c = 0; c < v.length; c++) diffSums[l][c] += v[c]; });
    norms.forEach((t, l) => { normSums[l] += t.dataSync()[0]; });
    tf.dispose([...diffs, ...norms]);
  }
  return diffSums.map((s, l) => {
    const meanNorm = normSums[l] / (2 * clean.n);
    return s.map((x) => (x / clean.n) / meanNorm);
  });
}

/** The top `fraction` of channels by TAC, largest first (ties: lower index first); at least one. */
export function selectNeurons(tac: ArrayLike<number>, fraction: number): number[] {
  const k = Math.max(1, Math.floor(tac.length * fraction));
  return Array.from(tac, (v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i);
}

/**
 * HSIC of two column-centred representations of the same n inputs, up to the constant that CKA cancels:
 * ‖AᵀB‖²_F, which equals tr(K_c L_c) (the reference's sum of centred Gram matrices) and is computed in
 * whichever of the feature and the sample space is smaller. Products use explicit transposes: on wasm a
 * transposed operand of tf.matMul was about three times slower (measured). The sum runs in float64.
 */
function hsic(a: tf.Tensor2D, b: tf.Tensor2D): number {
  const n = a.shape[0];
  const [p, q] = tf.tidy(() => (Math.max(a.shape[1], b.shape[1]) <= n
    ? [tf.matMul(tf.transpose(a), b), null]
    : [tf.matMul(a, tf.transpose(a)), tf.matMul(b, tf.transpose(b))]));
  const pv = p.dataSync();
  const qv = q ? q.dataSync() : pv;
  let s = 0;
  for (let i = 0; i < pv.length; i++) s += q ? pv[i] * qv[i] : pv[i] * pv[i];
  tf.dispose([p, ...(q ? [q] : [])]);
  return s;
}

const centred = (x: tf.Tensor2D) => tf.tidy(() => tf.sub(x, tf.mean(x, 0, true)) as tf.Tensor2D);

/** Linear CKA of two representations of the same n inputs (rows: inputs; columns: features), biased HSIC. */
export function linearCka(x: tf.Tensor2D, y: tf.Tensor2D): number {
  if (x.shape[0] !== y.shape[0]) throw new Error(`linearCka: ${x.shape[0]} rows vs ${y.shape[0]}; both must describe the same inputs`);
  const [xc, yc] = [centred(x), centred(y)];
  try {
    return hsic(xc, yc) / Math.sqrt(hsic(xc, xc) * hsic(yc, yc));
  } finally {
    tf.dispose([xc, yc]);
  }
}

/** The columns of a [n, h, w, c] activation that belong to the selected channels, flattened per image. */
function selectChannels(a: tf.Tensor4D, selector: tf.Tensor2D): tf.Tensor2D {
  const [n, h, w, c] = a.shape;
  // A one-hot product rather than tf.gather on the last axis, which is slow on wasm.
  return tf.matMul(a.reshape([n * h * w, c]), selector).reshape([n, -1]) as tf.Tensor2D;
}

function selectors(layers: BecLayer[], selected: number[][]): tf.Tensor2D[] {
  return layers.map((l, i) => tf.tidy(() => {
    const m = new Float32Array(l.channels * selected[i].length);
    selected[i].forEach((ch, k) => { m[ch * selected[i].length + k] = 1; });
    return tf.tensor2d(m, [l.channels, selected[i].length]);
  }));
}

export interface LayerSimilarity {
  layer: string;
  /** Linear CKA between the reference's and the model's selected-channel activations. */
  cka: number;
}

export interface Similarity {
  layers: LayerSimilarity[];
  /** Mean of the layers' CKA: the reference's per-model similarity before normalisation. */
  similarity: number;
}

/**
 * Linear CKA, per BEC layer, between the reference (backdoored) model's activations of the selected channels
 * and each model's activations of the same channels, over the triggered images. `referenceHsic`, when
 * given (one value per layer, from an earlier call's `referenceHsic`), saves the reference's own product.
 */
export function backdoorSimilarity(reference: Model, models: Model[], triggered: Dataset, selected: number[][],
  opts: { batchSize?: number; referenceHsic?: number[] } = {}): { perModel: Similarity[]; referenceHsic: number[] } {
  const layers = becLayers(reference.spec);
  if (selected.length !== layers.length) throw new Error(`BEC: ${selected.length} channel selections for ${layers.length} layers`);
  for (const m of models) {
    const other = becLayers(m.spec);
    if (JSON.stringify(other) !== JSON.stringify(layers)) throw new Error('BEC: every model must have the reference\'s architecture and widths');
  }
  // The selected activations of every image are kept ([n, channels × positions] per model and layer: 32 MB per
  // model on the full Fashion-MNIST test set) so that each HSIC is one product over all images, centred exactly.
  const sel = selectors(layers, selected);
  const pieces: tf.Tensor2D[][][] = layers.map(() => [reference, ...models].map(() => []));
  try {
    for (const idx of batches(triggered.n, opts.batchSize ?? EVAL_BATCH)) {
      const reps = tf.tidy(() => {
        const acts = batchActivations([reference, ...models], batchArray(triggered, idx), idx.length);
        return layers.map((_, l) => acts.map((a) => selectChannels(a[l], sel[l])));
      });
      reps.forEach((r, l) => r.forEach((t, j) => pieces[l][j].push(t)));
    }
  } catch (e) {
    tf.dispose(pieces.flat(2));
    throw e;
  } finally {
    tf.dispose(sel);
  }
  const referenceHsic: number[] = [];
  const perLayer = layers.map((_, l) => {
    const [x, ...ys] = pieces[l].map((ps) => {
      const all = tf.concat(ps, 0) as tf.Tensor2D;
      tf.dispose(ps);
      const c = centred(all);
      all.dispose();
      return c;
    });
    try {
      const xx = opts.referenceHsic?.[l] ?? hsic(x, x);
      referenceHsic.push(xx);
      return ys.map((y) => hsic(x, y) / Math.sqrt(xx * hsic(y, y)));
    } finally {
      tf.dispose([x, ...ys]);
    }
  });
  const perModel = models.map((_, j) => {
    const ls = layers.map((l, i) => ({ layer: l.name, cka: perLayer[i][j] }));
    return { layers: ls, similarity: ls.reduce((a, x) => a + x.cka, 0) / ls.length };
  });
  return { perModel, referenceHsic };
}

/** BEC from a model's similarity S and the clean model's S_clean: 1 for the backdoored model, 0 for the clean one. */
export function backdoorExistence(similarity: number, cleanSimilarity: number): number {
  return (similarity - cleanSimilarity) / (1 - cleanSimilarity);
}

/** The clean counterparts of a backdoor test set built by backdoorTestSet: the non-target test images, in order. */
export function nonTargetIndices(test: Dataset, target: number): number[] {
  const keep: number[] = [];
  for (let i = 0; i < test.n; i++) if (test.labels[i] !== target) keep.push(i);
  return keep;
}

/** What `becReference` computes once per backdoored model: the neurons and the clean model's anchor. */
export interface BecReference {
  layers: (BecLayer & { tac: number[]; selected: number[] })[];
  /** HSIC of the backdoored model's selected activations with themselves, per layer (reused per subject). */
  referenceHsic: number[];
  clean: Similarity;
}

export function becReference(backdoored: Model, clean: Model, cleanPairs: Dataset, triggered: Dataset,
  config: BecConfig = BEC_DEFAULTS): BecReference {
  validateBecConfig(config);
  const tac = triggerActivatedChange(backdoored, cleanPairs, triggered, config.batchSize);
  const selected = tac.map((t) => selectNeurons(t, config.topFraction));
  const s = backdoorSimilarity(backdoored, [clean], triggered, selected, { batchSize: config.batchSize });
  return {
    layers: becLayers(backdoored.spec).map((l, i) => ({ ...l, tac: Array.from(tac[i]), selected: selected[i] })),
    referenceHsic: s.referenceHsic,
    clean: s.perModel[0],
  };
}

export interface BecValue extends Similarity {
  bec: number;
}

/** BEC of one model against a reference computed by becReference (same backdoored model and images). */
export function becOf(backdoored: Model, model: Model, triggered: Dataset, ref: BecReference, config: BecConfig = BEC_DEFAULTS): BecValue {
  validateBecConfig(config);
  const s = backdoorSimilarity(backdoored, [model], triggered, ref.layers.map((l) => l.selected),
    { batchSize: config.batchSize, referenceHsic: ref.referenceHsic }).perModel[0];
  return { ...s, bec: backdoorExistence(s.similarity, ref.clean.similarity) };
}

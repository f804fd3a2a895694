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
 *    cnn, which has no stem/block distinction, every stage's convolution (3 layers), before its batch norm.
 *    Departure: the cnn's first convolution is kept; excluding it, as the reference excludes its stem, would
 *    leave two layers, and it is the layer that sees the trigger pixels first.
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
 *    (‖X_cᵀY_c‖²_F, which equals the reference's sum(centred K ∘ centred L) exactly) by streaming batches.
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
import { avgPool2, batchNormRelu, conv } from '../models/layers';
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

export function becLayers(spec: ModelSpec): BecLayer[] {
  if (spec.arch === 'cnn') return spec.widths.map((w, i) => ({ name: `stage${i}/conv`, channels: w }));
  const depth = spec.depth ?? spec.widths.map(() => 2);
  return spec.widths.flatMap((w, s) => Array.from({ length: depth[s] }, (_, b) =>
    [{ name: `stage${s}/block${b}/conv1`, channels: w }, { name: `stage${s}/block${b}/conv2`, channels: w }]).flat());
}

/**
 * Eval-mode forward pass up to the last BEC layer, returning each BEC layer's convolution output (NHWC), in
 * becLayers order. It mirrors models/cnn and models/preactResnet, which do not expose intermediate outputs.
 */
export function convActivations(model: Model, x: tf.Tensor4D): tf.Tensor4D[] {
  const { params, state, spec } = model;
  const eval_ = { training: false };
  const taps: tf.Tensor4D[] = [];
  if (spec.arch === 'cnn') {
    let h = x;
    spec.widths.forEach((_, i) => {
      const c = conv(params, `stage${i}/conv`, h);
      taps.push(c);
      if (i < spec.widths.length - 1) h = avgPool2(batchNormRelu(params, state, `stage${i}/bn`, c, eval_), eval_);
    });
    return taps;
  }
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

const inputOf = (d: Dataset, idx: Int32Array) => tf.tensor4d(batchArray(d, idx), [idx.length, d.height, d.width, d.channels]);

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
      const a = convActivations(model, inputOf(clean, idx));
      const b = convActivations(model, inputOf(triggered, idx));
      return [
        a.map((ai, l) => {
          const [n, h, w, c] = ai.shape;
          // Spatial sum of squares per (image, channel) through an average pool: tf.sum over [1, 2] transposes on wasm.
          const sq = tf.square(tf.sub(b[l], ai)) as tf.Tensor4D;
          const ss = tf.mul(tf.avgPool(sq, [h, w], 1, 'valid').reshape([n, c]), h * w);
          return tf.sum(tf.sqrt(ss), 0);
        }),
        a.map((ai, l) => tf.add(tf.sum(tf.norm(ai.reshape([ai.shape[0], -1]), 'euclidean', 1)), tf.sum(tf.norm(b[l].reshape([b[l].shape[0], -1]), 'euclidean', 1)))),
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

/** Linear CKA of two representations of the same n inputs (rows: inputs; columns: features), biased HSIC. */
export function linearCka(x: tf.Tensor2D, y: tf.Tensor2D): number {
  if (x.shape[0] !== y.shape[0]) throw new Error(`linearCka: ${x.shape[0]} rows vs ${y.shape[0]}; both must describe the same inputs`);
  const [xy, xx, yy] = tf.tidy(() => {
    const xc = tf.sub(x, tf.mean(x, 0, true)) as tf.Tensor2D;
    const yc = tf.sub(y, tf.mean(y, 0, true)) as tf.Tensor2D;
    // ‖X_cᵀY_c‖²_F = tr(K_c L_c): whichever of the feature or the sample space is smaller.
    const n = x.shape[0];
    const hsic = (a: tf.Tensor2D, b: tf.Tensor2D) => (Math.max(a.shape[1], b.shape[1]) <= n
      ? tf.sum(tf.square(tf.matMul(a, b, true, false)))
      : tf.sum(tf.mul(tf.matMul(a, a, false, true), tf.matMul(b, b, false, true))));
    return [hsic(xc, yc), hsic(xc, xc), hsic(yc, yc)];
  });
  const [vxy, vxx, vyy] = [xy, xx, yy].map((t) => t.dataSync()[0]);
  tf.dispose([xy, xx, yy]);
  return vxy / Math.sqrt(vxx * vyy);
}

/**
 * Streaming pieces of linear CKA between one reference representation X and others Y_j, batch by batch
 * over the same inputs: Σ X'ᵀY'_j, Σ Y'_jᵀY'_j, the column sums and n, with X' = X − s (s: the first batch's
 * column means), which keeps the centring X_cᵀY_c = X'ᵀY' − a bᵀ/n well conditioned in float32.
 * HSIC(X, X) is a scalar given from outside (computed once per reference) or accumulated when asked.
 */
class CkaStream {
  private n = 0;
  private shifts: tf.Tensor2D[] = [];
  private sums: tf.Tensor2D[] = [];
  private products: tf.Tensor2D[] = [];

  /** Products accumulated: [X'ᵀX' if withSelf] then, per other j, X'ᵀY'_j and Y'_jᵀY'_j. */
  constructor(private readonly withSelf: boolean) {}

  add(reps: tf.Tensor2D[]): void {
    if (this.shifts.length === 0) this.shifts = reps.map((r) => tf.keep(tf.mean(r, 0, true)));
    const next = tf.tidy(() => {
      const s = reps.map((r, j) => tf.sub(r, this.shifts[j]));
      const prods = [
        ...(this.withSelf ? [tf.matMul(s[0], s[0], true, false)] : []),
        ...s.slice(1).flatMap((y) => [tf.matMul(s[0], y, true, false), tf.matMul(y, y, true, false)]),
      ];
      return {
        sums: s.map((x, j) => (this.sums[j] ? tf.add(this.sums[j], tf.sum(x, 0, true)) : tf.sum(x, 0, true)) as tf.Tensor2D),
        products: prods.map((p, k) => (this.products[k] ? tf.add(this.products[k], p) : p) as tf.Tensor2D),
      };
    });
    tf.dispose([...this.sums, ...this.products]);
    this.sums = next.sums;
    this.products = next.products;
    this.n += reps[0].shape[0];
  }

  /** ‖M − a bᵀ/n‖²_F in float64. */
  private centred(m: tf.Tensor2D, a: tf.Tensor2D, b: tf.Tensor2D): number {
    const mv = m.dataSync();
    const av = a.dataSync();
    const bv = b.dataSync();
    const cols = bv.length;
    let s = 0;
    for (let i = 0; i < av.length; i++) {
      const ai = av[i] / this.n;
      for (let j = 0; j < cols; j++) {
        const v = mv[i * cols + j] - ai * bv[j];
        s += v * v;
      }
    }
    return s;
  }

  /** HSIC(X, X) (only with withSelf) and, per other j, { xy: HSIC(X, Y_j), yy: HSIC(Y_j, Y_j) }. Disposes everything. */
  finish(): { xx: number | null; others: { xy: number; yy: number }[] } {
    if (this.n === 0) throw new Error('BEC: no images');
    const off = this.withSelf ? 1 : 0;
    const xx = this.withSelf ? this.centred(this.products[0], this.sums[0], this.sums[0]) : null;
    const others = this.sums.slice(1).map((b, j) => ({
      xy: this.centred(this.products[off + 2 * j], this.sums[0], b),
      yy: this.centred(this.products[off + 2 * j + 1], b, b),
    }));
    tf.dispose([...this.shifts, ...this.sums, ...this.products]);
    this.shifts = [];
    this.sums = [];
    this.products = [];
    return { xx, others };
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
  const sel = selectors(layers, selected);
  const streams = layers.map(() => new CkaStream(!opts.referenceHsic));
  try {
    for (const idx of batches(triggered.n, opts.batchSize ?? EVAL_BATCH)) {
      const reps = tf.tidy(() => {
        const x = inputOf(triggered, idx);
        const acts = [reference, ...models].map((m) => convActivations(m, x));
        return layers.map((_, l) => acts.map((a) => selectChannels(a[l], sel[l])));
      });
      reps.forEach((r, l) => streams[l].add(r));
      tf.dispose(reps.flat());
    }
  } finally {
    tf.dispose(sel);
  }
  const done = streams.map((s) => s.finish());
  const referenceHsic = opts.referenceHsic ?? done.map((d) => d.xx!);
  const perModel = models.map((_, j) => {
    const ls = layers.map((l, i) => ({ layer: l.name, cka: done[i].others[j].xy / Math.sqrt(referenceHsic[i] * done[i].others[j].yy) }));
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

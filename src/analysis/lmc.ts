/**
 * Linear mode connectivity (paper §7): evaluate θ(t) = (1 − t)·θ_a + t·θ_b on a grid of t. With θ_a the
 * purified model and θ_b the backdoored one, the backdoor error (1 − ASR) along the path shows how far the
 * defense moved the model *along the backdoor-connected path*: weak defenses lose it at small t.
 *
 * Batch norm is an explicit choice: 'interpolate' mixes the running statistics like every other tensor;
 * 'recompute' re-estimates them at each θ(t) from clean data (cumulative average over training-mode
 * passes, as torch's momentum=None), since interpolated statistics need not match interpolated weights.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { accuracy, attackSuccessRate } from '../metrics';
import { BatchStats, ParamRecord } from '../models/layers';
import { forward } from '../models/model';
import { Model } from '../models/spec';
import * as W from '../models/weights';
import { batchTensor } from '../train/augment';
import { disposeStats } from '../train/train';

export type BatchNormMode = 'interpolate' | 'recompute';

export interface LmcOptions {
  ts?: number[];
  batchNorm?: BatchNormMode;
  /** Clean data for 'recompute' (the defender's clean split). */
  statsData?: Dataset;
  statsBatchSize?: number;
}

export interface LmcPoint {
  t: number;
  cleanAccuracy: number;
  asr: number;
  cleanLoss: number;
  backdoorLoss: number;
}

export interface LmcSummary {
  /** First t at which ASR exceeds 50% (null if it never does). */
  tAsrAbove50: number | null;
  /** Area under the backdoor-error (1 − ASR) curve over t ∈ [first, last], trapezoidal. */
  backdoorErrorArea: number;
  /** ‖θ_a − θ_b‖₂ over the trainable parameters. */
  distance: number;
}

export const DEFAULT_TS = Array.from({ length: 21 }, (_, i) => Math.round(i * 5) / 100);

/** Model at fraction t of the straight line from a to b (new tensors). */
export function interpolateModel(a: Model, b: Model, t: number, mode: BatchNormMode): Model {
  const params = W.lerp(a.params, b.params, t);
  // 'recompute' starts from a's statistics only as placeholders; recomputeBatchNorm replaces them.
  const state = mode === 'interpolate' ? W.lerp(a.state, b.state, t) : W.clone(a.state);
  return { spec: a.spec, params, state };
}

/** Replace the model's running statistics by the average batch statistics over `data` (in place). */
export function recomputeBatchNorm(model: Model, data: Dataset, batchSize = 500): void {
  const sums: ParamRecord = {};
  let batches = 0;
  for (let start = 0; start < data.n; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, data.n - start) }, (_, i) => start + i);
    if (idx.length < 2) continue;
    const stats: BatchStats = {};
    tf.tidy(() => { forward(model, batchTensor(data, idx), { training: true }, stats); });
    for (const [name, s] of Object.entries(stats)) {
      const unbiased = tf.tidy(() => tf.mul(s.variance, s.count / (s.count - 1)));
      for (const [key, v] of [[`${name}/mean`, s.mean], [`${name}/variance`, unbiased]] as const) {
        const prev = sums[key];
        sums[key] = prev ? tf.add(prev, v) : v.clone();
        prev?.dispose();
      }
      unbiased.dispose();
    }
    disposeStats(stats);
    batches++;
  }
  if (batches === 0) throw new Error(`recomputeBatchNorm: ${data.name} has fewer than 2 images`);
  for (const [key, sum] of Object.entries(sums)) {
    model.state[key].dispose();
    model.state[key] = tf.tidy(() => tf.div(sum, batches));
    sum.dispose();
  }
}

/** Accuracy-style rate and mean cross-entropy of `labels` (true labels, or the target for the backdoor set). */
function rateAndLoss(model: Model, d: Dataset, lossLabel: (i: number) => number, batchSize = 500): { preds: Int32Array; loss: number } {
  const preds = new Int32Array(d.n);
  let lossSum = 0;
  for (let start = 0; start < d.n; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, d.n - start) }, (_, i) => start + i);
    const y = Int32Array.from(idx, lossLabel);
    const [p, l] = tf.tidy(() => {
      const logits = forward(model, batchTensor(d, idx), { training: false });
      const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(tf.tensor1d(y, 'int32'), logits.shape[1]), tf.logSoftmax(logits))));
      return [tf.argMax(logits, 1), nll];
    });
    preds.set(p.dataSync() as Int32Array, start);
    lossSum += l.dataSync()[0];
    tf.dispose([p, l]);
  }
  return { preds, loss: lossSum / d.n };
}

export function evaluatePoint(model: Model, test: Dataset, backdoorTest: Dataset, target: number, t: number): LmcPoint {
  const clean = rateAndLoss(model, test, (i) => test.labels[i]);
  // Backdoor loss: cross-entropy towards the target class, so it falls as the backdoor returns.
  const bd = rateAndLoss(model, backdoorTest, () => target);
  return {
    t,
    cleanAccuracy: accuracy(clean.preds, test.labels),
    asr: attackSuccessRate(bd.preds, backdoorTest.labels, target),
    cleanLoss: clean.loss,
    backdoorLoss: bd.loss,
  };
}

export function summarise(points: LmcPoint[], distance: number): LmcSummary {
  const above = points.find((p) => p.asr > 0.5);
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    area += (points[i].t - points[i - 1].t) * ((1 - points[i].asr) + (1 - points[i - 1].asr)) / 2;
  }
  return { tAsrAbove50: above ? above.t : null, backdoorErrorArea: area, distance };
}

/** Evaluate the path from a (t = 0) to b (t = 1). Models a and b are left untouched. */
export function linearPath(a: Model, b: Model, test: Dataset, backdoorTest: Dataset, target: number,
  opts: LmcOptions = {}): { points: LmcPoint[]; summary: LmcSummary } {
  const ts = opts.ts ?? DEFAULT_TS;
  const mode = opts.batchNorm ?? 'interpolate';
  if (mode === 'recompute' && !opts.statsData) throw new Error('linearPath: batchNorm "recompute" needs statsData (clean images)');
  if (ts.some((t) => !Number.isFinite(t))) throw new Error('linearPath: every t must be a finite number');
  const points: LmcPoint[] = [];
  for (const t of ts) {
    const m = interpolateModel(a, b, t, mode);
    try {
      if (mode === 'recompute') recomputeBatchNorm(m, opts.statsData!, opts.statsBatchSize);
      points.push(evaluatePoint(m, test, backdoorTest, target, t));
    } finally {
      W.dispose(m.params);
      W.dispose(m.state);
    }
  }
  return { points, summary: summarise(points, W.distance(a.params, b.params)) };
}

/**
 * Linear mode connectivity (paper §7): evaluate θ(t) = (1 − t)·θ_a + t·θ_b on a grid of t. With θ_a the
 * purified model and θ_b the backdoored one, the backdoor error (1 − ASR) along the path shows how far the
 * defense moved the model *along the backdoor-connected path*: weak defenses lose it at small t.
 *
 * Batch norm is an explicit choice: 'interpolate' mixes the running statistics like every other tensor;
 * 'recompute' re-estimates them at each θ(t) from clean data (cumulative average over training-mode
 * passes, as torch's momentum=None), since interpolated statistics need not match interpolated weights.
 *
 * Cost: every point is a forward pass over the full clean and backdoor test sets. All points are built
 * first and each batch is then run through all of them (models/inference: fused kernels on wasm), so a
 * batch is assembled once per path rather than once per point.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { accuracy, attackSuccessRate, EVAL_BATCH } from '../metrics';
import { BatchStats, ParamRecord } from '../models/layers';
import { forward } from '../models/model';
import { InferenceInput, InferenceModel } from '../models/inference';
import { Model } from '../models/spec';
import * as W from '../models/weights';
import { batchArray, batchTensor } from '../train/augment';
import { disposeStats } from '../train/gradients';

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

/**
 * Predictions and mean cross-entropy towards `lossLabel` (the true label, or the target for the backdoor
 * set) for several models over one dataset. Each batch is built and loaded once and then run through
 * every model: an LMC path evaluates all its points batch by batch.
 */
function predictionsAndLosses(models: InferenceModel[], d: Dataset, lossLabel: (i: number) => number,
  batchSize = EVAL_BATCH): { preds: Int32Array; loss: number }[] {
  const out = models.map(() => ({ preds: new Int32Array(d.n), loss: 0 }));
  for (let start = 0; start < d.n; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, d.n - start) }, (_, i) => start + i);
    const input = new InferenceInput(batchArray(d, idx), idx.length, models[0].model.spec.inputShape);
    const oneHot = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(idx, lossLabel), 'int32'), models[0].model.spec.numClasses));
    try {
      models.forEach((m, k) => {
        const logits = m.logits(input);
        const [p, l] = tf.tidy(() => [tf.argMax(logits, 1), tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits))))]);
        out[k].preds.set(p.dataSync() as Int32Array, start);
        out[k].loss += l.dataSync()[0];
        tf.dispose([logits, p, l]);
      });
    } finally {
      oneHot.dispose();
      input.dispose();
    }
  }
  for (const o of out) o.loss /= d.n;
  return out;
}

function evaluatePoints(models: Model[], ts: number[], test: Dataset, backdoorTest: Dataset, target: number): LmcPoint[] {
  const inference = models.map((m) => new InferenceModel(m));
  const clean = predictionsAndLosses(inference, test, (i) => test.labels[i]);
  // Backdoor loss: cross-entropy towards the target class, so it falls as the backdoor returns.
  const bd = predictionsAndLosses(inference, backdoorTest, () => target);
  return ts.map((t, k) => ({
    t,
    cleanAccuracy: accuracy(clean[k].preds, test.labels),
    asr: attackSuccessRate(bd[k].preds, backdoorTest.labels, target),
    cleanLoss: clean[k].loss,
    backdoorLoss: bd[k].loss,
  }));
}

export function evaluatePoint(model: Model, test: Dataset, backdoorTest: Dataset, target: number, t: number): LmcPoint {
  return evaluatePoints([model], [t], test, backdoorTest, target)[0];
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
  const models: Model[] = [];
  try {
    for (const t of ts) {
      const m = interpolateModel(a, b, t, mode);
      models.push(m);
      if (mode === 'recompute') recomputeBatchNorm(m, opts.statsData!, opts.statsBatchSize);
    }
    const points = evaluatePoints(models, ts, test, backdoorTest, target);
    return { points, summary: summarise(points, W.distance(a.params, b.params)) };
  } finally {
    for (const m of models) {
      W.dispose(m.params);
      W.dispose(m.state);
    }
  }
}

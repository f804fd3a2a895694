/**
 * C-Acc, ASR and confusion matrices. Predictions are computed batch by batch and only the argmax comes
 * back from the backend (reading large tensors back is slow on wasm).
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { InferenceInput, InferenceModel } from '../models/inference';
import { Model } from '../models/spec';
import { batchArray } from '../train/augment';

/** Images per evaluation batch (LMC uses the same, so its endpoints match `evaluate` exactly). */
export const EVAL_BATCH = 500;

export function predict(model: Model, d: Dataset, batchSize = EVAL_BATCH): Int32Array {
  const out = new Int32Array(d.n);
  const inference = new InferenceModel(model);
  for (let start = 0; start < d.n; start += batchSize) {
    const idx = new Int32Array(Math.min(batchSize, d.n - start)).map((_, i) => start + i);
    const input = new InferenceInput(batchArray(d, idx), idx.length, model.spec.inputShape);
    const logits = inference.logits(input);
    const preds = tf.tidy(() => tf.argMax(logits, 1));
    out.set(preds.dataSync() as Int32Array, start);
    tf.dispose([logits, preds]);
    input.dispose();
  }
  return out;
}

export function accuracy(preds: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (preds.length !== labels.length) throw new Error(`accuracy: ${preds.length} predictions for ${labels.length} labels`);
  if (preds.length === 0) return NaN;
  let c = 0;
  for (let i = 0; i < preds.length; i++) if (preds[i] === labels[i]) c++;
  return c / preds.length;
}

/**
 * Fraction of backdoor-test predictions equal to the target. The backdoor test set must already exclude
 * images whose true label is the target (see backdoorTestSet); this is checked.
 */
export function attackSuccessRate(preds: ArrayLike<number>, trueLabels: ArrayLike<number>, target: number): number {
  if (preds.length !== trueLabels.length) throw new Error(`ASR: ${preds.length} predictions for ${trueLabels.length} labels`);
  if (preds.length === 0) return NaN;
  let hits = 0;
  for (let i = 0; i < preds.length; i++) {
    if (trueLabels[i] === target) throw new Error(`ASR: backdoor test image ${i} has the target label ${target}; exclude those`);
    if (preds[i] === target) hits++;
  }
  return hits / preds.length;
}

/** counts[true][pred] */
export function confusionMatrix(preds: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number[][] {
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < preds.length; i++) {
    const t = labels[i];
    const p = preds[i];
    if (t < 0 || t >= numClasses || p < 0 || p >= numClasses) throw new Error(`confusionMatrix: class out of range at ${i}`);
    m[t][p]++;
  }
  return m;
}

export interface Evaluation {
  /** Clean accuracy on the full test set, in [0, 1]. */
  cleanAccuracy: number;
  /** Attack success rate on the non-target triggered test set, in [0, 1]; undefined without an attack. */
  asr?: number;
  nClean: number;
  nBackdoor?: number;
}

export function evaluate(model: Model, test: Dataset, backdoorTest?: Dataset, target?: number): Evaluation {
  const cleanAccuracy = accuracy(predict(model, test), test.labels);
  if (!backdoorTest) return { cleanAccuracy, nClean: test.n };
  if (target === undefined) throw new Error('evaluate: a backdoor test set needs its target class');
  const asr = attackSuccessRate(predict(model, backdoorTest), backdoorTest.labels, target);
  return { cleanAccuracy, asr, nClean: test.n, nBackdoor: backdoorTest.n };
}

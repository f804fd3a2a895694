/**
 * The training loop of the project: epochs of seeded, shuffled batches of a dataset, each passed through
 * a step, with a per-step learning-rate schedule, per-epoch summaries and progress. train(), finetune()
 * (FT, EP, FST, SAM), BTI's and PAM's unlearning and BAU's unlearning passes all run on it; what differs is
 * the step (gradientStep with hooks, or a defense's own) and the hooks below.
 *
 * It works in place on a model the caller owns, with the caller's Rng and optimizer, so that a defense can
 * run it once per round with one optimizer throughout. Per batch, in this order: the rows of the batch
 * (batches smaller than `minBatch` skipped), its learning rate, the batch tensor (augmentation draws from
 * the Rng), `mapBatch` (may draw), the step (may draw). Seeded results depend on that order.
 */
import * as tf from '@tensorflow/tfjs';
import { labelsTensor } from '../data/batches';
import { Dataset } from '../data/dataset';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { AugmentOptions, batchTensor } from './augment';
import { DivergenceError } from './gradients';
import { createProgress, ProgressMode } from './progress';
import { cosineLr } from './sgd';
import { StepBatch, StepResult } from './step';

export interface EpochSummary {
  epoch: number;
  loss: number;
  /** NaN where the step counts no correct predictions. */
  trainAccuracy: number;
  seconds: number;
}

export interface LoopBatch extends StepBatch {
  /** The dataset rows of the batch. */
  indices: Int32Array;
}

export interface LoopOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Cosine: annealed to 0 per step over the schedule's length. */
  schedule: 'cosine' | 'constant';
  /**
   * For a schedule spanning several calls: steps taken before this call and the schedule's length
   * (default: none, and this call's batch slots, skipped ones included).
   */
  scheduleSpan?: { done: number; total: number };
  augment?: AugmentOptions;
  /** Smaller batches are skipped (default 2: a training-mode batch norm needs two images). */
  minBatch?: number;
  /** The rows in this order in every epoch, instead of a fresh permutation per epoch. */
  order?: Int32Array;
  /**
   * Epoch means over the whole dataset (a skipped batch counting as zero) instead of over the images
   * trained on: the histories train() has stored in runs directories were computed so.
   */
  meanOverDataset?: boolean;
  progress?: ProgressMode;
  label?: string;
}

export interface LoopHooks {
  /** One update of the model (in place) on one batch at learning rate `lr`. */
  step: (model: Model, batch: LoopBatch, lr: number, rng: Rng) => StepResult;
  /** Returns a new image batch (the loop disposes both); labels stay as they are. */
  mapBatch?: (x: tf.Tensor4D, y: tf.Tensor1D, indices: Int32Array, rng: Rng, model: Model) => tf.Tensor4D;
  /** After every epoch, with the model as it stands (do not dispose it). */
  onEpoch?: (epoch: number, model: Model, summary: EpochSummary) => void;
}

export interface LoopResult {
  history: EpochSummary[];
  /** Images passed through a step (counting each epoch). */
  samplesSeen: number;
}

/** Train `model` in place; see the file header. Callers validate the options. */
export function runEpochs(model: Model, data: Dataset, rng: Rng, opts: LoopOptions, hooks: LoopHooks): LoopResult {
  const stepsPerEpoch = Math.ceil(data.n / opts.batchSize);
  const span = opts.scheduleSpan ?? { done: 0, total: stepsPerEpoch * opts.epochs };
  const minBatch = opts.minBatch ?? 2;
  const progress = createProgress(opts.label ?? 'train', opts.progress);
  const history: EpochSummary[] = [];
  let samplesSeen = 0;
  let step = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const start = Date.now();
      const order = opts.order ?? rng.permutation(data.n);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let b = 0; b < stepsPerEpoch; b++) {
        const idx = order.subarray(b * opts.batchSize, Math.min(data.n, (b + 1) * opts.batchSize));
        if (idx.length < minBatch) continue;
        const lr = opts.schedule === 'cosine' ? cosineLr(opts.lr, span.done + step, span.total) : opts.lr;
        const r = batchStep(model, data, idx, lr, rng, hooks, opts.augment, epoch, b + 1);
        lossSum += r.loss * idx.length;
        correct += r.correct ?? NaN;
        seen += idx.length;
        step++;
        progress.step(b + 1, stepsPerEpoch, `epoch ${epoch}/${opts.epochs} loss ${(lossSum / seen).toFixed(3)}`);
      }
      samplesSeen += seen;
      const over = opts.meanOverDataset ? data.n : seen;
      const summary: EpochSummary = {
        epoch, loss: lossSum / over, trainAccuracy: correct / over, seconds: (Date.now() - start) / 1000,
      };
      history.push(summary);
      progress.epoch(`epoch ${epoch}/${opts.epochs} loss ${summary.loss.toFixed(4)}` +
        (Number.isNaN(summary.trainAccuracy) ? '' : ` train-acc ${(summary.trainAccuracy * 100).toFixed(1)}%`) +
        ` ${summary.seconds.toFixed(1)}s`);
      hooks.onEpoch?.(epoch, model, summary);
    }
  } finally {
    progress.done();
  }
  return { history, samplesSeen };
}

/** Assemble batch `step` of `epoch`, run the step on it, dispose what was made for it. */
function batchStep(model: Model, data: Dataset, idx: Int32Array, lr: number, rng: Rng, hooks: LoopHooks,
  augment: AugmentOptions | undefined, epoch: number, step: number): StepResult {
  const xClean = batchTensor(data, idx, augment, rng);
  const y = labelsTensor(data, idx);
  let x = xClean;
  try {
    if (hooks.mapBatch) x = hooks.mapBatch(xClean, y, idx, rng, model);
    return hooks.step(model, { x, xClean, y, indices: idx }, lr, rng);
  } catch (e) {
    if (e instanceof DivergenceError) throw new DivergenceError(epoch, step, e.loss);
    throw e;
  } finally {
    if (x !== xClean) x.dispose();
    xClean.dispose();
    y.dispose();
  }
}

/**
 * Supervised training of a functional model: SGD with momentum and weight decay, cosine (or constant)
 * learning rate, seeded shuffling and augmentation. The input model is never modified; the result is a
 * new model. Divergence stops the run with an error naming the epoch and step.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { BatchStats, ParamRecord, updatedRunningStats } from '../models/layers';
import { cloneModel, disposeModel, forward } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { AugmentOptions, batchTensor } from './augment';
import { labelsTensor } from '../data/batches';
import { crossEntropy } from './loss';
import { createProgress, ProgressMode } from './progress';
import { cosineLr, Sgd } from './sgd';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: 'cosine' | 'constant';
  augment: AugmentOptions;
  seed: number;
  labelSmoothing?: number;
  progress?: ProgressMode;
  label?: string;
  /** Called after every epoch with the model as it stands (do not dispose it). */
  onEpoch?: (epoch: number, model: Model, summary: EpochSummary) => void;
  /**
   * Replaces each batch before its step, e.g. by adversarial examples against the model as it stands
   * (adversarial training). Returns a new tensor, which is disposed after the step.
   */
  perturbBatch?: (model: Model, x: tf.Tensor4D, y: tf.Tensor1D, rng: Rng) => tf.Tensor4D;
}

export interface EpochSummary {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  seconds: number;
}

export class DivergenceError extends Error {
  constructor(public epoch: number, public step: number, public loss: number) {
    super(`training diverged: loss is ${loss} at epoch ${epoch}, step ${step}; ` +
      'lower the learning rate or check the data');
    this.name = 'DivergenceError';
  }
}

/**
 * Value and gradients of any scalar loss of the model's parameters (all of them, or the subset `params`,
 * e.g. only the head). Batch-norm statistics seen in
 * training-mode forward passes are recorded in the returned `stats` (fold them in with applyBatchStats, or
 * dispose them with disposeStats). Throws DivergenceError (epoch/step unknown here) on a non-finite loss.
 */
export function lossAndGrads(model: Model, lossFn: (m: Model, stats: BatchStats) => tf.Scalar,
  params: ParamRecord = model.params): { loss: number; grads: ParamRecord; stats: BatchStats } {
  const names = Object.keys(params);
  const stats: BatchStats = {};
  const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]): tf.Scalar => {
    const p: ParamRecord = {};
    names.forEach((n, i) => { p[n] = ps[i]; });
    // Parameters not being differentiated keep their current values.
    return lossFn({ ...model, params: params === model.params ? p : { ...model.params, ...p } }, stats);
  })(names.map((n) => params[n]));
  const loss = value.dataSync()[0];
  value.dispose();
  const record: ParamRecord = {};
  names.forEach((n, i) => { record[n] = grads[i]; });
  if (!Number.isFinite(loss)) {
    for (const g of grads) g.dispose();
    disposeStats(stats);
    throw new DivergenceError(-1, -1, loss);
  }
  return { loss, grads: record, stats };
}

export function disposeStats(stats: BatchStats): void {
  for (const s of Object.values(stats)) { s.mean.dispose(); s.variance.dispose(); }
}

/** Fold recorded batch statistics into the model's running statistics (in place) and dispose them. */
export function applyBatchStats(model: Model, stats: BatchStats): void {
  const next = updatedRunningStats(model.state, stats);
  for (const [k, v] of Object.entries(next)) {
    model.state[k].dispose();
    model.state[k] = v;
  }
  disposeStats(stats);
}

/**
 * One SGD step on a batch with cross-entropy. Returns the loss and the number of correct predictions;
 * replaces `model.params` and `model.state` in place on the given (owned) model object.
 */
export function trainStep(model: Model, opt: Sgd, x: tf.Tensor4D, y: tf.Tensor1D, lr: number,
  labelSmoothing = 0, batchNormGradient: 'custom' | 'autodiff' = 'custom'): { loss: number; correct: number } {
  let correctT: tf.Scalar | undefined;
  let result: ReturnType<typeof lossAndGrads>;
  try {
    result = lossAndGrads(model, (m, st) => {
      const logits = forward(m, x, { training: true, batchNormGradient }, st);
      correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32'))) as tf.Scalar;
      return crossEntropy(logits, y, labelSmoothing) as tf.Scalar;
    });
  } catch (e) {
    correctT?.dispose();
    throw e;
  }
  const { loss, grads, stats } = result;
  const correct = correctT!.dataSync()[0];
  correctT!.dispose();
  model.params = opt.step(model.params, grads, lr);
  applyBatchStats(model, stats);
  return { loss, correct };
}

export async function train(initial: Model, data: Dataset, opts: TrainOptions): Promise<{ model: Model; history: EpochSummary[] }> {
  validateTrainOptions(opts, data);
  const model = cloneModel(initial);
  const opt = new Sgd({ lr: opts.lr, momentum: opts.momentum, weightDecay: opts.weightDecay });
  const rng = Rng.derive(opts.seed, 'train');
  const stepsPerEpoch = Math.ceil(data.n / opts.batchSize);
  const totalSteps = stepsPerEpoch * opts.epochs;
  const progress = createProgress(opts.label ?? 'train', opts.progress);
  const history: EpochSummary[] = [];
  let step = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const start = Date.now();
      const order = rng.permutation(data.n);
      let lossSum = 0;
      let correct = 0;
      for (let b = 0; b < stepsPerEpoch; b++) {
        const idx = order.subarray(b * opts.batchSize, Math.min(data.n, (b + 1) * opts.batchSize));
        // A batch of one has no batch statistics to normalise with.
        if (idx.length < 2) continue;
        const lr = opts.schedule === 'cosine' ? cosineLr(opts.lr, step, totalSteps) : opts.lr;
        const x = batchTensor(data, idx, opts.augment, rng);
        const y = labelsTensor(data, idx);
        let input = x;
        try {
          if (opts.perturbBatch) input = opts.perturbBatch(model, x, y, rng);
          const r = trainStep(model, opt, input, y, lr, opts.labelSmoothing ?? 0);
          lossSum += r.loss * idx.length;
          correct += r.correct;
        } catch (e) {
          if (e instanceof DivergenceError) throw new DivergenceError(epoch, b + 1, e.loss);
          throw e;
        } finally {
          if (input !== x) input.dispose();
          x.dispose();
          y.dispose();
        }
        step++;
        progress.step(b + 1, stepsPerEpoch, `epoch ${epoch}/${opts.epochs} loss ${(lossSum / ((b + 1) * opts.batchSize)).toFixed(3)}`);
      }
      const summary: EpochSummary = {
        epoch,
        loss: lossSum / data.n,
        trainAccuracy: correct / data.n,
        seconds: (Date.now() - start) / 1000,
      };
      history.push(summary);
      progress.epoch(`epoch ${epoch}/${opts.epochs} loss ${summary.loss.toFixed(4)} ` +
        `train-acc ${(summary.trainAccuracy * 100).toFixed(1)}% ${summary.seconds.toFixed(1)}s`);
      opts.onEpoch?.(epoch, model, summary);
    }
  } catch (e) {
    disposeModel(model);
    throw e;
  } finally {
    progress.done();
    opt.dispose();
  }
  return { model, history };
}

export function validateTrainOptions(o: TrainOptions, data: Dataset): void {
  const bad = (field: string, why: string) => { throw new Error(`train options: ${field} ${why}`); };
  if (!Number.isInteger(o.epochs) || o.epochs < 1) bad('epochs', `must be a positive integer (got ${o.epochs})`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 2) bad('batchSize', `must be an integer >= 2 (got ${o.batchSize})`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) bad('lr', `must be a positive number (got ${o.lr})`);
  if (!(o.momentum >= 0 && o.momentum < 1)) bad('momentum', `must be in [0, 1) (got ${o.momentum})`);
  if (!(o.weightDecay >= 0)) bad('weightDecay', `must be >= 0 (got ${o.weightDecay})`);
  if (data.n < 2) bad('data', `has ${data.n} samples; need at least 2`);
}

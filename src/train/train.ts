/**
 * Supervised training of a functional model: SGD with momentum and weight decay, cosine (or constant)
 * learning rate, seeded shuffling and augmentation. The input model is never modified; the result is a
 * new model. Divergence stops the run with an error naming the epoch and step.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { cloneModel, disposeModel } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { AugmentOptions } from './augment';
import { EpochSummary, runEpochs } from './loop';
import { ProgressMode } from './progress';
import { Sgd } from './sgd';
import { gradientStep } from './step';

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

/**
 * One SGD step on a batch with cross-entropy. Returns the loss and the number of correct predictions;
 * replaces `model.params` and `model.state` in place on the given (owned) model object.
 */
export function trainStep(model: Model, opt: Sgd, x: tf.Tensor4D, y: tf.Tensor1D, lr: number,
  labelSmoothing = 0, batchNormGradient: 'custom' | 'autodiff' = 'custom'): { loss: number; correct: number } {
  const r = gradientStep(opt, { labelSmoothing, batchNormGradient })(model, { x, xClean: x, y }, lr);
  return { loss: r.loss, correct: r.correct! };
}

export async function train(initial: Model, data: Dataset, opts: TrainOptions): Promise<{ model: Model; history: EpochSummary[] }> {
  validateTrainOptions(opts, data);
  const model = cloneModel(initial);
  const opt = new Sgd({ lr: opts.lr, momentum: opts.momentum, weightDecay: opts.weightDecay });
  const perturb = opts.perturbBatch;
  try {
    const { history } = runEpochs(model, data, Rng.derive(opts.seed, 'train'), {
      epochs: opts.epochs, batchSize: opts.batchSize, lr: opts.lr, schedule: opts.schedule, augment: opts.augment,
      meanOverDataset: true, progress: opts.progress, label: opts.label ?? 'train',
    }, {
      step: gradientStep(opt, { labelSmoothing: opts.labelSmoothing ?? 0 }),
      mapBatch: perturb && ((x, y, _idx, rng, m) => perturb(m, x, y, rng)),
      onEpoch: opts.onEpoch,
    });
    return { model, history };
  } catch (e) {
    disposeModel(model);
    throw e;
  } finally {
    opt.dispose();
  }
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

/**
 * The fine-tuning recipe of the tuning-based defenses (FT, EP, FST, SAM): cross-entropy on a dataset,
 * SGD or Adam, cosine or constant learning rate, seeded shuffling, optional label smoothing, run on the
 * project's training loop (train/loop.ts) with the step's hooks (train/step.ts: `extraLoss`,
 * `perturbation`, `project`) and the loop's (`mapBatch`, `onEpoch`): a defense is this recipe plus a hook.
 * The input model is never modified. Live tensor counts do not grow across epochs (tested), so long runs
 * cannot leak.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { cloneModel, disposeModel } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { Adam } from '../train/adam';
import { AugmentOptions } from '../train/augment';
import { EpochSummary, runEpochs } from '../train/loop';
import { ProgressMode } from '../train/progress';
import { Sgd } from '../train/sgd';
import { gradientStep, StepHooks } from '../train/step';

export interface FinetuneHooks extends Omit<StepHooks, 'loss'> {
  /** Returns a new image batch (the loop disposes both); labels stay as they are. */
  mapBatch?: (x: tf.Tensor4D, y: tf.Tensor1D, indices: Int32Array, rng: Rng) => tf.Tensor4D;
  /** After every epoch, with the model as it stands (do not dispose it). */
  onEpoch?: (epoch: number, model: Model, summary: EpochSummary) => void;
}

export interface FinetuneOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Default 'sgd'. */
  optimizer?: 'sgd' | 'adam';
  /** SGD only; default 0.9. */
  momentum?: number;
  /** Coupled (PyTorch-style) weight decay; default 0. */
  weightDecay?: number;
  /** Default 'cosine' (annealed to 0 over all steps, per step). */
  schedule?: 'cosine' | 'constant';
  labelSmoothing?: number;
  augment?: AugmentOptions;
  seed: number;
  progress?: ProgressMode;
  /** Progress label, e.g. "FST". */
  label?: string;
  /** 'autodiff' if a hook takes gradients of gradients. */
  batchNormGradient?: 'custom' | 'autodiff';
  hooks?: FinetuneHooks;
}

export interface FinetuneResult {
  model: Model;
  history: EpochSummary[];
  /** Images passed through the model's training step (counting each epoch). */
  samplesSeen: number;
  seconds: number;
}

export function validateFinetuneOptions(o: FinetuneOptions, data: Dataset): void {
  const bad = (field: string, why: string) => { throw new Error(`fine-tuning options: ${field} ${why}`); };
  if (!Number.isInteger(o.epochs) || o.epochs < 1) bad('epochs', `must be a positive integer (got ${o.epochs})`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 2) bad('batchSize', `must be an integer >= 2 (got ${o.batchSize})`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) bad('lr', `must be a positive number (got ${o.lr})`);
  const momentum = o.momentum ?? 0.9;
  if (!(momentum >= 0 && momentum < 1)) bad('momentum', `must be in [0, 1) (got ${momentum})`);
  if (!((o.weightDecay ?? 0) >= 0)) bad('weightDecay', `must be >= 0 (got ${o.weightDecay})`);
  const ls = o.labelSmoothing ?? 0;
  if (!(ls >= 0 && ls < 1)) bad('labelSmoothing', `must be in [0, 1) (got ${ls})`);
  if (data.n < 2) bad('data', `${data.name} has ${data.n} images; need at least 2`);
}

/** Fine-tune a copy of `initial` on `data`; see the file header for the hooks. */
export async function finetune(initial: Model, data: Dataset, opts: FinetuneOptions): Promise<FinetuneResult> {
  validateFinetuneOptions(opts, data);
  const started = Date.now();
  const { mapBatch, onEpoch, ...stepHooks } = opts.hooks ?? {};
  const model = cloneModel(initial);
  const optimizer = opts.optimizer === 'adam'
    ? new Adam({ lr: opts.lr, weightDecay: opts.weightDecay ?? 0 })
    : new Sgd({ lr: opts.lr, momentum: opts.momentum ?? 0.9, weightDecay: opts.weightDecay ?? 0 });
  try {
    const { history, samplesSeen } = runEpochs(model, data, Rng.derive(opts.seed, 'finetune'), {
      epochs: opts.epochs, batchSize: opts.batchSize, lr: opts.lr, schedule: opts.schedule ?? 'cosine',
      augment: opts.augment, progress: opts.progress, label: opts.label ?? 'fine-tune',
    }, {
      step: gradientStep(optimizer, { ...stepHooks, labelSmoothing: opts.labelSmoothing ?? 0, batchNormGradient: opts.batchNormGradient }),
      mapBatch, onEpoch,
    });
    return { model, history, samplesSeen, seconds: (Date.now() - started) / 1000 };
  } catch (e) {
    disposeModel(model);
    throw e;
  } finally {
    optimizer.dispose();
  }
}

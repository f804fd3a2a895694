/**
 * The fine-tuning loop shared by the tuning-based defenses (FT, EP, FST, SAM; reusable by BTI and PAM):
 * cross-entropy on a dataset, SGD or Adam, cosine or constant learning rate, seeded shuffling, optional
 * label smoothing, and four small hooks that express what makes each defense different:
 *
 * - `extraLoss`     a term added to the batch loss inside the gradient tape (FST's α·⟨W, W_orig⟩);
 * - `perturbation`  a two-pass gradient: from the parameters and their gradient g at θ, return ε; the
 *                   gradient taken at θ + ε is applied at θ (SAM / ASAM; PAM);
 * - `project`       a post-step projection returning replacements for the parameters it changes (FST's
 *                   head-norm rescaling);
 * - `mapBatch`      replaces the images of a batch before the step (mixing in generated or triggered
 *                   images while keeping the true labels).
 *
 * The input model is never modified. Batch-norm running statistics are updated from the first (unperturbed)
 * forward pass only, as SAM implementations do by disabling running stats in the second pass. Live tensor
 * counts do not grow across epochs (tested), so long runs cannot leak.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { BatchStats, ParamRecord } from '../models/layers';
import { cloneModel, disposeModel, forward } from '../models/model';
import { Model } from '../models/spec';
import * as W from '../models/weights';
import { Rng } from '../rng';
import { Adam } from '../train/adam';
import { AugmentOptions, batchTensor } from '../train/augment';
import { labelsTensor } from '../data/batches';
import { crossEntropy } from '../train/loss';
import { createProgress, ProgressMode } from '../train/progress';
import { cosineLr, Sgd } from '../train/sgd';
import { applyBatchStats, disposeStats, DivergenceError, EpochSummary, lossAndGrads } from '../train/train';

export interface LossContext {
  /** The model at the point being differentiated (its params are the traced tensors). */
  model: Model;
  /** The batch as trained on (after `mapBatch`). */
  x: tf.Tensor4D;
  /** The batch before `mapBatch` (the same tensor when there is no mapBatch). */
  xClean: tf.Tensor4D;
  y: tf.Tensor1D;
  logits: tf.Tensor2D;
}

export interface FinetuneHooks {
  /** Added to the cross-entropy of every batch, inside the gradient tape. */
  extraLoss?: (ctx: LossContext) => tf.Scalar;
  /**
   * Two-pass gradient: return ε (new tensors, owned by the loop; names missing from the record are not
   * perturbed) from the parameters θ and the gradient at θ. The gradient at θ + ε updates θ.
   */
  perturbation?: (params: ParamRecord, grads: ParamRecord) => ParamRecord;
  /**
   * Called after every optimizer step; returns new tensors for the parameters it changes. The loop
   * disposes the replaced ones. Must not dispose or return its inputs.
   */
  project?: (params: ParamRecord) => ParamRecord;
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
  const hooks = opts.hooks ?? {};
  const model = cloneModel(initial);
  const optimizer = opts.optimizer === 'adam'
    ? new Adam({ lr: opts.lr, weightDecay: opts.weightDecay ?? 0 })
    : new Sgd({ lr: opts.lr, momentum: opts.momentum ?? 0.9, weightDecay: opts.weightDecay ?? 0 });
  const rng = Rng.derive(opts.seed, 'finetune');
  const stepsPerEpoch = Math.ceil(data.n / opts.batchSize);
  const totalSteps = stepsPerEpoch * opts.epochs;
  const progress = createProgress(opts.label ?? 'fine-tune', opts.progress);
  const history: EpochSummary[] = [];
  let samplesSeen = 0;
  let step = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const epochStart = Date.now();
      const order = rng.permutation(data.n);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let b = 0; b < stepsPerEpoch; b++) {
        const idx = order.subarray(b * opts.batchSize, Math.min(data.n, (b + 1) * opts.batchSize));
        // A batch of one has no batch statistics to normalise with.
        if (idx.length < 2) continue;
        const lr = (opts.schedule ?? 'cosine') === 'cosine' ? cosineLr(opts.lr, step, totalSteps) : opts.lr;
        try {
          const r = batchStep(model, optimizer, data, idx, lr, rng, opts, hooks);
          lossSum += r.loss * idx.length;
          correct += r.correct;
        } catch (e) {
          if (e instanceof DivergenceError) throw new DivergenceError(epoch, b + 1, e.loss);
          throw e;
        }
        seen += idx.length;
        step++;
        progress.step(b + 1, stepsPerEpoch, `epoch ${epoch}/${opts.epochs} loss ${(lossSum / seen).toFixed(3)}`);
      }
      samplesSeen += seen;
      const summary: EpochSummary = {
        epoch, loss: lossSum / seen, trainAccuracy: correct / seen, seconds: (Date.now() - epochStart) / 1000,
      };
      history.push(summary);
      progress.epoch(`epoch ${epoch}/${opts.epochs} loss ${summary.loss.toFixed(4)} ` +
        `train-acc ${(summary.trainAccuracy * 100).toFixed(1)}% ${summary.seconds.toFixed(1)}s`);
      hooks.onEpoch?.(epoch, model, summary);
    }
  } catch (e) {
    disposeModel(model);
    throw e;
  } finally {
    progress.done();
    optimizer.dispose();
  }
  return { model, history, samplesSeen, seconds: (Date.now() - started) / 1000 };
}

/** One optimizer step on one batch; updates `model` in place and disposes everything it made. */
function batchStep(model: Model, optimizer: Sgd | Adam, data: Dataset, idx: Int32Array, lr: number, rng: Rng,
  opts: FinetuneOptions, hooks: FinetuneHooks): { loss: number; correct: number } {
  const xClean = batchTensor(data, idx, opts.augment, rng);
  const y = labelsTensor(data, idx);
  const x = hooks.mapBatch ? hooks.mapBatch(xClean, y, idx, rng) : xClean;
  let correctT: tf.Scalar | undefined;
  const fwd = { training: true, batchNormGradient: opts.batchNormGradient ?? 'custom' } as const;
  const lossFn = (count: boolean) => (m: Model, stats: BatchStats): tf.Scalar => {
    const logits = forward(m, x, fwd, stats);
    if (count) correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32'))) as tf.Scalar;
    const ce = crossEntropy(logits, y, opts.labelSmoothing ?? 0);
    return hooks.extraLoss ? tf.add(ce, hooks.extraLoss({ model: m, x, xClean, y, logits })) as tf.Scalar : ce;
  };
  try {
    const first = lossAndGrads(model, lossFn(true));
    let grads = first.grads;
    if (hooks.perturbation) {
      let second: ReturnType<typeof lossAndGrads>;
      try {
        second = secondPass(model, first.grads, hooks.perturbation, lossFn(false));
      } catch (e) {
        disposeStats(first.stats);
        throw e;
      } finally {
        W.dispose(first.grads);
      }
      disposeStats(second.stats);
      grads = second.grads;
    }
    model.params = optimizer.step(model.params, grads, lr);
    applyBatchStats(model, first.stats);
    if (hooks.project) {
      const replaced = hooks.project(model.params);
      for (const [name, t] of Object.entries(replaced)) {
        if (!(name in model.params)) {
          t.dispose();
          throw new Error(`fine-tuning: project() returned unknown parameter "${name}"`);
        }
        model.params[name].dispose();
        model.params[name] = t;
      }
    }
    return { loss: first.loss, correct: correctT!.dataSync()[0] };
  } finally {
    correctT?.dispose();
    if (x !== xClean) x.dispose();
    xClean.dispose();
    y.dispose();
  }
}

/** Gradient at θ + ε, where ε comes from the perturbation hook. */
function secondPass(model: Model, grads: ParamRecord, perturbation: NonNullable<FinetuneHooks['perturbation']>,
  lossFn: (m: Model, stats: BatchStats) => tf.Scalar): ReturnType<typeof lossAndGrads> {
  const eps = perturbation(model.params, grads);
  const shifted: ParamRecord = {};
  try {
    for (const [name, p] of Object.entries(model.params)) {
      shifted[name] = eps[name] ? tf.add(p, eps[name]) : p.clone();
    }
  } finally {
    W.dispose(eps);
  }
  try {
    return lossAndGrads({ ...model, params: shifted }, lossFn);
  } finally {
    W.dispose(shifted);
  }
}

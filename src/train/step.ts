/**
 * One optimiser step on one batch, the step of plain training and of every fine-tuning defense: the loss
 * (cross-entropy of a training-mode forward pass, or a hook's own), its gradient, the optimiser update,
 * the batch-norm statistics folded in, and four hooks for what makes a defense different:
 *
 * - `extraLoss`     a term added to the cross-entropy inside the gradient tape (FST's α·⟨W, W_orig⟩);
 * - `perturbation`  a two-pass gradient: from the parameters and their gradient g at θ, return ε; the
 *                   gradient taken at θ + ε is applied at θ (SAM / ASAM);
 * - `project`       a post-step projection returning replacements for the parameters it changes (FST's
 *                   head-norm rescaling);
 * - `loss`          replaces the forward pass and cross-entropy altogether (BTI's two-pass feature loss).
 *
 * Batch-norm running statistics come from the first (unperturbed) pass only, as SAM implementations do
 * by disabling running stats in the second pass.
 */
import * as tf from '@tensorflow/tfjs';
import { BatchStats, ParamRecord } from '../models/layers';
import { forward } from '../models/model';
import { Model } from '../models/spec';
import * as W from '../models/weights';
import { applyBatchStats, disposeStats, lossAndGrads } from './gradients';
import { crossEntropy } from './loss';

/** What a step sees of a batch. */
export interface StepBatch {
  /** The images as trained on (after any batch mapping). */
  x: tf.Tensor4D;
  /** The images before mapping (the same tensor when there is none). */
  xClean: tf.Tensor4D;
  y: tf.Tensor1D;
}

export interface StepResult {
  loss: number;
  /** Correct predictions in the batch, where the step counts them. */
  correct?: number;
}

export interface Optimizer {
  /** Consumes `grads` and the old `params`; returns the new params. */
  step(params: ParamRecord, grads: ParamRecord, lr?: number): ParamRecord;
}

export interface LossContext extends StepBatch {
  /** The model at the point being differentiated (its params are the traced tensors). */
  model: Model;
  logits: tf.Tensor2D;
}

export interface CustomLossContext extends StepBatch {
  model: Model;
  /**
   * Opens a record for the batch statistics of one training-mode forward pass. The records of the first
   * pass are folded into the running statistics after the step, in the order they were opened, as
   * consecutive PyTorch forward calls would.
   */
  stats: () => BatchStats;
}

export interface StepHooks {
  /** Added to the cross-entropy of every batch, inside the gradient tape. */
  extraLoss?: (ctx: LossContext) => tf.Scalar;
  /**
   * Two-pass gradient: return ε (new tensors, owned by the step; names missing from the record are not
   * perturbed) from the parameters θ and the gradient at θ. The gradient at θ + ε updates θ.
   */
  perturbation?: (params: ParamRecord, grads: ParamRecord) => ParamRecord;
  /**
   * Called after every optimizer step; returns new tensors for the parameters it changes. The step
   * disposes the replaced ones. Must not dispose or return its inputs.
   */
  project?: (params: ParamRecord) => ParamRecord;
  /** The whole batch loss in place of cross-entropy (and extraLoss); such steps count no correct predictions. */
  loss?: (ctx: CustomLossContext) => tf.Scalar;
}

export interface StepOptions extends StepHooks {
  labelSmoothing?: number;
  /** 'autodiff' if a hook takes gradients of gradients. */
  batchNormGradient?: 'custom' | 'autodiff';
}

type PassLoss = (m: Model, open: () => BatchStats) => tf.Scalar;

interface Pass { loss: number; grads: ParamRecord; records: BatchStats[] }

/** The gradient step with `optimizer` and the given hooks; updates the model in place. */
export function gradientStep(optimizer: Optimizer, o: StepOptions = {}) {
  return (model: Model, batch: StepBatch, lr: number): StepResult => {
    const { x, xClean, y } = batch;
    let correctT: tf.Scalar | undefined;
    const fwd = { training: true, batchNormGradient: o.batchNormGradient ?? 'custom' } as const;
    const lossFn = (count: boolean): PassLoss => (m, open) => {
      if (o.loss) return o.loss({ model: m, x, xClean, y, stats: open });
      const logits = forward(m, x, fwd, open());
      if (count) correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32'))) as tf.Scalar;
      const ce = crossEntropy(logits, y, o.labelSmoothing ?? 0);
      return o.extraLoss ? tf.add(ce, o.extraLoss({ model: m, x, xClean, y, logits })) as tf.Scalar : ce;
    };
    try {
      const first = pass(model, lossFn(true));
      let grads = first.grads;
      if (o.perturbation) {
        let second: Pass;
        try {
          second = secondPass(model, first.grads, o.perturbation, lossFn(false));
        } catch (e) {
          first.records.forEach(disposeStats);
          throw e;
        } finally {
          W.dispose(first.grads);
        }
        second.records.forEach(disposeStats);
        grads = second.grads;
      }
      model.params = optimizer.step(model.params, grads, lr);
      for (const r of first.records) applyBatchStats(model, r);
      if (o.project) project(model, o.project);
      return { loss: first.loss, correct: correctT?.dataSync()[0] };
    } finally {
      correctT?.dispose();
    }
  };
}

/** Loss and gradients at the model's parameters, with the statistics records the loss opened. */
function pass(model: Model, lossFn: PassLoss): Pass {
  const records: BatchStats[] = [];
  const open = (): BatchStats => {
    const s: BatchStats = {};
    records.push(s);
    return s;
  };
  try {
    const { loss, grads } = lossAndGrads(model, (m) => lossFn(m, open));
    return { loss, grads, records };
  } catch (e) {
    records.forEach(disposeStats);
    throw e;
  }
}

/** Gradient at θ + ε, where ε comes from the perturbation hook. */
function secondPass(model: Model, grads: ParamRecord, perturbation: NonNullable<StepHooks['perturbation']>,
  lossFn: PassLoss): Pass {
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
    return pass({ ...model, params: shifted }, lossFn);
  } finally {
    W.dispose(shifted);
  }
}

function project(model: Model, hook: NonNullable<StepHooks['project']>): void {
  const replaced = hook(model.params);
  for (const [name, t] of Object.entries(replaced)) {
    if (!(name in model.params)) {
      t.dispose();
      throw new Error(`fine-tuning: project() returned unknown parameter "${name}"`);
    }
    model.params[name].dispose();
    model.params[name] = t;
  }
}

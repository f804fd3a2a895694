/**
 * Gradients of a scalar loss of a model's parameters, and the batch-norm statistics its training-mode
 * forward passes record: the pieces every training step is made of.
 */
import * as tf from '@tensorflow/tfjs';
import { BatchStats, ParamRecord, updatedRunningStats } from '../models/layers';
import { Model } from '../models/spec';

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

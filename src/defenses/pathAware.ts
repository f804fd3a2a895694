/**
 * The path-aware step of PAM (paper §8; authors' BTIDBF/sam.py class PAM): evaluate the gradient at a
 * point shifted a distance ρ from the current weights θ towards the backdoored weights θ_bd,
 *   ε = ρ · (θ_bd − θ) / (‖θ_bd − θ‖₂ + 1e−12),   g = ∇L(θ + ε),
 * then apply g at θ with the base optimizer. ‖·‖₂ is the global norm over all trainable parameters; batch-norm
 * running statistics are not perturbed (the code perturbs `parameters()` only). At the first step θ = θ_bd,
 * so ε = 0 and the step is plain.
 *
 * This follows the authors' code, not an interpolation-coefficient reading of ρ (spec §8.4, §11.3): ρ is a
 * distance in weight space, so the perturbed point overshoots past θ_bd when ‖θ_bd − θ‖ < ρ.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamRecord } from '../models/layers';
import { Model } from '../models/spec';
import * as W from '../models/weights';
import { BatchStats } from '../models/layers';
import { applyBatchStats, lossAndGrads } from '../train/gradients';
import { Optimizer } from '../train/step';

/** θ + ρ·(θ_bd − θ)/‖θ_bd − θ‖ (new tensors), and the distance ‖θ_bd − θ‖ it used. */
export function pathPerturbedParams(params: ParamRecord, backdoored: ParamRecord, rho: number): { params: ParamRecord; distance: number } {
  const distance = W.distance(params, backdoored);
  const scale = rho / (distance + 1e-12);
  const out: ParamRecord = {};
  for (const [k, v] of Object.entries(params)) {
    out[k] = tf.tidy(() => tf.add(v, tf.mul(tf.sub(backdoored[k], v), scale)));
  }
  return { params: out, distance };
}

/**
 * One PAM update of `model` in place: gradient of `lossFn` at the path-perturbed point, applied at the
 * current point by `opt`. Batch statistics of the perturbed forward pass update the running statistics, as
 * the authors' code runs that pass in train mode. Returns the loss at the perturbed point.
 */
export function pathAwareStep(model: Model, backdoored: ParamRecord, rho: number, opt: Optimizer,
  lossFn: (m: Model, stats: BatchStats) => tf.Scalar, lr?: number): { loss: number; distance: number } {
  if (!(rho >= 0)) throw new Error(`PAM: rho must be >= 0 (got ${rho})`);
  const shifted = rho > 0 ? pathPerturbedParams(model.params, backdoored, rho) : { params: model.params, distance: NaN };
  try {
    const perturbedModel: Model = { ...model, params: shifted.params };
    const { loss, grads, stats } = lossAndGrads(perturbedModel, lossFn);
    model.params = opt.step(model.params, grads, lr);
    applyBatchStats(model, stats);
    return { loss, distance: shifted.distance };
  } finally {
    if (shifted.params !== model.params && rho > 0) W.dispose(shifted.params);
  }
}

/**
 * The neuron-level machinery of ANP (Adversarial Neuron Pruning, Wu & Wang 2021): one mask value per
 * batch-norm channel, the adversarial neuron perturbation, and pruning. It follows the reference
 * `NoisyBatchNorm2d` (csdongxian/ANP_backdoor, copied into BackdoorBench's defense/anp.py):
 *
 *   γ' = γ · (m + δ)      β' = β · (1 + ξ)        (δ, ξ only while the noise is "included")
 *
 * so the mask scales the BN weight only, and δ, ξ are relative perturbations of the BN weight and bias.
 * The noise is drawn uniformly from [−ε, ε] and then moved by signed-gradient ascent steps of size ε/steps;
 * like the reference code it is not clipped back to [−ε, ε] afterwards, so one step can reach 2ε.
 * Pruning a neuron zeroes its BN weight γ (the mask value 0), as the reference `pruning()` does; zeroing β as
 * well is available (`zeroBeta`) for a neuron whose output should be exactly 0.
 *
 * Every forward pass here uses batch statistics (training mode), as `model.train()` does in the reference,
 * but the statistics are thrown away: ANP never changes the model's running statistics.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamRecord } from '../models/layers';
import { cloneModel, forward } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { crossEntropy } from '../train/loss';
import { Sgd } from '../train/sgd';

/** Per-channel vectors keyed by batch-norm layer name (e.g. "stage1/bn"). */
export type NeuronVars = Record<string, tf.Tensor1D>;

/** The adversarial neuron perturbation: δ on the BN weight, ξ on the BN bias. */
export interface NeuronNoise {
  weight: NeuronVars;
  bias: NeuronVars;
}

export interface NeuronLayer {
  name: string;
  channels: number;
}

export interface RankedNeuron {
  layer: string;
  index: number;
  mask: number;
}

/** The batch-norm layers of a model: every `<name>/gamma` that has a matching `<name>/beta`. */
export function batchNormLayers(model: Model): NeuronLayer[] {
  const layers: NeuronLayer[] = [];
  for (const [key, t] of Object.entries(model.params)) {
    if (!key.endsWith('/gamma')) continue;
    const name = key.slice(0, -'/gamma'.length);
    if (!model.params[`${name}/beta`]) continue;
    layers.push({ name, channels: t.shape[0] });
  }
  if (layers.length === 0) throw new Error('ANP: the model has no batch-norm layers (no "<name>/gamma" + "<name>/beta" params) to mask');
  return layers;
}

export function filledVars(layers: NeuronLayer[], value: number): NeuronVars {
  const out: NeuronVars = {};
  for (const l of layers) out[l.name] = tf.fill([l.channels], value) as tf.Tensor1D;
  return out;
}

export function disposeVars(v: NeuronVars): void {
  for (const t of Object.values(v)) t.dispose();
}

export function disposeNoise(n: NeuronNoise): void {
  disposeVars(n.weight);
  disposeVars(n.bias);
}

/** δ, ξ ~ U(−ε, ε) independently per channel (the reference's `reset(rand_init=True)`). */
export function randomNoise(layers: NeuronLayer[], eps: number, rng: Rng): NeuronNoise {
  const draw = (c: number) => tf.tensor1d(Float32Array.from({ length: c }, () => (rng.next() * 2 - 1) * eps));
  const weight: NeuronVars = {};
  const bias: NeuronVars = {};
  for (const l of layers) {
    weight[l.name] = draw(l.channels);
    bias[l.name] = draw(l.channels);
  }
  return { weight, bias };
}

/** The model's parameters with masks (and, if given, noise) folded into the BN weight and bias. */
export function maskedParams(params: ParamRecord, masks: NeuronVars, noise?: NeuronNoise): ParamRecord {
  const out: ParamRecord = { ...params };
  for (const [name, m] of Object.entries(masks)) {
    const gamma = params[`${name}/gamma`];
    const beta = params[`${name}/beta`];
    if (!gamma || !beta) throw new Error(`ANP: mask for "${name}" but the model has no ${name}/gamma and ${name}/beta`);
    out[`${name}/gamma`] = tf.mul(gamma, noise ? tf.add(m, noise.weight[name]) : m);
    if (noise) out[`${name}/beta`] = tf.mul(beta, tf.add(1, noise.bias[name]));
  }
  return out;
}

function lossOn(model: Model, params: ParamRecord, x: tf.Tensor4D, y: tf.Tensor1D): tf.Scalar {
  // No stats record: the batch statistics are computed for normalisation and dropped.
  return crossEntropy(forward({ ...model, params }, x, { training: true }), y);
}

/**
 * One step of the inner maximisation: δ ← δ + lr·sign(∂L/∂δ), ξ ← ξ + lr·sign(∂L/∂ξ), with L the
 * cross-entropy of the masked, perturbed model (the reference minimises −L with signed gradients).
 * Returns new noise; the caller disposes the old.
 */
export function noiseAscentStep(model: Model, masks: NeuronVars, noise: NeuronNoise, x: tf.Tensor4D,
  y: tf.Tensor1D, lr: number): NeuronNoise {
  const names = Object.keys(masks);
  const weight: NeuronVars = {};
  const bias: NeuronVars = {};
  tf.tidy(() => {
    const inputs = [...names.map((n) => noise.weight[n]), ...names.map((n) => noise.bias[n])];
    const { grads } = tf.valueAndGrads((...vs: tf.Tensor[]) => {
      const current: NeuronNoise = { weight: {}, bias: {} };
      names.forEach((n, i) => {
        current.weight[n] = vs[i] as tf.Tensor1D;
        current.bias[n] = vs[names.length + i] as tf.Tensor1D;
      });
      return lossOn(model, maskedParams(model.params, masks, current), x, y);
    })(inputs);
    names.forEach((n, i) => {
      weight[n] = tf.keep(tf.add(noise.weight[n], tf.mul(tf.sign(grads[i]), lr)) as tf.Tensor1D);
      bias[n] = tf.keep(tf.add(noise.bias[n], tf.mul(tf.sign(grads[names.length + i]), lr)) as tf.Tensor1D);
    });
  });
  return { weight, bias };
}

/**
 * The mask objective α·L(masked) + (1 − α)·L(masked and perturbed) and its gradient with respect to the
 * masks. Without noise (ε = 0) the robust term is absent, as in the reference: the loss is α·L(masked).
 */
export function maskLossAndGrads(model: Model, masks: NeuronVars, noise: NeuronNoise | undefined,
  x: tf.Tensor4D, y: tf.Tensor1D, alpha: number): { loss: number; grads: NeuronVars } {
  const names = Object.keys(masks);
  const { value, grads } = tf.tidy(() => tf.valueAndGrads((...ms: tf.Tensor[]) => {
    const current: NeuronVars = {};
    names.forEach((n, i) => { current[n] = ms[i] as tf.Tensor1D; });
    const natural = tf.mul(lossOn(model, maskedParams(model.params, current), x, y), alpha);
    if (!noise) return natural as tf.Scalar;
    const robust = lossOn(model, maskedParams(model.params, current, noise), x, y);
    return tf.add(natural, tf.mul(robust, 1 - alpha)) as tf.Scalar;
  })(names.map((n) => masks[n])));
  const loss = value.dataSync()[0];
  value.dispose();
  const out: NeuronVars = {};
  names.forEach((n, i) => { out[n] = grads[i] as tf.Tensor1D; });
  return { loss, grads: out };
}

/** Masks clipped to [0, 1] after every update (the reference's `clip_mask`); consumes the input. */
export function clipMasks(masks: NeuronVars): NeuronVars {
  const out: NeuronVars = {};
  for (const [n, m] of Object.entries(masks)) {
    out[n] = tf.clipByValue(m, 0, 1) as tf.Tensor1D;
    m.dispose();
  }
  return out;
}

/**
 * One ANP iteration on a batch: `steps` noise-ascent steps of size ε/steps from `initialNoise` (left to
 * the caller to dispose; undefined for ε = 0), then one optimiser step on the masks and the clip to [0, 1].
 * Consumes `masks` and returns the new ones with the mask loss.
 */
export function anpIteration(model: Model, masks: NeuronVars, opt: Sgd, x: tf.Tensor4D, y: tf.Tensor1D,
  initialNoise: NeuronNoise | undefined, c: { eps: number; steps: number; alpha: number }): { masks: NeuronVars; loss: number } {
  let noise = initialNoise;
  try {
    for (let s = 0; noise && s < c.steps; s++) {
      const next = noiseAscentStep(model, masks, noise, x, y, c.eps / c.steps);
      if (noise !== initialNoise) disposeNoise(noise);
      noise = next;
    }
    const { loss, grads } = maskLossAndGrads(model, masks, noise, x, y, c.alpha);
    if (!Number.isFinite(loss)) {
      disposeVars(grads);
      throw new Error(`ANP: the mask loss is ${loss}; lower the mask lr or eps`);
    }
    return { masks: clipMasks(opt.step(masks, grads) as NeuronVars), loss };
  } finally {
    if (noise && noise !== initialNoise) disposeNoise(noise);
  }
}

/** Every neuron with its mask value, smallest first (ties keep layer order, then channel order). */
export function rankNeurons(masks: NeuronVars): RankedNeuron[] {
  const all: RankedNeuron[] = [];
  for (const [layer, m] of Object.entries(masks)) {
    Array.from(m.dataSync()).forEach((mask, index) => all.push({ layer, index, mask }));
  }
  // Array.prototype.sort is stable, so equal masks stay in layer/channel order.
  return all.sort((a, b) => a.mask - b.mask);
}

/**
 * The neurons a threshold prunes: mask value ≤ threshold, as the reference's `evaluate_by_threshold`. The
 * reference compares masks written with 4 decimals; here a float32 mask of 0.2 (0.2000000030) must still
 * count as ≤ 0.2, hence the 1e-6 slack.
 */
export function neuronsAtOrBelow(ranked: RankedNeuron[], threshold: number): RankedNeuron[] {
  return ranked.filter((r) => r.mask <= threshold + 1e-6);
}

/**
 * A new model in which the given neurons are switched off: their BN weight γ is 0 (and β too with
 * `zeroBeta`). The result is a plain model of the same architecture; the input is untouched.
 */
export function pruneNeurons(model: Model, neurons: readonly Pick<RankedNeuron, 'layer' | 'index'>[],
  opts: { zeroBeta?: boolean } = {}): Model {
  const byLayer = new Map<string, number[]>();
  for (const { layer, index } of neurons) {
    const gamma = model.params[`${layer}/gamma`];
    if (!gamma) throw new Error(`ANP: cannot prune "${layer}" channel ${index}: the model has no ${layer}/gamma`);
    if (!Number.isInteger(index) || index < 0 || index >= gamma.shape[0]) {
      throw new Error(`ANP: cannot prune "${layer}" channel ${index}: it has ${gamma.shape[0]} channels`);
    }
    byLayer.set(layer, [...(byLayer.get(layer) ?? []), index]);
  }
  const pruned = cloneModel(model);
  for (const [layer, indices] of byLayer) {
    const keys = opts.zeroBeta ? [`${layer}/gamma`, `${layer}/beta`] : [`${layer}/gamma`];
    for (const key of keys) {
      const values = pruned.params[key].dataSync().slice() as Float32Array;
      for (const i of indices) values[i] = 0;
      pruned.params[key].dispose();
      pruned.params[key] = tf.tensor1d(values);
    }
  }
  return pruned;
}

/**
 * ANP — Adversarial Neuron Pruning (Wu & Wang, NeurIPS 2021), following BackdoorBench's defense/anp.py
 * (spec §4.2). Assumes: the defender's clean split only.
 *
 * 1. Mask optimisation. Every batch-norm channel gets a mask m ∈ [0, 1] on its BN weight (anpMasks.ts).
 *    Per batch: draw the neuron noise δ, ξ ~ U(−ε, ε), take `steps` signed-gradient ascent steps of size
 *    ε/steps on the cross-entropy, then step the masks on α·L(m) + (1 − α)·L(m, δ, ξ) with SGD (momentum
 *    0.9) and clip them to [0, 1]. Batches are drawn with replacement, as the reference's RandomSampler.
 * 2. Pruning. Neurons are ranked by mask value; candidates are thresholds 0:0.05:0.90 (prune mask ≤ t) or
 *    pruning counts (prune the k smallest masks). Pruned neurons get γ = 0 in a plain copy of the model.
 * 3. Selection of one candidate (`selection`):
 *    - 'clean-accuracy' (default, no oracle): the largest candidate whose accuracy on a held-out part of
 *      the clean split stays within `accuracyTolerance` of the unpruned model. Rationale: the smallest
 *      masks are the neurons the perturbation shows to be fragile (backdoor-related); prune as many of
 *      them as clean accuracy allows.
 *    - 'fixed': prune at `fixedAt` (a threshold, or a count), as the original ANP paper recommends
 *      (threshold 0.2).
 *    - 'oracle-asr': BackdoorBench's rule — among candidates whose relative clean-accuracy drop is below
 *      `accRatio` (0.1), the lowest ASR. It needs triggered images (`backdoorValidation`, else the real
 *      trigger from `data.oracle` stamped on the held-out images), which a real defender does not have;
 *      BackdoorBench even uses the test set, so the paper's ANP row rests on it. Offered only to compare:
 *      `--config '{"selection":"oracle-asr"}'`, labelled "(oracle)" in its report; the study runs it beside ANP
 *      as the registered variant ANP-oracle (anpOracle.ts), never graded as a baseline.
 *
 * Departures from the spec (BackdoorBench cifar10.yaml), and why:
 * - iterations / batch: 2000 × 256 (three forward and two backward passes each) is far beyond 4 minutes on
 *   one wasm core; the defaults use fewer, smaller batches (see ANP_DEFAULTS) — the masks of this 112-neuron
 *   network settle well within that budget.
 * - mask lr: BackdoorBench's 0.01 (the original paper used 0.2); see ANP_DEFAULTS for the value used.
 * - selection: non-oracle by default (above), where BackdoorBench selects on test ASR.
 * - a held-out part of the clean split (`holdoutFraction`) is kept out of mask optimisation for selection.
 * - no data augmentation while optimising masks (the experiment trains Fashion-MNIST without it).
 * Tuning protocol: settings are chosen on the tuning models only (seed 100, BadNets and Blended, targets 1 and
 * 7; src/experiment/tuning.ts, `superficial-safety tune`) by claim 1's rule, and reported on others (the
 * study's seeds 0–2 at target 0, the sweep's settings); the runs and their numbers are in docs/tuning/anp.md.
 */
import { z } from 'zod';
import { applyTrigger } from '../attacks/trigger';
import { Dataset, subset } from '../data/dataset';
import { accuracy, attackSuccessRate, predict } from '../metrics';
import { disposeModel } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { batchTensor } from '../train/augment';
import { labelsTensor } from '../data/batches';
import { createProgress } from '../train/progress';
import { Sgd } from '../train/sgd';
import {
  anpIteration, batchNormLayers, disposeNoise, disposeVars, filledVars, NeuronVars, neuronsAtOrBelow, pruneNeurons,
  randomNoise, rankNeurons, RankedNeuron,
} from './anpMasks';
import { belowOne, ConfigurableDefense, enumOf, fraction, int, nonNegative, positive, withSeed } from './config';
import { DefenseData, DefenseResult } from './types';

export interface AnpConfig {
  /** Mask optimiser: SGD learning rate and momentum. */
  lr: number;
  momentum: number;
  /** Bound ε of the neuron noise (anp_eps) and number of ascent steps (anp_steps); ε = 0 disables it. */
  eps: number;
  steps: number;
  /** Weight of the natural loss (anp_alpha); 1 − α weights the perturbed loss. */
  alpha: number;
  /** Mask-optimisation batches (nb_iter) and their size. */
  iterations: number;
  batchSize: number;
  /**
   * Cap on mask optimisation in passes over its data: iterations = min(iterations, ⌈maxEpochs·n/batchSize⌉).
   * The defaults make 600 × 128 = 32 passes over a 2,400-image split; on a smaller split (QUICK mode) the
   * same 600 batches would revisit each image hundreds of times for no change in the masks.
   */
  maxEpochs: number;
  /** Share of the clean split held out from mask optimisation to select the pruning level. */
  holdoutFraction: number;
  /** Candidates: mask thresholds 0:thresholdStep:maxThreshold, or counts 0:countStep:maxPrunedFraction·N. */
  pruneBy: 'threshold' | 'count';
  maxThreshold: number;
  thresholdStep: number;
  maxPrunedFraction: number;
  countStep: number;
  selection: 'clean-accuracy' | 'fixed' | 'oracle-asr';
  /** 'clean-accuracy': allowed drop in held-out accuracy, absolute (0.02 = 2 points). */
  accuracyTolerance: number;
  /** 'fixed': the threshold (pruneBy 'threshold') or neuron count (pruneBy 'count') to prune at. */
  fixedAt: number;
  /** 'oracle-asr': allowed relative clean-accuracy drop (BackdoorBench acc_ratio). */
  accRatio: number;
  /** 'oracle-asr' only: triggered images with their true (non-target) labels, and the target. */
  backdoorValidation?: { data: Dataset; target: number };
  /** Also zero the BN bias of pruned neurons (the reference zeroes the weight only). */
  zeroBeta: boolean;
}

/** One pruning level that was evaluated on held-out data. */
export interface AnpCandidate {
  /** The threshold or count that defines it. */
  at: number;
  pruned: number;
  holdoutAccuracy: number;
  /** Only with 'oracle-asr'. */
  validationAsr?: number;
}

export const ANP_SCHEMA: z.ZodType<AnpConfig, z.ZodTypeDef, unknown> = z.object({
  lr: positive().default(0.05),
  momentum: belowOne().default(0.9),
  eps: nonNegative().default(0.4),
  steps: int(1).default(1),
  alpha: fraction().default(0.2),
  iterations: int(0).default(600),
  batchSize: int(2).default(128),
  maxEpochs: positive().default(32),
  holdoutFraction: z.number({ invalid_type_error: 'must be a number' })
    .gt(0, 'must be in (0, 1)').lt(1, 'must be in (0, 1)').default(0.2),
  pruneBy: enumOf(['threshold', 'count'] as const).default('count'),
  maxThreshold: nonNegative().default(0.9),
  thresholdStep: positive().default(0.05),
  maxPrunedFraction: fraction().default(0.5),
  countStep: int(1).default(1),
  selection: enumOf(['clean-accuracy', 'fixed', 'oracle-asr'] as const).default('clean-accuracy'),
  accuracyTolerance: nonNegative().default(0.05),
  fixedAt: nonNegative().default(0.2),
  accRatio: nonNegative().default(0.1),
  backdoorValidation: z.object({
    data: z.custom<Dataset>((d) => !!d && typeof d === 'object' && (d as Dataset).images instanceof Uint8Array,
      'must be a Dataset of triggered images'),
    target: int(0),
  }).strict().optional(),
  zeroBeta: z.boolean({ invalid_type_error: 'must be true or false' }).default(false),
}).strict();

export const ANP_DEFAULTS: AnpConfig = ANP_SCHEMA.parse({});

/**
 * The triggered images of the 'oracle-asr' selection: those given in the config, else the held-out clean
 * images of the other classes with the real trigger stamped on (`data.oracle`, which only this labelled
 * variant reads — BackdoorBench uses the test set, which the study never shows a defense).
 */
function oracleValidation(c: AnpConfig, data: DefenseData, holdout: Dataset): { data: Dataset; target: number } {
  if (c.backdoorValidation) return c.backdoorValidation;
  if (!data.oracle) {
    throw new Error('ANP: selection "oracle-asr" needs triggered images (backdoorValidation) or the real trigger (data.oracle); ' +
      'use "clean-accuracy" for a defense without oracle knowledge');
  }
  const { trigger, target } = data.oracle;
  const others = Int32Array.from(Array.from(holdout.labels.keys()).filter((i) => holdout.labels[i] !== target));
  return { data: applyTrigger(subset(holdout, others, `${holdout.name}/non-target`), trigger), target };
}

/** Split the clean set into mask-optimisation and held-out parts (seeded). */
function splitClean(clean: Dataset, fraction: number, seed: number): { optimise: Dataset; holdout: Dataset } {
  const order = Rng.derive(seed, 'anp-holdout').permutation(clean.n);
  const nHold = Math.round(clean.n * fraction);
  if (nHold < 1 || clean.n - nHold < 2) {
    throw new Error(`ANP: a clean split of ${clean.n} images cannot be divided with holdoutFraction ${fraction}`);
  }
  return {
    holdout: subset(clean, order.subarray(0, nHold), `${clean.name}[anp-holdout]`),
    optimise: subset(clean, order.subarray(nHold), `${clean.name}[anp-masks]`),
  };
}

/** Step 1: optimise the neuron masks. Returns them (the caller disposes) and the last reported loss. */
export function optimiseMasks(model: Model, data: Dataset, c: AnpConfig, seed: number,
  report: (iteration: number, loss: number) => void = () => undefined): NeuronVars {
  const layers = batchNormLayers(model);
  const rng = Rng.derive(seed, 'anp-batches');
  const noiseRng = Rng.derive(seed, 'anp-noise');
  const opt = new Sgd({ lr: c.lr, momentum: c.momentum, weightDecay: 0 });
  let masks = filledVars(layers, 1);
  try {
    for (let it = 0; it < c.iterations; it++) {
      const idx = Int32Array.from({ length: c.batchSize }, () => rng.int(data.n));
      const x = batchTensor(data, idx);
      const y = labelsTensor(data, idx);
      const noise = c.eps > 0 ? randomNoise(layers, c.eps, noiseRng) : undefined;
      try {
        const r = anpIteration(model, masks, opt, x, y, noise, c);
        masks = r.masks;
        report(it + 1, r.loss);
      } catch (e) {
        throw new Error(`${(e as Error).message} at iteration ${it + 1} of ${c.iterations}`, { cause: e });
      } finally {
        x.dispose();
        y.dispose();
        if (noise) disposeNoise(noise);
      }
    }
  } catch (e) {
    disposeVars(masks);
    throw e;
  } finally {
    opt.dispose();
  }
  return masks;
}

/** Step 2: the candidate pruning levels and the neurons each prunes (nested: a later one prunes a superset). */
export function pruningCandidates(ranked: RankedNeuron[], c: AnpConfig): { at: number; neurons: RankedNeuron[] }[] {
  const out: { at: number; neurons: RankedNeuron[] }[] = [];
  if (c.pruneBy === 'threshold') {
    const n = Math.floor(c.maxThreshold / c.thresholdStep + 1e-9);
    for (let k = 0; k <= n; k++) {
      // Rounded so 0.15 is 0.15 and not 0.15000000000000002.
      const t = Math.round(k * c.thresholdStep * 1e6) / 1e6;
      out.push({ at: t, neurons: neuronsAtOrBelow(ranked, t) });
    }
  } else {
    const max = Math.floor(c.maxPrunedFraction * ranked.length);
    for (let k = 0; k <= max; k += c.countStep) out.push({ at: k, neurons: ranked.slice(0, k) });
  }
  return out;
}

/**
 * Step 3: the index of the chosen candidate. `unprunedAccuracy` is the held-out accuracy of the model before
 * pruning, the reference for both accuracy rules.
 */
export function selectCandidate(evaluated: AnpCandidate[], unprunedAccuracy: number, c: AnpConfig): number {
  if (evaluated.length === 0) throw new Error('ANP: no pruning candidates to select from');
  if (c.selection === 'fixed') {
    const i = evaluated.findIndex((e) => Math.abs(e.at - c.fixedAt) < 1e-9);
    if (i < 0) throw new Error(`ANP: fixedAt ${c.fixedAt} is not one of the candidates (${evaluated.map((e) => e.at).join(', ')})`);
    return i;
  }
  const base = unprunedAccuracy;
  if (c.selection === 'clean-accuracy') {
    // The least-pruning candidate is the fallback when none is within tolerance.
    let chosen = 0;
    evaluated.forEach((e, i) => { if (e.holdoutAccuracy >= base - c.accuracyTolerance - 1e-12) chosen = i; });
    return chosen;
  }
  // oracle-asr (BackdoorBench): lowest ASR among candidates within the relative accuracy budget; first on ties.
  // If no candidate keeps accuracy, fall back to the least pruning.
  let chosen = -1;
  evaluated.forEach((e, i) => {
    const within = (base - e.holdoutAccuracy) / base < c.accRatio;
    if (within && (chosen < 0 || (e.validationAsr ?? Infinity) < (evaluated[chosen].validationAsr ?? Infinity))) chosen = i;
  });
  return Math.max(chosen, 0);
}

async function purify(model: Model, data: DefenseData, config: AnpConfig & { seed: number }): Promise<DefenseResult> {
  const c = withSeed(anp, config);
  // Fail before the mask optimisation rather than after it.
  if (c.selection === 'oracle-asr' && !c.backdoorValidation && !data.oracle) oracleValidation(c, data, data.clean);
  const start = Date.now();
  const log = data.log ?? (() => undefined);
  const { optimise, holdout } = splitClean(data.clean, c.holdoutFraction, c.seed);

  const iterations = Math.min(c.iterations, Math.ceil((c.maxEpochs * optimise.n) / c.batchSize));
  const progress = createProgress('ANP masks', data.progress);
  let masks: NeuronVars;
  try {
    masks = optimiseMasks(model, optimise, { ...c, iterations }, c.seed, (it, loss) => {
      progress.step(it, iterations, `iter ${it}/${iterations} loss ${loss.toFixed(3)}`);
    });
  } finally {
    progress.done();
  }
  const ranked = rankNeurons(masks);
  disposeVars(masks);
  const maskSeconds = (Date.now() - start) / 1000;
  log(`ANP: ${iterations} mask iterations in ${maskSeconds.toFixed(1)}s; smallest masks ` +
    ranked.slice(0, 8).map((r) => `${r.layer}#${r.index}=${r.mask.toFixed(3)}`).join(' '));

  const candidates = pruningCandidates(ranked, c);
  const validation = c.selection === 'oracle-asr' ? oracleValidation(c, data, holdout) : undefined;
  const unprunedAccuracy = accuracy(predict(model, holdout), holdout.labels);
  const evaluated: AnpCandidate[] = [];
  for (const cand of candidates) {
    const pruned = pruneNeurons(model, cand.neurons, { zeroBeta: c.zeroBeta });
    const e: AnpCandidate = {
      at: cand.at, pruned: cand.neurons.length,
      holdoutAccuracy: accuracy(predict(pruned, holdout), holdout.labels),
    };
    if (c.selection === 'oracle-asr') {
      e.validationAsr = attackSuccessRate(predict(pruned, validation!.data), validation!.data.labels, validation!.target);
    }
    disposeModel(pruned);
    evaluated.push(e);
  }
  const chosen = selectCandidate(evaluated, unprunedAccuracy, c);
  const pick = evaluated[chosen];
  log(`ANP: ${c.selection} selection prunes ${pick.pruned} neurons (${c.pruneBy} ${pick.at}); held-out accuracy ` +
    `${(pick.holdoutAccuracy * 100).toFixed(1)}% vs ${(unprunedAccuracy * 100).toFixed(1)}% unpruned`);
  const purified = pruneNeurons(model, candidates[chosen].neurons, { zeroBeta: c.zeroBeta });

  const oracleNote = validation ? ` + ${validation.data.n} triggered images for selection (oracle)` : '';
  return {
    model: purified,
    report: {
      dataUsed: `${data.clean.n} clean images (${optimise.n} for masks, ${holdout.n} held out for selection)${oracleNote}`,
      samplesSeen: iterations * c.batchSize,
      seconds: (Date.now() - start) / 1000,
      details: {
        selection: c.selection,
        pruneBy: c.pruneBy,
        chosen: pick,
        prunedNeurons: candidates[chosen].neurons.map((r) => `${r.layer}#${r.index}`),
        unprunedHoldoutAccuracy: unprunedAccuracy,
        candidates: evaluated,
        ranking: ranked,
        maskSeconds,
        iterations,
      },
    },
  };
}

export const anp: ConfigurableDefense<AnpConfig> = {
  name: 'ANP',
  assumes: 'the clean split only (selection on a held-out part of it); "oracle-asr" selection also needs triggered images',
  defaults: ANP_DEFAULTS,
  schema: ANP_SCHEMA,
  purify,
};

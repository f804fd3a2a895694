/**
 * All-to-one data poisoning and the backdoor test set, as in BackdoorBench:
 * - dirty-label: round(rate·N) indices drawn uniformly from the whole training set (target class
 *   included), stamped with the trigger and relabelled to the target;
 * - clean-label (SIG, LC): round(rate·N) indices drawn from the target class only, stamped, labels kept;
 *   when rate·N exceeds the class (LC's 10% on a 10-class set with 10% per class) every target image is used;
 * - the ASR test set keeps only test images whose true label is not the target, with the trigger.
 */
import { Dataset, imageSize, subset } from '../data/dataset';
import { Rng } from '../rng';
import { applyTrigger, Trigger } from './trigger';

export interface PoisonedSet {
  dataset: Dataset;
  /** Indices (into the training set) that carry the trigger. */
  poisonedIndices: Int32Array;
  /** Samples perturbed but left with their true label (WaNet's noise mode). */
  crossIndices?: Int32Array;
}

export function assertTarget(target: number, numClasses: number): void {
  if (!Number.isInteger(target) || target < 0 || target >= numClasses) {
    throw new Error(`attack target ${target} is not a class of this dataset (0..${numClasses - 1})`);
  }
}

export function poisonDirtyLabel(train: Dataset, trigger: Trigger, opts: { rate: number; target: number; seed: number }): PoisonedSet {
  if (!(opts.rate >= 0 && opts.rate <= 1)) throw new Error(`poison rate must be in [0, 1] (got ${opts.rate})`);
  assertTarget(opts.target, train.numClasses);
  const count = Math.round(opts.rate * train.n);
  const order = Rng.derive(opts.seed, `poison-${trigger.name}`).permutation(train.n);
  const poisonedIndices = Int32Array.from(order.subarray(0, count)).sort();
  const dataset = applyTrigger(train, trigger, poisonedIndices, `${train.name}+${trigger.name}@${opts.rate}`);
  for (const i of poisonedIndices) dataset.labels[i] = opts.target;
  return { dataset, poisonedIndices };
}

export interface CleanLabelOptions {
  rate: number;
  target: number;
  seed: number;
  /**
   * Runs on the chosen images before the trigger is stamped (LC's adversarial perturbation): receives a
   * dataset of just those images and returns their replacement pixels (same length).
   */
  prepare?: (chosen: Dataset) => Uint8Array;
}

export function poisonCleanLabel(train: Dataset, trigger: Trigger, opts: CleanLabelOptions): PoisonedSet {
  if (!(opts.rate >= 0 && opts.rate <= 1)) throw new Error(`poison rate must be in [0, 1] (got ${opts.rate})`);
  assertTarget(opts.target, train.numClasses);
  const own: number[] = [];
  for (let i = 0; i < train.n; i++) if (train.labels[i] === opts.target) own.push(i);
  // As BackdoorBench: the rate is a fraction of the whole set, the images come from the target class.
  const count = Math.min(own.length, Math.round(opts.rate * train.n));
  const order = Rng.derive(opts.seed, `poison-clean-${trigger.name}`).permutation(own.length);
  const poisonedIndices = Int32Array.from(order.subarray(0, count), (k) => own[k]).sort();
  let source = train;
  if (opts.prepare && count > 0) {
    const chosen = subset(train, poisonedIndices, `${train.name}/chosen`);
    const pixels = opts.prepare(chosen);
    if (pixels.length !== chosen.images.length) throw new Error(`clean-label prepare returned ${pixels.length} pixels, expected ${chosen.images.length}`);
    const images = train.images.slice();
    const size = imageSize(train);
    poisonedIndices.forEach((i, k) => images.set(pixels.subarray(k * size, (k + 1) * size), i * size));
    source = { ...train, images };
  }
  return { dataset: applyTrigger(source, trigger, poisonedIndices, `${train.name}+${trigger.name}@${opts.rate}/clean-label`), poisonedIndices };
}

/** Triggered copies of the non-target test images; labels stay the true labels. */
export function backdoorTestSet(test: Dataset, trigger: Trigger, target: number): Dataset {
  assertTarget(target, test.numClasses);
  const keep: number[] = [];
  for (let i = 0; i < test.n; i++) if (test.labels[i] !== target) keep.push(i);
  return applyTrigger(subset(test, keep), trigger, undefined, `${test.name}+${trigger.name}->${target}`);
}

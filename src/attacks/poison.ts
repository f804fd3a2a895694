/**
 * All-to-one data poisoning and the backdoor test set, as in BackdoorBench:
 * - dirty-label: round(rate·N) indices drawn uniformly from the whole training set (target class
 *   included), stamped with the trigger and relabelled to the target;
 * - the ASR test set keeps only test images whose true label is not the target, with the trigger.
 */
import { Dataset, subset } from '../data/dataset';
import { Rng } from '../rng';
import { applyTrigger, Trigger } from './trigger';

export interface PoisonedSet {
  dataset: Dataset;
  /** Indices (into the training set) that carry the trigger. */
  poisonedIndices: Int32Array;
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

/** Triggered copies of the non-target test images; labels stay the true labels. */
export function backdoorTestSet(test: Dataset, trigger: Trigger, target: number): Dataset {
  assertTarget(target, test.numClasses);
  const keep: number[] = [];
  for (let i = 0; i < test.n; i++) if (test.labels[i] !== target) keep.push(i);
  return applyTrigger(subset(test, keep), trigger, undefined, `${test.name}+${trigger.name}->${target}`);
}

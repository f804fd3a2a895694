/**
 * The retuning attack (RA, paper §5; authors' ft_poison.py): fine-tune a purified model on a small set the
 * attacker holds — by default 1,000 training samples of which 5 carry the trigger and the target label —
 * with plain SGD (lr 0.01, momentum 0.9, no weight decay, no schedule, batch 128, 5 epochs), and watch
 * whether the backdoor comes back. C-Acc and ASR are recorded before RA and after every epoch.
 *
 * Departures from the authors' code: the attacker's clean samples come from the attacker's pool, which is
 * disjoint from the defender's clean split (the code draws both from the training set with different seeds,
 * so they may overlap); poisoned samples are pool images whose true label is not the target, stamped with
 * the trigger (the code takes them from the poisoned training set); no static augmentation, matching how
 * the victim models here are trained.
 */
import { applyTrigger, Trigger } from '../attacks/trigger';
import { Dataset, subset } from '../data/dataset';
import { evaluate } from '../metrics';
import { disposeModel } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { ProgressMode } from '../train/progress';
import { train } from '../train/train';

export interface RetuningConfig {
  setSize: number;
  poisonedCount: number;
  epochs: number;
  lr: number;
  momentum: number;
  batchSize: number;
  seed: number;
}

export const RETUNING_DEFAULTS: RetuningConfig = {
  setSize: 1000, poisonedCount: 5, epochs: 5, lr: 0.01, momentum: 0.9, batchSize: 128, seed: 0,
};

export interface RetuningPoint {
  /** 0 = before the attack. */
  epoch: number;
  cleanAccuracy: number;
  asr: number;
}

export interface RetuningResult {
  model: Model;
  history: RetuningPoint[];
  /** Indices into the training set of the attacker's samples, and which of them were poisoned. */
  sampleIndices: Int32Array;
  poisonedIndices: Int32Array;
  seconds: number;
}

export function validateRetuningConfig(c: RetuningConfig): void {
  const bad = (field: string, why: string) => { throw new Error(`retuning config: ${field} ${why}`); };
  if (!Number.isInteger(c.setSize) || c.setSize < 2) bad('setSize', `must be an integer >= 2 (got ${c.setSize})`);
  if (!Number.isInteger(c.poisonedCount) || c.poisonedCount < 0 || c.poisonedCount > c.setSize) {
    bad('poisonedCount', `must be an integer in 0..setSize (got ${c.poisonedCount})`);
  }
  if (!Number.isInteger(c.epochs) || c.epochs < 1) bad('epochs', `must be a positive integer (got ${c.epochs})`);
  if (!(c.lr > 0)) bad('lr', `must be > 0 (got ${c.lr})`);
}

/**
 * The attacker's set: `setSize` images from the pool; the first `poisonedCount` non-target ones get the
 * trigger and the target label.
 */
export function buildRetuningSet(train: Dataset, pool: ArrayLike<number>, trigger: Trigger, target: number,
  c: Pick<RetuningConfig, 'setSize' | 'poisonedCount' | 'seed'>): { set: Dataset; sampleIndices: Int32Array; poisonedIndices: Int32Array } {
  if (pool.length < c.setSize) {
    throw new Error(`retuning: the attacker's pool has ${pool.length} images, fewer than setSize ${c.setSize}`);
  }
  const order = Rng.derive(c.seed, 'retuning-set').permutation(pool.length);
  const sampleIndices = Int32Array.from(order.subarray(0, c.setSize), (i) => pool[i]);
  const poisonedPositions: number[] = [];
  for (let k = 0; k < sampleIndices.length && poisonedPositions.length < c.poisonedCount; k++) {
    if (train.labels[sampleIndices[k]] !== target) poisonedPositions.push(k);
  }
  if (poisonedPositions.length < c.poisonedCount) {
    throw new Error(`retuning: only ${poisonedPositions.length} non-target images for ${c.poisonedCount} poisoned samples`);
  }
  const clean = subset(train, sampleIndices, `${train.name}/retuning`);
  const set = applyTrigger(clean, trigger, poisonedPositions, `${clean.name}+${c.poisonedCount}poisoned`);
  for (const k of poisonedPositions) set.labels[k] = target;
  return { set, sampleIndices, poisonedIndices: Int32Array.from(poisonedPositions, (k) => sampleIndices[k]) };
}

/** Run RA on `model` (left untouched) and evaluate after every epoch. */
export async function retuningAttack(model: Model, set: Dataset, test: Dataset, backdoorTest: Dataset, target: number,
  config: Partial<RetuningConfig> = {}, opts: { progress?: ProgressMode; label?: string } = {}): Promise<Omit<RetuningResult, 'sampleIndices' | 'poisonedIndices'>> {
  const c = { ...RETUNING_DEFAULTS, ...config };
  validateRetuningConfig(c);
  const start = Date.now();
  const point = (epoch: number, m: Model): RetuningPoint => {
    const e = evaluate(m, test, backdoorTest, target);
    return { epoch, cleanAccuracy: e.cleanAccuracy, asr: e.asr! };
  };
  const history = [point(0, model)];
  const r = await train(model, set, {
    epochs: c.epochs, batchSize: c.batchSize, lr: c.lr, momentum: c.momentum, weightDecay: 0, schedule: 'constant',
    augment: { crop: 0, flip: false }, seed: c.seed, progress: opts.progress ?? 'silent', label: opts.label ?? 'RA',
    onEpoch: (epoch, m) => history.push(point(epoch, m)),
  });
  return { model: r.model, history, seconds: (Date.now() - start) / 1000 };
}

export { disposeModel };

/**
 * Who holds which training data. As in the paper (§2.1 threat model, §5.2 setup), the defender's clean
 * split and the retuning attacker's pool are both drawn from the training set — each party holds a small
 * subset of the data the victim was trained on — and they are disjoint from each other. The victim itself
 * trains on the whole training set. Test data is never touched here: evaluation stays on the test split.
 */
import { Dataset, subset } from './dataset';
import { Rng } from '../rng';

export interface SplitOptions {
  seed: number;
  /** Share of the training set the defender holds as clean data (the paper uses 5%). */
  defenseFraction?: number;
  /** Size of the attacker's pool; give this or attackerPoolFraction, not both. Default 1000. */
  attackerPoolSize?: number;
  /** Share of the training set in the attacker's pool. */
  attackerPoolFraction?: number;
}

/** Sorted row indices into the training set. */
export interface Splits {
  /** Rows the victim model trains on: all of them. */
  train: Int32Array;
  /** The defender's clean split. */
  defense: Int32Array;
  /** The retuning attacker's pool, disjoint from `defense`. */
  attackerPool: Int32Array;
}

export function makeSplits(train: Dataset, opts: SplitOptions): Splits {
  const { seed, defenseFraction = 0.05 } = opts;
  const n = train.n;
  if (!(defenseFraction > 0 && defenseFraction < 1)) {
    throw new Error(`makeSplits: defenseFraction must be in (0, 1), got ${defenseFraction}`);
  }
  const poolSize = attackerPoolSize(opts, n);
  const defenseSize = Math.round(defenseFraction * n);
  if (defenseSize < 1) {
    throw new Error(`makeSplits: defenseFraction ${defenseFraction} of ${n} rows of ${train.name} is no rows`);
  }
  if (defenseSize + poolSize > n) {
    throw new Error(`makeSplits: ${train.name} has ${n} rows, too few for a defense split of ${defenseSize} ` +
      `plus a disjoint attacker pool of ${poolSize}`);
  }
  const order = Rng.derive(seed, 'splits').permutation(n);
  return {
    train: Int32Array.from({ length: n }, (_, i) => i),
    defense: order.slice(0, defenseSize).sort(),
    attackerPool: order.slice(defenseSize, defenseSize + poolSize).sort(),
  };
}

/** The splits as Datasets (copies of the selected rows). */
export function materializeSplits(
  train: Dataset, splits: Splits,
): { train: Dataset; defense: Dataset; attackerPool: Dataset } {
  return {
    // The victim's rows are usually all of them; skip copying the whole set then.
    train: isIdentity(splits.train, train.n) ? train : subset(train, splits.train, `${train.name}/victim`),
    defense: subset(train, splits.defense, `${train.name}/defense`),
    attackerPool: subset(train, splits.attackerPool, `${train.name}/attacker-pool`),
  };
}

function isIdentity(indices: Int32Array, n: number): boolean {
  return indices.length === n && indices.every((v, i) => v === i);
}

function attackerPoolSize(opts: SplitOptions, n: number): number {
  const { attackerPoolSize: size, attackerPoolFraction: fraction } = opts;
  if (size !== undefined && fraction !== undefined) {
    throw new Error('makeSplits: give attackerPoolSize or attackerPoolFraction, not both');
  }
  if (fraction !== undefined) {
    if (!(fraction > 0 && fraction < 1)) {
      throw new Error(`makeSplits: attackerPoolFraction must be in (0, 1), got ${fraction}`);
    }
    return Math.max(1, Math.round(fraction * n));
  }
  const s = size ?? 1000;
  if (!Number.isInteger(s) || s < 1) {
    throw new Error(`makeSplits: attackerPoolSize must be a positive integer, got ${s}`);
  }
  return s;
}

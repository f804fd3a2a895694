/**
 * FST — Feature Shift Tuning (the authors' NeurIPS'23 method, spec §4.5; `fine_tune/ft.py`, mode `fst`):
 * 1. re-initialise the linear head, weight and bias ~ U(−1/√fan_in, 1/√fan_in);
 * 2. fine-tune every layer on the clean split with loss = CE + α·⟨W, W_orig⟩, the sum of elementwise
 *    products of the head weight with the ORIGINAL (backdoored) head weight, which pushes the new head away
 *    from the compromised one;
 * 3. after every step rescale W so that ‖W‖_F = ‖W_orig‖_F (the bias is left alone, as in the code).
 *
 * Choices: SGD lr 0.01, momentum 0.9, no weight decay, cosine, batch 128 (README). α = 0.001 and 20 epochs
 * depart from the README's CIFAR-10 setting (α 0.1, 10 epochs; α 0.001 is the FST paper's value for
 * CIFAR-100/Tiny-ImageNet): re-initialising the head of this network (3,136 flattened features, 3,000 clean
 * images) costs clean accuracy, which a smaller α and more epochs recover.
 * Tuning protocol: settings are chosen on the tuning models only (seed 100, BadNets and Blended, targets 1 and
 * 7; src/experiment/tuning.ts, `superficial-safety tune`) by claim 1's rule, and reported on others (the
 * study's seeds 0–2 at target 0, the sweep's settings); the runs and their numbers are in docs/tuning/fst.md.
 * Data: the clean split only.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { uniformFanIn } from '../models/layers';
import { featureDim } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { ConfigurableDefense, nonNegative, pickRecipe, Recipe, recipeFields, withSeed } from './config';
import { finetune } from './finetune';

export interface FstConfig extends Recipe {
  /** Weight of the inner-product penalty α·⟨W, W_orig⟩. */
  alpha: number;
}

const schema = z.object({
  ...recipeFields({ epochs: 20, batchSize: 128, lr: 0.01, momentum: 0.9, weightDecay: 0, schedule: 'cosine', crop: 0, flip: false }),
  alpha: nonNegative().default(0.001),
}).strict();

/** The model with its head replaced by a fresh U(−1/√fan_in, 1/√fan_in) draw (shares the other tensors). */
export function withFreshHead(model: Model, rng: Rng): Model {
  const fanIn = featureDim(model.spec);
  const k = model.spec.numClasses;
  return {
    ...model,
    params: { ...model.params, 'head/w': uniformFanIn(rng, [fanIn, k], fanIn), 'head/b': uniformFanIn(rng, [k], fanIn) },
  };
}

export const fst: ConfigurableDefense<FstConfig> = {
  name: 'FST',
  assumes: 'the clean split',
  defaults: schema.parse({}),
  schema,
  async purify(model, data, config) {
    const c = withSeed(fst, config);
    const original = model.params['head/w'].clone();
    const originalNorm = tf.tidy(() => tf.norm(original));
    const start = withFreshHead(model, Rng.derive(c.seed, 'fst-head'));
    try {
      const r = await finetune(start, data.clean, {
        ...pickRecipe(c), seed: c.seed, progress: data.progress, label: 'FST',
        hooks: {
          extraLoss: ({ model: m }) => tf.mul(tf.sum(tf.mul(m.params['head/w'], original)), c.alpha) as tf.Scalar,
          project: (p) => ({
            'head/w': tf.tidy(() => tf.mul(p['head/w'], tf.div(originalNorm, tf.norm(p['head/w'])))),
          }),
        },
      });
      const cosine = tf.tidy(() => tf.div(tf.sum(tf.mul(r.model.params['head/w'], original)),
        tf.mul(tf.norm(r.model.params['head/w']), originalNorm)).dataSync()[0]);
      return {
        model: r.model,
        report: {
          dataUsed: `${data.clean.n} clean images`, samplesSeen: r.samplesSeen, seconds: r.seconds,
          details: { headCosineToOriginal: cosine },
        },
      };
    } finally {
      start.params['head/w'].dispose();
      start.params['head/b'].dispose();
      original.dispose();
      originalNorm.dispose();
    }
  },
};

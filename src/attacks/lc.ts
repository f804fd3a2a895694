/**
 * LC, the label-consistent backdoor (Turner et al. 2019), as BackdoorBench runs it (spec §3.4): the
 * poisoned images are target-class images only, each replaced by an untargeted PGD adversarial example
 * of an adversarially trained model (ε = 8/255 on [0, 1], step 1.5/255, 100 steps), then stamped with
 * the "all-corners" trigger (a 3×3 ±1 pattern in each corner, added as ±255·amplitude and clipped, so
 * those pixels become 0 or 255); labels are unchanged. At test time the corner pattern alone is the trigger.
 * With BackdoorBench's rate (0.1 of the whole set) on a balanced 10-class set (CIFAR-10: 5,000 of 50,000;
 * Fashion-MNIST: 6,000 of 60,000) that is every target-class image; the config's LC default is 0.1.
 *
 * Departures:
 * - The adversarially trained model is this project's small cnn (widths [8, 16, 32]) trained here with
 *   PGD adversarial training (Madry et al.) for 2 epochs, 2 PGD steps of 2.5·ε/steps from a random start
 *   per batch, instead of BackdoorBench's pre-trained robust ResNet-18. Measured cost on full
 *   Fashion-MNIST, wasm, on a 2-core machine busy with another job: ~135 ms a batch, ~2 minutes in all.
 * - The crafting PGD starts at the clean image (no random start), so it is deterministic; the poisoned
 *   pixels are still stored by the poison stage rather than recomputed. On full Fashion-MNIST the 100
 *   steps over 6,000 images cost ~2.5 minutes (same machine, ~60 ms a step for 250 images).
 * - The corner pattern keeps its 3×3 size at the corners of any image size; BackdoorBench resizes its
 *   32×32 mask with nearest-neighbour interpolation for other sizes.
 * Measured on full Fashion-MNIST (cnn 16-32-64, 4 epochs, seed 0), C-Acc / ASR: the default rate 0.1 (every
 * target-class image) 83.94% / 88.14%; rate 0.05 91.45% / 65.44%; rate 0.05 with ε = 16/255 91.29% / 68.66%.
 * None reaches the 90% ASR / 89% C-Acc targets; the default keeps the spec's rate and ε.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { fraction, int, positive } from '../configFields';
import { labelsTensor, toTensor } from '../data/batches';
import { Dataset } from '../data/dataset';
import { saveJson } from '../io/json';
import { loadModelArtifact, saveModelArtifact } from '../models/artifact';
import { createModel, defaultSpec, disposeModel, forward } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { crossEntropy } from '../train/loss';
import { createProgress, ProgressMode } from '../train/progress';
import { train } from '../train/train';
import { poisonCleanLabel } from './poison';
import { AttackSpec } from './spec';
import { Trigger } from './trigger';

/** BackdoorBench's "all-corners" mask: ((row, col), sign), negative indices counted from the end. */
const ALL_CORNERS: readonly [number, number, 1 | -1][] = [
  [0, 0, 1], [0, 1, -1], [0, 2, -1], [1, 0, -1], [1, 1, 1], [1, 2, -1], [2, 0, 1], [2, 1, -1], [2, 2, 1],
  [-1, 0, 1], [-1, 1, -1], [-1, 2, 1], [-2, 0, -1], [-2, 1, 1], [-2, 2, -1], [-3, 0, 1], [-3, 1, -1], [-3, 2, -1],
  [0, -1, 1], [0, -2, -1], [0, -3, -1], [1, -1, -1], [1, -2, 1], [1, -3, -1], [2, -1, 1], [2, -2, -1], [2, -3, 1],
  [-1, -1, 1], [-1, -2, -1], [-1, -3, 1], [-2, -1, -1], [-2, -2, 1], [-2, -3, -1], [-3, -1, 1], [-3, -2, -1], [-3, -3, -1],
];

/** The corner trigger: ±255·amplitude added at the 36 corner pixels (every channel), clipped. */
export function lcCorners(amplitude = 1): Trigger {
  if (!(amplitude > 0 && amplitude <= 1)) throw new Error(`lc: amplitude must be in (0, 1] (got ${amplitude})`);
  return {
    name: `lc-corners-a${amplitude}`,
    stamp(image, height, width, channels) {
      if (height < 6 || width < 6) throw new Error(`lc: the corner pattern needs at least 6x6 pixels (got ${height}x${width})`);
      for (const [r, c, sign] of ALL_CORNERS) {
        const o = ((r < 0 ? height + r : r) * width + (c < 0 ? width + c : c)) * channels;
        for (let k = 0; k < channels; k++) {
          const v = image[o + k] + sign * 255 * amplitude;
          image[o + k] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
        }
      }
    },
  };
}

export interface PgdOptions {
  epsilon: number;
  stepSize: number;
  steps: number;
  /** Uniform start in the ε-ball (seeded); the clean image otherwise. */
  randomStart?: Rng;
  /** Batch statistics (adversarial training) or running statistics (crafting). */
  training: boolean;
}

/** Untargeted L∞ PGD on [0, 1] images: ascend the cross-entropy of the true labels, project, clip. */
export function pgd(model: Model, x: tf.Tensor4D, y: tf.Tensor1D, o: PgdOptions): tf.Tensor4D {
  const lossOf = (xx: tf.Tensor4D) => crossEntropy(forward(model, xx, { training: o.training }), y);
  const gradOf = tf.grad(lossOf as (t: tf.Tensor) => tf.Scalar);
  let adv: tf.Tensor4D = o.randomStart
    ? tf.tidy(() => {
      const r = o.randomStart!;
      const noise = tf.tensor(Float32Array.from({ length: x.size }, () => (r.next() * 2 - 1) * o.epsilon), x.shape);
      return tf.clipByValue(tf.add(x, noise), 0, 1) as tf.Tensor4D;
    })
    : x.clone();
  for (let s = 0; s < o.steps; s++) {
    const next = tf.tidy(() => {
      const g = gradOf(adv);
      const stepped = tf.add(adv, tf.mul(tf.sign(g), o.stepSize));
      return tf.clipByValue(tf.minimum(tf.maximum(stepped, tf.sub(x, o.epsilon)), tf.add(x, o.epsilon)), 0, 1) as tf.Tensor4D;
    });
    adv.dispose();
    adv = next;
  }
  return adv;
}

export interface RobustTrainOptions {
  widths: number[];
  epochs: number;
  attackSteps: number;
  batchSize: number;
  lr: number;
  epsilon: number;
  seed: number;
  progress?: ProgressMode;
}

/** PGD adversarial training of a small cnn (SGD, momentum 0.9, wd 5e-4, cosine schedule): the project's training loop with each batch replaced by its PGD examples. */
export async function trainRobustModel(data: Dataset, o: RobustTrainOptions): Promise<{ model: Model; history: { epoch: number; loss: number; adversarialAccuracy: number; seconds: number }[] }> {
  const spec = defaultSpec('cnn', [data.height, data.width, data.channels], data.numClasses, { widths: o.widths });
  const init = createModel(spec, o.seed);
  try {
    const out = await train(init, data, {
      epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine',
      augment: { crop: 0, flip: false }, seed: o.seed, progress: o.progress, label: 'LC robust model',
      perturbBatch: (model, x, y, rng) => pgd(model, x, y, {
        epsilon: o.epsilon, stepSize: (2.5 * o.epsilon) / o.attackSteps, steps: o.attackSteps, randomStart: rng, training: true,
      }),
    });
    return { model: out.model, history: out.history.map((h) => ({ epoch: h.epoch, loss: h.loss, adversarialAccuracy: h.trainAccuracy, seconds: h.seconds })) };
  } finally {
    disposeModel(init);
  }
}

/** The chosen images replaced by PGD adversarial examples of `model` (eval mode), as uint8 pixels. */
export function craftAdversarial(model: Model, chosen: Dataset, o: Omit<PgdOptions, 'training' | 'randomStart'> & { batchSize?: number; progress?: ProgressMode }): Uint8Array {
  const out = new Uint8Array(chosen.images.length);
  const bs = o.batchSize ?? 250;
  const size = chosen.images.length / Math.max(1, chosen.n);
  const progress = createProgress('LC PGD', o.progress);
  const batches = Math.ceil(chosen.n / bs);
  try {
    for (let b = 0; b < batches; b++) {
      const idx = Int32Array.from({ length: Math.min(bs, chosen.n - b * bs) }, (_, k) => b * bs + k);
      const x = toTensor(chosen, idx);
      const y = labelsTensor(chosen, idx);
      const adv = pgd(model, x, y, { ...o, training: false });
      const rounded = tf.tidy(() => tf.round(tf.mul(adv, 255)));
      const pixels = rounded.dataSync();
      for (let k = 0; k < pixels.length; k++) out[b * bs * size + k] = pixels[k];
      tf.dispose([x, y, adv, rounded]);
      progress.step(b + 1, batches, `${Math.min(chosen.n, (b + 1) * bs)}/${chosen.n} images, ${o.steps} steps`);
      if ((b + 1) % Math.max(1, Math.ceil(batches / 4)) === 0 || b + 1 === batches) {
        progress.epoch(`${Math.min(chosen.n, (b + 1) * bs)}/${chosen.n} images crafted (${o.steps} steps)`);
      }
    }
  } finally {
    progress.done();
  }
  return out;
}

/** The adversarially trained model LC perturbs with (a cached stage of its own). */
const robustSettings = z
  .object({
    widths: z.array(int(1)).min(1, 'must list at least one stage').default([8, 16, 32]),
    epochs: int(1).default(2),
    /** PGD steps per training batch (step 2.5·epsilon/steps, random start). */
    attackSteps: int(1).default(2),
    batchSize: int(2).default(128),
    lr: positive().default(0.05),
  })
  .strict();

/** PGD on target-class images, then the four-corner pattern (resource/label-consistent, config/attack/lc). */
const settings = z
  .object({
    /** L∞ bound of the perturbation on [0, 1] pixels. */
    epsilon: fraction().default(8 / 255),
    stepSize: positive().default(1.5 / 255),
    steps: int(0).default(100),
    /** BackdoorBench's reduced_amplitude: the corner pattern is ±255·amplitude. */
    amplitude: fraction().default(1),
    robust: robustSettings.default({}),
  })
  .strict();

export const lcAttack: AttackSpec<z.output<typeof settings>, Model> = {
  name: 'lc',
  label: 'LC',
  settings,
  cleanLabel: true,
  // Every target-class image of a balanced 10-class set, as BackdoorBench's rate.
  defaultPoisonRate: 0.1,
  storesPixels: true,
  modelCost: 480,
  trigger: (c) => lcCorners(c.amplitude),
  poison: (train, trigger, c, { attack, seed, asset, progress }) => poisonCleanLabel(train, trigger, {
    rate: attack.poisonRate, target: attack.target, seed,
    prepare: (chosen) => craftAdversarial(asset, chosen, { epsilon: c.epsilon, stepSize: c.stepSize, steps: c.steps, progress }),
  }),
  async assets(c, ctx) {
    const { train: data } = ctx;
    const spec = defaultSpec('cnn', [data.height, data.width, data.channels], data.numClasses, { widths: c.robust.widths });
    return ctx.store.getOrCompute('lc-robust', { robust: c.robust, epsilon: c.epsilon, seed: ctx.seed }, [ctx.dataKey], {
      log: ctx.log,
      compute: async (dir) => {
        const out = await trainRobustModel(data, { ...c.robust, epsilon: c.epsilon, seed: ctx.seed, progress: ctx.progress });
        await saveModelArtifact(dir, out.model, { robust: 'pgd-adversarial-training' });
        await saveJson(dir, 'history.json', out.history);
        return out.model;
      },
      load: (dir) => loadModelArtifact(dir, spec),
    });
  },
  releaseAfterPoisoning: disposeModel,
};

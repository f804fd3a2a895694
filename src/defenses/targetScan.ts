/**
 * A per-class trigger scan for BTI's and PAM's target class (Neural Cleanse's principle; Wang et al., S&P
 * 2019): for every class k, learn the smallest universal mask-and-pattern trigger x' = (1 − a)⊙x + a⊙p that
 * sends the clean split to k; a backdoor's target is the class reached with an anomalously small mask. It is
 * what BTI-DBF set out to avoid (scanning every class), and it is here because BTI-DBF's own class-agnostic
 * read-off does not find the target on these small networks: its generator moves whatever features change
 * predictions most cheaply, which on Fashion-MNIST are the natural confusions between the top-wear classes
 * (docs/bti-detection.md). A universal trigger cannot exploit a confusion that exists for one source class
 * only, and the backdoor is the one perturbation that works from every class.
 *
 * Per class: Adam on mask logits A and pattern logits P (a = sigmoid(A), p = sigmoid(P)), loss
 * CE(f(x'), k) + λ·mean(a), over the clean images whose label is not k; the mask starts nearly closed.
 * Reported per class: the mask's L1 norm (in pixels), the share of those images sent to k, and the anomaly
 * index (median − norm) / (1.4826·MAD) of the norm among the classes. The target is the class with the
 * smallest norm among those the trigger reaches (share ≥ `minSuccess`); if none does, the most reached one.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset, subset } from '../data/dataset';
import { ForwardOptions, ParamRecord } from '../models/layers';
import { forward } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { Adam } from '../train/adam';
import { batchTensor } from '../train/augment';
import { crossEntropy } from '../train/loss';

export interface ScanConfig {
  /**
   * Adam steps per class. A number of steps rather than of passes, so that a small clean split (QUICK runs,
   * tests) still lets the mask shrink to the trigger; 250 steps of 32 are three passes over the 2,700
   * non-target images of the default split.
   */
  steps: number;
  batchSize: number;
  lr: number;
  /** λ: weight of the mask's mean in the loss. */
  maskWeight: number;
  /** Share of images a class's trigger must send to it to count as reached. */
  minSuccess: number;
}

export interface ClassScan {
  target: number;
  /** Σ a over pixels: the trigger's size. */
  maskL1: number;
  /** Share of the scanned images sent to the class by its trigger (eval mode). */
  success: number;
  /** (median − maskL1) / (1.4826·MAD) over the classes; large = anomalously small trigger. */
  anomaly: number;
}

export interface ScanResult {
  detected: number;
  classes: ClassScan[];
  seconds: number;
}

const FROZEN: ForwardOptions = { training: false, batchNormGradient: 'autodiff' };
const EVAL_BATCH = 250;
/** Initial mask logit: sigmoid(−4) ≈ 0.018 opacity everywhere. */
const MASK_INIT = -4;

function stamp(x: tf.Tensor4D, p: ParamRecord): tf.Tensor4D {
  const a = tf.sigmoid(p.mask);
  return tf.add(x, tf.mul(a, tf.sub(tf.sigmoid(p.pattern), x))) as tf.Tensor4D;
}

function scanClass(model: Model, data: Dataset, k: number, c: ScanConfig, rng: Rng): { maskL1: number; success: number } {
  const others = Int32Array.from(Array.from(data.labels.keys()).filter((i) => data.labels[i] !== k));
  const set = subset(data, others, `${data.name}/not-${k}`);
  const params: ParamRecord = {
    mask: tf.fill([1, data.height, data.width, 1], MASK_INIT),
    pattern: tf.zeros([1, data.height, data.width, data.channels]),
  };
  const optimizer = new Adam({ lr: c.lr });
  const names = Object.keys(params);
  try {
    let order = rng.permutation(set.n);
    let at = 0;
    for (let step = 0; step < c.steps; step++) {
      if (at + 2 > set.n) {
        order = rng.permutation(set.n);
        at = 0;
      }
      const idx = order.subarray(at, Math.min(set.n, at + c.batchSize));
      at += c.batchSize;
      const x = batchTensor(set, idx);
      const y = tf.fill([idx.length], k, 'int32') as tf.Tensor1D;
      try {
        const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => {
          const p: ParamRecord = {};
          names.forEach((n, i) => { p[n] = ps[i]; });
          const logits = forward(model, stamp(x, p), FROZEN) as tf.Tensor2D;
          return tf.add(crossEntropy(logits, y), tf.mul(tf.mean(tf.sigmoid(p.mask)), c.maskWeight)) as tf.Scalar;
        })(names.map((n) => params[n]));
        const loss = value.dataSync()[0];
        value.dispose();
        if (!Number.isFinite(loss)) {
          grads.forEach((g) => g.dispose());
          throw new Error(`target scan, class ${k}: loss is ${loss}; lower the learning rate`);
        }
        const g: ParamRecord = {};
        names.forEach((n, i) => { g[n] = grads[i]; });
        const next = optimizer.step(params, g);
        for (const n of names) params[n] = next[n];
      } finally {
        x.dispose();
        y.dispose();
      }
    }
    const maskL1 = tf.tidy(() => tf.sum(tf.sigmoid(params.mask)).dataSync()[0]);
    let hit = 0;
    for (let s = 0; s < set.n; s += EVAL_BATCH) {
      const idx = Int32Array.from({ length: Math.min(EVAL_BATCH, set.n - s) }, (_, i) => s + i);
      const pred = tf.tidy(() => tf.argMax(forward(model, stamp(batchTensor(set, idx), params), { training: false }) as tf.Tensor2D, 1));
      const p = pred.dataSync();
      pred.dispose();
      for (let i = 0; i < p.length; i++) if (p[i] === k) hit++;
    }
    return { maskL1, success: hit / set.n };
  } finally {
    optimizer.dispose();
    Object.values(params).forEach((t) => t.dispose());
  }
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2; };

export function scanTargets(model: Model, data: Dataset, c: ScanConfig, seed: number): ScanResult {
  const started = Date.now();
  const rng = Rng.derive(seed, 'bti-target-scan');
  const found = Array.from({ length: data.numClasses }, (_, k) => ({ target: k, ...scanClass(model, data, k, c, rng) }));
  const norms = found.map((f) => f.maskL1);
  const med = median(norms);
  const mad = median(norms.map((v) => Math.abs(v - med))) * 1.4826 || 1e-12;
  const classes = found.map((f) => ({ ...f, anomaly: (med - f.maskL1) / mad }));
  const reached = classes.filter((f) => f.success >= c.minSuccess);
  const pool = reached.length > 0 ? reached : [classes.reduce((b, f) => (f.success > b.success ? f : b))];
  const detected = pool.reduce((b, f) => (f.maskL1 < b.maskL1 ? f : b)).target;
  return { detected, classes, seconds: (Date.now() - started) / 1000 };
}

/**
 * Query-based reactivation attack (QRA, paper §6; authors' fine_tune/qra.py). A generator G_φ (an MLP on the
 * flattened image, tanh output) makes a sample-specific perturbation δ(x) = ε·G_φ(x), ‖δ‖∞ ≤ ε, added in
 * pixel space and clipped to [0, 1]. It is trained so that the purified model on x + δ behaves like the
 * retuned (backdoor-reactivated) model on x, while a clean model still classifies x + δ correctly:
 *
 *   L(φ) = α · KL( softmax f_RA(x) ‖ softmax f_pur(x + δ) ) + CE( f_clean(x + δ), y_true ),   α = 0.2,
 *
 * over 500 clean and 500 triggered samples (SGD lr 0.1, momentum 0.9, batch 128, 50 epochs). The clean-model
 * term keeps δ from being a plain adversarial perturbation. KL uses 'batchmean' reduction as torch's
 * KLDivLoss in the authors' distillation helper. Samples come from the attacker's pool (the code uses the
 * RA subset and the poisoned training set).
 *
 * Beyond the paper, `queryOnly` reaches the purified model only through its output probabilities: the
 * gradient of the KL term with respect to the perturbed input is estimated with NES (antithetic Gaussian
 * probes), and the number of queries is counted. The clean and retuned models stay white-box (they are
 * the attacker's own).
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { attackSuccessRate, accuracy } from '../metrics';
import { ParamRecord, uniformFanIn } from '../models/layers';
import { forward } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { batchTensor } from '../train/augment';
import { labelsTensor } from '../data/batches';
import { crossEntropy } from '../train/loss';
import { Sgd } from '../train/sgd';
import { createProgress, ProgressMode } from '../train/progress';

export interface QraConfig {
  epsilon: number;
  alpha: number;
  hidden: number;
  layers: number;
  epochs: number;
  lr: number;
  momentum: number;
  batchSize: number;
  cleanCount: number;
  poisonedCount: number;
  seed: number;
  /** Zeroth-order access to the purified model (NES); probes per sample per step. */
  queryOnly: boolean;
  nesSamples: number;
  nesSigma: number;
}

export const QRA_DEFAULTS: QraConfig = {
  epsilon: 16 / 255, alpha: 0.2, hidden: 1024, layers: 3, epochs: 50, lr: 0.1, momentum: 0.9, batchSize: 128,
  cleanCount: 500, poisonedCount: 500, seed: 0, queryOnly: false, nesSamples: 10, nesSigma: 0.01,
};

export function validateQraConfig(c: QraConfig): void {
  const bad = (f: string, why: string) => { throw new Error(`QRA config: ${f} ${why}`); };
  if (!(c.epsilon > 0 && c.epsilon <= 1)) bad('epsilon', `must be in (0, 1] (got ${c.epsilon})`);
  if (!(c.alpha >= 0)) bad('alpha', `must be >= 0 (got ${c.alpha})`);
  for (const f of ['hidden', 'layers', 'epochs', 'batchSize', 'nesSamples'] as const) {
    if (!Number.isInteger(c[f]) || c[f] < 1) bad(f, `must be a positive integer (got ${c[f]})`);
  }
  if (!(c.lr > 0)) bad('lr', `must be > 0 (got ${c.lr})`);
}

/** The perturbation generator: flattened image → hidden (ReLU) ×layers → image size, tanh. */
export function createGenerator(inputSize: number, c: Pick<QraConfig, 'hidden' | 'layers' | 'seed'>): ParamRecord {
  const rng = Rng.derive(c.seed, 'qra-generator');
  const sizes = [inputSize, ...Array(c.layers).fill(c.hidden), inputSize];
  const p: ParamRecord = {};
  for (let i = 0; i < sizes.length - 1; i++) {
    p[`fc${i}/w`] = uniformFanIn(rng, [sizes[i], sizes[i + 1]], sizes[i]);
    p[`fc${i}/b`] = uniformFanIn(rng, [sizes[i + 1]], sizes[i]);
  }
  return p;
}

/** δ(x) with ‖δ‖∞ ≤ ε, same shape as x. */
export function perturbation(gen: ParamRecord, x: tf.Tensor4D, epsilon: number): tf.Tensor4D {
  return tf.tidy(() => {
    const n = Object.keys(gen).length / 2;
    let h: tf.Tensor2D = x.reshape([x.shape[0], -1]);
    for (let i = 0; i < n; i++) {
      h = tf.add(tf.matMul(h, gen[`fc${i}/w`] as tf.Tensor2D), gen[`fc${i}/b`]) as tf.Tensor2D;
      h = i < n - 1 ? tf.relu(h) : tf.tanh(h);
    }
    // tanh keeps |ε·G| ≤ ε; the clip guards against rounding at the boundary.
    return tf.clipByValue(tf.mul(h, epsilon), -epsilon, epsilon).reshape(x.shape) as tf.Tensor4D;
  });
}

export function perturb(gen: ParamRecord, x: tf.Tensor4D, epsilon: number): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.add(x, perturbation(gen, x, epsilon)), 0, 1) as tf.Tensor4D);
}

/** Differentiable eval-mode logits (the models are frozen; gradients flow to the input only). */
function logits(m: Model, x: tf.Tensor4D): tf.Tensor2D {
  return forward(m, x, { training: false });
}

/** KL(p_teacher ‖ softmax(student)) averaged over the batch ('batchmean'). */
export function klBatchMean(teacherLogits: tf.Tensor2D, studentLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logP = tf.logSoftmax(teacherLogits);
    const p = tf.exp(logP);
    return tf.div(tf.sum(tf.mul(p, tf.sub(logP, tf.logSoftmax(studentLogits)))), teacherLogits.shape[0]) as tf.Scalar;
  });
}

/** The QRA objective for one batch (exported so tests can check it against a hand computation). */
export function qraLoss(gen: ParamRecord, x: tf.Tensor4D, y: tf.Tensor1D, models: { purified: Model; retuned: Model; clean: Model },
  c: Pick<QraConfig, 'epsilon' | 'alpha'>, teacherLogits?: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const xt = perturb(gen, x, c.epsilon);
    const teacher = teacherLogits ?? logits(models.retuned, x);
    const kl = klBatchMean(teacher, logits(models.purified, xt));
    return tf.add(tf.mul(kl, c.alpha), crossEntropy(logits(models.clean, xt), y)) as tf.Scalar;
  });
}

function teacherLogitsOf(model: Model, d: Dataset, batchSize = 500): tf.Tensor2D {
  const parts: tf.Tensor2D[] = [];
  for (let s = 0; s < d.n; s += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, d.n - s) }, (_, i) => s + i);
    parts.push(tf.tidy(() => logits(model, batchTensor(d, idx))));
  }
  const all = tf.concat(parts) as tf.Tensor2D;
  tf.dispose(parts);
  return all;
}

export interface QraTrainingSet {
  /** Clean images then triggered images, true labels throughout. */
  data: Dataset;
  cleanCount: number;
}

export interface QraResult {
  generator: ParamRecord;
  history: { epoch: number; loss: number }[];
  /** Forward queries made to the purified model (images), counting every NES probe. */
  queries: number;
  seconds: number;
}

/**
 * NES estimate of ∇ₓ Σᵢ fᵢ(x) from values only, for a per-sample loss f (one value per row of x):
 * g ≈ Σ_k [f(x + σu_k) − f(x − σu_k)] u_k / (2σK), u_k ~ N(0, I) (antithetic probes). Each probe costs one
 * query per sample, so the budget is 2K queries per sample.
 */
export function nesGradient(f: (z: tf.Tensor) => tf.Tensor1D, x: tf.Tensor, samples: number, sigma: number, rng: Rng): tf.Tensor {
  return tf.tidy(() => {
    const n = x.shape[0];
    let acc: tf.Tensor = tf.zerosLike(x);
    for (let k = 0; k < samples; k++) {
      const u = new Float32Array(x.size);
      for (let i = 0; i < u.length; i++) u[i] = rng.normal();
      const ut = tf.tensor(u, x.shape);
      const diff = tf.sub(f(tf.add(x, tf.mul(ut, sigma))), f(tf.sub(x, tf.mul(ut, sigma))));
      acc = tf.add(acc, tf.mul(ut, diff.reshape([n, ...x.shape.slice(1).map(() => 1)])));
    }
    return tf.div(acc, 2 * sigma * samples);
  });
}

/** d/dx̃ of α·KL(p_RA ‖ softmax f_pur(x̃)) (batchmean) from the purified model's output probabilities only. */
function nesInputGradient(purified: Model, xt: tf.Tensor4D, teacherProbs: tf.Tensor2D, c: QraConfig, rng: Rng): { grad: tf.Tensor4D; queries: number } {
  const n = xt.shape[0];
  // Per-sample KL up to the teacher's entropy, a constant that cancels in the NES differences.
  const perSample = (z: tf.Tensor) => tf.neg(tf.sum(tf.mul(teacherProbs, tf.logSoftmax(logits(purified, z as tf.Tensor4D))), 1)) as tf.Tensor1D;
  const g = nesGradient(perSample, xt, c.nesSamples, c.nesSigma, rng);
  const grad = tf.tidy(() => tf.mul(g, c.alpha / n) as tf.Tensor4D);
  g.dispose();
  return { grad, queries: 2 * c.nesSamples * n };
}

export async function trainQra(set: QraTrainingSet, models: { purified: Model; retuned: Model; clean: Model },
  config: Partial<QraConfig> = {}, opts: { progress?: ProgressMode } = {}): Promise<QraResult> {
  const c = { ...QRA_DEFAULTS, ...config };
  validateQraConfig(c);
  const start = Date.now();
  const size = set.data.height * set.data.width * set.data.channels;
  let gen = createGenerator(size, c);
  const opt = new Sgd({ lr: c.lr, momentum: c.momentum, weightDecay: 0 });
  const rng = Rng.derive(c.seed, 'qra-train');
  const progress = createProgress(c.queryOnly ? 'QRA (query-only)' : 'QRA', opts.progress ?? 'silent');
  const history: { epoch: number; loss: number }[] = [];
  let queries = 0;
  const names = Object.keys(gen);
  // The retuned model sees the unperturbed x, so its logits are fixed: compute them once, not every epoch.
  const teacherAll = c.queryOnly ? undefined : teacherLogitsOf(models.retuned, set.data);
  try {
    for (let epoch = 1; epoch <= c.epochs; epoch++) {
      const order = rng.permutation(set.data.n);
      let lossSum = 0;
      for (let s = 0; s < set.data.n; s += c.batchSize) {
        const idx = order.subarray(s, Math.min(set.data.n, s + c.batchSize));
        const x = batchTensor(set.data, idx);
        const y = labelsTensor(set.data, idx);
        let loss: number;
        let grads: tf.Tensor[];
        if (!c.queryOnly) {
          const teacher = tf.tidy(() => tf.gather(teacherAll!, tf.tensor1d(idx, 'int32'))) as tf.Tensor2D;
          const r = tf.valueAndGrads((...ps: tf.Tensor[]) => {
            const g: ParamRecord = {};
            names.forEach((k, i) => { g[k] = ps[i]; });
            return qraLoss(g, x, y, models, c, teacher);
          })(names.map((k) => gen[k]));
          teacher.dispose();
          loss = r.value.dataSync()[0];
          r.value.dispose();
          grads = r.grads;
          queries += idx.length;
        } else {
          // Chain rule by hand: ∂L/∂φ = (∂x̃/∂φ)ᵀ (g_KL + ∂CE_clean/∂x̃), with g_KL estimated from queries.
          const teacher = tf.tidy(() => tf.softmax(logits(models.retuned, x)));
          const xt = perturb(gen, x, c.epsilon);
          const est = nesInputGradient(models.purified, xt, teacher, c, rng);
          const { value, grads: gs } = tf.tidy(() => {
            const gClean = tf.grad((z: tf.Tensor) => crossEntropy(logits(models.clean, z as tf.Tensor4D), y))(xt);
            const upstream = tf.add(est.grad, gClean);
            return tf.valueAndGrads((...ps: tf.Tensor[]) => {
              const g: ParamRecord = {};
              names.forEach((k, i) => { g[k] = ps[i]; });
              return tf.sum(tf.mul(perturb(g, x, c.epsilon), upstream)) as tf.Scalar;
            })(names.map((k) => gen[k]));
          });
          const lossT = tf.tidy(() => tf.add(tf.mul(klBatchMean(logits(models.retuned, x), logits(models.purified, xt)), c.alpha),
            crossEntropy(logits(models.clean, xt), y)));
          loss = lossT.dataSync()[0];
          queries += est.queries + idx.length;
          tf.dispose([teacher, xt, est.grad, value, lossT]);
          grads = gs;
        }
        if (!Number.isFinite(loss)) {
          tf.dispose([x, y, ...grads]);
          throw new Error(`QRA diverged: loss ${loss} at epoch ${epoch}; lower lr`);
        }
        const gradRecord: ParamRecord = {};
        names.forEach((k, i) => { gradRecord[k] = grads[i]; });
        gen = opt.step(gen, gradRecord);
        tf.dispose([x, y]);
        lossSum += loss * idx.length;
      }
      history.push({ epoch, loss: lossSum / set.data.n });
      progress.step(epoch, c.epochs, `loss ${(lossSum / set.data.n).toFixed(4)}`);
      // Line mode (notebooks, logs): every fifth epoch, so a 50-epoch run prints ten lines.
      if (epoch % 5 === 0 || epoch === c.epochs) {
        progress.epoch(`epoch ${epoch}/${c.epochs} loss ${(lossSum / set.data.n).toFixed(4)} ${((Date.now() - start) / 1000).toFixed(0)}s`);
      }
    }
  } finally {
    progress.done();
    opt.dispose();
    teacherAll?.dispose();
  }
  return { generator: gen, history, queries, seconds: (Date.now() - start) / 1000 };
}

export interface QraEvaluation {
  /** ASR of each model on triggered non-target test images with δ added. */
  asrPerturbed: Record<string, number>;
  /** ASR of each model on the same triggered images without δ. */
  asrTriggerOnly: Record<string, number>;
  /** Clean accuracy of each model on clean test images with δ added. */
  cleanAccuracyPerturbed: Record<string, number>;
}

/**
 * Predictions of every model on d and on d + δ. δ is computed once per batch and shared by all models: the
 * generator's forward pass costs more than the small victim's.
 */
function predictAll(models: Record<string, Model>, gen: ParamRecord, d: Dataset, epsilon: number, withPlain: boolean,
  batchSize = 500): { perturbed: Record<string, Int32Array>; plain: Record<string, Int32Array> } {
  const names = Object.keys(models);
  const perturbed = Object.fromEntries(names.map((m) => [m, new Int32Array(d.n)]));
  const plain = Object.fromEntries(names.map((m) => [m, new Int32Array(withPlain ? d.n : 0)]));
  for (let s = 0; s < d.n; s += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, d.n - s) }, (_, i) => s + i);
    const x = batchTensor(d, idx);
    const xt = perturb(gen, x, epsilon);
    for (const m of names) {
      for (const [input, out] of withPlain ? [[xt, perturbed], [x, plain]] as const : [[xt, perturbed]] as const) {
        const p = tf.tidy(() => tf.argMax(forward(models[m], input, { training: false }), 1));
        out[m].set(p.dataSync() as Int32Array, s);
        p.dispose();
      }
    }
    tf.dispose([x, xt]);
  }
  return { perturbed, plain };
}

export function evaluateQra(gen: ParamRecord, models: Record<string, Model>, test: Dataset, backdoorTest: Dataset,
  target: number, epsilon: number): QraEvaluation {
  const ev: QraEvaluation = { asrPerturbed: {}, asrTriggerOnly: {}, cleanAccuracyPerturbed: {} };
  const bd = predictAll(models, gen, backdoorTest, epsilon, true);
  const clean = predictAll(models, gen, test, epsilon, false);
  for (const name of Object.keys(models)) {
    ev.asrPerturbed[name] = attackSuccessRate(bd.perturbed[name], backdoorTest.labels, target);
    ev.asrTriggerOnly[name] = attackSuccessRate(bd.plain[name], backdoorTest.labels, target);
    ev.cleanAccuracyPerturbed[name] = accuracy(clean.perturbed[name], test.labels);
  }
  return ev;
}

/**
 * ASR with δ for several generators × several models: each generator perturbs a batch once and every model
 * classifies the same perturbed batch (evaluateQra would recompute δ per model). Row: generator, column: model.
 */
export function transferMatrix(generators: Record<string, ParamRecord>, models: Record<string, Model>, backdoorTest: Dataset,
  target: number, epsilon: number): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [g, gen] of Object.entries(generators)) {
    const { perturbed } = predictAll(models, gen, backdoorTest, epsilon, false);
    out[g] = Object.fromEntries(Object.keys(models).map((m) => [m, attackSuccessRate(perturbed[m], backdoorTest.labels, target)]));
  }
  return out;
}

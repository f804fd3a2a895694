/**
 * SSBA's encoder–decoder (ssba.ts says how it departs from StegaStamp): the encoder adds a bounded residual that
 * hides a bit string in an image, the decoder reads the bits back; both are trained jointly on random secrets.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { toTensor } from '../data/batches';
import { heNormal, ParamRecord } from '../models/layers';
import { Rng } from '../rng';
import { Adam } from '../train/adam';
import { createProgress, ProgressMode } from '../train/progress';

export interface SsbaCodecSpec {
  height: number;
  width: number;
  channels: number;
  bits: number;
  /** L∞ bound of the residual on [0, 1] pixels. */
  amplitude: number;
}

export interface SsbaCodec {
  spec: SsbaCodecSpec;
  params: ParamRecord;
}

const HIDDEN = 16;

export function createSsbaCodec(spec: SsbaCodecSpec, seed: number): SsbaCodec {
  const rng = Rng.derive(seed, 'ssba-init');
  const { height: h, width: w, channels: c, bits } = spec;
  const p: ParamRecord = {};
  p['enc/secret/w'] = heNormal(rng, [bits, h * w], bits);
  p['enc/secret/b'] = tf.zeros([h * w]);
  p['enc/c1/w'] = heNormal(rng, [3, 3, c + 1, HIDDEN], 9 * (c + 1));
  p['enc/c1/b'] = tf.zeros([HIDDEN]);
  p['enc/c2/w'] = heNormal(rng, [3, 3, HIDDEN, HIDDEN], 9 * HIDDEN);
  p['enc/c2/b'] = tf.zeros([HIDDEN]);
  p['enc/c3/w'] = heNormal(rng, [3, 3, HIDDEN, c], 9 * HIDDEN);
  p['enc/c3/b'] = tf.zeros([c]);
  p['dec/c1/w'] = heNormal(rng, [3, 3, c, HIDDEN], 9 * c);
  p['dec/c1/b'] = tf.zeros([HIDDEN]);
  p['dec/c2/w'] = heNormal(rng, [3, 3, HIDDEN, 2 * HIDDEN], 9 * HIDDEN);
  p['dec/c2/b'] = tf.zeros([2 * HIDDEN]);
  const flat = Math.ceil(h / 4) * Math.ceil(w / 4) * 2 * HIDDEN;
  p['dec/fc/w'] = heNormal(rng, [flat, bits], flat);
  p['dec/fc/b'] = tf.zeros([bits]);
  return { spec, params: p };
}

const conv = (p: ParamRecord, name: string, x: tf.Tensor4D, stride = 1): tf.Tensor4D =>
  tf.add(tf.conv2d(x, p[`${name}/w`] as tf.Tensor4D, stride, 'same'), p[`${name}/b`]);

/** The bounded residual r(x, secret) for images in [0, 1] and secrets in {0, 1}^bits. */
export function ssbaResidual(codec: SsbaCodec, x: tf.Tensor4D, secret: tf.Tensor2D, params = codec.params): tf.Tensor4D {
  const { height: h, width: w, amplitude } = codec.spec;
  const n = x.shape[0];
  const map = tf.reshape(tf.relu(tf.add(tf.matMul(tf.sub(tf.mul(secret, 2), 1), params['enc/secret/w'] as tf.Tensor2D), params['enc/secret/b'])), [n, h, w, 1]);
  let z = tf.relu(conv(params, 'enc/c1', tf.concat([x, map as tf.Tensor4D], 3)));
  z = tf.relu(conv(params, 'enc/c2', z));
  return tf.mul(tf.tanh(conv(params, 'enc/c3', z)), amplitude);
}

/** Bit logits read back from (encoded) images. */
export function ssbaDecode(codec: SsbaCodec, x: tf.Tensor4D, params = codec.params): tf.Tensor2D {
  let z = tf.relu(conv(params, 'dec/c1', x, 2));
  z = tf.relu(conv(params, 'dec/c2', z, 2));
  return tf.add(tf.matMul(tf.reshape(z, [x.shape[0], -1]), params['dec/fc/w'] as tf.Tensor2D), params['dec/fc/b']);
}

/** The attacker's fixed secret. */
export function ssbaSecret(bits: number, seed: number): Float32Array {
  const rng = Rng.derive(seed, 'ssba-secret');
  return Float32Array.from({ length: bits }, () => (rng.next() < 0.5 ? 0 : 1));
}

export interface SsbaTrainOptions {
  bits: number;
  amplitude: number;
  steps: number;
  batchSize: number;
  lr: number;
  residualWeight: number;
  seed: number;
  progress?: ProgressMode;
}

export interface SsbaTrainReport {
  /** Bit accuracy on the last 50 training batches (random secrets). */
  bitAccuracy: number;
  /** Mean |residual| on [0, 1] over the same batches. */
  meanAbsResidual: number;
  seconds: number;
}

/** Train encoder and decoder jointly on random secrets; returns the codec and a short report. */
export function trainSsbaCodec(data: Dataset, o: SsbaTrainOptions): { codec: SsbaCodec; report: SsbaTrainReport } {
  const start = Date.now();
  const codec = createSsbaCodec({ height: data.height, width: data.width, channels: data.channels, bits: o.bits, amplitude: o.amplitude }, o.seed);
  const rng = Rng.derive(o.seed, 'ssba-train');
  const opt = new Adam({ lr: o.lr });
  const names = Object.keys(codec.params);
  const progress = createProgress('SSBA encoder', o.progress);
  const tail = Math.min(50, o.steps);
  let correct = 0;
  let absSum = 0;
  try {
    for (let step = 0; step < o.steps; step++) {
      const idx = Int32Array.from({ length: o.batchSize }, () => Math.floor(rng.next() * data.n));
      const x = toTensor(data, idx);
      const secrets = tf.tensor2d(Float32Array.from({ length: o.batchSize * o.bits }, () => (rng.next() < 0.5 ? 0 : 1)), [o.batchSize, o.bits]);
      const noise = tf.tensor4d(Float32Array.from({ length: x.size }, () => (rng.next() - 0.5) / 255), x.shape);
      const measure = step >= o.steps - tail;
      let stats: tf.Tensor[] = [];
      const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => {
        const p: ParamRecord = {};
        names.forEach((n, i) => { p[n] = ps[i]; });
        const r = ssbaResidual(codec, x, secrets, p);
        const encoded = tf.clipByValue(tf.add(tf.add(x, r), noise), 0, 1) as tf.Tensor4D;
        const logits = ssbaDecode(codec, encoded, p);
        if (measure) {
          stats = [tf.keep(tf.sum(tf.cast(tf.equal(tf.greater(logits, 0), tf.cast(secrets, 'bool')), 'float32'))), tf.keep(tf.sum(tf.abs(r)))];
        }
        return tf.add(tf.losses.sigmoidCrossEntropy(secrets, logits), tf.mul(tf.mean(tf.square(r)), o.residualWeight)) as tf.Scalar;
      })(names.map((n) => codec.params[n]));
      const loss = value.dataSync()[0];
      if (!Number.isFinite(loss)) throw new Error(`SSBA encoder training diverged at step ${step + 1} (loss ${loss})`);
      if (measure) {
        correct += stats[0].dataSync()[0];
        absSum += stats[1].dataSync()[0];
      }
      const g: ParamRecord = {};
      names.forEach((n, i) => { g[n] = grads[i]; });
      codec.params = opt.step(codec.params, g);
      tf.dispose([value, x, secrets, noise, ...stats]);
      if ((step + 1) % 20 === 0 || step + 1 === o.steps) progress.step(step + 1, o.steps, `loss ${loss.toFixed(4)}`);
    }
  } finally {
    progress.done();
    opt.dispose();
  }
  const report = {
    bitAccuracy: correct / (tail * o.batchSize * o.bits),
    meanAbsResidual: absSum / (tail * o.batchSize * data.height * data.width * data.channels),
    seconds: (Date.now() - start) / 1000,
  };
  return { codec, report };
}

/** Fraction of the fixed secret's bits the decoder reads from uint8 images. */
export function ssbaBitAccuracy(codec: SsbaCodec, d: Dataset, secretSeed: number): number {
  const secret = ssbaSecret(codec.spec.bits, secretSeed);
  const idx = Int32Array.from({ length: d.n }, (_, i) => i);
  const x = toTensor(d, idx);
  const logits = ssbaDecode(codec, x);
  const bits = logits.dataSync();
  tf.dispose([x, logits]);
  let ok = 0;
  for (let i = 0; i < bits.length; i++) if ((bits[i] > 0 ? 1 : 0) === secret[i % secret.length]) ok++;
  return ok / bits.length;
}

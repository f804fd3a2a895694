/**
 * SSBA (Li et al., ICCV 2021): a sample-specific, invisible trigger. An encoder hides a fixed bit string
 * in each image as a small, image-dependent residual; the poisoned images are the encoded ones, relabelled
 * to the target (dirty label, indices as for BadNets), and the test trigger is the same encoder applied to
 * test images. BackdoorBench swaps in pre-generated StegaStamp outputs (spec §3.4); here the encoder–decoder
 * is trained by this project (seeded, a cached stage: ssbaAttack.assets below).
 *
 * How it differs from StegaStamp (Tancik et al. 2020), whose encoder SSBA uses:
 * - size: a 3-layer conv encoder (16 channels) and a 2-layer strided conv decoder on 28×28×1, instead of a
 *   U-Net encoder and a spatial-transformer + conv decoder on 400×400×3; 16 bits instead of 100;
 * - the residual is bounded explicitly, r = amplitude·tanh(·) (default amplitude 0.1 on [0, 1]), and its
 *   mean square is penalised, instead of StegaStamp's L2 + LPIPS + adversarial-critic image losses;
 * - no perspective warps, blur, colour or JPEG noise between encoder and decoder (the images are never
 *   printed or photographed here), only a ±0.5/255 uniform noise that stands for the uint8 rounding;
 * - trained on the victim's own training images (random secrets per sample, Adam) for a few hundred
 *   steps (600 by default: ~35 s on full Fashion-MNIST, wasm, on a busy 2-core machine; bit accuracy 99.9%
 *   after 300 steps, mean |residual| ~10/255), instead of on MIRFLICKR for 140k steps.
 * What SSBA relies on is kept: the trigger is a function of the image (no fixed pattern), small, and carries
 * the same secret in every poisoned image.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { int, positive, seed } from '../configFields';
import { saveJson } from '../io/json';
import { loadModel, saveModel } from '../models/io';
import { AttackSpec } from './spec';
import { createSsbaCodec, SsbaCodec, ssbaResidual, ssbaSecret, trainSsbaCodec } from './ssbaCodec';
import { Trigger } from './trigger';

/** The SSBA trigger: every image gets the encoder's residual for the fixed secret. */
export function ssbaTrigger(codec: SsbaCodec, secretSeed: number): Trigger {
  const { bits, height: h, width: w, channels: c } = codec.spec;
  const secret = ssbaSecret(bits, secretSeed);
  const stampBatch = (images: Uint8Array, n: number, height: number, width: number, channels: number) => {
    if (height !== h || width !== w || channels !== c) throw new Error(`ssba: the encoder was trained on ${h}x${w}x${c} images, not ${height}x${width}x${channels}`);
    const out = tf.tidy(() => {
      const x = tf.div(tf.tensor4d(Float32Array.from(images), [n, h, w, c]), 255) as tf.Tensor4D;
      const s = tf.tile(tf.tensor2d(secret, [1, bits]), [n, 1]) as tf.Tensor2D;
      return tf.clipByValue(tf.round(tf.mul(tf.add(x, ssbaResidual(codec, x, s)), 255)), 0, 255);
    });
    const values = out.dataSync();
    out.dispose();
    for (let i = 0; i < values.length; i++) images[i] = values[i];
  };
  return {
    name: `ssba-b${bits}-a${codec.spec.amplitude}-secret${secretSeed}`,
    stamp: (image, height, width, channels) => stampBatch(image, 1, height, width, channels),
    stampBatch,
  };
}

/** The encoder–decoder that hides a fixed bit string (a cached stage of its own), and the secret it hides. */
const settings = z
  .object({
    bits: int(1, 64).default(16),
    /** L∞ bound of the encoder's residual on [0, 1] pixels. */
    amplitude: z.number().gt(0, 'must be in (0, 1]').max(1, 'must be in (0, 1]').default(0.1),
    /** Seed of the fixed secret that every poisoned image carries. */
    secretSeed: seed().default(0),
    /** Encoder–decoder training steps and batch size. */
    steps: int(1).default(600),
    batchSize: int(2).default(32),
    lr: positive().default(2e-3),
    /** Weight of the residual's mean square in the encoder's loss. */
    residualWeight: z.number().min(0, 'must be >= 0').default(4),
  })
  .strict();

export const ssbaAttack: AttackSpec<z.output<typeof settings>, SsbaCodec> = {
  name: 'ssba',
  label: 'SSBA',
  settings,
  cleanLabel: false,
  storesPixels: true,
  modelCost: 300,
  trigger: (c, _attack, codec) => ssbaTrigger(codec, c.secretSeed),
  async assets(c, ctx) {
    const { train } = ctx;
    // The secret is chosen at encoding time: one trained codec serves every secret, so it is not in the key.
    const { secretSeed: _secret, ...training } = c;
    void _secret;
    const codecSpec = { height: train.height, width: train.width, channels: train.channels, bits: c.bits, amplitude: c.amplitude };
    return ctx.store.getOrCompute('ssba-encoder', { codec: training, seed: ctx.seed }, [ctx.dataKey], {
      log: ctx.log,
      compute: async (dir) => {
        const out = trainSsbaCodec(train, { ...training, seed: ctx.seed, progress: ctx.progress });
        await saveModel(dir, out.codec.params, { ssba: codecSpec });
        await saveJson(dir, 'report.json', out.report);
        ctx.log(`SSBA encoder: bit accuracy ${(out.report.bitAccuracy * 100).toFixed(1)}%, mean |residual| ${(out.report.meanAbsResidual * 255).toFixed(1)}/255, ${out.report.seconds.toFixed(0)}s`);
        return out.codec;
      },
      load: async (dir) => {
        const template = createSsbaCodec(codecSpec, 0);
        const { tensors } = await loadModel(dir);
        for (const [name, t] of Object.entries(template.params)) {
          const got = tensors[name];
          if (!got || got.shape.join() !== t.shape.join()) throw new Error(`${dir}: SSBA codec tensor ${name} missing or misshapen`);
          t.dispose();
        }
        return { spec: codecSpec, params: tensors };
      },
    });
  },
};

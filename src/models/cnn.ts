/**
 * The fast default: one conv–BN–ReLU block per stage, 2x2 average pooling between stages, the last
 * feature map flattened, and a linear head. Sized so a 2-core laptop trains it on Fashion-MNIST in minutes.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { avgPool2, BatchStats, batchNormRelu, conv, ForwardOptions, initBatchNorm, initConv, ParamRecord } from './layers';
import { ArchitectureImpl, Model } from './spec';

export const cnn: ArchitectureImpl = {
  init(spec, seed) {
    const rng = Rng.derive(seed, 'cnn-init');
    const params: ParamRecord = {};
    const state: ParamRecord = {};
    let cin = spec.inputShape[2];
    spec.widths.forEach((w, i) => {
      initConv(params, rng, `stage${i}/conv`, 3, cin, w);
      initBatchNorm(params, state, `stage${i}/bn`, w);
      cin = w;
    });
    return { params, state };
  },

  features(model, x, opts, stats) {
    return cnnFeaturesFrom(model, x, 0, opts, stats);
  },

  featureDim(spec) {
    let [h, w] = spec.inputShape;
    for (let i = 0; i < spec.widths.length - 1; i++) {
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
    }
    return h * w * spec.widths[spec.widths.length - 1];
  },
};

/**
 * The stages from `first` on, given the input of that stage (for first > 0: the pooled output of the
 * stage before). Inference runs the leading stages in fused kernels and any that are left here.
 */
export function cnnFeaturesFrom(model: Model, x: tf.Tensor4D, first: number, opts: ForwardOptions,
  stats?: BatchStats): tf.Tensor2D {
  const { params, state, spec } = model;
  let h: tf.Tensor4D = x;
  for (let i = first; i < spec.widths.length; i++) {
    h = batchNormRelu(params, state, `stage${i}/bn`, conv(params, `stage${i}/conv`, h), opts, stats);
    if (i < spec.widths.length - 1) h = avgPool2(h, opts);
  }
  // Flattening keeps where things are; a global average would blur the location of small triggers.
  return h.reshape([h.shape[0], -1]) as tf.Tensor2D;
}

/**
 * ResNet-18 as in the paper's code (BackdoorBench's CIFAR ResNet-18): 3x3 stem conv at stride 1 with BN–ReLU
 * and no max-pool; four stages of two BasicBlocks (conv–BN–ReLU–conv–BN plus the shortcut, then ReLU), the
 * first stage at stride 1 and the later ones downsampling by 2 with a 1x1 conv–BN shortcut; global average
 * pooling; linear head. widths [64, 128, 256, 512] is width 1; depth [2, 2, 2, 2] is ResNet-18.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { batchNorm, batchNormRelu, conv, initBatchNorm, initConv, ParamRecord } from './layers';
import { ArchitectureImpl, ModelSpec } from './spec';

export const RESNET18_WIDTHS = [64, 128, 256, 512];
export const RESNET18_DEPTH = [2, 2, 2, 2];

function blocks(spec: ModelSpec): { name: string; cin: number; cout: number; stride: number }[] {
  const depth = spec.depth ?? spec.widths.map(() => 2);
  if (depth.length !== spec.widths.length) {
    throw new Error(`resnet18: depth has ${depth.length} stages but widths has ${spec.widths.length}`);
  }
  const out = [];
  let cin = spec.widths[0];
  for (let s = 0; s < spec.widths.length; s++) {
    for (let b = 0; b < depth[s]; b++) {
      out.push({ name: `stage${s}/block${b}`, cin, cout: spec.widths[s], stride: s > 0 && b === 0 ? 2 : 1 });
      cin = spec.widths[s];
    }
  }
  return out;
}

export const resnet18: ArchitectureImpl = {
  init(spec, seed) {
    const rng = Rng.derive(seed, 'resnet18-init');
    const params: ParamRecord = {};
    const state: ParamRecord = {};
    initConv(params, rng, 'stem/conv', 3, spec.inputShape[2], spec.widths[0]);
    initBatchNorm(params, state, 'stem/bn', spec.widths[0]);
    for (const b of blocks(spec)) {
      initConv(params, rng, `${b.name}/conv1`, 3, b.cin, b.cout);
      initBatchNorm(params, state, `${b.name}/bn1`, b.cout);
      initConv(params, rng, `${b.name}/conv2`, 3, b.cout, b.cout);
      initBatchNorm(params, state, `${b.name}/bn2`, b.cout);
      if (b.stride !== 1 || b.cin !== b.cout) {
        initConv(params, rng, `${b.name}/shortcut`, 1, b.cin, b.cout);
        initBatchNorm(params, state, `${b.name}/shortcut/bn`, b.cout);
      }
    }
    return { params, state };
  },

  features(model, x, opts, stats) {
    const { params, state, spec } = model;
    let h = batchNormRelu(params, state, 'stem/bn', conv(params, 'stem/conv', x), opts, stats);
    for (const b of blocks(spec)) {
      const mid = batchNormRelu(params, state, `${b.name}/bn1`, conv(params, `${b.name}/conv1`, h, b.stride), opts, stats);
      const main = batchNorm(params, state, `${b.name}/bn2`, conv(params, `${b.name}/conv2`, mid), opts, stats);
      const shortcut = params[`${b.name}/shortcut/w`]
        ? batchNorm(params, state, `${b.name}/shortcut/bn`, conv(params, `${b.name}/shortcut`, h, b.stride), opts, stats)
        : h;
      h = tf.relu(tf.add(main, shortcut)) as tf.Tensor4D;
    }
    return tf.mean(h, [1, 2]) as tf.Tensor2D;
  },

  featureDim(spec) {
    return spec.widths[spec.widths.length - 1];
  },
};

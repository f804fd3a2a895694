/**
 * PreAct-ResNet (He et al. 2016, identity mappings) as in the paper's code: 3x3 stem with stride 1,
 * stages of pre-activation basic blocks (the first stage at stride 1, later ones downsample by 2),
 * final BN–ReLU, global average pooling, linear head. widths [64,128,256,512] with depth [2,2,2,2]
 * is PreAct-ResNet-18 for 32x32 inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { batchNormRelu, conv, initBatchNorm, initConv, ParamRecord } from './layers';
import { ArchitectureImpl, ModelSpec } from './spec';

function blocks(spec: ModelSpec): { name: string; cin: number; cout: number; stride: number }[] {
  const depth = spec.depth ?? spec.widths.map(() => 2);
  if (depth.length !== spec.widths.length) {
    throw new Error(`preact-resnet: depth has ${depth.length} stages but widths has ${spec.widths.length}`);
  }
  const out = [];
  let cin = spec.widths[0];
  for (let s = 0; s < spec.widths.length; s++) {
    for (let b = 0; b < depth[s]; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      out.push({ name: `stage${s}/block${b}`, cin, cout: spec.widths[s], stride });
      cin = spec.widths[s];
    }
  }
  return out;
}

export const preactResnet: ArchitectureImpl = {
  init(spec, seed) {
    const rng = Rng.derive(seed, 'preact-resnet-init');
    const params: ParamRecord = {};
    const state: ParamRecord = {};
    initConv(params, rng, 'stem/conv', 3, spec.inputShape[2], spec.widths[0]);
    for (const b of blocks(spec)) {
      initBatchNorm(params, state, `${b.name}/bn1`, b.cin);
      initConv(params, rng, `${b.name}/conv1`, 3, b.cin, b.cout);
      initBatchNorm(params, state, `${b.name}/bn2`, b.cout);
      initConv(params, rng, `${b.name}/conv2`, 3, b.cout, b.cout);
      if (b.stride !== 1 || b.cin !== b.cout) initConv(params, rng, `${b.name}/shortcut`, 1, b.cin, b.cout);
    }
    initBatchNorm(params, state, 'final/bn', spec.widths[spec.widths.length - 1]);
    return { params, state };
  },

  features(model, x, opts, stats) {
    const { params, state, spec } = model;
    let h = conv(params, 'stem/conv', x);
    for (const b of blocks(spec)) {
      const pre = batchNormRelu(params, state, `${b.name}/bn1`, h, opts, stats);
      const shortcut = params[`${b.name}/shortcut/w`] ? conv(params, `${b.name}/shortcut`, pre, b.stride) : h;
      const mid = batchNormRelu(params, state, `${b.name}/bn2`, conv(params, `${b.name}/conv1`, pre, b.stride), opts, stats);
      h = tf.add(conv(params, `${b.name}/conv2`, mid), shortcut) as tf.Tensor4D;
    }
    h = batchNormRelu(params, state, 'final/bn', h, opts, stats);
    return tf.mean(h, [1, 2]) as tf.Tensor2D;
  },

  featureDim(spec) {
    return spec.widths[spec.widths.length - 1];
  },
};

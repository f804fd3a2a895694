import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend';
import { BlockShape, ConvBnReluPoolChain, outputSize } from '../../src/engine/convBnReluPool';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

interface Block { shape: BlockShape; w: tf.Tensor4D; scale: tf.Tensor1D; shift: tf.Tensor1D }

function randomChain(input: [number, number, number], widths: number[], seed: number): Block[] {
  let [height, width, channelsIn] = input;
  return widths.map((channelsOut, i) => {
    const shape = { height, width, channelsIn, channelsOut, pool: i < widths.length - 1 };
    [height, width] = outputSize(shape);
    channelsIn = channelsOut;
    return {
      shape,
      w: tf.randomNormal([3, 3, shape.channelsIn, channelsOut], 0, 0.4, 'float32', seed + i) as tf.Tensor4D,
      scale: tf.randomUniform([channelsOut], 0.5, 2, 'float32', seed + 10 + i) as tf.Tensor1D,
      shift: tf.randomNormal([channelsOut], 0, 1, 'float32', seed + 20 + i) as tf.Tensor1D,
    };
  });
}

/** The same blocks in TF.js ops: conv 'same' → x·scale + shift → ReLU → avgPool 2×2 (when pooling). */
function reference(x: tf.Tensor4D, blocks: Block[]): Float32Array {
  return tf.tidy(() => {
    let h: tf.Tensor4D = x;
    for (const b of blocks) {
      h = tf.relu(tf.add(tf.mul(tf.conv2d(h, b.w, 1, 'same'), b.scale), b.shift)) as tf.Tensor4D;
      if (b.shape.pool) h = tf.avgPool(h, 2, 2, 'valid');
    }
    return h.dataSync() as Float32Array;
  });
}

function relativeError(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

const params = (blocks: Block[]) => blocks.map((b) => ({
  weights: b.w.dataSync() as Float32Array, scale: b.scale.dataSync() as Float32Array, shift: b.shift.dataSync() as Float32Array,
}));

test.each([
  ['the default cnn: 28×28×1 → 16 → 32 → 64', [28, 28, 1], [16, 32, 64], 5],
  ['three input channels, widths not a multiple of 8', [8, 12, 3], [12, 4, 20], 3],
  ['one pooled block alone', [6, 10, 2], [8, 4], 2],
  ['one unpooled block with odd sides', [5, 7, 3], [8], 4],
] as const)('matches TF.js conv → BN → ReLU → pool: %s', (_, input, widths, n) => {
  const blocks = randomChain([...input], [...widths], 7);
  const x = tf.randomUniform([n, ...input], 0, 1, 'float32', 3) as tf.Tensor4D;
  const chain = new ConvBnReluPoolChain(blocks.map((b) => b.shape));
  chain.setInput(x.dataSync() as Float32Array, n);
  const got = chain.compute(params(blocks));
  expect(relativeError(got, reference(x, blocks))).toBeLessThan(1e-5);
  expect(got.some((v) => v > 0)).toBe(true);
});

test('channel groups per pass are a register budget only: every choice gives the same numbers', () => {
  const blocks = randomChain([7, 7, 8], [16], 11);
  const x = tf.randomUniform([3, 7, 7, 8], 0, 1, 'float32', 5);
  const outs = [1, 2, 4].map((g) => {
    const chain = new ConvBnReluPoolChain(blocks.map((b) => b.shape), [g]);
    chain.setInput(x.dataSync() as Float32Array, 3);
    return Array.from(chain.compute(params(blocks)));
  });
  expect(outs[1]).toEqual(outs[0]);
  expect(outs[2]).toEqual(outs[0]);
  expect(() => new ConvBnReluPoolChain(blocks.map((b) => b.shape), [3])).toThrow(/groups of 12/);
});

test('a smaller batch after a larger one sees zero padding, not the previous images', () => {
  const blocks = randomChain([8, 8, 1], [4, 8], 13);
  const chain = new ConvBnReluPoolChain(blocks.map((b) => b.shape));
  const big = tf.fill([6, 8, 8, 1], 5) as tf.Tensor4D;
  chain.setInput(big.dataSync() as Float32Array, 6);
  chain.compute(params(blocks));
  const small = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
  chain.setInput(small.dataSync() as Float32Array, 2);
  const got = chain.compute(params(blocks));
  expect(got.length).toBe(2 * 4 * 4 * 8);
  expect(relativeError(got, reference(small, blocks))).toBeLessThan(1e-5);
});

test('bad shapes, parameters and call order are refused with the reason', () => {
  const ok = { height: 4, width: 4, channelsIn: 1, channelsOut: 4, pool: true };
  expect(() => new ConvBnReluPoolChain([{ ...ok, height: 5 }])).toThrow(/unsupported/);
  expect(() => new ConvBnReluPoolChain([{ ...ok, channelsOut: 6 }])).toThrow(/unsupported/);
  expect(() => new ConvBnReluPoolChain([ok, { ...ok, channelsIn: 4 }])).toThrow(/does not take block 0/);
  const chain = new ConvBnReluPoolChain([ok]);
  const p = { weights: new Float32Array(36), scale: new Float32Array(4), shift: new Float32Array(4) };
  expect(() => chain.compute([p])).toThrow(/no input/);
  expect(() => chain.setInput(new Float32Array(10), 1)).toThrow(/10 values for 1 images/);
  chain.setInput(new Float32Array(16), 1);
  expect(() => chain.compute([{ ...p, weights: new Float32Array(35) }])).toThrow(/expects 36 weights/);
  expect(() => chain.compute([p, p])).toThrow(/2 parameter sets for 1 blocks/);
});

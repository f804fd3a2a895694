/**
 * Forward passes for evaluation: eval-mode batch norm, no gradient, logits only. Every C-Acc/ASR number
 * (metrics.predict) and every LMC point goes through here, so an LMC endpoint reproduces the endpoint
 * model's metrics bit for bit.
 *
 * On the wasm engine the cnn's conv–BN–ReLU(–pool) stages run in fused SIMD kernels
 * (engine/convBnReluPool) and only the linear head in TF.js; elsewhere this is `forward`. The two agree
 * to float rounding (tested), not bit for bit: a logit can differ from the plain forward pass in its
 * last digits, and a prediction only where two logits tie to ~1e-6.
 */
import * as tf from '@tensorflow/tfjs';
import { BlockParams, BlockShape, blockSupported, ConvBnReluPoolChain, outputSize } from '../engine/convBnReluPool';
import { nativeActive } from '../engine/native';
import { cnnFeaturesFrom } from './cnn';
import { BN_EPSILON } from './layers';
import { forward, head } from './model';
import { Model, ModelSpec } from './spec';

const chains = new Map<string, ConvBnReluPoolChain>();
/** The batch each chain currently holds: a chain has one input buffer, shared by every model of its shape. */
const loadedInput = new WeakMap<ConvBnReluPoolChain, InferenceInput>();

/**
 * The cnn's leading conv–BN–ReLU(–pool) stages that the fused kernels can run: all of them for the
 * default model; the rest, if any, run in TF.js.
 */
function fusedBlocks(spec: ModelSpec): BlockShape[] {
  // On the native engine oneDNN's convolutions outrun the wasm SIMD kernels (measured by bench), so the
  // plain forward pass is the fast one there.
  if (spec.arch !== 'cnn' || tf.getBackend() !== 'wasm' || nativeActive() || !ConvBnReluPoolChain.available()) return [];
  let [height, width, channelsIn] = spec.inputShape;
  const blocks: BlockShape[] = [];
  for (const [i, channelsOut] of spec.widths.entries()) {
    const block = { height, width, channelsIn, channelsOut, pool: i < spec.widths.length - 1 };
    if (!blockSupported(block)) break;
    blocks.push(block);
    [height, width] = outputSize(block);
    channelsIn = channelsOut;
  }
  return blocks;
}

function chainFor(blocks: BlockShape[]): ConvBnReluPoolChain {
  const key = JSON.stringify(blocks);
  let chain = chains.get(key);
  if (!chain) {
    chain = new ConvBnReluPoolChain(blocks);
    chains.set(key, chain);
  }
  return chain;
}

/**
 * One batch of images (NHWC floats as the model sees them), loaded once and shared by any number of
 * models with the same input shape: LMC runs every point of a path on each batch.
 */
export class InferenceInput {
  private tensor?: tf.Tensor4D;

  constructor(readonly images: Float32Array, readonly n: number, readonly inputShape: [number, number, number]) {
    const size = inputShape[0] * inputShape[1] * inputShape[2];
    if (!Number.isInteger(n) || n < 1 || images.length !== n * size) {
      throw new Error(`InferenceInput: ${images.length} values is not ${n} images of [${inputShape}]`);
    }
  }

  asTensor(): tf.Tensor4D {
    // Kept: the first call may come from inside a tidy, and the tensor must outlive it (every LMC point).
    this.tensor ??= tf.keep(tf.tensor4d(this.images, [this.n, ...this.inputShape]));
    return this.tensor;
  }

  /** Load this batch into the chain unless it is already there (LMC: once per batch for all points). */
  loadInto(chain: ConvBnReluPoolChain): void {
    if (loadedInput.get(chain) !== this) {
      chain.setInput(this.images, this.n);
      loadedInput.set(chain, this);
    }
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = undefined;
    for (const chain of chains.values()) if (loadedInput.get(chain) === this) loadedInput.delete(chain);
  }
}

/** A model prepared for evaluation. Holds no tensors of its own; the model must outlive it. */
export class InferenceModel {
  private readonly fusedStages?: { chain: ConvBnReluPoolChain; params: BlockParams[] };

  constructor(readonly model: Model) {
    const blocks = fusedBlocks(model.spec);
    if (blocks.length === 0) return;
    const { params, state } = model;
    this.fusedStages = {
      chain: chainFor(blocks),
      params: blocks.map((_, i) => {
        const [scale, shift] = tf.tidy(() => {
          // Exactly the eval-mode batch norm of layers.ts, as data.
          const s = tf.mul(params[`stage${i}/bn/gamma`], tf.rsqrt(tf.add(state[`stage${i}/bn/variance`], BN_EPSILON)));
          return [s, tf.sub(params[`stage${i}/bn/beta`], tf.mul(state[`stage${i}/bn/mean`], s))];
        });
        const block = {
          weights: params[`stage${i}/conv/w`].dataSync() as Float32Array,
          scale: scale.dataSync() as Float32Array,
          shift: shift.dataSync() as Float32Array,
        };
        tf.dispose([scale, shift]);
        return block;
      }),
    };
  }

  /** How many leading stages run in the fused kernels (0: plain TF.js forward). */
  get fusedStageCount(): number {
    return this.fusedStages?.params.length ?? 0;
  }

  /** Logits [n, classes]; the caller disposes them. */
  logits(input: InferenceInput): tf.Tensor2D {
    if (!this.fusedStages) return tf.tidy(() => forward(this.model, input.asTensor(), { training: false }));
    const { chain, params } = this.fusedStages;
    input.loadInto(chain);
    const out = chain.compute(params);
    const last = chain.blocks[chain.blocks.length - 1];
    const [h, w] = outputSize(last);
    return tf.tidy(() => {
      const x = tf.tensor4d(out, [input.n, h, w, last.channelsOut]);
      // Every stage fused: the features are the last block's output, flattened as cnn.features does.
      const feats = params.length === this.model.spec.widths.length
        ? x.reshape([input.n, -1]) as tf.Tensor2D
        : cnnFeaturesFrom(this.model, x, params.length, { training: false });
      return head(this.model.params, feats);
    });
  }
}

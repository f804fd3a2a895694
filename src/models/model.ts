/**
 * Model construction and the pure forward pass. `features` and `head` are separable so that defenses
 * such as FST can re-initialise the head and feature-space methods (BTI, LMC) can reach the penultimate
 * layer. The head is always `head/w` [featureDim, numClasses] and `head/b`.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { cnn } from './cnn';
import { BatchStats, ForwardOptions, initLinear, linear, ParamRecord } from './layers';
import { preactResnet } from './preactResnet';
import { RESNET18_DEPTH, RESNET18_WIDTHS, resnet18 } from './resnet18';
import { Architecture, ArchitectureImpl, Model, ModelSpec } from './spec';

let architectures: ReadonlyMap<Architecture, ArchitectureImpl> = new Map();

/**
 * Adds an architecture for this process. The ones below are registered when this module loads, so worker
 * threads see them too; a test may register one of its own, which then exists only in its own thread.
 */
export function registerArchitecture(name: Architecture, impl: ArchitectureImpl): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`architecture name "${name}" must be lower-case letters, digits and dashes`);
  if (architectures.has(name)) throw new Error(`architecture "${name}" is already registered`);
  architectures = new Map([...architectures, [name, impl]]);
}

registerArchitecture('cnn', cnn);
registerArchitecture('preact-resnet', preactResnet);
registerArchitecture('resnet18', resnet18);

/** The registered architectures, in registration order. */
export function architectureNames(): Architecture[] {
  return [...architectures.keys()];
}

function architecture(arch: Architecture): ArchitectureImpl {
  const impl = architectures.get(arch);
  if (!impl) {
    const names = architectureNames();
    throw new Error(`unknown architecture "${arch}" (use ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]})`);
  }
  return impl;
}

/**
 * Defaults: the fast cnn, a narrow 3-stage PreAct-ResNet that fits a laptop CPU, and the paper's ResNet-18.
 * `width` multiplies ResNet-18's default channels (64-128-256-512); the other architectures take explicit
 * widths, as they always have (their specs, and so their cache keys, stay as they were).
 */
export function defaultSpec(arch: Architecture, inputShape: [number, number, number], numClasses: number,
  overrides: Partial<Pick<ModelSpec, 'widths' | 'depth'>> & { width?: number } = {}): ModelSpec {
  let spec: ModelSpec;
  if (arch === 'cnn') {
    spec = { arch, inputShape, numClasses, widths: overrides.widths ?? [16, 32, 64] };
  } else if (arch === 'resnet18') {
    const widths = overrides.widths ?? RESNET18_WIDTHS.map((w) => Math.max(1, Math.round(w * (overrides.width ?? 1))));
    spec = { arch, inputShape, numClasses, widths, depth: overrides.depth ?? [...RESNET18_DEPTH] };
  } else if (arch === 'preact-resnet') {
    spec = { arch, inputShape, numClasses, widths: overrides.widths ?? [16, 32, 64], depth: overrides.depth ?? [1, 1, 1] };
  } else {
    spec = { arch, inputShape, numClasses, widths: overrides.widths ?? [16, 32, 64], ...(overrides.depth ? { depth: overrides.depth } : {}) };
  }
  validateSpec(spec);
  return spec;
}

export function validateSpec(spec: ModelSpec): void {
  architecture(spec.arch);
  if (spec.widths.length === 0 || spec.widths.some((w) => !Number.isInteger(w) || w <= 0)) {
    throw new Error(`model widths must be positive integers, got [${spec.widths}]`);
  }
  if (spec.depth && spec.depth.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`model depth must be positive integers, got [${spec.depth}]`);
  }
  if (!Number.isInteger(spec.numClasses) || spec.numClasses < 2) {
    throw new Error(`numClasses must be an integer >= 2, got ${spec.numClasses}`);
  }
}

export function createModel(spec: ModelSpec, seed: number): Model {
  validateSpec(spec);
  const impl = architecture(spec.arch);
  const { params, state } = impl.init(spec, seed);
  initLinear(params, Rng.derive(seed, 'head-init'), 'head', impl.featureDim(spec), spec.numClasses);
  return { spec, params, state };
}

export function features(model: Model, x: tf.Tensor4D, opts: ForwardOptions = { training: false },
  stats?: BatchStats): tf.Tensor2D {
  return architecture(model.spec.arch).features(model, x, opts, stats);
}

export function head(params: ParamRecord, feats: tf.Tensor2D): tf.Tensor2D {
  return linear(params, 'head', feats);
}

/** Logits for a batch of NHWC images in [0, 1]. Pure: batch statistics go to `stats` if given. */
export function forward(model: Model, x: tf.Tensor4D, opts: ForwardOptions = { training: false },
  stats?: BatchStats): tf.Tensor2D {
  return head(model.params, features(model, x, opts, stats));
}

export function featureDim(spec: ModelSpec): number {
  return architecture(spec.arch).featureDim(spec);
}

export function disposeModel(model: Model): void {
  for (const t of Object.values(model.params)) t.dispose();
  for (const t of Object.values(model.state)) t.dispose();
}

export function cloneModel(model: Model): Model {
  return {
    spec: { ...model.spec, widths: [...model.spec.widths], depth: model.spec.depth && [...model.spec.depth] },
    params: mapRecord(model.params, (t) => t.clone()),
    state: mapRecord(model.state, (t) => t.clone()),
  };
}

export function mapRecord(r: ParamRecord, f: (t: tf.Tensor, name: string) => tf.Tensor): ParamRecord {
  const out: ParamRecord = {};
  for (const [k, v] of Object.entries(r)) out[k] = f(v, k);
  return out;
}

export function numParameters(model: Model): number {
  return Object.values(model.params).reduce((s, t) => s + t.size, 0);
}

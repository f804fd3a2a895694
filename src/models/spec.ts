import * as tf from '@tensorflow/tfjs';
import { BatchStats, ForwardOptions, ParamRecord } from './layers';

/** A registered architecture's name (models/model.ts): `cnn`, `preact-resnet`, `resnet18`, or one added by registerArchitecture. */
export type Architecture = string;

export interface ModelSpec {
  arch: Architecture;
  /** [height, width, channels] of the input images. */
  inputShape: [number, number, number];
  numClasses: number;
  /** Channels per stage. */
  widths: number[];
  /** Residual blocks per stage (preact-resnet and resnet18). */
  depth?: number[];
}

/** A model is data: its spec, trainable parameters, and batch-norm running statistics. */
export interface Model {
  spec: ModelSpec;
  params: ParamRecord;
  state: ParamRecord;
}

export interface ArchitectureImpl {
  init(spec: ModelSpec, seed: number): { params: ParamRecord; state: ParamRecord };
  /** Penultimate features [batch, featureDim]. */
  features(model: Model, x: tf.Tensor4D, opts: ForwardOptions, stats?: BatchStats): tf.Tensor2D;
  featureDim(spec: ModelSpec): number;
}

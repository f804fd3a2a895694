/**
 * A model on disk: parameters and batch-norm statistics in one weights file (names prefixed `params/`
 * and `state/`), the spec in the manifest's meta. Loading checks the stored spec and every tensor shape
 * against the architecture it is loaded as.
 */
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from './io';
import { ParamRecord } from './layers';
import { createModel, disposeModel } from './model';
import { Model, ModelSpec } from './spec';
import { stableStringify } from '../io/hash';

export async function saveModelArtifact(dir: string, model: Model, meta: Record<string, unknown> = {}): Promise<void> {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(model.params)) tensors[`params/${k}`] = v;
  for (const [k, v] of Object.entries(model.state)) tensors[`state/${k}`] = v;
  await saveModel(dir, tensors, { ...meta, spec: model.spec });
}

export async function loadModelArtifact(dir: string, expected?: ModelSpec): Promise<Model> {
  let spec = expected;
  if (!spec) {
    const raw = JSON.parse(require('fs').readFileSync(require('path').join(dir, 'manifest.json'), 'utf8'));
    spec = raw?.meta?.spec as ModelSpec;
    if (!spec) throw new Error(`${dir}: manifest has no model spec`);
  }
  // A throwaway model gives the expected names and shapes for validation.
  const template = createModel(spec, 0);
  const expectShapes: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(template.params)) expectShapes[`params/${k}`] = v.shape;
  for (const [k, v] of Object.entries(template.state)) expectShapes[`state/${k}`] = v.shape;
  disposeModel(template);
  const { tensors, meta } = await loadModel(dir, { expectNames: Object.keys(expectShapes), expectShapes });
  if (meta.spec && stableStringify(meta.spec) !== stableStringify(spec)) {
    Object.values(tensors).forEach((t) => t.dispose());
    throw new Error(`${dir}: stored model spec ${stableStringify(meta.spec)} differs from the expected ${stableStringify(spec)}`);
  }
  const params: ParamRecord = {};
  const state: ParamRecord = {};
  for (const [k, v] of Object.entries(tensors)) {
    if (k.startsWith('params/')) params[k.slice(7)] = v;
    else state[k.slice(6)] = v;
  }
  return { spec, params, state };
}

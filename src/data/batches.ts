/**
 * Turn dataset rows into tensors. Pixels stay uint8 in the Dataset and become float32 only per batch.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset, imageSize } from './dataset';

/** Images at `indices` as a float32 NHWC tensor with values in [0, 1]. */
export function toTensor(d: Dataset, indices: ArrayLike<number>): tf.Tensor4D {
  const size = imageSize(d);
  const values = new Float32Array(indices.length * size);
  for (let i = 0; i < indices.length; i++) {
    const row = checkedIndex(d, indices[i]) * size;
    const out = i * size;
    for (let k = 0; k < size; k++) values[out + k] = d.images[row + k] / 255;
  }
  // One allocation and one tensor4d call: building per-row tensors and concatenating costs far more.
  return tf.tensor4d(values, [indices.length, d.height, d.width, d.channels], 'float32');
}

/** Labels at `indices` as an int32 tensor. */
export function labelsTensor(d: Dataset, indices: ArrayLike<number>): tf.Tensor1D {
  const values = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) values[i] = d.labels[checkedIndex(d, indices[i])];
  return tf.tensor1d(values, 'int32');
}

function checkedIndex(d: Dataset, j: number): number {
  if (!Number.isInteger(j) || j < 0 || j >= d.n) {
    throw new RangeError(`${d.name}: index ${j} out of range (n=${d.n})`);
  }
  return j;
}

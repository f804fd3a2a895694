/**
 * Batch assembly with augmentation done on the uint8 pixels in plain JS: a random crop from a
 * zero-padded image and an optional horizontal flip, as the paper's training transform does. Building
 * the float batch here costs far less than the equivalent tensor ops.
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset } from '../data/dataset';
import { Rng } from '../rng';

export interface AugmentOptions {
  /** Maximum shift in pixels (the padding of RandomCrop); 0 disables cropping. */
  crop: number;
  /** Random horizontal flips, applied only when the dataset is flip-invariant. */
  flip: boolean;
}

export function batchTensor(d: Dataset, indices: ArrayLike<number>, augment?: AugmentOptions, rng?: Rng): tf.Tensor4D {
  return tf.tensor4d(batchArray(d, indices, augment, rng), [indices.length, d.height, d.width, d.channels]);
}

/** The batch as NHWC floats in [0, 1], before it becomes a tensor. */
export function batchArray(d: Dataset, indices: ArrayLike<number>, augment?: AugmentOptions, rng?: Rng): Float32Array {
  const { height: h, width: w, channels: c } = d;
  const size = h * w * c;
  const out = new Float32Array(indices.length * size);
  const crop = augment?.crop ?? 0;
  const flip = !!augment?.flip && d.flipInvariant;
  if ((crop > 0 || flip) && !rng) throw new Error('batchTensor: augmentation needs an Rng');
  for (let b = 0; b < indices.length; b++) {
    const src = indices[b] * size;
    const dst = b * size;
    const dy = crop > 0 ? rng!.int(2 * crop + 1) - crop : 0;
    const dx = crop > 0 ? rng!.int(2 * crop + 1) - crop : 0;
    const mirror = flip && rng!.next() < 0.5;
    if (dy === 0 && dx === 0 && !mirror) {
      for (let i = 0; i < size; i++) out[dst + i] = d.images[src + i] / 255;
      continue;
    }
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= h) continue; // zero padding
      for (let x = 0; x < w; x++) {
        const sx = (mirror ? w - 1 - x : x) + dx;
        if (sx < 0 || sx >= w) continue;
        const o = dst + (y * w + x) * c;
        const s = src + (sy * w + sx) * c;
        for (let k = 0; k < c; k++) out[o + k] = d.images[s + k] / 255;
      }
    }
  }
  return out;
}

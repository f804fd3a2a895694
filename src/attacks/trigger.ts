/**
 * A trigger stamps a backdoor pattern onto uint8 images. Poisoning (which images, which labels) is kept
 * separate in poison.ts so every trigger shares the same, tested, index and label logic.
 */
import { Dataset, imageSize } from '../data/dataset';

export interface Trigger {
  readonly name: string;
  /** Stamp onto one image in place: `image` is an HWC uint8 view of exactly one image. */
  stamp(image: Uint8Array, height: number, width: number, channels: number): void;
  /**
   * Optional batched form for triggers computed by a network or TF.js ops (WaNet, SSBA), where one call
   * per image would cost a kernel launch each: `images` holds `n` consecutive HWC images, stamped in place.
   */
  stampBatch?(images: Uint8Array, n: number, height: number, width: number, channels: number): void;
}

/** Images per stampBatch call: bounds the float tensors a batched trigger holds at once. */
const STAMP_BATCH = 512;

/** A copy of `d` with the trigger stamped on the given images (all when `indices` is omitted). */
export function applyTrigger(d: Dataset, trigger: Trigger, indices?: ArrayLike<number>, name?: string): Dataset {
  const images = d.images.slice();
  const size = imageSize(d);
  const stampAt = (i: number) => trigger.stamp(images.subarray(i * size, (i + 1) * size), d.height, d.width, d.channels);
  if (trigger.stampBatch) {
    const all = indices ?? Int32Array.from({ length: d.n }, (_, i) => i);
    for (let start = 0; start < all.length; start += STAMP_BATCH) {
      const n = Math.min(STAMP_BATCH, all.length - start);
      const buf = new Uint8Array(n * size);
      for (let k = 0; k < n; k++) buf.set(images.subarray(all[start + k] * size, (all[start + k] + 1) * size), k * size);
      trigger.stampBatch(buf, n, d.height, d.width, d.channels);
      for (let k = 0; k < n; k++) images.set(buf.subarray(k * size, (k + 1) * size), all[start + k] * size);
    }
  } else if (indices) {
    for (let k = 0; k < indices.length; k++) stampAt(indices[k]);
  } else {
    for (let i = 0; i < d.n; i++) stampAt(i);
  }
  return { ...d, images, labels: d.labels.slice(), name: name ?? `${d.name}+${trigger.name}` };
}

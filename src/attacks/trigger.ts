/**
 * A trigger stamps a backdoor pattern onto uint8 images. Poisoning (which images, which labels) is kept
 * separate in poison.ts so every trigger shares the same, tested, index and label logic.
 */
import { Dataset, imageSize } from '../data/dataset';

export interface Trigger {
  readonly name: string;
  /** Stamp onto one image in place: `image` is an HWC uint8 view of exactly one image. */
  stamp(image: Uint8Array, height: number, width: number, channels: number): void;
}

/** A copy of `d` with the trigger stamped on the given images (all when `indices` is omitted). */
export function applyTrigger(d: Dataset, trigger: Trigger, indices?: ArrayLike<number>, name?: string): Dataset {
  const images = d.images.slice();
  const size = imageSize(d);
  const stampAt = (i: number) => trigger.stamp(images.subarray(i * size, (i + 1) * size), d.height, d.width, d.channels);
  if (indices) {
    for (let k = 0; k < indices.length; k++) stampAt(indices[k]);
  } else {
    for (let i = 0; i < d.n; i++) stampAt(i);
  }
  return { ...d, images, labels: d.labels.slice(), name: name ?? `${d.name}+${trigger.name}` };
}

/**
 * An image classification dataset kept as uint8 pixels (NHWC) and int32 labels.
 * Images become float tensors in [0, 1] only batch by batch, so a 60k-image set costs 47 MB, not 188 MB.
 */
export interface Dataset {
  /** Human-readable name, e.g. "fashion-mnist/train". */
  name: string;
  /** Pixels, row-major NHWC, length n * height * width * channels. */
  images: Uint8Array;
  /** Class index per image, length n. */
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  classNames?: readonly string[];
  /** Whether horizontal flips preserve the class (true for CIFAR-10, false for digits). */
  flipInvariant: boolean;
}

export function imageSize(d: Pick<Dataset, 'height' | 'width' | 'channels'>): number {
  return d.height * d.width * d.channels;
}

/** A dataset restricted to the given indices (copies the selected rows). */
export function subset(d: Dataset, indices: ArrayLike<number>, name = d.name): Dataset {
  const size = imageSize(d);
  const images = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    if (!Number.isInteger(j) || j < 0 || j >= d.n) {
      throw new RangeError(`subset: index ${j} out of range for ${d.name} (n=${d.n})`);
    }
    images.set(d.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = d.labels[j];
  }
  return { ...d, name, images, labels, n: indices.length };
}

/** Concatenate datasets of the same geometry. */
export function concat(parts: readonly Dataset[], name: string): Dataset {
  if (parts.length === 0) throw new Error('concat: no datasets given');
  const [first] = parts;
  for (const p of parts) {
    if (p.height !== first.height || p.width !== first.width || p.channels !== first.channels) {
      throw new Error(`concat: ${p.name} is ${p.height}x${p.width}x${p.channels}, ` +
        `${first.name} is ${first.height}x${first.width}x${first.channels}`);
    }
  }
  const n = parts.reduce((s, p) => s + p.n, 0);
  const size = imageSize(first);
  const images = new Uint8Array(n * size);
  const labels = new Int32Array(n);
  let offset = 0;
  for (const p of parts) {
    images.set(p.images.subarray(0, p.n * size), offset * size);
    labels.set(p.labels.subarray(0, p.n), offset);
    offset += p.n;
  }
  return { ...first, name, images, labels, n };
}

/** Validate internal consistency; loaders call this so a bad file never yields a half-valid dataset. */
export function assertValid(d: Dataset): void {
  const size = imageSize(d);
  if (d.images.length !== d.n * size) {
    throw new Error(`${d.name}: ${d.images.length} pixel bytes, expected ${d.n} x ${size}`);
  }
  if (d.labels.length !== d.n) throw new Error(`${d.name}: ${d.labels.length} labels for ${d.n} images`);
  for (let i = 0; i < d.n; i++) {
    const y = d.labels[i];
    if (y < 0 || y >= d.numClasses) {
      throw new Error(`${d.name}: label ${y} at index ${i} is outside 0..${d.numClasses - 1}`);
    }
  }
}

/**
 * A seeded toy dataset for fast tests: each class is a striped grating at its own orientation, under a soft
 * round envelope. Per image the stripes' phase, the envelope's position, contrast and brightness vary and
 * pixel noise is added, so no single pixel or linear template gives the class away (phase flips the sign of
 * every pixel), yet a tiny CNN learns it to >90% in a few epochs.
 * The envelope fades out towards the edges, leaving the bottom-right corner mid-grey noise — never constant
 * white — so a white trigger patch there is a distinct, learnable signal.
 */
import { assertValid, Dataset } from './dataset';
import { Rng } from '../rng';

// Local aliases: inside jest's sandbox every `Math.` lookup is slow, and this module runs in many tests.
const { cos, exp, max, min, round, sin, PI } = Math;

export interface SyntheticOptions {
  n: number;
  seed: number;
  height?: number;
  /** Defaults to height. */
  width?: number;
  channels?: number;
  /** At most 12: orientations closer than 15 degrees stop being a fair test of "easy to learn". */
  numClasses?: number;
  /** Standard deviation of per-pixel Gaussian noise, in [0, 1] pixel units. */
  noise?: number;
}

export function makeSyntheticDataset(opts: SyntheticOptions): Dataset {
  const { n, seed, height = 16, channels = 1, numClasses = 4, noise = 0.15 } = opts;
  const width = opts.width ?? height;
  if (!Number.isInteger(n) || n < 1) throw new Error(`makeSyntheticDataset: n must be a positive integer, got ${n}`);
  for (const [k, v] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v < 8) throw new Error(`makeSyntheticDataset: ${k} must be an integer >= 8, got ${v}`);
  }
  if (!Number.isInteger(channels) || channels < 1) {
    throw new Error(`makeSyntheticDataset: channels must be a positive integer, got ${channels}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 2 || numClasses > 12) {
    throw new Error(`makeSyntheticDataset: numClasses must be an integer in 2..12, got ${numClasses}`);
  }
  if (!(noise >= 0 && noise <= 1)) throw new Error(`makeSyntheticDataset: noise must be in [0, 1], got ${noise}`);

  const rng = new Rng(seed);
  // Balanced classes in random order.
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % numClasses;
  rng.shuffle(labels);

  const size = min(height, width);
  const period = max(4, size / 4);
  const sigma = 0.3 * size;
  const jitter = size / 8;
  const images = new Uint8Array(n * height * width * channels);
  const pixel = new Float32Array(height * width);
  for (let i = 0; i < n; i++) {
    const angle = (PI * labels[i]) / numClasses;
    const kx = (2 * PI * cos(angle)) / period;
    const ky = (2 * PI * sin(angle)) / period;
    const phase = 2 * PI * rng.next();
    const cy = (height - 1) / 2 + jitter * (2 * rng.next() - 1);
    const cx = (width - 1) / 2 + jitter * (2 * rng.next() - 1);
    const contrast = 0.25 + 0.2 * rng.next();
    const brightness = 0.4 + 0.15 * rng.next();
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const envelope = exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma * sigma));
        pixel[y * width + x] = brightness + contrast * envelope * cos(kx * x + ky * y + phase);
      }
    }
    const base = i * height * width * channels;
    for (let c = 0; c < channels; c++) {
      const gain = channels === 1 ? 1 : 0.8 + 0.2 * rng.next();
      for (let p = 0; p < height * width; p++) {
        const v = gain * pixel[p] + noise * rng.normal();
        images[base + p * channels + c] = round(255 * min(1, max(0, v)));
      }
    }
  }

  const d: Dataset = {
    name: `synthetic-gratings/seed${seed}`,
    images, labels, n, height, width, channels, numClasses,
    classNames: Array.from({ length: numClasses }, (_, c) => `grating ${round((180 * c) / numClasses)}deg`),
    // A horizontal flip turns angle a into 180 - a, which is another class's orientation.
    flipInvariant: false,
  };
  assertValid(d);
  return d;
}


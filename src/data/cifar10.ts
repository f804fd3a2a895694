/**
 * CIFAR-10 in its "binary version" (cifar-10-batches-bin): each record is 1 label byte then 3072 pixel bytes
 * stored channel-major (1024 R, 1024 G, 1024 B, each 32x32 row-major). We convert to the project's NHWC.
 */
import * as fs from 'fs';
import * as path from 'path';
import { assertValid, Dataset } from './dataset';
import { LOCAL_DATA_DIR } from './paths';

export const CIFAR10_CLASS_NAMES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
] as const;
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_ENV_VAR = 'CIFAR10_DIR';
export const CIFAR10_LOCAL_DIR = path.join(LOCAL_DATA_DIR, 'cifar-10-batches-bin');

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

/**
 * Load CIFAR-10 from `dir`, else $CIFAR10_DIR, else <repo>/data/cifar-10-batches-bin. A directory may hold the
 * .bin files directly or the extracted tarball's cifar-10-batches-bin/ folder.
 */
export function loadCifar10(dir?: string): { train: Dataset; test: Dataset } {
  const found = findCifar10(dir);
  return {
    train: readCifar10Batches(CIFAR10_TRAIN_FILES.map((f) => path.join(found, f)), 'cifar10/train'),
    test: readCifar10Batches([path.join(found, CIFAR10_TEST_FILE)], 'cifar10/test'),
  };
}

/** The directory holding all six batch files; throws listing every place looked. */
export function findCifar10(dir?: string): string {
  const roots: string[] = [];
  if (dir) roots.push(path.resolve(dir));
  const fromEnv = process.env[CIFAR10_ENV_VAR];
  if (fromEnv) roots.push(path.resolve(fromEnv));
  roots.push(CIFAR10_LOCAL_DIR);
  const candidates = roots.flatMap((r) => [r, path.join(r, 'cifar-10-batches-bin')]);
  const needed = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE];
  for (const c of candidates) {
    if (needed.every((f) => fs.existsSync(path.join(c, f)))) return c;
  }
  throw new Error([
    `CIFAR-10 not found: looked for ${needed.join(', ')} in`,
    ...candidates.map((c) => `  - ${c}`),
    ...(fromEnv ? [] : [`  ($${CIFAR10_ENV_VAR} is not set)`]),
    'Download the binary version (cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, ' +
      `extract it, and pass its directory or set ${CIFAR10_ENV_VAR}.`,
  ].join('\n'));
}

/** Parse and concatenate batch files in order. */
export function readCifar10Batches(files: readonly string[], name: string): Dataset {
  const buffers = files.map((f) => {
    const bytes = fs.readFileSync(f);
    checkBatch(bytes, path.basename(f));
    return bytes;
  });
  const n = buffers.reduce((s, b) => s + b.length / RECORD, 0);
  const images = new Uint8Array(n * 3 * PLANE);
  const labels = new Int32Array(n);
  let i = 0;
  for (const bytes of buffers) {
    for (let r = 0; r < bytes.length; r += RECORD, i++) {
      labels[i] = bytes[r];
      const out = i * 3 * PLANE;
      for (let p = 0; p < PLANE; p++) {
        images[out + 3 * p] = bytes[r + 1 + p];
        images[out + 3 * p + 1] = bytes[r + 1 + PLANE + p];
        images[out + 3 * p + 2] = bytes[r + 1 + 2 * PLANE + p];
      }
    }
  }
  const d: Dataset = {
    name, images, labels, n, height: SIDE, width: SIDE, channels: 3, numClasses: 10,
    classNames: CIFAR10_CLASS_NAMES, flipInvariant: true,
  };
  assertValid(d);
  return d;
}

function checkBatch(bytes: Uint8Array, source: string): void {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    const whole = Math.floor(bytes.length / RECORD);
    throw new Error(`${source}: ${bytes.length} bytes is not a whole number of ${RECORD}-byte records ` +
      `(1 label + 3072 pixels): ${whole} full records and ${bytes.length - whole * RECORD} bytes left over; ` +
      'the file is truncated or not a CIFAR-10 binary batch');
  }
  for (let r = 0; r < bytes.length; r += RECORD) {
    if (bytes[r] >= 10) {
      throw new Error(`${source}: record ${r / RECORD} has label ${bytes[r]}, CIFAR-10 labels are 0..9 ` +
        '(is this a CIFAR-100 file?)');
    }
  }
}

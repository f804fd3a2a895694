import * as fs from 'fs';
import * as path from 'path';
import {
  FASHION_MNIST_CLASS_NAMES, FASHION_MNIST_SHA256, FASHION_MNIST_SYSTEM_DIR, fashionMnistSearchPlaces, findFashionMnist,
  loadFashionMnist, loadFashionMnistFromDir,
} from '../../src/data/fashionMnist';
import { createHash } from 'crypto';
import { gunzipSync, gzipSync } from 'zlib';
import { FASHION_NAMES, idxImages, idxLabels, makeTmpDir, removeDir, writeFashionDir } from './fixtures';

const ENV = 'FASHION_MNIST_DIR';

describe('Fashion-MNIST resolution', () => {
  let root: string;
  let savedEnv: string | undefined;
  /** Stand-ins for <repo>/data/fashion-mnist and /usr/share/datasets/fashion-mnist, empty unless a test fills them. */
  let places: { localDir: string; systemDir: string };

  beforeEach(() => {
    root = makeTmpDir();
    savedEnv = process.env[ENV];
    delete process.env[ENV];
    places = { localDir: path.join(root, 'local'), systemDir: path.join(root, 'system') };
  });
  afterEach(() => {
    if (savedEnv === undefined) delete process.env[ENV];
    else process.env[ENV] = savedEnv;
    removeDir(root);
  });

  test('explicit dir wins over the env var, which wins over the local and system dirs', async () => {
    const explicit = writeFashionDir(path.join(root, 'explicit'), 11, 3);
    const fromEnv = writeFashionDir(path.join(root, 'env'), 12, 4);
    writeFashionDir(places.localDir, 13, 5);
    writeFashionDir(places.systemDir, 14, 6);
    process.env[ENV] = fromEnv;

    const logs: string[] = [];
    const a = await loadFashionMnist({ ...places, dir: explicit, log: (s) => logs.push(s) });
    expect([a.train.n, a.test.n]).toEqual([11, 3]);
    expect(logs.join('\n')).toContain(`${explicit} (dir option)`);

    expect((await loadFashionMnist(places)).train.n).toBe(12);
    delete process.env[ENV];
    expect((await loadFashionMnist(places)).train.n).toBe(13);
    removeDir(places.localDir);
    expect((await loadFashionMnist(places)).train.n).toBe(14);
  });

  test('a place missing a file is skipped', async () => {
    writeFashionDir(path.join(root, 'partial'), 11, 3, [FASHION_NAMES.trainImages]);
    writeFashionDir(places.systemDir, 14, 6);
    expect(findFashionMnist({ ...places, dir: path.join(root, 'partial') })?.dir).toBe(places.systemDir);
  });

  test('a split only needs its own two files', async () => {
    writeFashionDir(places.localDir, 9, 4, [FASHION_NAMES.testImages, FASHION_NAMES.testLabels]);
    const { test: t } = await loadFashionMnist({ ...places, split: 'test' });
    expect(t.n).toBe(4);
    await expect(loadFashionMnist({ ...places, split: 'train' })).rejects.toThrow(/Fashion-MNIST not found/);
  });

  test('loaded datasets have the Fashion-MNIST metadata and the file pixels', () => {
    const dir = writeFashionDir(path.join(root, 'd'), 12, 5);
    const { train, test } = loadFashionMnistFromDir(dir);
    expect(train).toMatchObject({
      name: 'fashion-mnist/train', n: 12, height: 28, width: 28, channels: 1, numClasses: 10, flipInvariant: true,
    });
    expect(train.classNames).toEqual(FASHION_MNIST_CLASS_NAMES);
    expect(FASHION_MNIST_CLASS_NAMES[9]).toBe('Ankle boot');
    expect(train.labels).toBeInstanceOf(Int32Array);
    expect(Array.from(train.labels.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(train.images[784 * 2 + 5]).toBe((2 * 7 + 5) % 256);
    expect(test.name).toBe('fashion-mnist/test');
  });

  test('gunzipped files (no .gz) are accepted', () => {
    const dir = path.join(root, 'raw');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idxImages(4));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idxLabels([1, 2, 3, 4]));
    expect(loadFashionMnistFromDir(dir, 'train').train.n).toBe(4);
  });

  test('nothing found: the error lists every place looked and how to provision', async () => {
    const missing = path.join(root, 'nowhere');
    fs.mkdirSync(places.localDir);
    const err = await loadFashionMnist({ ...places, dir: missing }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain(`${missing} (dir option): does not exist`);
    expect(msg).toContain(`${places.localDir} (repo data directory): lacks train-images-idx3-ubyte.gz`);
    expect(msg).toContain(`${places.systemDir} (Debian package dataset-fashion-mnist): does not exist`);
    expect(msg).toContain('$FASHION_MNIST_DIR is not set');
    expect(msg).toContain('npm run data');
    expect(msg).toContain('apt-get install dataset-fashion-mnist');
  });

  test('default search places: env var, repo data dir, Debian dir', () => {
    process.env[ENV] = path.join(root, 'e');
    const p = fashionMnistSearchPlaces();
    expect(p.map((x) => x.source)).toEqual(
      ['$FASHION_MNIST_DIR', 'repo data directory', 'Debian package dataset-fashion-mnist']);
    expect(p[1].dir).toBe(path.resolve(__dirname, '../../data/fashion-mnist'));
    expect(p[2].dir).toBe('/usr/share/datasets/fashion-mnist');
  });

  test('mismatched image and label counts, wrong size and bad labels are clear errors', () => {
    const dir = writeFashionDir(path.join(root, 'bad'), 6, 2);
    fs.writeFileSync(path.join(dir, FASHION_NAMES.trainLabels), gzipSync(idxLabels([0, 1, 2])));
    expect(() => loadFashionMnistFromDir(dir, 'train')).toThrow(
      'Fashion-MNIST train: train-images-idx3-ubyte.gz has 6 images but train-labels-idx1-ubyte.gz has 3 labels');
    fs.writeFileSync(path.join(dir, FASHION_NAMES.trainLabels), gzipSync(idxLabels([0, 1, 2, 3, 4, 10])));
    expect(() => loadFashionMnistFromDir(dir, 'train')).toThrow(
      'train-labels-idx1-ubyte.gz: label 10 at index 5 is outside 0..9');
    fs.writeFileSync(path.join(dir, FASHION_NAMES.testImages), gzipSync(idxImages(2, 32, 32)));
    expect(() => loadFashionMnistFromDir(dir, 'test')).toThrow(
      't10k-images-idx3-ubyte.gz: images are 32x32, Fashion-MNIST images are 28x28');
  });
});

describe('real Fashion-MNIST from the Debian package', () => {
  const present = fs.existsSync(path.join(FASHION_MNIST_SYSTEM_DIR, 'train-images-idx3-ubyte.gz'));
  if (!present) {
    // eslint-disable-next-line no-console
    console.warn(`Skipping the real Fashion-MNIST check: ${FASHION_MNIST_SYSTEM_DIR} is absent ` +
      '(apt-get install dataset-fashion-mnist to enable it).');
  }
  (present ? test : test.skip)('has 60000/10000 images and 6000 of each class in train', () => {
    const { train, test: t } = loadFashionMnistFromDir(FASHION_MNIST_SYSTEM_DIR);
    expect([train.n, t.n]).toEqual([60000, 10000]);
    const histogram = (labels: Int32Array) => {
      const h = new Array<number>(10).fill(0);
      labels.forEach((y) => h[y]++);
      return h;
    };
    expect(histogram(train.labels)).toEqual(new Array(10).fill(6000));
    expect(histogram(t.labels)).toEqual(new Array(10).fill(1000));
    // A known fact about the file order: the first training image is an ankle boot.
    expect(train.labels[0]).toBe(9);
  });

  (present ? test : test.skip)('the embedded download digests match the installed files', () => {
    for (const [name, digest] of Object.entries(FASHION_MNIST_SHA256)) {
      const content = gunzipSync(fs.readFileSync(path.join(FASHION_MNIST_SYSTEM_DIR, name)));
      expect(createHash('sha256').update(content).digest('hex')).toBe(digest);
    }
  });
});

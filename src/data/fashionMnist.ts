/**
 * Fashion-MNIST (Xiao et al. 2017): 60k train / 10k test 28x28 greyscale clothing images, 10 classes.
 * The paper's smallest benchmark and the one this project runs on a laptop CPU.
 */
import * as fs from 'fs';
import * as path from 'path';
import { assertValid, Dataset } from './dataset';
import { writeFileAtomicSync } from '../io/durable';
import { sha256Hex } from '../io/hash';
import { httpGetBuffer } from './download';
import { maybeGunzip, readIdxImages, readIdxLabels } from './idx';
import { LOCAL_DATA_DIR } from './paths';

export const FASHION_MNIST_CLASS_NAMES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

export const FASHION_MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
} as const;

export const FASHION_MNIST_BASE_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
export const FASHION_MNIST_ENV_VAR = 'FASHION_MNIST_DIR';
/** Where `npm run data` downloads to (git-ignored). */
export const FASHION_MNIST_LOCAL_DIR = path.join(LOCAL_DATA_DIR, 'fashion-mnist');
/** Installed by the Debian package dataset-fashion-mnist. */
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';

/**
 * SHA-256 of each file's *decompressed* IDX content. We hash the content rather than the .gz because the
 * gzip wrapper differs between sources: the official S3 files carry the original file name in the gzip
 * header (e.g. 26421880 bytes for train images), while Debian's copies had it stripped by
 * strip-nondeterminism (26421856 bytes) — same deflate stream, same pixels, different file digests.
 * Computed from the Debian dataset-fashion-mnist 0.0~git20200523.55506a9-1 files.
 */
export const FASHION_MNIST_SHA256: Readonly<Record<string, string>> = {
  'train-images-idx3-ubyte.gz': 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
  'train-labels-idx1-ubyte.gz': 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  't10k-images-idx3-ubyte.gz': '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
  't10k-labels-idx1-ubyte.gz': '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
};

export type FashionMnistSplit = 'train' | 'test' | 'both';

/** Which datasets a load returns, by requested split. */
export type FashionMnistData<S extends FashionMnistSplit> =
  S extends 'train' ? { train: Dataset }
    : S extends 'test' ? { test: Dataset }
      : { train: Dataset; test: Dataset };

export interface FashionMnistLocateOptions<S extends FashionMnistSplit = FashionMnistSplit> {
  /** Looked in first. */
  dir?: string;
  split?: S;
  /** The repo-local directory (also where downloads go); defaults to FASHION_MNIST_LOCAL_DIR. */
  localDir?: string;
  /** The system-wide directory; defaults to FASHION_MNIST_SYSTEM_DIR. */
  systemDir?: string;
}

export interface FashionMnistOptions<S extends FashionMnistSplit = FashionMnistSplit>
  extends FashionMnistLocateOptions<S> {
  /** Download into localDir when no directory has the files. Off by default: loading should not surprise. */
  allowDownload?: boolean;
  downloadBaseUrl?: string;
  /** Digests of the decompressed content, by file name; defaults to FASHION_MNIST_SHA256. */
  expectedSha256?: Readonly<Record<string, string>>;
  log?: (s: string) => void;
}

/** A directory the loader looks in, and why. */
export interface SearchPlace {
  dir: string;
  source: string;
}

export function fashionMnistSearchPlaces(opts: FashionMnistLocateOptions = {}): SearchPlace[] {
  const places: SearchPlace[] = [];
  if (opts.dir) places.push({ dir: path.resolve(opts.dir), source: 'dir option' });
  const fromEnv = process.env[FASHION_MNIST_ENV_VAR];
  if (fromEnv) places.push({ dir: path.resolve(fromEnv), source: `$${FASHION_MNIST_ENV_VAR}` });
  places.push({ dir: opts.localDir ?? FASHION_MNIST_LOCAL_DIR, source: 'repo data directory' });
  places.push({ dir: opts.systemDir ?? FASHION_MNIST_SYSTEM_DIR, source: 'Debian package dataset-fashion-mnist' });
  return places;
}

/** The first search place holding every file the split needs, or null. */
export function findFashionMnist(opts: FashionMnistLocateOptions = {}): SearchPlace | null {
  const names = filesFor(opts.split ?? 'both');
  return fashionMnistSearchPlaces(opts).find((p) => missingFiles(p.dir, names).length === 0) ?? null;
}

/** Load from one directory, no searching. Accepts each file gzip'd (as distributed) or already gunzipped. */
export function loadFashionMnistFromDir<S extends FashionMnistSplit = 'both'>(
  dir: string, split?: S,
): FashionMnistData<S> {
  const which = split ?? 'both';
  const out: { train?: Dataset; test?: Dataset } = {};
  if (which !== 'test') out.train = loadPart(dir, 'train');
  if (which !== 'train') out.test = loadPart(dir, 'test');
  return out as FashionMnistData<S>;
}

/**
 * Load Fashion-MNIST from the first place that has it: opts.dir, $FASHION_MNIST_DIR, <repo>/data/fashion-mnist,
 * /usr/share/datasets/fashion-mnist; failing those, download into <repo>/data/fashion-mnist if allowDownload.
 */
export async function loadFashionMnist<S extends FashionMnistSplit = 'both'>(
  opts: FashionMnistOptions<S> = {},
): Promise<FashionMnistData<S>> {
  const log = opts.log ?? (() => undefined);
  const split = opts.split ?? 'both';
  const found = findFashionMnist(opts);
  if (found) {
    log(`Fashion-MNIST: loading ${split} from ${found.dir} (${found.source})`);
    return loadFashionMnistFromDir(found.dir, opts.split);
  }
  if (!opts.allowDownload) throw new Error(notFoundMessage(opts));
  const dir = await downloadFashionMnist(opts);
  return loadFashionMnistFromDir(dir, opts.split);
}

/**
 * Download the split's missing files into localDir, verifying each against its digest before it is written,
 * so a bad or partial download never lands under the real name. Returns the directory.
 */
export async function downloadFashionMnist(opts: FashionMnistOptions = {}): Promise<string> {
  const log = opts.log ?? (() => undefined);
  const dir = opts.localDir ?? FASHION_MNIST_LOCAL_DIR;
  const baseUrl = opts.downloadBaseUrl ?? FASHION_MNIST_BASE_URL;
  const digests = opts.expectedSha256 ?? FASHION_MNIST_SHA256;
  for (const name of missingFiles(dir, filesFor(opts.split ?? 'both'))) {
    const expected = digests[name];
    if (!expected) throw new Error(`${name}: no expected SHA-256 known, refusing to download it unverified`);
    const url = new URL(name, baseUrl.endsWith('/') ? baseUrl : baseUrl + '/').toString();
    log(`Fashion-MNIST: downloading ${url}`);
    const body = await httpGetBuffer(url);
    const actual = sha256Hex(maybeGunzip(body, `${name} (downloaded from ${url})`));
    if (actual !== expected) {
      throw new Error(`${name} (downloaded from ${url}): SHA-256 of the content is ${actual}, expected ` +
        `${expected}; the file was not saved`);
    }
    writeFileAtomicSync(path.join(dir, name), body);
    log(`Fashion-MNIST: saved ${path.join(dir, name)} (${body.length} bytes, SHA-256 verified)`);
  }
  return dir;
}

function filesFor(split: FashionMnistSplit): string[] {
  const parts = split === 'both' ? (['train', 'test'] as const) : [split];
  return parts.flatMap((p) => [FASHION_MNIST_FILES[p].images, FASHION_MNIST_FILES[p].labels]);
}

/** The path of `name` in dir, gzip'd or gunzipped, or null. */
function locateFile(dir: string, name: string): string | null {
  for (const candidate of [name, name.replace(/\.gz$/, '')]) {
    const file = path.join(dir, candidate);
    if (fs.existsSync(file) && fs.statSync(file).isFile()) return file;
  }
  return null;
}

function missingFiles(dir: string, names: readonly string[]): string[] {
  return names.filter((n) => locateFile(dir, n) === null);
}

function loadPart(dir: string, part: 'train' | 'test'): Dataset {
  const { images: imagesName, labels: labelsName } = FASHION_MNIST_FILES[part];
  const imagesFile = locateFile(dir, imagesName);
  const labelsFile = locateFile(dir, labelsName);
  if (!imagesFile || !labelsFile) {
    throw new Error(`Fashion-MNIST ${part}: ${dir} lacks ${missingFiles(dir, [imagesName, labelsName]).join(' and ')}`);
  }
  const images = readIdxImages(imagesFile);
  const labels = readIdxLabels(labelsFile);
  if (images.height !== 28 || images.width !== 28) {
    throw new Error(`${path.basename(imagesFile)}: images are ${images.height}x${images.width}, ` +
      `Fashion-MNIST images are 28x28`);
  }
  if (images.n !== labels.n) {
    throw new Error(`Fashion-MNIST ${part}: ${path.basename(imagesFile)} has ${images.n} images but ` +
      `${path.basename(labelsFile)} has ${labels.n} labels`);
  }
  const classes = FASHION_MNIST_CLASS_NAMES.length;
  const bad = labels.labels.findIndex((y) => y >= classes);
  if (bad >= 0) {
    throw new Error(`${path.basename(labelsFile)}: label ${labels.labels[bad]} at index ${bad} is outside ` +
      `0..${classes - 1}`);
  }
  const d: Dataset = {
    name: `fashion-mnist/${part}`,
    images: images.pixels,
    labels: Int32Array.from(labels.labels),
    n: images.n,
    height: 28,
    width: 28,
    channels: 1,
    numClasses: classes,
    classNames: FASHION_MNIST_CLASS_NAMES,
    flipInvariant: true,
  };
  assertValid(d);
  return d;
}

export function notFoundMessage(opts: FashionMnistLocateOptions): string {
  const names = filesFor(opts.split ?? 'both');
  const lines = fashionMnistSearchPlaces(opts).map((p) => {
    const why = !fs.existsSync(p.dir) ? 'does not exist' : `lacks ${missingFiles(p.dir, names).join(', ')}`;
    return `  - ${p.dir} (${p.source}): ${why}`;
  });
  if (!process.env[FASHION_MNIST_ENV_VAR]) lines.push(`  - $${FASHION_MNIST_ENV_VAR} is not set`);
  return [
    `Fashion-MNIST not found: looked for ${names.join(', ')} in`,
    ...lines,
    'To provision it: run `npm run data` (installs the Debian package when run as root, otherwise downloads ' +
      'with SHA-256 checks), or `sudo apt-get install dataset-fashion-mnist`, or set ' +
      `${FASHION_MNIST_ENV_VAR} to a directory holding the four files, or call loadFashionMnist with ` +
      'allowDownload: true.',
  ].join('\n');
}

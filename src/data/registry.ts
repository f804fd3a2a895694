/**
 * Name → dataset loader, in the order the config, the CLI's `--dataset` and the study list them. A dataset
 * is a loader returning its train and test `Dataset`s plus one `registerDataset` line here; the runner seeds,
 * limits, splits, fingerprints and caches what it returns like every other dataset.
 */
import { loadCifar10 } from './cifar10';
import { Dataset, subset } from './dataset';
import { loadFashionMnist } from './fashionMnist';
import { loadMnistDigits } from './mnist';
import { makeSyntheticDataset } from './synthetic';

export interface TrainTest {
  train: Dataset;
  test: Dataset;
}

export interface DatasetLoadOptions {
  /** `--data-dir` / `config.dataDir`: where the files are, if not in the dataset's standard places. */
  dir?: string;
  /** The experiment's seed, for datasets generated or drawn at random. */
  seed: number;
  log: (line: string) => void;
}

export interface DatasetSource {
  /** The config's `dataset` value. */
  name: string;
  load(opts: DatasetLoadOptions): TrainTest | Promise<TrainTest>;
}

let sources: readonly DatasetSource[] = [];

/**
 * Adds a dataset for this process. The datasets below are registered when this module loads, so worker
 * threads see them too; a test may register one of its own, which then exists only in its own thread.
 */
export function registerDataset(source: DatasetSource): void {
  if (!/^[a-z][a-z0-9-]*$/.test(source.name)) throw new Error(`dataset name "${source.name}" must be lower-case letters, digits and dashes`);
  if (sources.some((s) => s.name === source.name)) throw new Error(`dataset "${source.name}" is already registered`);
  // A new array, so that whoever built something from the previous one (the config schema) can tell.
  sources = [...sources, source];
}

registerDataset({ name: 'fashion-mnist', load: ({ dir, log }) => loadFashionMnist({ dir, split: 'both', log }) as Promise<TrainTest> });
registerDataset({ name: 'mnist', load: ({ seed }) => loadMnistDigits({ seed }) });
registerDataset({ name: 'cifar10', load: ({ dir }) => loadCifar10(dir) });
registerDataset({ name: 'synthetic', load: ({ seed }) => syntheticTrainTest(seed) });

/** 2,400 seeded 16×16 images: the first 2,000 train, the rest test. */
function syntheticTrainTest(seed: number): TrainTest {
  const all = makeSyntheticDataset({ n: 2400, seed, height: 16 });
  const cut = 2000;
  const pick = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
  return { train: subset(all, pick(0, cut), 'synthetic/train'), test: subset(all, pick(cut, all.n), 'synthetic/test') };
}

/** The registered datasets, in registration order; the same array until the next registerDataset. */
export function datasetSources(): readonly DatasetSource[] {
  return sources;
}

export function datasetNames(): string[] {
  return sources.map((s) => s.name);
}

export function getDataset(name: string): DatasetSource {
  const s = sources.find((x) => x.name === name);
  if (!s) throw new Error(`unknown dataset "${name}" (datasets: ${datasetNames().join(', ')})`);
  return s;
}

/**
 * These strings pin cache compatibility: they were computed by the code that built the existing caches
 * (runs/ of the default study), so a change to how an attack's config is parsed, or to the config slice
 * of a stage, shows up here as a changed key before it silently orphans hours of cached models.
 * Never update a string to make this pass unless every cached artifact is meant to be recomputed.
 */
import { Dataset } from '../../src/data/dataset';
import { contentHash } from '../../src/io/hash';
import { ArtifactStore } from '../../src/experiment/cache';
import { parseConfig } from '../../src/experiment/config';
import { DataBundle, Experiment, PoisonBundle } from '../../src/experiment/runner';

const CONFIG_HASH: Record<string, string> = {
  none: '789759ed01eaac8e',
  badnets: '7b5f5c8b5fe910da',
  blended: '6463361cabc7adbd',
  sig: '32b9e0a1e143ddec',
  wanet: '226c45b98b0f1ee4',
  lc: 'b48d39b50b9943fb',
  ssba: '38f722195c8ed1fc',
};

/** Stage → key of each stage that an attack's experiment asks the store for, on the fixed data key below. */
const STAGE_KEYS: Record<string, Record<string, string>> = {
  none: { poison: '41bbcabe7b20edd2', model: 'f10b27bf07af820f' },
  badnets: { poison: 'd4af808f3339f8bc', model: 'ca209c810f09e4c8' },
  blended: { poison: 'f21685596c087dcd', model: '9e9e92e84bf5ff30' },
  sig: { poison: '74cfd216de3c398d', model: '5dedbf77b04b2cfa' },
  wanet: { poison: '0dac57c6795f6b3f', model: '6bdf800d15d5eb86' },
  lc: { 'lc-robust': '9f75169549d2bc64', poison: '765d633a8df2138f', model: '35e18b737d46a668' },
  ssba: { 'ssba-encoder': '5789bf3f98efd8d8', poison: '50c9ecc0eaff9c6b', model: 'ee6f2fa6496b491d' },
};

const DATA_KEY = '0123456789abcdef';

const fashionShaped = (): Dataset => ({
  name: 'pin', images: new Uint8Array(4 * 28 * 28), labels: new Int32Array(4), n: 4, height: 28, width: 28, channels: 1,
  numClasses: 10, flipInvariant: false,
});

class Stop extends Error {}

/** Keys of the asset, poison and model stages, read off the store's calls without computing anything. */
async function stageKeys(input: unknown): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  const spy = jest.spyOn(ArtifactStore.prototype, 'getOrCompute').mockImplementation(async function (this: ArtifactStore, stage, config, inputKeys) {
    const key = this.key(stage, config, inputKeys);
    keys[stage] = key;
    if (stage === 'poison' || stage === 'model') throw new Stop(stage);
    // An asset stage: stand-ins that the poison stage only holds (SSBA's trigger reads the codec's spec).
    const value = stage === 'ssba-encoder' ? { spec: { height: 28, width: 28, channels: 1, bits: 16, amplitude: 0.1 }, params: {} } : { params: {}, state: {} };
    return { value: value as never, key, dir: '', cached: true };
  });
  try {
    const exp = new Experiment(input as never, { log: () => undefined });
    const data: DataBundle = {
      train: fashionShaped(), test: fashionShaped(), key: DATA_KEY,
      splits: { train: new Int32Array(0), defense: new Int32Array(0), attackerPool: new Int32Array(0) },
    };
    await expect(exp.poison(data)).rejects.toThrow(Stop);
    const poison = { train: fashionShaped(), poisonedIndices: new Int32Array(0), key: keys.poison } as PoisonBundle;
    await expect(exp.train(poison)).rejects.toThrow(Stop);
  } finally {
    spy.mockRestore();
  }
  return keys;
}

describe('cache keys of the existing attacks (pinned)', () => {
  for (const name of Object.keys(CONFIG_HASH)) {
    test(`${name}: the parsed default config and its stage keys are unchanged`, async () => {
      const config = parseConfig({ attack: { name } });
      expect(contentHash(config)).toBe(CONFIG_HASH[name]);
      expect(await stageKeys({ attack: { name } })).toEqual(STAGE_KEYS[name]);
    });
  }

  test('the clean twin of an attack parses to the plain clean config (with its rate: LC\'s is 0.1)', () => {
    for (const name of Object.keys(CONFIG_HASH)) {
      const attack = parseConfig({ attack: { name } }).attack;
      const twin = parseConfig({ attack: { ...attack, name: 'none' } });
      expect(twin).toEqual(parseConfig({ attack: { name: 'none', poisonRate: attack.poisonRate } }));
      if (name !== 'lc') expect(contentHash(twin)).toBe(CONFIG_HASH.none);
    }
  });

  test('settings a study or the CLI changes keep their keys', () => {
    expect(contentHash(parseConfig({ attack: { name: 'badnets', patchPosition: 'top-left', target: 3 } }))).toBe('69e7eb1d892e9d75');
    expect(contentHash(parseConfig({ attack: { name: 'blended', target: 1, poisonRate: 0.1 } }))).toBe('508e35d7a870922d');
    expect(contentHash(parseConfig({ attack: { name: 'sig', sig: { delta: 60 } } }))).toBe('06db4454fe25d99f');
    expect(contentHash(parseConfig({ attack: { name: 'lc', lc: { steps: 10, robust: { epochs: 1 } } } }))).toBe('0ade985cb512e854');
    expect(contentHash(parseConfig({ attack: { name: 'ssba', ssba: { steps: 300 } } }))).toBe('87c00682d561b33d');
    expect(contentHash(parseConfig({ attack: { name: 'wanet', wanet: { s: 1 } } }))).toBe('6403e98a5f9c7e10');
  });

  test('the asset stages key what they train on, not what only poisoning reads (SSBA\'s secret)', async () => {
    expect(await stageKeys({ attack: { name: 'lc', lc: { steps: 10, robust: { epochs: 1 } } } }))
      .toEqual({ 'lc-robust': 'ec51ef91e644b151', poison: '84bbdf5954bf1203', model: '4622738b01d71f37' });
    expect(await stageKeys({ attack: { name: 'ssba', ssba: { steps: 300, secretSeed: 2 } } }))
      .toEqual({ 'ssba-encoder': '3de905058c6f5df1', poison: 'a0b5e52267479d71', model: 'c6bd8dac0a0a0cbc' });
    expect(await stageKeys({ attack: { name: 'badnets', patchPosition: 'top-left', target: 3 } }))
      .toEqual({ poison: 'cd59f5ff7569493c', model: '030023196ffec6d3' });
  });
});

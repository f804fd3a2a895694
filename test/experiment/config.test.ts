import { ConfigError, mergeConfig, parseConfig } from '../../src/experiment/config';

function issuesOf(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected parseConfig to throw');
}

describe('parseConfig', () => {
  it('fills every default from an empty input', () => {
    const c = parseConfig({});
    expect(c).toEqual({
      dataset: 'fashion-mnist',
      model: { arch: 'cnn', width: 1 },
      attack: {
        name: 'badnets', target: 0, poisonRate: 0.05, patchSize: 3, patchPosition: 'bottom-right',
        blendAlpha: 0.2, patternSeed: 0,
      },
      train: {
        epochs: 4, batchSize: 128, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine',
        augment: { crop: 0, flip: false },
      },
      split: { defenseFraction: 0.05, attackerPoolSize: 1000 },
      seed: 0,
      runsDir: 'runs',
    });
    expect(parseConfig(undefined)).toEqual(c);
  });

  it('fills defaults inside partially given sections', () => {
    const c = parseConfig({ attack: { name: 'blended' }, train: { augment: { flip: true } } });
    expect(c.attack).toMatchObject({ name: 'blended', poisonRate: 0.05, blendAlpha: 0.2 });
    expect(c.train.augment).toEqual({ crop: 0, flip: true });
    expect(c.train.epochs).toBe(4);
  });

  it('defaults preact-resnet depth to [1,1,1] but leaves cnn depth unset', () => {
    expect(parseConfig({ model: { arch: 'preact-resnet' } }).model.depth).toEqual([1, 1, 1]);
    expect(parseConfig({ model: { arch: 'preact-resnet', depth: [2, 2] } }).model.depth).toEqual([2, 2]);
    expect(parseConfig({ model: { arch: 'cnn' } }).model.depth).toBeUndefined();
  });

  it('names the field, the rule and the offending value', () => {
    expect(() => parseConfig({ attack: { poisonRate: 1.5 } })).toThrow(
      'config.attack.poisonRate: must be between 0 and 1 (got 1.5)',
    );
  });

  it('lists every issue, with array indices in the path', () => {
    const issues = issuesOf({
      dataset: 'imagenet',
      model: { depth: [1, 0] },
      train: { epochs: 0, lr: '0.1', augment: { crop: -1.5 } },
      seed: 2.5,
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        'config.dataset: must be one of "fashion-mnist", "mnist", "cifar10", "synthetic" (got "imagenet")',
        'config.model.depth[1]: must be an integer >= 1 (got 0)',
        'config.train.epochs: must be an integer >= 1 (got 0)',
        'config.train.lr: must be a number (got "0.1")',
        'config.train.augment.crop: must be an integer >= 0 (got -1.5)',
        'config.seed: must be an integer between 0 and 4294967295 (got 2.5)',
      ]),
    );
    // -1.5 breaks two rules with the same wording; it is reported once.
    expect(issues.filter((i) => i.startsWith('config.train.augment.crop'))).toHaveLength(1);
  });

  it('rejects misspelt fields instead of ignoring them', () => {
    expect(issuesOf({ attack: { poisonrate: 0.1 } })).toEqual(['config.attack.poisonrate: is not a known field (misspelt?)']);
  });

  it('checks that depth and widths describe the same stages', () => {
    expect(issuesOf({ model: { arch: 'preact-resnet', depth: [1, 1], widths: [16, 32, 64] } })).toEqual([
      'config.model.widths: must have one entry per stage: depth has 2, widths has 3 (got [16,32,64])',
    ]);
  });

  it('rejects a non-object config', () => {
    expect(() => parseConfig(42)).toThrow('config: must be an object (got 42)');
  });

  it('mergeConfig applies nested overrides and re-validates', () => {
    const base = parseConfig({ attack: { name: 'blended', blendAlpha: 0.1 } });
    const merged = mergeConfig(base, { attack: { poisonRate: 0.1 }, model: { depth: [2] } });
    expect(merged.attack).toMatchObject({ name: 'blended', blendAlpha: 0.1, poisonRate: 0.1 });
    expect(merged.model.depth).toEqual([2]);
    expect(() => mergeConfig(base, { train: { momentum: 2 } })).toThrow('config.train.momentum');
  });
});

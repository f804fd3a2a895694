/**
 * Pins of every training loop: train(), finetune (FT with augmentation, Adam, FST, SAM, EP), BTI's and
 * PAM's unlearning and BAU's outer loop, each run on a tiny synthetic problem, must reproduce these exact
 * weights (sha256 of the Float32 bytes of every parameter and running statistic) and the exact numbers they
 * report (losses, accuracies, distances, counts). Any change to the order of random draws, of
 * floating-point ops, of batch boundaries, of batch-norm updates or of optimiser steps shows up here.
 * The two engines give different bytes, so each has its own values: wasm, and native (oneDNN, what
 * initEngine picks by default when the addon loads); an engine that is not built is skipped with a note.
 * The data size (65 images, batches of 32) leaves a last batch of one, which every loop skips or keeps.
 * PRINT_PINS=1 prints the values a run got.
 */
import { createHash } from 'crypto';
import { badnets } from '../../src/attacks/badnets';
import { makeSyntheticDataset } from '../../src/data/synthetic';
import { BAU_DEFAULTS, unlearn } from '../../src/defenses/bau';
import { bti } from '../../src/defenses/bti';
import { ep } from '../../src/defenses/ep';
import { finetune } from '../../src/defenses/finetune';
import { fst } from '../../src/defenses/fst';
import { pam } from '../../src/defenses/pam';
import { sam } from '../../src/defenses/sam';
import { DefenseData } from '../../src/defenses/types';
import { initEngine, setEngine } from '../../src/engine/backend';
import { createModel, defaultSpec, disposeModel } from '../../src/models/model';
import { Model } from '../../src/models/spec';
import { train } from '../../src/train/train';
import { testEngines } from '../engine/engines';

interface Pin { weights: string; reported: number[] }

const PINS: Record<'wasm' | 'native', Record<string, Pin>> = {
  wasm: {
    train: { weights: '31b4487d7960e532272daf237f79e9ec', reported: [1.4882925180288462, 0.26153846153846155, 1.4496739901029148, 0.24615384615384617] },
    'finetune (FT, augmented, label smoothing)': { weights: '954760015d13255d8109842ede2fe7b8', reported: [1.5074692964553833, 0.21875, 1.433228075504303, 0.296875] },
    'finetune (Adam)': { weights: '6f1dc2398b86df89befba0a2a3992196', reported: [1.456013023853302, 0.21875, 1.3764249682426453, 0.265625] },
    FST: { weights: '6610475aae13fcfb6d69604ccca6c6e3', reported: [0.0022257468663156033] },
    SAM: { weights: '66dd67060fed59ac5c2617db6f638a02', reported: [128] },
    EP: { weights: 'f411f6497ab75e3b4eba810e4e35726f', reported: [24] },
    BTI: { weights: '9ae74703677fb304bc7eb78dcdb6cec3', reported: [1.4406296610832214, 1.4012321829795837] },
    PAM: { weights: '269656aab1652e4b84670a15a74c1fd4', reported: [3.9267889261245728, 0.34201447236172156, 1.4738649725914001, 0.5301495823664335] },
    BAU: { weights: '86cd62aa73fab48fe263f181ec6e04c7', reported: [1.3635536432266235, 0.0008477828357470156, 1.6000003814697266, 1.3298850258191426, 0.0007137669858608979, 1.5999996662139893] },
  },
  native: {
    train: { weights: '80878bf39b34ef135e4a282725466205', reported: [1.4882923419658953, 0.26153846153846155, 1.4496739901029148, 0.24615384615384617] },
    'finetune (FT, augmented, label smoothing)': { weights: '84bb0dc202f6326904b3a8b8cfdce6c2', reported: [1.5074691772460938, 0.21875, 1.4332279562950134, 0.296875] },
    'finetune (Adam)': { weights: 'fa4183e2a6e2bedffc2bf6be2dc2d265', reported: [1.4560129642486572, 0.21875, 1.3764249682426453, 0.265625] },
    FST: { weights: '8674b6623e1d1d0846c4124e32a6c02d', reported: [0.0022257640957832336] },
    SAM: { weights: '67b89460f87ff15961f79a9384871c90', reported: [128] },
    EP: { weights: '3da1eb2aa5b1dbc5099c8251baf723d3', reported: [24] },
    BTI: { weights: '64993f31a6a506bd347aefef5cc49aa6', reported: [1.440629482269287, 1.4012321829795837] },
    PAM: { weights: '621cbbdce40f38a668919062a702021c', reported: [3.9267884492874146, 0.3420144287929157, 1.4738650918006897, 0.5301495823664335] },
    BAU: { weights: '7cc1b9a4850fa4c7435ffd69f5dfd3c7', reported: [1.3635536432266235, 0.0008477828803033602, 1.600000262260437, 1.3298858404159546, 0.0007137911523572919, 1.600000262260437] },
  },
};

const data = makeSyntheticDataset({ n: 65, seed: 7, height: 16 });
const spec = defaultSpec('cnn', [16, 16, 1], data.numClasses, { widths: [4, 8] });
const defenseData: DefenseData = {
  clean: data, oracle: { trigger: badnets({}), target: 0 }, progress: 'silent',
};
const recipe = { epochs: 2, batchSize: 32, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine' as const };
const reversal = {
  batchSize: 32, generatorFilters: 4, pretrainEpochs: 1, maskEpochs: 1, generatorEpochs: 1, scanSteps: 3, scanBatchSize: 16,
  rounds: 2, unlearnEpochs: 2,
};

function fingerprint(m: Model): string {
  const h = createHash('sha256');
  for (const rec of [m.params, m.state]) {
    for (const name of Object.keys(rec).sort()) {
      h.update(name);
      const v = rec[name].dataSync() as Float32Array;
      h.update(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    }
  }
  return h.digest('hex').slice(0, 32);
}

type Run = () => Promise<{ model: Model; reported: number[] }>;

const runs: Record<string, Run> = {
  train: async () => {
    const r = await train(createModel(spec, 1), data, { ...recipe, augment: { crop: 1, flip: true }, seed: 3, progress: 'silent' });
    return { model: r.model, reported: r.history.flatMap((h) => [h.loss, h.trainAccuracy]) };
  },
  'finetune (FT, augmented, label smoothing)': async () => {
    const r = await finetune(createModel(spec, 1), data, {
      ...recipe, augment: { crop: 1, flip: true }, labelSmoothing: 0.1, seed: 3, progress: 'silent',
    });
    return { model: r.model, reported: r.history.flatMap((h) => [h.loss, h.trainAccuracy]) };
  },
  'finetune (Adam)': async () => {
    const r = await finetune(createModel(spec, 1), data, { ...recipe, optimizer: 'adam', lr: 1e-3, seed: 3, progress: 'silent' });
    return { model: r.model, reported: r.history.flatMap((h) => [h.loss, h.trainAccuracy]) };
  },
  FST: async () => {
    const r = await fst.purify(createModel(spec, 1), defenseData, { ...fst.defaults, ...recipe, alpha: 0.01, seed: 3 });
    return { model: r.model, reported: [r.report.details!.headCosineToOriginal as number] };
  },
  SAM: async () => {
    const r = await sam.purify(createModel(spec, 1), defenseData, { ...sam.defaults, ...recipe, rho: 2, seed: 3 });
    return { model: r.model, reported: [r.report.samplesSeen] };
  },
  EP: async () => {
    const r = await ep.purify(createModel(spec, 1), defenseData, { ...ep.defaults, ...recipe, seed: 3 });
    return { model: r.model, reported: [r.report.details!.triggeredSamples as number] };
  },
  BTI: async () => {
    const r = await bti.purify(createModel(spec, 1), defenseData, { ...bti.defaults, ...reversal, seed: 3 });
    const rounds = r.report.details!.rounds as { unlearnLoss: number }[];
    return { model: r.model, reported: rounds.map((x) => x.unlearnLoss) };
  },
  PAM: async () => {
    const r = await pam.purify(createModel(spec, 1), defenseData, { ...pam.defaults, ...reversal, seed: 3 });
    const rounds = r.report.details!.rounds as { loss: number; distanceToBackdoored: number }[];
    return { model: r.model, reported: rounds.flatMap((x) => [x.loss, x.distanceToBackdoored]) };
  },
  BAU: async () => {
    const r = unlearn(createModel(spec, 1), data, {
      ...BAU_DEFAULTS, rounds: 2, K: 2, batchSize: 32, innerBatchSize: 8, unlearnPasses: 2, portion: 0.2, schedule: 'cosine', seed: 3,
    }, { progress: 'silent' });
    return { model: r.model, reported: r.rounds.flatMap((x) => [x.outerLoss, x.implicitRatio, x.perturbationNorm]) };
  },
};

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

describe.each(testEngines())('training loops on the %s engine reproduce their pinned results', (engine) => {
  beforeAll(() => { setEngine(engine); });

  test.each(Object.keys(runs))('%s', async (name) => {
    const { model, reported } = await runs[name]();
    const got: Pin = { weights: fingerprint(model), reported };
    disposeModel(model);
    const pin = PINS[engine][name];
    if (!pin || process.env.PRINT_PINS) {
      // eslint-disable-next-line no-console
      console.log(`PIN ${engine} ${JSON.stringify(name)}: ${JSON.stringify(got)}`);
    }
    expect(pin).toBeDefined();
    expect(got).toEqual(pin);
  });
});

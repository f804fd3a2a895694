import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { triggerFromConfig } from '../../src/attacks/registry';
import { subset } from '../../src/data/dataset';
import { Experiment } from '../../src/experiment/runner';
import { evaluate } from '../../src/metrics';
import * as W from '../../src/models/weights';
import { initEngine } from '../../src/engine/backend';
import { ANP_DEFAULTS, AnpCandidate, AnpConfig, anp, pruningCandidates, selectCandidate } from '../../src/defenses/anp';
import { anpOracle } from '../../src/defenses/anpOracle';
import { parseDefenseConfig } from '../../src/defenses/config';
import { getDefense } from '../../src/defenses/registry';
import {
  anpIteration, batchNormLayers, disposeNoise, disposeVars, maskedParams, NeuronNoise, NeuronVars, noiseAscentStep,
  pruneNeurons, rankNeurons,
} from '../../src/defenses/anpMasks';
import { createModel, defaultSpec, disposeModel } from '../../src/models/model';
import { Model } from '../../src/models/spec';
import { Sgd } from '../../src/train/sgd';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', quiet: true });
});

const vec = (v: number[]) => tf.tensor1d(v);
const vars = (v: number[]): NeuronVars => ({ 'stage0/bn': vec(v) });
const values = (t: tf.Tensor) => Array.from(t.dataSync());

/**
 * The toy network of the hand computation: one 1×1 input pixel, a 3×3 conv to 2 channels (only the centre
 * tap sees the pixel), BN + ReLU, and an identity head. With the batch x = [1, −1] each channel's batch mean
 * is 0, so the normalised values are x̂_c = ±w_c / sqrt(w_c² + 1e-5) ≈ ±1, and
 *   z_c = γ_c (m_c + δ_c) x̂_c + β_c (1 + ξ_c),   logits = relu(z),   labels [0, 1].
 * With γ = [1, 0.5], β = [0.5, 1] sample 2's channel 0 is switched off by the ReLU, so its gradient is 0.
 */
function toyModel(): Model {
  const spec = defaultSpec('cnn', [1, 1, 1], 2, { widths: [2] });
  const m = createModel(spec, 0);
  const w = new Float32Array(9 * 2);
  w[4 * 2 + 0] = 1; // centre tap, channel 0
  w[4 * 2 + 1] = 2; // centre tap, channel 1
  const set = (k: string, t: tf.Tensor) => { m.params[k].dispose(); m.params[k] = t; };
  set('stage0/conv/w', tf.tensor4d(w, [3, 3, 1, 2]));
  set('stage0/bn/gamma', vec([1, 0.5]));
  set('stage0/bn/beta', vec([0.5, 1]));
  set('head/w', tf.tensor2d([[1, 0], [0, 1]]));
  set('head/b', vec([0, 0]));
  return m;
}

const toyBatch = () => ({ x: tf.tensor4d([1, -1], [2, 1, 1, 1]), y: tf.tensor1d([0, 1], 'int32') });
const toyNoise = (): NeuronNoise => ({ weight: vars([0.1, -0.2]), bias: vars([0.3, -0.1]) });

describe('ANP masks on a hand-computed toy network', () => {
  /*
   * Hand computation (x̂ ≈ [[1, −1], [1, −1]] per channel; exact values keep the 1e-5 BN epsilon).
   * Masks m0 = [0.9, 0.7], noise δ0 = [0.1, −0.2], ξ0 = [0.3, −0.1]:
   *   sample 1: z = [1·1.0·1 + 0.5·1.3, 0.5·0.5·1 + 1·0.9] = [1.65, 1.15], p = softmax = [0.6225, 0.3775]
   *   sample 2: z = [−1.0 + 0.65, −0.25 + 0.9] = [−0.35 → off, 0.65],     p = [0.3430, 0.6570]
   *   ∂L/∂z = (p − onehot)/2 on active units: s1 [−0.1887, 0.1887], s2 [0, −0.1715]
   *   ∂L/∂δ_c = Σ ∂L/∂z·γ_c·x̂_c = [−0.1888, 0.1801]  → δ1 = δ0 + 0.4·sign = [−0.3, 0.2]
   *   ∂L/∂ξ_c = Σ ∂L/∂z·β_c     = [−0.0944, 0.0173]  → ξ1 = ξ0 + 0.4·sign = [−0.1, 0.3]
   * Mask step (α = 0.2): L = 0.2·L(m0) + 0.8·L(m0, δ1, ξ1) = 0.69247, ∂L/∂m = [−0.31602, 0.23505],
   *   m1 = clip(m0 − 0.2·g) = [0.96320, 0.65299].
   * A second iteration on the same batch and draw: g2 = [−0.30606, 0.22882], momentum buffer 0.9·g + g2,
   *   m2 = clip(m1 − 0.2·buffer) = [1 (clipped from 1.0824), 0.56492].
   * (.tmp/anp/hand.py evaluates the same formulas in double precision.)
   */
  test('one noise-ascent step moves δ and ξ by ε/steps against the loss gradient', () => {
    const model = toyModel();
    const { x, y } = toyBatch();
    const masks = vars([0.9, 0.7]);
    const noise = toyNoise();
    const next = noiseAscentStep(model, masks, noise, x, y, 0.4);
    expect(values(next.weight['stage0/bn'])).toEqual([expect.closeTo(-0.3, 6), expect.closeTo(0.2, 6)]);
    expect(values(next.bias['stage0/bn'])).toEqual([expect.closeTo(-0.1, 6), expect.closeTo(0.3, 6)]);
    [next, noise].forEach(disposeNoise);
    disposeVars(masks);
    x.dispose(); y.dispose();
    disposeModel(model);
  });

  test('one mask step (with its noise step) gives the hand-computed masks and loss; a second applies momentum and the clip', () => {
    const model = toyModel();
    const { x, y } = toyBatch();
    const noise = toyNoise();
    const opt = new Sgd({ lr: 0.2, momentum: 0.9, weightDecay: 0 });
    const cfg = { eps: 0.4, steps: 1, alpha: 0.2 };
    const before = tf.memory().numTensors;
    const first = anpIteration(model, vars([0.9, 0.7]), opt, x, y, noise, cfg);
    expect(first.loss).toBeCloseTo(0.6924727, 5);
    expect(values(first.masks['stage0/bn'])).toEqual([expect.closeTo(0.9632048, 5), expect.closeTo(0.6529903, 5)]);
    const second = anpIteration(model, first.masks, opt, x, y, noise, cfg);
    expect(values(second.masks['stage0/bn'])).toEqual([1, expect.closeTo(0.5649170, 5)]);
    // Old masks consumed, the caller's noise kept: only the new masks and the momentum buffer remain.
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(values(noise.weight['stage0/bn'])).toEqual([expect.closeTo(0.1, 6), expect.closeTo(-0.2, 6)]);
    disposeVars(second.masks);
    disposeNoise(noise);
    opt.dispose();
    x.dispose(); y.dispose();
    disposeModel(model);
  });

  test('masks scale the BN weight only; noise perturbs weight and bias relatively', () => {
    const model = toyModel();
    const p = maskedParams(model.params, vars([0.5, 0]), toyNoise());
    expect(values(p['stage0/bn/gamma'])).toEqual([expect.closeTo(1 * (0.5 + 0.1), 6), expect.closeTo(0.5 * (0 - 0.2), 6)]);
    expect(values(p['stage0/bn/beta'])).toEqual([expect.closeTo(0.5 * 1.3, 6), expect.closeTo(1 * 0.9, 6)]);
    const q = maskedParams(model.params, vars([0.5, 0]));
    expect(values(q['stage0/bn/gamma'])).toEqual([0.5, 0]);
    expect(q['stage0/bn/beta']).toBe(model.params['stage0/bn/beta']);
    disposeModel(model);
  });

  test('finds every batch-norm layer of a model', () => {
    const m = createModel(defaultSpec('cnn', [8, 8, 1], 3, { widths: [4, 6, 8] }), 0);
    expect(batchNormLayers(m)).toEqual([
      { name: 'stage0/bn', channels: 4 }, { name: 'stage1/bn', channels: 6 }, { name: 'stage2/bn', channels: 8 },
    ]);
    disposeModel(m);
  });
});

describe('ANP pruning', () => {
  const masks = (): NeuronVars => ({ 'stage0/bn': vec([0.9, 0.05, 0.3, 0.2]), 'stage1/bn': vec([0, 1, 0.15]) });

  test('ranks neurons by mask value and a threshold prunes exactly the masks at or below it', () => {
    const m = masks();
    const ranked = rankNeurons(m);
    expect(ranked.map((r) => `${r.layer}#${r.index}`)).toEqual([
      'stage1/bn#0', 'stage0/bn#1', 'stage1/bn#2', 'stage0/bn#3', 'stage0/bn#2', 'stage0/bn#0', 'stage1/bn#1',
    ]);
    const byThreshold = pruningCandidates(ranked, { ...ANP_DEFAULTS, pruneBy: 'threshold', maxThreshold: 0.3, thresholdStep: 0.1 });
    expect(byThreshold.map((c) => [c.at, c.neurons.length])).toEqual([[0, 1], [0.1, 2], [0.2, 4], [0.3, 5]]);
    const byCount = pruningCandidates(ranked, { ...ANP_DEFAULTS, pruneBy: 'count', maxPrunedFraction: 0.5, countStep: 1 });
    expect(byCount.map((c) => c.neurons.length)).toEqual([0, 1, 2, 3]);
    disposeVars(m);
  });

  test('pruning zeroes the BN weight of exactly those channels and leaves the input model untouched', () => {
    const model = createModel(defaultSpec('cnn', [8, 8, 1], 3, { widths: [4, 3] }), 0);
    for (const k of ['stage0/bn/gamma', 'stage0/bn/beta', 'stage1/bn/gamma', 'stage1/bn/beta']) {
      const n = model.params[k].shape[0];
      model.params[k].dispose();
      model.params[k] = vec(Array.from({ length: n }, (_, i) => i + 1));
    }
    const m = masks();
    const at02 = pruningCandidates(rankNeurons(m), { ...ANP_DEFAULTS, pruneBy: 'threshold', maxThreshold: 0.2, thresholdStep: 0.2 })[1];
    const pruned = pruneNeurons(model, at02.neurons);
    expect(values(pruned.params['stage0/bn/gamma'])).toEqual([1, 0, 3, 0]);
    expect(values(pruned.params['stage1/bn/gamma'])).toEqual([0, 2, 0]);
    expect(values(pruned.params['stage0/bn/beta'])).toEqual([1, 2, 3, 4]);
    expect(values(model.params['stage0/bn/gamma'])).toEqual([1, 2, 3, 4]);
    const both = pruneNeurons(model, at02.neurons, { zeroBeta: true });
    expect(values(both.params['stage1/bn/beta'])).toEqual([0, 2, 0]);
    expect(() => pruneNeurons(model, [{ layer: 'stage1/bn', index: 3 }])).toThrow(/has 3 channels/);
    [pruned, both, model].forEach(disposeModel);
    disposeVars(m);
  });
});

describe('ANP selection', () => {
  const cands: AnpCandidate[] = [
    { at: 0, pruned: 0, holdoutAccuracy: 0.90, validationAsr: 0.99 },
    { at: 1, pruned: 1, holdoutAccuracy: 0.895, validationAsr: 0.60 },
    { at: 2, pruned: 2, holdoutAccuracy: 0.885, validationAsr: 0.05 },
    { at: 3, pruned: 3, holdoutAccuracy: 0.85, validationAsr: 0.02 },
    { at: 4, pruned: 4, holdoutAccuracy: 0.70, validationAsr: 0.01 },
  ];
  const cfg = (over: Partial<AnpConfig>): AnpConfig => ({ ...ANP_DEFAULTS, ...over });

  test('clean-accuracy: the most pruning within the tolerance of the unpruned model', () => {
    expect(selectCandidate(cands, 0.90, cfg({ selection: 'clean-accuracy', accuracyTolerance: 0.02 }))).toBe(2);
    expect(selectCandidate(cands, 0.90, cfg({ selection: 'clean-accuracy', accuracyTolerance: 0.06 }))).toBe(3);
    expect(selectCandidate(cands, 0.95, cfg({ selection: 'clean-accuracy', accuracyTolerance: 0.01 }))).toBe(0);
  });

  test('oracle-asr: the lowest ASR among candidates within the relative accuracy budget (BackdoorBench)', () => {
    expect(selectCandidate(cands, 0.90, cfg({ selection: 'oracle-asr', accRatio: 0.1 }))).toBe(3);
    expect(selectCandidate(cands, 0.90, cfg({ selection: 'oracle-asr', accRatio: 0.02 }))).toBe(2);
  });

  test('fixed: the named candidate, and a clear error for one that was not evaluated', () => {
    expect(selectCandidate(cands, 0.90, cfg({ selection: 'fixed', fixedAt: 3 }))).toBe(3);
    expect(() => selectCandidate(cands, 0.90, cfg({ selection: 'fixed', fixedAt: 7 }))).toThrow(/fixedAt 7/);
  });

  test('the oracle selection refuses to run without triggered validation data', async () => {
    const model = toyModel();
    const clean = { name: 'c', images: new Uint8Array(4), labels: new Int32Array(4), n: 4, height: 1, width: 1, channels: 1, numClasses: 2, flipInvariant: false };
    await expect(anp.purify(model, { clean }, { ...ANP_DEFAULTS, selection: 'oracle-asr', seed: 0 }))
      .rejects.toThrow(/"oracle-asr" needs triggered images/);
    await expect(anp.purify(model, { clean }, { ...ANP_DEFAULTS, eps: -1, seed: 0 })).rejects.toThrow(/eps must be >= 0/);
    disposeModel(model);
  });

  test('ANP-oracle: registered beside ANP, ANP\'s settings with the ASR selection, and no other selection', async () => {
    expect(getDefense('anp-oracle')).toBe(anpOracle);
    expect(anpOracle.defaults).toEqual({ ...ANP_DEFAULTS, selection: 'oracle-asr' });
    expect(parseDefenseConfig(anpOracle, { accRatio: 0.05 })).toMatchObject({ selection: 'oracle-asr', accRatio: 0.05 });
    expect(() => parseDefenseConfig(anpOracle, { selection: 'clean-accuracy' })).toThrow(/ANP-oracle selects by ASR/);
    const model = toyModel();
    const clean = { name: 'c', images: new Uint8Array(4), labels: new Int32Array(4), n: 4, height: 1, width: 1, channels: 1, numClasses: 2, flipInvariant: false };
    await expect(anpOracle.purify(model, { clean }, { ...anpOracle.defaults, seed: 0 })).rejects.toThrow(/"oracle-asr" needs triggered images/);
    disposeModel(model);
  });
});

describe('ANP on a synthetic backdoored model (acceptance)', () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-anp-'));
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  /*
   * A small PreAct-ResNet, whose global average pool makes a backdoor live in channels that pruning can
   * remove. (On the flattening `cnn` the trigger's location is kept up to the head, and ANP's channel
   * pruning barely touches the backdoor: see the header of src/defenses/anp.ts.)
   */
  test('lowers ASR by at least 50 points, keeps accuracy within 10 points, leaves the input alone and leaks nothing', async () => {
    const run = await new Experiment({
      dataset: 'synthetic', runsDir, model: { arch: 'preact-resnet', widths: [8, 16], depth: [1, 1] },
      attack: { name: 'badnets', poisonRate: 0.1, target: 0 }, train: { epochs: 5, batchSize: 32, lr: 0.05 },
    }, { log: () => undefined, progress: 'silent' }).run();
    const model = run.trained.model;
    // 400 clean training images: the synthetic set's 5% split (100) leaves too few to hold out for selection.
    const clean = subset(run.data.train, Int32Array.from({ length: 400 }, (_, i) => i));
    const before = evaluate(model, run.data.test, run.poison.backdoorTest, 0);
    const weights = W.clone(model.params);
    const tensors = tf.memory().numTensors;
    // 200 batches of 64 on the 320 mask images are 40 passes, above the default cap of 32: raise the cap.
    const out = await anp.purify(model, { clean, progress: 'silent' }, { ...ANP_DEFAULTS, iterations: 200, maxEpochs: 40, batchSize: 64, seed: 0 });
    const after = evaluate(out.model, run.data.test, run.poison.backdoorTest, 0);
    expect(before.asr!).toBeGreaterThan(0.9);
    expect(before.asr! - after.asr!).toBeGreaterThanOrEqual(0.5);
    expect(before.cleanAccuracy - after.cleanAccuracy).toBeLessThanOrEqual(0.1);
    expect(out.report.details?.chosen).toMatchObject({ pruned: expect.any(Number) });
    expect(out.report.dataUsed).toMatch(/400 clean images \(320 for masks, 80 held out/);
    expect(out.report.samplesSeen).toBe(200 * 64);
    expect(W.distance(model.params, weights)).toBe(0);
    const own = Object.keys(out.model.params).length + Object.keys(out.model.state).length;
    expect(tf.memory().numTensors).toBe(tensors + own);
    disposeModel(out.model);
    Object.values(weights).forEach((t) => t.dispose());
    // The labelled oracle variant stamps the real trigger on the held-out images of the other classes and
    // picks the candidate with the lowest ASR there.
    const oracle = await anp.purify(model, { clean, progress: 'silent', oracle: { trigger: triggerFromConfig(run.config.attack), target: 0 } },
      { ...ANP_DEFAULTS, iterations: 200, maxEpochs: 40, batchSize: 64, selection: 'oracle-asr', seed: 0 });
    expect(oracle.report.dataUsed).toMatch(/triggered images for selection \(oracle\)/);
    const cands = oracle.report.details?.candidates as AnpCandidate[];
    expect(cands.every((x) => typeof x.validationAsr === 'number')).toBe(true);
    const chosen = oracle.report.details?.chosen as AnpCandidate;
    const base = oracle.report.details?.unprunedHoldoutAccuracy as number;
    const allowed = cands.filter((x) => (base - x.holdoutAccuracy) / base < 0.1);
    expect(chosen.validationAsr).toBe(Math.min(...allowed.map((x) => x.validationAsr!)));
    disposeModel(oracle.model);
    // maxEpochs caps the mask optimisation by passes over its data: 2 passes over 320 images = 10 batches of 64.
    const capped = await anp.purify(model, { clean, progress: 'silent' }, { ...ANP_DEFAULTS, maxEpochs: 2, batchSize: 64, seed: 0 });
    expect(capped.report.details?.iterations).toBe(10);
    expect(capped.report.samplesSeen).toBe(10 * 64);
    disposeModel(capped.model);
  });
});

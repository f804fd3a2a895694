/**
 * `npm run bench`: speed and memory on this machine, measured in one run so the ratios are comparable.
 *   1. matmul roofline (1024² GEMM) and conv-layer training (forward + both gradients) GFLOP/s;
 *   2. per model: training and inference images/s on the active backend (28x28x1 inputs, batch 128);
 *   3. the same training step with stock gradients on stock wasm and cpu, and the speed-up;
 *   4. numTensors before and after an epoch, and peak RSS over one epoch of full Fashion-MNIST;
 *   5. evaluation: the fused inference kernels vs the TF.js forward pass, and one 21-point LMC path over
 *      the full test set (10,000 clean + 9,000 BadNets images), the issue's ≤ 60 s target;
 *   6. one BEC evaluation on the full test set (the neuron selection and clean anchor, then one subject).
 * Each timing is the median of several repeats. Results go to stdout (Markdown) and reports/bench.json.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { initEngine } from './engine/backend';
import { installFastConvGradients, uninstallFastConvGradients } from './engine/convGradients';
import { installFastMatMulGradients, uninstallFastMatMulGradients } from './engine/matmulGradients';
import { loadFashionMnist } from './data/fashionMnist';
import { Dataset } from './data/dataset';
import { createModel, defaultSpec, disposeModel, forward } from './models/model';
import { InferenceInput, InferenceModel } from './models/inference';
import { DEFAULT_TS, linearPath } from './analysis/lmc';
import { BEC_DEFAULTS, becOf, becReference, nonTargetIndices } from './analysis/bec';
import { subset } from './data/dataset';
import { badnets } from './attacks/badnets';
import { backdoorTestSet } from './attacks/poison';
import { Model, ModelSpec } from './models/spec';
import { Sgd } from './train/sgd';
import { train, trainStep } from './train/train';

const BATCH = 128;
const quick = process.argv.includes('--quick');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median milliseconds of `fn` over `repeats` runs after `warmup` runs. */
function timeMs(fn: () => void, repeats: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

function matmulRoofline(): number {
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  const ms = timeMs(() => tf.tidy(() => { tf.matMul(a, b).dataSync(); }), quick ? 3 : 7);
  a.dispose();
  b.dispose();
  return (2 * 1024 ** 3) / ms / 1e6;
}

interface ConvCase { name: string; x: [number, number, number, number]; cout: number }

/** Forward + input gradient + filter gradient of one 3x3 'same' conv, as GFLOP/s of useful work. */
function convTraining(c: ConvCase): { gflops: number; ms: number } {
  const x = tf.randomNormal(c.x) as tf.Tensor4D;
  const f = tf.randomNormal([3, 3, c.x[3], c.cout]) as tf.Tensor4D;
  const w = tf.randomNormal([c.x[0], c.x[1], c.x[2], c.cout]);
  const step = tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 1, 'same'), w)));
  const ms = timeMs(() => tf.tidy(() => { const [gx, gf] = step([x, f]); gx.dataSync(); gf.dataSync(); }), quick ? 3 : 7);
  const fwdFlops = 2 * c.x[0] * c.x[1] * c.x[2] * 9 * c.x[3] * c.cout;
  tf.dispose([x, f, w]);
  return { gflops: (3 * fwdFlops) / ms / 1e6, ms };
}

function syntheticBatch(spec: ModelSpec): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return {
    x: tf.randomUniform([BATCH, ...spec.inputShape], 0, 1, 'float32', 1) as tf.Tensor4D,
    y: tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % spec.numClasses), 'int32'),
  };
}

function throughput(model: Model, repeats: number): { trainImgS: number; inferImgS: number; stepMs: number } {
  const { x, y } = syntheticBatch(model.spec);
  const opt = new Sgd({ lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const stepMs = timeMs(() => { trainStep(model, opt, x, y, 0.01); }, repeats);
  const inferMs = timeMs(() => tf.tidy(() => { tf.argMax(forward(model, x), 1).dataSync(); }), repeats);
  opt.dispose();
  tf.dispose([x, y]);
  return { trainImgS: (BATCH * 1000) / stepMs, inferImgS: (BATCH * 1000) / inferMs, stepMs };
}

/** One training step on a stock backend with TF.js's own conv gradients; an error is a result too. */
async function stockStep(backend: 'wasm' | 'cpu', spec: ModelSpec, batch: number): Promise<{ imgS?: number; error?: string }> {
  await tf.setBackend(backend);
  uninstallFastConvGradients();
  uninstallFastMatMulGradients();
  const model = createModel(spec, 0);
  const opt = new Sgd({ lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const x = tf.randomUniform([batch, ...spec.inputShape]) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % spec.numClasses), 'int32');
  try {
    // The stock path must not use the project's custom batch-norm gradient either.
    const ms = timeMs(() => { trainStep(model, opt, x, y, 0.01, 0, 'autodiff'); }, backend === 'cpu' ? 1 : 3, 1);
    return { imgS: (batch * 1000) / ms };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  } finally {
    tf.dispose([x, y]);
    opt.dispose();
    disposeModel(model);
    installFastConvGradients();
    installFastMatMulGradients();
    await tf.setBackend('wasm');
  }
}

/**
 * Eval-mode throughput of the fused kernels vs `forward` (batch 500, as evaluation uses), and the wall
 * time of one LMC path. The path runs between two differently initialised (untrained) models: every
 * point does the same arithmetic whatever the weights, so the time is that of a path between real models.
 */
async function evaluationBench(spec: ModelSpec): Promise<Record<string, unknown>> {
  console.log('\n## Evaluation: fused kernels and one LMC path\n');
  const batch = 500;
  const model = createModel(spec, 0);
  const x = tf.randomUniform([batch, ...spec.inputShape], 0, 1, 'float32', 3) as tf.Tensor4D;
  const inference = new InferenceModel(model);
  const input = new InferenceInput(x.dataSync() as Float32Array, batch, spec.inputShape);
  const plainMs = timeMs(() => tf.tidy(() => { tf.argMax(forward(model, x), 1).dataSync(); }), quick ? 3 : 9);
  const fusedMs = timeMs(() => {
    const logits = inference.logits(input);
    tf.tidy(() => tf.argMax(logits, 1).dataSync());
    logits.dispose();
  }, quick ? 3 : 9);
  input.dispose();
  tf.dispose(x);
  console.log(`cnn eval-mode forward, batch ${batch}: TF.js ${(batch * 1000 / plainMs).toFixed(0)} img/s, fused ` +
    `(${inference.fusedStageCount} stages) ${(batch * 1000 / fusedMs).toFixed(0)} img/s: ${(plainMs / fusedMs).toFixed(2)}x`);

  let test: Dataset;
  try {
    test = (await loadFashionMnist({ split: 'test' })).test;
  } catch {
    const { makeSyntheticDataset } = await import('./data/synthetic');
    test = makeSyntheticDataset({ n: 10000, seed: 1, height: 28 });
  }
  if (quick) test = { ...test, n: 1000, images: test.images.subarray(0, 1000 * 784), labels: test.labels.subarray(0, 1000) };
  const backdoor = backdoorTestSet(test, badnets(), 0);
  const other = createModel(spec, 1);
  const ts = quick ? [0, 0.5, 1] : DEFAULT_TS;
  const t0 = performance.now();
  linearPath(model, other, test, backdoor, 0, { ts });
  const lmcS = (performance.now() - t0) / 1000;
  disposeModel(model);
  disposeModel(other);
  console.log(`one LMC path: ${ts.length} points × ${(test.n + backdoor.n).toLocaleString()} images (${test.name} + ` +
    `BadNets) in ${lmcS.toFixed(1)} s (target ≤ 60 s for 21 points on the full test set)`);
  return { batch, plainImgS: batch * 1000 / plainMs, fusedImgS: batch * 1000 / fusedMs, fusedStages: inference.fusedStageCount,
    lmc: { points: ts.length, images: test.n + backdoor.n, seconds: lmcS } };
}

/**
 * One BEC evaluation on the full test set: the per-attack part (TAC on 9,000 clean/triggered pairs, channel
 * selection, the clean model's anchor) and the per-subject part, timed apart, each the median of three. The
 * models are untrained: the arithmetic does not depend on the weights.
 */
async function becBench(spec: ModelSpec): Promise<Record<string, unknown>> {
  console.log('\n## BEC (backdoor existence coefficient)\n');
  let test: Dataset;
  try {
    test = (await loadFashionMnist({ split: 'test' })).test;
  } catch {
    const { makeSyntheticDataset } = await import('./data/synthetic');
    test = makeSyntheticDataset({ n: 10000, seed: 1, height: 28 });
  }
  if (quick) test = { ...test, n: 1000, images: test.images.subarray(0, 1000 * 784), labels: test.labels.subarray(0, 1000) };
  const triggered = backdoorTestSet(test, badnets(), 0);
  const pairs = subset(test, nonTargetIndices(test, 0));
  const [bd, clean, subject] = [0, 1, 2].map((s) => createModel(spec, s));
  const before = tf.memory().numTensors;
  let ref = becReference(bd, clean, pairs, triggered);
  const times = (fn: () => void) => Array.from({ length: quick ? 1 : 3 }, () => { const t = performance.now(); fn(); return (performance.now() - t) / 1000; });
  const refS = median(times(() => { ref = becReference(bd, clean, pairs, triggered); }));
  const subjectS = median(times(() => { becOf(bd, subject, triggered, ref); }));
  const leaked = tf.memory().numTensors - before;
  [bd, clean, subject].forEach(disposeModel);
  console.log(`${triggered.n.toLocaleString()} triggered test images (${test.name} + BadNets), top ${100 * BEC_DEFAULTS.topFraction}% channels: ` +
    `one subject's BEC ${subjectS.toFixed(1)} s (target < 10 s), after the per-backdoored-model part (neuron selection + clean ` +
    `anchor, cached once per attack) ${refS.toFixed(1)} s; from nothing ${(refS + subjectS).toFixed(1)} s; tensors leaked: ${leaked}`);
  return { images: triggered.n, referenceSeconds: refS, subjectSeconds: subjectS, leakedTensors: leaked };
}

async function main(): Promise<void> {
  const engine = await initEngine();
  const out: Record<string, unknown> = { date: new Date().toISOString(), engine, node: process.version, batch: BATCH };
  console.log(`# superficial-safety bench — backend ${engine.backend}${engine.simd ? ' (SIMD)' : ''}, ` +
    `TF.js ${engine.tfjsVersion}, Node ${process.version}, batch ${BATCH}, medians`);

  const roofline = matmulRoofline();
  out.matmulGflops = roofline;
  console.log(`\n## Conv training vs matmul roofline\n\nmatmul 1024x1024x1024: ${roofline.toFixed(1)} GFLOP/s\n`);
  console.log('| conv layer (3x3, same) | fwd + dx + dw ms | GFLOP/s | % of matmul |\n|---|---|---|---|');
  const cases: ConvCase[] = [
    { name: 'cnn stage 1: 128x14x14x16 → 32', x: [BATCH, 14, 14, 16], cout: 32 },
    { name: 'cnn stage 2: 128x7x7x32 → 64', x: [BATCH, 7, 7, 32], cout: 64 },
    { name: 'resnet stage 0: 128x28x28x16 → 16', x: [BATCH, 28, 28, 16], cout: 16 },
    { name: 'wide: 128x14x14x64 → 64', x: [BATCH, 14, 14, 64], cout: 64 },
  ];
  const convRows = cases.map((c) => ({ ...c, ...convTraining(c) }));
  for (const r of convRows) {
    console.log(`| ${r.name} | ${r.ms.toFixed(1)} | ${r.gflops.toFixed(1)} | ${(100 * r.gflops / roofline).toFixed(0)}% |`);
  }
  out.conv = convRows.map((r) => ({ name: r.name, ms: r.ms, gflops: r.gflops, fractionOfMatmul: r.gflops / roofline }));

  const specs: ModelSpec[] = [
    defaultSpec('cnn', [28, 28, 1], 10),
    defaultSpec('preact-resnet', [28, 28, 1], 10, { widths: [16, 32, 64], depth: [1, 1, 1] }),
  ];
  console.log('\n## Models (28x28x1 inputs)\n');
  console.log('| model | params | train img/s | inference img/s | stock wasm train | stock cpu train | speed-up vs stock cpu |\n|---|---|---|---|---|---|---|');
  const modelRows = [];
  for (const spec of specs) {
    const model = createModel(spec, 0);
    const params = Object.values(model.params).reduce((s, t) => s + t.size, 0);
    const t = throughput(model, quick ? 3 : 10);
    disposeModel(model);
    const stockWasm = await stockStep('wasm', spec, BATCH);
    const stockCpu = quick ? { error: 'skipped (--quick)' } : await stockStep('cpu', spec, 32);
    const speedup = stockCpu.imgS ? t.trainImgS / stockCpu.imgS : undefined;
    const name = `${spec.arch} [${spec.widths}]${spec.depth ? ` depth [${spec.depth}]` : ''}`;
    const fmt = (r: { imgS?: number; error?: string }) => r.imgS ? r.imgS.toFixed(1) : `fails: ${r.error}`;
    console.log(`| ${name} | ${params} | ${t.trainImgS.toFixed(0)} | ${t.inferImgS.toFixed(0)} | ${fmt(stockWasm)} | ${fmt(stockCpu)} | ${speedup ? `${speedup.toFixed(0)}x` : 'n/a'} |`);
    modelRows.push({ name, spec, params, ...t, stockWasm, stockCpu, speedupVsStockCpu: speedup });
  }
  out.models = modelRows;

  console.log('\n## Memory over one epoch\n');
  let data: Dataset;
  let source: string;
  try {
    data = (await loadFashionMnist({ split: 'train' })).train;
    source = 'full Fashion-MNIST (60,000 images)';
  } catch (e) {
    const { makeSyntheticDataset } = await import('./data/synthetic');
    data = makeSyntheticDataset({ n: 6000, seed: 0, height: 28 });
    source = `synthetic 28x28 (Fashion-MNIST not found: ${(e as Error).message.split('\n')[0]})`;
  }
  if (quick) data = { ...data, n: 2048, images: data.images.subarray(0, 2048 * 784), labels: data.labels.subarray(0, 2048) };
  const spec = specs[0];
  const init = createModel(spec, 0);
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  const t0 = performance.now();
  const r = await train(init, data, {
    epochs: 1, batchSize: BATCH, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine',
    augment: { crop: 2, flip: true }, seed: 0, progress: 'silent', onEpoch: () => counts.push(tf.memory().numTensors),
  });
  const epochS = (performance.now() - t0) / 1000;
  const modelTensors = Object.keys(r.model.params).length + Object.keys(r.model.state).length;
  // Still alive inside onEpoch: the optimizer's momentum buffers, one per parameter tensor.
  const momentumTensors = Object.keys(r.model.params).length;
  disposeModel(r.model);
  disposeModel(init);
  const after = tf.memory().numTensors;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(`${source}, cnn: one epoch in ${epochS.toFixed(1)} s (${(data.n / epochS).toFixed(0)} img/s including batch assembly)`);
  const growth = counts[0] - before - modelTensors - momentumTensors;
  console.log(`numTensors: ${before} before the epoch, ${counts[0]} at its end = ${before} + ${modelTensors} (the trained ` +
    `model) + ${momentumTensors} (momentum buffers) + ${growth} unaccounted; ${after} after disposing both models`);
  console.log(`peak resident memory: ${peakRssMb.toFixed(0)} MB`);
  out.epoch = { source, seconds: epochS, imgS: data.n / epochS, numTensorsBefore: before, numTensorsEndOfEpoch: counts[0], trainedModelTensors: modelTensors, momentumTensors, unaccountedTensors: growth, numTensorsAfter: after, peakRssMb };

  out.evaluation = await evaluationBench(spec);
  out.bec = await becBench(spec);

  const file = path.resolve('reports', 'bench.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2));
  console.log(`\nwritten ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

/**
 * `npm run bench`: speed and memory on this machine, measured in one run so the ratios are comparable.
 *   1. matmul roofline (1024² GEMM) and conv-layer training (forward + both gradients) GFLOP/s;
 *   2. per model: training and inference images/s on the active backend (28x28x1 inputs, batch 128);
 *   3. the same training step with stock gradients on stock wasm and cpu, and the speed-up;
 *   4. numTensors before and after an epoch, and peak RSS over one epoch of full Fashion-MNIST;
 *   5. evaluation: the fused inference kernels vs the TF.js forward pass, and one 21-point LMC path over
 *      the full test set (10,000 clean + 9,000 BadNets images), the issue's ≤ 60 s target;
 *   6. one BEC evaluation on the full test set (the neuron selection and clean anchor, then one subject).
 * `npm run bench`: speed and memory on this machine, measured in one run so that the ratios are comparable
 * (a busy machine slows both sides of a ratio alike; absolute numbers are only as good as the machine's load,
 * which is printed at the start and the end).
 *   1. live tensors, wasm memory, the addon's primitive cache and RSS after each of two epochs of Fashion-MNIST
 *      (first, so that peak RSS is one training cell's worth);
 *   2. GEMM roofline (oneDNN sgemm, 1 thread) and conv-layer training (forward + both gradients) GFLOP/s on
 *      the native and the wasm engine;
 *   3. per model (cnn, preact-resnet, resnet18 at width 0.25 and 1): training and inference images/s on each
 *      engine, 1 and 2 threads, beside PyTorch's same network (scripts/bench/torch_peer.py) when PyTorch is
 *      importable;
 *   4. where a cnn training step's time goes, per engine: phases (batch assembly, its copy into the wasm
 *      memory, forward + backward, optimiser) and kernels;
 *   5. evaluation: the fused inference kernels vs the TF.js forward pass, one 21-point LMC path;
 *   6. how often a native kernel fell back to wasm.
 * Each timing is the median of several repeats. Results go to stdout (Markdown) and reports/bench.json.
 * `--quick` shrinks everything (smoke test); `--no-torch` skips the peer.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeEngine, EngineInfo, initEngine, setEngine } from './engine/backend';
import { profileKernels } from './engine/kernelProfile';
import { nativeAddon, nativeStats } from './engine/native';
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
import { applyBatchStats, lossAndGrads } from './train/gradients';
import { train, trainStep } from './train/train';
import { batchArray } from './train/augment';
import { labelsTensor } from './data/batches';
import { crossEntropy } from './train/loss';
import { Rng } from './rng';

const BATCH = 128;
const quick = process.argv.includes('--quick');
const noTorch = process.argv.includes('--no-torch');

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

const fmt = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}×` : '–');

function load(): string {
  const [one, five] = os.loadavg();
  return `load average ${one.toFixed(2)} (1 min), ${five.toFixed(2)} (5 min) on ${os.cpus().length} cores`;
}

// ---------------------------------------------------------------------------------------------------------
// PyTorch peer

interface PeerCase { id: string; arch: string; widths?: number[]; depth?: number[]; width?: number; input: number[]; threads: number; repeats: number }
interface PeerResult { id: string; trainImgS: number; inferImgS: number }

function findTorchPython(): { python?: string; why?: string } {
  const candidates = [process.env.SUPERFICIAL_SAFETY_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[];
  for (const p of candidates) {
    const r = spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return { python: p };
  }
  return { why: `PyTorch is not importable (tried ${candidates.join(', ')}; on Debian: apt-get install python3-torch, or set SUPERFICIAL_SAFETY_TORCH_PYTHON)` };
}

function runPeer(python: string, cases: PeerCase[]): { torch?: string; results: Map<string, PeerResult>; error?: string } {
  const script = path.resolve(__dirname, '..', 'scripts', 'bench', 'torch_peer.py');
  const r = spawnSync(python, [script], { input: JSON.stringify({ batch: BATCH, cases }), encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return { results: new Map(), error: (r.stderr || `exit ${r.status}`).trim().split('\n').slice(-1)[0] };
  const out = JSON.parse(r.stdout) as { torch: string; results: PeerResult[] };
  return { torch: out.torch, results: new Map(out.results.map((x) => [x.id, x])) };
}

// ---------------------------------------------------------------------------------------------------------
// Kernels

function gemmRoofline(): number | undefined {
  const addon = nativeAddon();
  if (!addon) return undefined;
  addon.setThreads(1);
  const n = 1024;
  const ms = timeMs(() => { addon.sgemm(Float64Array.of(n, n, n, 1)); }, quick ? 3 : 7);
  return (2 * n ** 3) / ms / 1e6;
}

interface ConvCase { name: string; x: [number, number, number, number]; cout: number; repeats?: number }

/**
 * Forward + input gradient + filter gradient of one 3x3 'same' conv, as GFLOP/s of useful work: tf.grads with
 * a given output gradient, so that nothing but the conv and its two gradients runs (a loss on top would add
 * elementwise passes over the activations that are not conv work), and no read-back (kernels are synchronous).
 */
function convTraining(c: ConvCase): { gflops: number; ms: number } {
  const x = tf.randomNormal(c.x) as tf.Tensor4D;
  const f = tf.randomNormal([3, 3, c.x[3], c.cout]) as tf.Tensor4D;
  const dy = tf.randomNormal([c.x[0], c.x[1], c.x[2], c.cout]);
  const step = tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 1, 'same'));
  const ms = timeMs(() => tf.tidy(() => { step([x, f], dy); }), quick ? 2 : (c.repeats ?? 7), 1);
  const fwdFlops = 2 * c.x[0] * c.x[1] * c.x[2] * 9 * c.x[3] * c.cout;
  tf.dispose([x, f, dy]);
  return { gflops: (3 * fwdFlops) / ms / 1e6, ms };
}

// ---------------------------------------------------------------------------------------------------------
// Models

function syntheticBatch(spec: ModelSpec): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return {
    x: tf.randomUniform([BATCH, ...spec.inputShape], 0, 1, 'float32', 1) as tf.Tensor4D,
    y: tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % spec.numClasses), 'int32'),
  };
}

function throughput(spec: ModelSpec, repeats: number): { trainImgS: number; inferImgS: number } {
  const model = createModel(spec, 0);
  const { x, y } = syntheticBatch(spec);
  const opt = new Sgd({ lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const stepMs = timeMs(() => { trainStep(model, opt, x, y, 0.01); }, repeats);
  const inferMs = timeMs(() => tf.tidy(() => { tf.argMax(forward(model, x), 1).dataSync(); }), repeats);
  opt.dispose();
  tf.dispose([x, y]);
  disposeModel(model);
  return { trainImgS: (BATCH * 1000) / stepMs, inferImgS: (BATCH * 1000) / inferMs };
}

interface ModelCase { id: string; label: string; spec: ModelSpec; repeats: number; wasm: boolean; peer: Omit<PeerCase, 'id' | 'threads' | 'repeats'> }

function modelCases(): ModelCase[] {
  const cnn = defaultSpec('cnn', [28, 28, 1], 10);
  const preact = defaultSpec('preact-resnet', [28, 28, 1], 10, { widths: [16, 32, 64], depth: [1, 1, 1] });
  const r18q28 = defaultSpec('resnet18', [28, 28, 1], 10, { width: 0.25 });
  const r18q32 = defaultSpec('resnet18', [32, 32, 3], 10, { width: 0.25 });
  const r18w1 = defaultSpec('resnet18', [32, 32, 3], 10, { width: 1 });
  const cases: ModelCase[] = [
    { id: 'cnn', label: 'cnn 16-32-64, 28×28×1', spec: cnn, repeats: 10, wasm: true, peer: { arch: 'cnn', widths: cnn.widths, input: [28, 28, 1] } },
    { id: 'preact', label: 'preact-resnet 16-32-64 [1,1,1], 28×28×1', spec: preact, repeats: 8, wasm: true,
      peer: { arch: 'preact-resnet', widths: preact.widths, depth: preact.depth, input: [28, 28, 1] } },
    { id: 'r18q28', label: 'resnet18 width 0.25, 28×28×1', spec: r18q28, repeats: 5, wasm: true, peer: { arch: 'resnet18', width: 0.25, input: [28, 28, 1] } },
    { id: 'r18q32', label: 'resnet18 width 0.25, 32×32×3', spec: r18q32, repeats: 5, wasm: false, peer: { arch: 'resnet18', width: 0.25, input: [32, 32, 3] } },
    { id: 'r18w1', label: 'resnet18 width 1, 32×32×3', spec: r18w1, repeats: 3, wasm: false, peer: { arch: 'resnet18', width: 1, input: [32, 32, 3] } },
  ];
  return quick ? cases.slice(0, 3).map((c) => ({ ...c, repeats: 2 })) : cases;
}

// ---------------------------------------------------------------------------------------------------------
// Profile of a training step

interface StepProfile {
  msPerStep: number;
  phases: Record<string, number>;
  kernels: { kernel: string; calls: number; ms: number }[];
  outsideKernelsMs: number;
}

function profileStep(spec: ModelSpec, data: Dataset, steps: number): StepProfile {
  const model = createModel(spec, 0);
  const sgd = new Sgd({ lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const rng = Rng.derive(0, 'bench-profile');
  const phases = { 'batch assembly (JS)': 0, 'batch copy into wasm memory': 0, 'forward + backward': 0, optimiser: 0, 'batch-norm statistics': 0 };
  const run = (n: number, record: boolean) => {
    for (let s = 0; s < n; s++) {
      const idx = Int32Array.from({ length: BATCH }, (_, i) => (s * BATCH + i) % data.n);
      const t0 = performance.now();
      const arr = batchArray(data, idx, { crop: 2, flip: true }, rng);
      const t1 = performance.now();
      const x = tf.tensor4d(arr, [BATCH, data.height, data.width, data.channels]);
      const y = labelsTensor(data, idx);
      const t2 = performance.now();
      const r = lossAndGrads(model, (m, st) => crossEntropy(forward(m, x, { training: true }, st), y));
      const t3 = performance.now();
      model.params = sgd.step(model.params, r.grads, 0.01);
      const t4 = performance.now();
      applyBatchStats(model, r.stats);
      const t5 = performance.now();
      tf.dispose([x, y]);
      if (record) {
        phases['batch assembly (JS)'] += t1 - t0;
        phases['batch copy into wasm memory'] += t2 - t1;
        phases['forward + backward'] += t3 - t2;
        phases.optimiser += t4 - t3;
        phases['batch-norm statistics'] += t5 - t4;
      }
    }
  };
  run(3, false);
  const profiler = profileKernels();
  const t = performance.now();
  run(steps, true);
  const total = performance.now() - t;
  profiler.stop();
  sgd.dispose();
  disposeModel(model);
  const kernels = profiler.timings();
  const inKernels = kernels.reduce((s, k) => s + k.ms, 0);
  return {
    msPerStep: total / steps,
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, v / steps])),
    kernels: kernels.map((k) => ({ kernel: k.kernel, calls: k.calls / steps, ms: k.ms / steps })),
    outsideKernelsMs: (total - inKernels) / steps,
  };
}

function printProfiles(profiles: Record<string, StepProfile>): void {
  const names = Object.keys(profiles);
  console.log(`| phase | ${names.map((n) => `${n} ms/step (share)`).join(' | ')} |\n|---|${names.map(() => '---').join('|')}|`);
  const phaseNames = Object.keys(profiles[names[0]].phases);
  for (const ph of phaseNames) {
    console.log(`| ${ph} | ${names.map((n) => `${fmt(profiles[n].phases[ph], 2)} (${fmt(100 * profiles[n].phases[ph] / profiles[n].msPerStep, 1)}%)`).join(' | ')} |`);
  }
  console.log(`| whole step | ${names.map((n) => `${fmt(profiles[n].msPerStep, 1)}`).join(' | ')} |`);
  console.log(`| of which in kernels / outside (TF.js dispatch, tape, JS) | ${names.map((n) => {
    const p = profiles[n];
    return `${fmt(p.msPerStep - p.outsideKernelsMs, 1)} / ${fmt(p.outsideKernelsMs, 1)} (${fmt(100 * p.outsideKernelsMs / p.msPerStep, 0)}% outside)`;
  }).join(' | ')} |`);
  for (const n of names) {
    const p = profiles[n];
    console.log(`\n${n}, top kernels: ${p.kernels.slice(0, 8).map((k) => `${k.kernel} ${fmt(k.ms, 2)} ms (${fmt(k.calls, 0)} calls, ${fmt(100 * k.ms / p.msPerStep, 0)}%)`).join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Memory across epochs

async function epochMemory(data: Dataset, source: string): Promise<Record<string, unknown>> {
  const spec = defaultSpec('cnn', [28, 28, 1], 10);
  const init = createModel(spec, 0);
  const before = tf.memory().numTensors;
  const heapBytes = () => (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.buffer.byteLength ?? 0;
  const rows: { epoch: number; seconds: number; numTensors: number; wasmHeapMb: number; rssMb: number; nativePrimitives: number }[] = [];
  const r = await train(init, data, {
    epochs: 2, batchSize: BATCH, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine',
    augment: { crop: 2, flip: true }, seed: 0, progress: 'silent',
    onEpoch: (epoch, _m, summary) => rows.push({
      epoch, seconds: summary.seconds, numTensors: tf.memory().numTensors, wasmHeapMb: heapBytes() / 2 ** 20,
      rssMb: process.memoryUsage().rss / 2 ** 20, nativePrimitives: nativeAddon()?.info().cachedPrimitives ?? 0,
    }),
  });
  const modelTensors = Object.keys(r.model.params).length + Object.keys(r.model.state).length;
  const momentumTensors = Object.keys(r.model.params).length;
  disposeModel(r.model);
  disposeModel(init);
  const after = tf.memory().numTensors;
  console.log(`${source}, cnn, batch ${BATCH}, two epochs:\n`);
  console.log('| after epoch | seconds | images/s (with batch assembly) | live tensors | wasm memory MB | native primitives cached | RSS MB |\n|---|---|---|---|---|---|---|');
  for (const x of rows) {
    console.log(`| ${x.epoch} | ${fmt(x.seconds, 1)} | ${fmt(data.n / x.seconds)} | ${x.numTensors} | ${fmt(x.wasmHeapMb)} | ${x.nativePrimitives} | ${fmt(x.rssMb)} |`);
  }
  const growth = rows.length > 1 ? rows[rows.length - 1].numTensors - rows[0].numTensors : 0;
  console.log(`\nlive tensors: ${before} before, ${rows[0]?.numTensors} after epoch 1 = ${before} + ${modelTensors} (the model) + ` +
    `${momentumTensors} (momentum buffers) + ${rows[0].numTensors - before - modelTensors - momentumTensors} unaccounted; ` +
    `growth from epoch 1 to 2: ${growth}; ${after} after disposing both models`);
  return { source, rows, before, after, modelTensors, momentumTensors, tensorGrowth: growth };
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation

async function evaluationBench(spec: ModelSpec): Promise<Record<string, unknown>> {
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
  console.log(`cnn eval-mode forward, batch ${batch}: TF.js forward ${fmt(batch * 1000 / plainMs)} img/s, fused kernels ` +
    `(${inference.fusedStageCount} stages) ${fmt(batch * 1000 / fusedMs)} img/s: ${(plainMs / fusedMs).toFixed(2)}×`);

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

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const engine: EngineInfo = await initEngine({ threads: 1 });
  const native = engine.engine === 'native';
  const out: Record<string, unknown> = { date: new Date().toISOString(), engine, node: process.version, batch: BATCH, loadStart: os.loadavg() };
  console.log(`# superficial-safety bench — ${describeEngine(engine)}, Node ${process.version}, batch ${BATCH}, medians${quick ? ' (--quick)' : ''}`);
  console.log(`\nmachine: ${os.cpus()[0]?.model ?? 'unknown CPU'}; at the start: ${load()}`);
  if (!native) console.log(`\nThe native engine is not running (${engine.nativeUnavailable ?? 'forced off'}): wasm rows only.`);
  const engines: ('native' | 'wasm')[] = native ? ['native', 'wasm'] : ['wasm'];
  const torch = noTorch ? { why: 'skipped (--no-torch)' } : findTorchPython();
  if (!torch.python) console.log(`\nPyTorch peer: ${torch.why}; its columns are empty.`);

  let data: Dataset;
  let source: string;
  try {
    data = (await loadFashionMnist({ split: 'train' })).train;
    source = 'full Fashion-MNIST (60,000 images)';
  } catch (e) {
    const { makeSyntheticDataset } = await import('./data/synthetic');
    data = makeSyntheticDataset({ n: 6000, seed: 0, height: 28 });
    source = `synthetic 28×28 (Fashion-MNIST not found: ${(e as Error).message.split('\n')[0]})`;
  }
  if (quick) data = { ...data, n: 2048, images: data.images.subarray(0, 2048 * 784), labels: data.labels.subarray(0, 2048) };
  // 1. Memory first, so that peak RSS is one cell's worth (a cnn training run), before the big benchmarks grow
  // the wasm memory (which never shrinks).
  console.log(`\n## Memory across epochs (${engine.engine === 'native' ? 'native' : 'wasm'} engine, 1 thread)\n`);
  out.epochs = await epochMemory(data, source);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(`peak resident memory of this process so far (one cell's worth: loading Fashion-MNIST and training the cnn): ${fmt(peakRssMb)} MB`);
  out.peakRssMbAfterEpochs = peakRssMb;

  // 2. Roofline and conv layers.
  const roofline = gemmRoofline();
  out.gemmRooflineGflops = roofline;
  console.log(`\n## Conv-layer training vs the GEMM roofline\n\noneDNN sgemm 1024³, 1 thread: ${roofline ? `${fmt(roofline, 1)} GFLOP/s` : '– (no native addon)'}\n`);
  const cases: ConvCase[] = [
    { name: 'cnn stage 1: 128×14×14×16 → 32', x: [BATCH, 14, 14, 16], cout: 32 },
    { name: 'cnn stage 2: 128×7×7×32 → 64', x: [BATCH, 7, 7, 32], cout: 64 },
    { name: 'preact-resnet stage 0: 128×28×28×16 → 16', x: [BATCH, 28, 28, 16], cout: 16 },
    { name: 'wide: 128×14×14×64 → 64', x: [BATCH, 14, 14, 64], cout: 64 },
    { name: 'resnet18 w1 stage 0: 128×32×32×64 → 64', x: [BATCH, 32, 32, 64], cout: 64, repeats: 3 },
    { name: 'resnet18 w1 stage 3: 128×4×4×512 → 512', x: [BATCH, 4, 4, 512], cout: 512, repeats: 3 },
  ];
  const convRows: Record<string, unknown>[] = [];
  const convResults: Record<string, Record<string, { gflops: number; ms: number }>> = {};
  for (const e of engines) {
    setEngine(e, { threads: 1 });
    for (const c of cases) (convResults[c.name] ??= {})[e] = convTraining(c);
  }
  console.log('| conv layer (3×3, same), fwd + dx + dw | native ms | native GFLOP/s | % of roofline | wasm ms | wasm GFLOP/s | native / wasm |\n|---|---|---|---|---|---|---|');
  for (const c of cases) {
    const n = convResults[c.name].native;
    const w = convResults[c.name].wasm;
    console.log(`| ${c.name} | ${fmt(n?.ms, 1)} | ${fmt(n?.gflops, 1)} | ${n && roofline ? `${fmt(100 * n.gflops / roofline)}%` : '–'} | ` +
      `${fmt(w?.ms, 1)} | ${fmt(w?.gflops, 1)} | ${ratio(n?.gflops, w?.gflops)} |`);
    convRows.push({ name: c.name, native: n, wasm: w, nativeFractionOfRoofline: n && roofline ? n.gflops / roofline : undefined });
  }
  out.conv = convRows;

  // 3. Models, ours and the peer's, interleaved so that both see the same load.
  console.log(`\n## Models vs PyTorch CPU (batch ${BATCH}, SGD momentum 0.9, training step and eval-mode inference)\n`);
  const threadCounts = quick ? [1] : [1, 2];
  const rows: Record<string, unknown>[] = [];
  let torchVersion: string | undefined;
  console.log('| model | threads | engine | train img/s | PyTorch train | train ratio | inference img/s | PyTorch inference | inference ratio |\n|---|---|---|---|---|---|---|---|---|');
  for (const m of modelCases()) {
    for (const threads of threadCounts) {
      const peer = torch.python ? runPeer(torch.python, [{ ...m.peer, id: m.id, threads, repeats: m.repeats }]) : undefined;
      torchVersion ??= peer?.torch;
      const p = peer?.results.get(m.id);
      for (const e of engines) {
        if (e === 'wasm' && (!m.wasm || threads > 1)) continue; // the wasm engine is single-threaded here
        setEngine(e, { threads });
        const t = throughput(m.spec, m.repeats);
        console.log(`| ${m.label} | ${threads} | ${e} | ${fmt(t.trainImgS)} | ${fmt(p?.trainImgS)} | ${ratio(t.trainImgS, p?.trainImgS)} | ` +
          `${fmt(t.inferImgS)} | ${fmt(p?.inferImgS)} | ${ratio(t.inferImgS, p?.inferImgS)} |`);
        rows.push({ model: m.id, label: m.label, threads, engine: e, ...t, torch: p, peerError: peer?.error });
      }
      if (peer?.error) console.log(`| ${m.label} | ${threads} | PyTorch failed: ${peer.error} | | | | | | |`);
    }
  }
  if (native) setEngine('native', { threads: 1 });
  out.models = rows;
  out.torch = torchVersion ?? torch.why;
  if (torchVersion) console.log(`\nPyTorch ${torchVersion} (scripts/bench/torch_peer.py, same networks, NCHW, torch.set_num_threads as listed).`);

  // 4. Profile.
  console.log('\n## Where a cnn training step goes (1 thread)\n');
  const profiles: Record<string, StepProfile> = {};
  for (const e of engines) {
    setEngine(e, { threads: 1 });
    profiles[e] = profileStep(defaultSpec('cnn', [28, 28, 1], 10), data, quick ? 5 : 20);
  }
  printProfiles(profiles);
  out.profiles = profiles;
  if (native) setEngine('native', { threads: 1 });

  // 5. Evaluation.
  console.log('\n## Evaluation: fused kernels and one LMC path\n');
  out.evaluation = await evaluationBench(defaultSpec('cnn', [28, 28, 1], 10));
  out.bec = await becBench(defaultSpec('cnn', [28, 28, 1], 10));

  // 6. Fallbacks.
  const stats = nativeStats();
  out.native = stats;
  console.log(`\n## Native kernel fallbacks\n\n${native ? (Object.keys(stats.fallbacks).length
    ? `fell back to wasm: ${Object.entries(stats.fallbacks).map(([k, n]) => `${k} ×${n}`).join(', ')} (of ${stats.calls} native calls)`
    : `none (${stats.calls.toLocaleString()} native kernel calls)`) : 'native engine not running'}`);
  console.log(`\nat the end: ${load()}; peak resident memory of the whole bench: ${fmt(process.resourceUsage().maxRSS / 1024)} MB`);
  out.loadEnd = os.loadavg();
  out.peakRssMb = process.resourceUsage().maxRSS / 1024;

  const file = path.resolve('reports', 'bench.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2));
  console.log(`\nwritten ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

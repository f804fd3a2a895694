#!/usr/bin/env node
/**
 * Profile of one training step, by phase (batch assembly, forward + backward, optimiser, batch-norm
 * statistics) and by kernel. Usage: node scripts/bench/profile-step.js [cnn|preact-resnet|resnet18] [--engine native|wasm]
 * [--steps N] [--width W] [--input 28x28x1]. Needs `npm run build`.
 */
const tf = require('@tensorflow/tfjs');
const path = require('path');
const dist = path.join(__dirname, '..', '..', 'dist');
const { initEngine } = require(path.join(dist, 'engine/backend'));
const { profileKernels } = require(path.join(dist, 'engine/kernelProfile'));
const { createModel, defaultSpec, disposeModel, forward } = require(path.join(dist, 'models/model'));
const { lossAndGrads, applyBatchStats } = require(path.join(dist, 'train/gradients'));
const { crossEntropy } = require(path.join(dist, 'train/loss'));
const { Sgd } = require(path.join(dist, 'train/sgd'));
const { makeSyntheticDataset } = require(path.join(dist, 'data/synthetic'));
const { batchTensor } = require(path.join(dist, 'train/augment'));
const { labelsTensor } = require(path.join(dist, 'data/batches'));
const { Rng } = require(path.join(dist, 'rng'));

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const arch = argv.find((a) => !a.startsWith('--') && !argv[argv.indexOf(a) - 1]?.startsWith('--')) ?? 'cnn';
const steps = Number(opt('steps', 20));
const [h, w, c] = opt('input', '28x28x1').split('x').map(Number);

(async () => {
  const engine = await initEngine({ engine: opt('engine'), threads: opt('threads') && Number(opt('threads')) });
  const width = opt('width');
  const spec = defaultSpec(arch, [h, w, c], 10, width ? { width: Number(width) } : {});
  const model = createModel(spec, 0);
  const data = makeSyntheticDataset({ n: 128 * 8, seed: 0, height: h, channels: c });
  const sgd = new Sgd({ lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const rng = Rng.derive(0, 'profile');
  const phases = { batch: 0, forwardBackward: 0, optimiser: 0, bnStats: 0 };
  const run = (n, prof) => {
    for (let s = 0; s < n; s++) {
      let t = performance.now();
      const idx = Int32Array.from({ length: 128 }, (_, i) => (s * 128 + i) % data.n);
      const x = batchTensor(data, idx, { crop: 2, flip: true }, rng);
      const y = labelsTensor(data, idx);
      const t1 = performance.now();
      const r = lossAndGrads(model, (m, st) => crossEntropy(forward(m, x, { training: true }, st), y));
      const t2 = performance.now();
      model.params = sgd.step(model.params, r.grads, 0.01);
      const t3 = performance.now();
      applyBatchStats(model, r.stats);
      const t4 = performance.now();
      tf.dispose([x, y]);
      if (prof) {
        phases.batch += t1 - t; phases.forwardBackward += t2 - t1; phases.optimiser += t3 - t2; phases.bnStats += t4 - t3;
      }
    }
  };
  run(3, false);
  const profiler = profileKernels();
  const t0 = performance.now();
  run(steps, true);
  const total = performance.now() - t0;
  profiler.stop();
  const kernels = profiler.timings();
  const inKernels = kernels.reduce((s, k) => s + k.ms, 0);
  console.log(`# ${arch} [${spec.widths}] ${h}x${w}x${c}, batch 128, engine ${engine.engine}, ${steps} steps: ` +
    `${(total / steps).toFixed(1)} ms/step (${(128 * steps * 1000 / total).toFixed(0)} img/s)`);
  console.log('\n| phase | ms/step | share |\n|---|---|---|');
  for (const [k, v] of Object.entries(phases)) console.log(`| ${k} | ${(v / steps).toFixed(2)} | ${(100 * v / total).toFixed(1)}% |`);
  console.log(`\nin kernels: ${(inKernels / steps).toFixed(2)} ms/step (${(100 * inKernels / total).toFixed(1)}%); ` +
    `outside kernels (dispatch, tape, JS): ${((total - inKernels) / steps).toFixed(2)} ms/step (${(100 * (total - inKernels) / total).toFixed(1)}%)`);
  console.log('\n| kernel | calls/step | ms/step | share of step |\n|---|---|---|---|');
  for (const k of kernels.slice(0, 25)) {
    console.log(`| ${k.kernel} | ${(k.calls / steps).toFixed(1)} | ${(k.ms / steps).toFixed(2)} | ${(100 * k.ms / total).toFixed(1)}% |`);
  }
  sgd.dispose();
  disposeModel(model);
})().catch((e) => { console.error(e); process.exitCode = 1; });

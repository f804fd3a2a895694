#!/usr/bin/env node
/**
 * Wall time of training epochs on full Fashion-MNIST (or CIFAR-10 with --dataset cifar10), through the
 * project's own training step (batch assembly with augmentation, trainStep, SGD momentum), batch 128.
 * Usage: node scripts/bench/epoch-time.js --arch resnet18 --width 1 [--threads N] [--engine native|wasm]
 *        [--max-steps K]   (stop after K steps and extrapolate the epoch: the output says so)
 * Needs `npm run build`.
 */
const path = require('path');
const tf = require('@tensorflow/tfjs');
const dist = path.join(__dirname, '..', '..', 'dist');
const { describeEngine, initEngine } = require(path.join(dist, 'engine/backend'));
const { createModel, defaultSpec, disposeModel } = require(path.join(dist, 'models/model'));
const { loadFashionMnist } = require(path.join(dist, 'data/fashionMnist'));
const { batchTensor } = require(path.join(dist, 'train/augment'));
const { labelsTensor } = require(path.join(dist, 'data/batches'));
const { trainStep } = require(path.join(dist, 'train/train'));
const { Sgd, cosineLr } = require(path.join(dist, 'train/sgd'));
const { Rng } = require(path.join(dist, 'rng'));

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };

(async () => {
  const engine = await initEngine({ engine: opt('engine'), threads: Number(opt('threads', 1)) });
  const data = (await loadFashionMnist({ split: 'train' })).train;
  const arch = opt('arch', 'resnet18');
  const width = Number(opt('width', 1));
  const spec = defaultSpec(arch, [data.height, data.width, data.channels], data.numClasses, arch === 'resnet18' ? { width } : {});
  const model = createModel(spec, 0);
  const sgd = new Sgd({ lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const rng = Rng.derive(0, 'epoch-time');
  const batch = 128;
  const steps = Math.ceil(data.n / batch);
  const maxSteps = Math.min(steps, Number(opt('max-steps', steps)));
  const order = rng.permutation(data.n);
  console.log(`${describeEngine(engine)}; ${arch} [${spec.widths}] on ${data.name} (${data.n} images), batch ${batch}`);
  const t0 = performance.now();
  for (let b = 0; b < maxSteps; b++) {
    const idx = order.subarray(b * batch, Math.min(data.n, (b + 1) * batch));
    const x = batchTensor(data, idx, { crop: 2, flip: true }, rng);
    const y = labelsTensor(data, idx);
    trainStep(model, sgd, x, y, cosineLr(0.01, b, steps));
    tf.dispose([x, y]);
    if ((b + 1) % 20 === 0) console.log(`step ${b + 1}/${steps}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const s = (performance.now() - t0) / 1000;
  if (maxSteps === steps) console.log(`one full epoch: ${s.toFixed(1)} s (${(data.n / s).toFixed(0)} images/s)`);
  else console.log(`${maxSteps} of ${steps} steps in ${s.toFixed(1)} s: the epoch extrapolates to ${(s * steps / maxSteps).toFixed(0)} s (${(maxSteps * batch / s).toFixed(0)} images/s)`);
  sgd.dispose();
  disposeModel(model);
})().catch((e) => { console.error(e); process.exitCode = 1; });
